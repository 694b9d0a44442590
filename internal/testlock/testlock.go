// Package testlock serializes tests of different packages that share one
// test server: go test runs packages in parallel, and a test that replaces
// a whole Neo4j database must not run beside another that uses it.
package testlock

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// Lock takes the exclusive lock named name, shared by every test process on
// the machine, and releases it when t ends.
func Lock(t testing.TB, name string) {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(os.TempDir(), "ngbak-test-"+name+".lock"), os.O_CREATE|os.O_RDWR, 0o666)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() }) // closing releases the lock
}
