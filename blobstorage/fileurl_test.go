package blobstorage_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ngbak/ngbak/blobstorage"
)

// A file:// URL means the folder it names, created on the first write, or
// an error saying how to write it: never the current folder.
func TestFileURLFolders(t *testing.T) {
	ctx := context.Background()
	base := t.TempDir()
	t.Chdir(base)
	for _, tc := range []struct{ url, dir string }{
		{"file://" + filepath.Join(base, "abs", "new"), filepath.Join(base, "abs", "new")},
		{"file://./rel/new", filepath.Join(base, "rel", "new")},
		{"file://" + filepath.Join(base, "q") + "?create_dir=true", filepath.Join(base, "q")},
	} {
		s, err := blobstorage.Open(ctx, tc.url)
		if err != nil {
			t.Fatalf("%s: %v", tc.url, err)
		}
		w, err := s.Create(ctx, "20260101T000000.000Z-000000.manifest.json")
		if err != nil {
			t.Fatalf("%s: %v", tc.url, err)
		}
		if _, err := w.Write([]byte("{}")); err != nil {
			t.Fatal(err)
		}
		if err := w.Commit(); err != nil {
			t.Fatalf("%s: %v", tc.url, err)
		}
		s.Close()
		if _, err := os.Stat(filepath.Join(tc.dir, "20260101T000000.000Z-000000.manifest.json")); err != nil {
			t.Errorf("%s: %v", tc.url, err)
		}
	}
	for url, want := range map[string]string{
		"file://backups": `names the host "backups", not a folder`,
		"file://":        "names no folder",
		"file://" + filepath.Join(base, "x") + "?metadata=skip": "add create_dir=true",
	} {
		if _, err := blobstorage.Open(ctx, url); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Open(%s): %v, want %q", url, err, want)
		}
	}
	if entries, _ := os.ReadDir(base); len(entries) != 3 {
		t.Errorf("the current folder holds %d entries, want abs, rel and q", len(entries))
	}
}
