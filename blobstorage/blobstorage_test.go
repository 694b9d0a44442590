package blobstorage_test

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/ngbak/ngbak"
	"github.com/ngbak/ngbak/blobstorage"
	"github.com/ngbak/ngbak/internal/heap"
	"github.com/ngbak/ngbak/jsonexp"
	"gocloud.dev/blob"
	_ "gocloud.dev/blob/fileblob"
	_ "gocloud.dev/blob/memblob"
	_ "gocloud.dev/blob/s3blob"
)

// buckets are the stores every test runs on: memory, a local folder, and
// the S3-compatible server of make services (NGBAK_S3_URL, a gocloud s3://
// URL) when it is there.
func buckets(t *testing.T) map[string]string {
	urls := map[string]string{
		"mem":  "mem://",
		"file": "file://" + t.TempDir() + "?metadata=skip",
	}
	if u := os.Getenv("NGBAK_S3_URL"); u != "" {
		urls["s3"] = u
	} else if os.Getenv("NGBAK_REQUIRE_SERVERS") != "" {
		t.Fatal("NGBAK_S3_URL is not set and NGBAK_REQUIRE_SERVERS is: run make services")
	}
	return urls
}

// fresh opens the bucket under a new prefix, so tests on a shared server
// never see each other.
func fresh(t *testing.T, url string) *blob.Bucket {
	ctx := context.Background()
	b, err := blob.OpenBucket(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	prefix := strings.NewReplacer("/", "-", " ", "-").Replace(t.Name()) + "/"
	b = blob.PrefixedBucket(b, prefix)
	t.Cleanup(func() {
		it := b.List(nil)
		for {
			o, err := it.Next(ctx)
			if err != nil {
				break
			}
			b.Delete(ctx, o.Key)
		}
		b.Close()
	})
	return b
}

func keys(t *testing.T, b *blob.Bucket) []string {
	var out []string
	it := b.List(nil)
	for {
		o, err := it.Next(context.Background())
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, o.Key)
	}
}

type counting struct {
	ngbak.Storage
	mu     sync.Mutex
	opened []string
}

func (c *counting) Open(ctx context.Context, name string) (io.ReadCloser, error) {
	c.mu.Lock()
	c.opened = append(c.opened, name)
	c.mu.Unlock()
	return c.Storage.Open(ctx, name)
}

func setup(t *testing.T, b *blob.Bucket, opts ngbak.Options) (*ngbak.Manager, string, *counting) {
	work := t.TempDir()
	os.WriteFile(filepath.Join(work, "kv_store_full_docs.json"), []byte(`{"doc-1": {"content": "kept in a bucket"}}`), 0o644)
	exp, err := jsonexp.New(jsonexp.Options{Dir: work})
	if err != nil {
		t.Fatal(err)
	}
	c := &counting{Storage: blobstorage.New(b, blobstorage.Options{})}
	opts.Storage, opts.TempDir = c, t.TempDir()
	m, err := ngbak.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	m.Register(exp)
	return m, work, c
}

// The Manager's life cycle on a bucket: create, list from sidecars only,
// verify, restore, import elsewhere, delete.
func TestLifeCycle(t *testing.T) {
	for name, url := range buckets(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			b := fresh(t, url)
			m, work, c := setup(t, b, ngbak.Options{})
			var ids []string
			for range 12 {
				man, err := m.Create(ctx, nil)
				if err != nil {
					t.Fatal(err)
				}
				ids = append(ids, man.ID)
			}
			c.opened = nil
			list, err := m.List(ctx)
			if err != nil || len(list) != 12 {
				t.Fatalf("List = %d, %v", len(list), err)
			}
			for _, o := range c.opened {
				if !strings.HasSuffix(o, ".manifest.json") {
					t.Fatalf("List opened %s", o)
				}
			}
			if err := m.Verify(ctx, ids[0]); err != nil {
				t.Fatal(err)
			}
			p := filepath.Join(work, "kv_store_full_docs.json")
			os.WriteFile(p, []byte("{}"), 0o644)
			if _, err := m.Restore(ctx, ids[0], nil); err != nil {
				t.Fatal(err)
			}
			if data, _ := os.ReadFile(p); !strings.Contains(string(data), "kept in a bucket") {
				t.Fatalf("after restore: %s", data)
			}
			rc, err := m.Open(ctx, ids[1])
			if err != nil {
				t.Fatal(err)
			}
			other, _, _ := setup(t, fresh(t, url+map[bool]string{true: "&", false: "?"}[strings.Contains(url, "?")]+"prefix=other/"), ngbak.Options{})
			if _, err := other.Import(ctx, rc); err != nil {
				t.Fatal(err)
			}
			rc.Close()
			if err := other.Verify(ctx, ids[1]); err != nil {
				t.Fatal(err)
			}
			if err := m.Delete(ctx, ids[1]); err != nil {
				t.Fatal(err)
			}
			if _, err := m.Get(ctx, ids[1]); !errors.Is(err, ngbak.ErrNotFound) {
				t.Fatalf("Get after Delete: %v", err)
			}
		})
	}
}

