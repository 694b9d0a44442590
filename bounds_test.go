package ngbak_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ngbak/ngbak"
)

// emptyFiles writes n empty files.
type emptyFiles struct{ n int }

func (*emptyFiles) Name() string { return "empty" }
func (*emptyFiles) Kind() string { return "empty" }
func (e *emptyFiles) Export(ctx context.Context, w *ngbak.Writer) (ngbak.Info, error) {
	for i := range e.n {
		if err := w.WriteFile(fmt.Sprintf("f%07d", i), 0, strings.NewReader("")); err != nil {
			return ngbak.Info{}, err
		}
	}
	return ngbak.Info{Format: "empty/1"}, nil
}
func (*emptyFiles) Restore(ctx context.Context, r *ngbak.Reader) error { return skipAll(r) }

func skipAll(r *ngbak.Reader) error {
	for {
		if _, _, err := r.Next(); errors.Is(err, io.EOF) {
			return nil
		} else if err != nil {
			return err
		}
		if _, err := io.Copy(io.Discard, r); err != nil {
			return err
		}
	}
}

// Writer checks names for duplicates in constant time: 80,000 files took
// 15 s when each name was compared with every one before it (128 s under
// the race detector, where the map takes 5 s on an idle machine and 16 s
// on two busy cores).
func TestManyFilesLinear(t *testing.T) {
	env := newEnv(t, ngbak.Options{}, &emptyFiles{n: 80000})
	start := time.Now()
	env.create(t)
	limit := map[bool]time.Duration{false: 8 * time.Second, true: 40 * time.Second}[raceEnabled]
	if took := time.Since(start); took > limit {
		t.Errorf("a backup of 80,000 empty files took %v", took)
	}
}

// randomFiles writes one file of size incompressible bytes.
type randomFiles struct {
	name string
	size int64
	fail error
}

func (e *randomFiles) Name() string { return e.name }
func (e *randomFiles) Kind() string { return "random" }
func (e *randomFiles) Export(ctx context.Context, w *ngbak.Writer) (ngbak.Info, error) {
	rng := rand.New(rand.NewPCG(1, 2))
	r := io.LimitReader(readerFunc(func(p []byte) (int, error) {
		for i := range p {
			p[i] = byte(rng.Uint32())
		}
		return len(p), nil
	}), e.size)
	return ngbak.Info{Format: "random/1"}, w.WriteFile("data", e.size, r)
}

// Restore fails once with fail, if set: the rollback after it succeeds.
func (e *randomFiles) Restore(ctx context.Context, r *ngbak.Reader) error {
	if err := e.fail; err != nil {
		e.fail = nil
		return err
	}
	return skipAll(r)
}

type readerFunc func([]byte) (int, error)

func (f readerFunc) Read(p []byte) (int, error) { return f(p) }

// readCounting counts the bytes read from archives.
type readCounting struct {
	ngbak.Storage
	n atomic.Int64
}

func (s *readCounting) Open(ctx context.Context, name string) (io.ReadCloser, error) {
	rc, err := s.Storage.Open(ctx, name)
	if err != nil || !strings.HasSuffix(name, ".ngbak") {
		return rc, err
	}
	return &countingReader{rc, &s.n}, nil
}

type countingReader struct {
	io.ReadCloser
	n *atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.ReadCloser.Read(p)
	c.n.Add(int64(n))
	return n, err
}

func (c *countingReader) Seek(off int64, whence int) (int64, error) {
	return c.ReadCloser.(io.Seeker).Seek(off, whence)
}

// A backend that fails does not make the restore read the rest of the
// archive before the rollback starts: the failure is the backend's, and
// reading gigabytes to check the archive's sum first only delays the
// rollback.
func TestFailedBackendStopsReading(t *testing.T) {
	ctx := context.Background()
	store := &readCounting{Storage: ngbak.Dir(filepath.Join(t.TempDir(), "b"))}
	first := &randomFiles{name: "afirst", size: 1 << 10}
	big := &randomFiles{name: "big", size: 64 << 20}
	// One after the other: in parallel, a backend later in the archive
	// starts only once the pass has spooled those before it.
	env := newEnv(t, ngbak.Options{Storage: store, Parallelism: 1}, first, big)
	man := env.create(t)
	errRefused := errors.New("the store refused the first write")
	first.fail = errRefused
	before := store.n.Load()
	_, err := env.m.Restore(ctx, man.ID, nil)
	if !errors.Is(err, errRefused) || !strings.Contains(err.Error(), "rolled back afirst") {
		t.Fatalf("Restore: %v", err)
	}
	// The verify pass reads the whole archive, and so do the rollback's
	// two passes over the safety backup: 64 MiB each. The failed pass
	// stops where its backend failed.
	read := store.n.Load() - before
	t.Logf("read %d MiB", read>>20)
	if whole := int64(64<<20) + 1<<20; read > 3*whole+16<<20 {
		t.Errorf("read %d MiB for a restore whose first backend failed: the failed pass read on to the end", read>>20)
	}
}

// lateFailing commits objects whose names end in suffix, then reports an
// error anyway, as a storage does when the object is in place but making
// it durable failed (a folder's fsync, a response lost after an upload).
type lateFailing struct {
	ngbak.Storage
	suffix string
}

func (s lateFailing) Create(ctx context.Context, name string) (ngbak.ObjectWriter, error) {
	w, err := s.Storage.Create(ctx, name)
	if err != nil || !strings.HasSuffix(name, s.suffix) {
		return w, err
	}
	return lateWriter{w}, nil
}

type lateWriter struct{ ngbak.ObjectWriter }

func (w lateWriter) Commit() error {
	if err := w.ObjectWriter.Commit(); err != nil {
		return err
	}
	return errors.New("syncing the folder: input/output error")
}

// A Commit that fails after its object became visible leaves no backup
// listed without its archive, nor any object of the failed Create.
func TestCommitFailsAfterVisible(t *testing.T) {
	ctx := context.Background()
	for _, suffix := range []string{".ngbak", ".ngbak.sha256", ".manifest.json"} {
		t.Run(suffix, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "b")
			env := newEnv(t, ngbak.Options{Storage: lateFailing{ngbak.Dir(dir), suffix}}, newMem("mem", map[string]string{"a": "1"}))
			if _, err := env.m.Create(ctx, nil); err == nil || !strings.Contains(err.Error(), "input/output error") {
				t.Fatalf("Create: %v", err)
			}
			if list, err := env.m.List(ctx); err != nil || len(list) != 0 {
				t.Errorf("List after the failed Create: %d backups, %v", len(list), err)
			}
			if got := files(t, dir); len(got) != 0 {
				t.Errorf("the failed Create left %v", got)
			}
		})
	}
}

// A restore marker whose Commit fails after it became visible is removed
// with the restore's error: left behind, it would make every later Create
// and Restore refuse as busy.
func TestMarkerCommitFailsAfterVisible(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "b")
	mem := newMem("mem", map[string]string{"a": "1"})
	env := newEnv(t, ngbak.Options{Storage: lateFailing{ngbak.Dir(dir), ".restore.json"}}, mem)
	man := env.create(t)
	if _, err := env.m.Restore(ctx, man.ID, nil); err == nil || !strings.Contains(err.Error(), "input/output error") {
		t.Fatalf("Restore: %v", err)
	}
	if mem.restores != 0 {
		t.Errorf("store touched %d times", mem.restores)
	}
	if got, err := env.m.Interrupted(ctx); err != nil || len(got) != 0 {
		t.Errorf("Interrupted after the failed marker: %v, %v; want none", got, err)
	}
	env.create(t)
}
