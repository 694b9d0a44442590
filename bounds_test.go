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
// 15 s when each name was compared with every one before it.
func TestManyFilesLinear(t *testing.T) {
	env := newEnv(t, ngbak.Options{}, &emptyFiles{n: 80000})
	start := time.Now()
	env.create(t)
	if took := time.Since(start); took > 8*time.Second {
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
func (e *randomFiles) Restore(ctx context.Context, r *ngbak.Reader) error {
	if e.fail != nil {
		return e.fail
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
	env := newEnv(t, ngbak.Options{Storage: store}, first, big)
	man := env.create(t)
	first.fail = errors.New("the store refused the first write")
	store.n.Store(0)
	before := store.n.Load()
	_, err := env.m.Restore(ctx, man.ID, nil)
	if !errors.Is(err, first.fail) {
		t.Fatalf("Restore: %v", err)
	}
	// The verify pass reads the whole archive, and so do the rollback's
	// two passes over the safety backup: 64 MiB each. The failed pass
	// stops where its backend failed.
	read := store.n.Load() - before
	if whole := int64(64<<20) + 1<<20; read > 3*whole+16<<20 {
		t.Errorf("read %d MiB for a restore whose first backend failed: the failed pass read on to the end", read>>20)
	}
}