// An interrupted upload leaves no visible backup and no object.
func TestInterruptedUpload(t *testing.T) {
	for name, url := range buckets(t) {
		t.Run(name, func(t *testing.T) {
			b := fresh(t, url)
			ctx, cancel := context.WithCancel(context.Background())
			m, _, _ := setup(t, b, ngbak.Options{Progress: func(e ngbak.Event) {
				if e.Phase == "export" {
					cancel()
				}
			}})
			if _, err := m.Create(ctx, nil); !errors.Is(err, context.Canceled) {
				t.Fatalf("Create = %v", err)
			}
			if got := keys(t, b); len(got) != 0 {
				t.Fatalf("an interrupted Create left %v", got)
			}
		})
	}
}

// A tampered object is refused and the store is left alone; an existing
// object is never overwritten.
func TestTamperedObject(t *testing.T) {
	for name, url := range buckets(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			b := fresh(t, url)
			m, work, _ := setup(t, b, ngbak.Options{})
			man, err := m.Create(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			data, err := b.ReadAll(ctx, man.ID+".ngbak")
			if err != nil {
				t.Fatal(err)
			}
			data[len(data)/2] ^= 1
			if err := b.WriteAll(ctx, man.ID+".ngbak", data, nil); err != nil {
				t.Fatal(err)
			}
			p := filepath.Join(work, "kv_store_full_docs.json")
			os.WriteFile(p, []byte(`{"changed": 1}`), 0o644)
			if err := m.Verify(ctx, man.ID); !errors.Is(err, ngbak.ErrChecksum) {
				t.Fatalf("Verify = %v", err)
			}
			if _, err := m.Restore(ctx, man.ID, nil); !errors.Is(err, ngbak.ErrChecksum) {
				t.Fatalf("Restore = %v", err)
			}
			if got, _ := os.ReadFile(p); string(got) != `{"changed": 1}` {
				t.Fatalf("store touched: %s", got)
			}
			s := blobstorage.New(b, blobstorage.Options{})
			w, err := s.Create(ctx, man.ID+".ngbak")
			if err != nil {
				t.Fatal(err)
			}
			w.Write([]byte("overwrite"))
			if err := w.Commit(); !errors.Is(err, ngbak.ErrExists) {
				t.Fatalf("overwriting an object: %v", err)
			}
			if got, _ := b.ReadAll(ctx, man.ID+".ngbak"); !cmp.Equal(got, data) {
				t.Fatal("the existing object was overwritten")
			}
		})
	}
}

