//go:build race

package ngbak_test

// raceEnabled makes the data-heavy tests smaller under the race detector,
// which slows compression tenfold.
const raceEnabled = true
