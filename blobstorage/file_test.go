package blobstorage_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/ngbak/ngbak"
	"github.com/ngbak/ngbak/blobstorage"
)

// A file:// URL gives what ngbak.Dir gives: an object is never replaced,
// whoever commits first (gocloud's fileblob checks IfNotExist with a Stat
// and then renames over the name, so two writers racing both "succeed"),
// and a committed object is synced to disk.
func TestFileURLNeverOverwrites(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := blobstorage.Open(ctx, "file://"+dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	overwrites := 0
	for i := range 200 {
		name := fmt.Sprintf("20200101T000000.000Z-%06x.ngbak", i)
		var wg sync.WaitGroup
		errs := make([]error, 2)
		ws := make([]ngbak.ObjectWriter, 2)
		refused := false
		for j := range ws {
			if ws[j], err = s.Create(ctx, name); err != nil {
				if j == 0 {
					t.Fatal(err)
				}
				refused = true // another writer of that name is in flight: fine too
				break
			}
			if _, err := ws[j].Write([]byte(fmt.Sprintf("writer %d", j))); err != nil {
				t.Fatal(err)
			}
		}
		if refused {
			if err := ws[0].Commit(); err != nil {
				t.Fatal(err)
			}
			continue
		}
		for j := range ws {
			wg.Go(func() { errs[j] = ws[j].Commit() })
		}
		wg.Wait()
		switch {
		case errs[0] == nil && errs[1] == nil:
			overwrites++
		case errs[0] != nil && errs[1] != nil:
			t.Fatalf("both commits of %s failed: %v; %v", name, errs[0], errs[1])
		case !errors.Is(errors.Join(errs...), ngbak.ErrExists):
			t.Fatalf("the losing commit of %s: %v, want ErrExists", name, errors.Join(errs...))
		}
	}
	if overwrites > 0 {
		t.Errorf("%d of 200 races: both writers committed, the second replacing the first", overwrites)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if filepath.Ext(e.Name()) != ".ngbak" {
			t.Errorf("left %s", e.Name())
		}
	}
}
