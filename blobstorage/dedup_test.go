package blobstorage_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/ngbak/ngbak"
	"github.com/ngbak/ngbak/blobstorage"
	"github.com/ngbak/ngbak/jsonexp"
)

// TestDedup: the deduplicating layout on every bucket keeps its chunks
// under chunks/, apart from what List shows; a second backup of the same
// state adds only its end; Delete frees what only it used; the repository
// check finds everything in place.
func TestDedup(t *testing.T) {
	ctx := context.Background()
	for name, url := range buckets(t) {
		t.Run(name, func(t *testing.T) {
			b := fresh(t, url)
			work := t.TempDir()
			big := strings.Repeat("a GraphRAG keeps its graph in a bucket; ", 50000)
			os.WriteFile(filepath.Join(work, "kv_store_full_docs.json"), []byte(`{"doc-1": {"content": "`+big+`"}}`), 0o644)
			exp, err := jsonexp.New(jsonexp.Options{Dir: work})
			if err != nil {
				t.Fatal(err)
			}
			m, err := ngbak.New(ngbak.Options{Storage: blobstorage.New(b, blobstorage.Options{}), TempDir: t.TempDir(), Dedup: &ngbak.DedupOptions{AverageChunkSize: 64 << 10}})
			if err != nil {
				t.Fatal(err)
			}
			m.Register(exp)
			a, err := m.Create(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			chunks := func() (n int) {
				for _, k := range keys(t, b) {
					if strings.HasPrefix(k, "chunks/chunk-") {
						n++
					} else if strings.HasPrefix(k, "chunk-") {
						t.Errorf("a chunk outside chunks/: %s", k)
					}
				}
				return n
			}
			n1 := chunks()
			c, err := m.Create(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			n2 := chunks()
			if n1 == 0 || n2-n1 > 1 {
				t.Errorf("chunks: %d after the first backup, %d after the second of the same state", n1, n2)
			}
			want := readDir(t, work)
			os.WriteFile(filepath.Join(work, "kv_store_full_docs.json"), []byte(`{}`), 0o644)
			if _, err := m.Restore(ctx, a.ID, &ngbak.RestoreOptions{NoSafetyBackup: true}); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, readDir(t, work)); diff != "" {
				t.Errorf("restored (-backup +restored):\n%s", diff)
			}
			if err := m.Delete(ctx, c.ID); err != nil {
				t.Fatal(err)
			}
			if n := chunks(); n != n1 {
				t.Errorf("%d chunks after deleting the second backup, %d before it", n, n1)
			}
			rep, err := m.CheckRepository(ctx, ngbak.CheckOptions{ReadData: true})
			if err != nil || len(rep.Unused) > 0 || rep.Stored != n1 {
				t.Fatalf("CheckRepository: %v %+v", err, rep)
			}
		})
	}
}

func readDir(t *testing.T, dir string) map[string]string {
	out := map[string]string{}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out[e.Name()] = string(data)
	}
	return out
}