// A large archive goes up in parts and comes back in memory that does not
// depend on its size: the archive is larger than the ceiling.
func TestLargeArchive(t *testing.T) {
	const archiveMiB, ceilingMiB = 192, 128
	for name, url := range buckets(t) {
		if name == "mem" {
			continue // memblob holds everything in memory by design
		}
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			b := fresh(t, url)
			work := t.TempDir()
			f, _ := os.Create(filepath.Join(work, "vdb_entities.json"))
			rng := rand.NewChaCha8([32]byte{1})
			buf := make([]byte, 1<<20)
			for range archiveMiB {
				rng.Read(buf) // does not compress, as embeddings hardly do
				f.Write(buf)
			}
			f.Close()
			exp, _ := jsonexp.New(jsonexp.Options{Dir: work})
			// The encoder holds about 50 MiB; the upload 3 × 5 MiB in parts and
			// the S3 SDK's first 16 MiB.
			store := blobstorage.New(b, blobstorage.Options{PartSize: 5 << 20, Concurrency: 2})
			m, _ := ngbak.New(ngbak.Options{Storage: store, TempDir: t.TempDir()})
			m.Register(exp)
			// The S3 SDK reads parts with io.ReadAll and zstd allocates per
			// block: garbage that GOGC=100 lets grow to twice the live heap.
			// A frequent collector makes the peak that of the live heap.
			defer debug.SetGCPercent(debug.SetGCPercent(10))
			var man *ngbak.Manifest
			peak := heap.Peak(func() {
				var err error
				if man, err = m.Create(ctx, nil); err != nil {
					t.Fatal(err)
				}
				if err := m.Verify(ctx, man.ID); err != nil {
					t.Fatal(err)
				}
			})
			bk, _ := m.Get(ctx, man.ID)
			t.Logf("archive %d MiB, heap peak %d MiB", bk.Size>>20, peak>>20)
			if bk.Size < archiveMiB<<20 {
				t.Fatalf("archive of %d bytes, want at least %d MiB", bk.Size, archiveMiB)
			}
			if peak > ceilingMiB<<20 {
				t.Fatalf("heap peak %d MiB for a %d MiB archive, ceiling %d MiB", peak>>20, bk.Size>>20, ceilingMiB)
			}
		})
	}
}

// An object replaced between Restore's verify pass and its restore pass is
// noticed before any store is touched: the reader is pinned to the object
// it opened first.
func TestObjectReplacedBetweenPasses(t *testing.T) {
	for name, url := range buckets(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			b := fresh(t, url)
			var between func()
			m, work, _ := setup(t, b, ngbak.Options{BeforeRestore: func(ctx context.Context) error {
				if between != nil {
					between()
				}
				return nil
			}})
			man, err := m.Create(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			p := filepath.Join(work, "kv_store_full_docs.json")
			os.WriteFile(p, []byte(`{"changed": 1}`), 0o644)
			other, err := m.Create(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			between = func() {
				data, err := b.ReadAll(ctx, other.ID+".ngbak")
				if err != nil {
					t.Fatal(err)
				}
				if name == "s3" {
					time.Sleep(1100 * time.Millisecond) // S3 times have a resolution of one second
				}
				if err := b.WriteAll(ctx, man.ID+".ngbak", data, nil); err != nil {
					t.Fatal(err)
				}
			}
			_, err = m.Restore(ctx, man.ID, nil)
			if err == nil || !strings.Contains(err.Error(), "changed since") || strings.Contains(err.Error(), "rolled back") {
				t.Fatalf("Restore of an archive replaced after verification: %v; want it refused before a store is touched", err)
			}
			if got, _ := os.ReadFile(p); string(got) != `{"changed": 1}` {
				t.Fatalf("store touched: %s", got)
			}
			if name != "s3" {
				return
			}
			// On S3 the reader is pinned by ETag: an object of the same
			// size, replaced within the second of its modification time
			// (which size and time cannot tell apart), is refused too.
			again, err := m.Create(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			between = func() {
				data, err := b.ReadAll(ctx, again.ID+".ngbak")
				if err != nil {
					t.Fatal(err)
				}
				data[len(data)/2] ^= 1
				if err := b.WriteAll(ctx, again.ID+".ngbak", data, nil); err != nil {
					t.Fatal(err)
				}
			}
			os.WriteFile(p, []byte(`{"changed": 2}`), 0o644)
			_, err = m.Restore(ctx, again.ID, nil)
			if err == nil || !strings.Contains(err.Error(), "changed since") || strings.Contains(err.Error(), "rolled back") {
				t.Fatalf("Restore of an archive replaced by one of the same size in the same second: %v; want it refused before a store is touched", err)
			}
			if got, _ := os.ReadFile(p); string(got) != `{"changed": 2}` {
				t.Fatalf("store touched: %s", got)
			}
		})
	}
}
