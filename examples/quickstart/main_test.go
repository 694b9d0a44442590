package main

import "testing"

// The quickstart is the first thing a newcomer runs: it must keep working.
func TestQuickstart(t *testing.T) {
	if err := run(false); err != nil {
		t.Fatal(err)
	}
}
