//go:build !race

package ngbak_test

const raceEnabled = false
