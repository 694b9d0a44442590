package ngbak_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/ngbak/ngbak"
)

// fullStorage is a Dir whose archive writes fail once limit bytes went in,
// as on a full disk.
type fullStorage struct {
	ngbak.Storage
	limit int64
}

func (s *fullStorage) Create(ctx context.Context, name string) (ngbak.ObjectWriter, error) {
	w, err := s.Storage.Create(ctx, name)
	if err != nil || !strings.HasSuffix(name, ".ngbak") {
		return w, err
	}
	return &fullWriter{ObjectWriter: w, left: s.limit}, nil
}

type fullWriter struct {
	ngbak.ObjectWriter
	left int64
}

var errDiskFull = errors.New("disk full")

func (w *fullWriter) Write(p []byte) (int, error) {
	if int64(len(p)) > w.left {
		n, _ := w.ObjectWriter.Write(p[:w.left])
		w.left = 0
		return n, errDiskFull
	}
	w.left -= int64(len(p))
	return w.ObjectWriter.Write(p)
}

// TestStorageFull: an archive write that fails at its first byte, in the
// middle or among its last bytes fails the Create with the storage's error
// and leaves nothing but the backups there were. The compressed bytes
// reach the storage from a goroutine of their own (sinkPipe), so the
// error of a last write is known only when it ends. (Archives differ by a
// few bytes in their ids and times: hence not the very last byte.)
func TestStorageFull(t *testing.T) {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(7, 8))
	data := map[string]string{}
	for i := range 400 {
		b := make([]byte, 8<<10)
		for j := range b {
			b[j] = byte(rng.Uint32())
		}
		data[fmt.Sprintf("k%03d", i)] = string(b)
	}
	full := &fullStorage{limit: 1 << 62}
	env := newEnv(t, ngbak.Options{}, newMem("mem", data))
	full.Storage = ngbak.Dir(env.dir)
	env.m, _ = ngbak.New(ngbak.Options{Storage: full, TempDir: env.tempDir})
	if err := env.m.Register(newMem("mem", data)); err != nil {
		t.Fatal(err)
	}
	first := env.create(t)
	info, err := ngbak.Dir(env.dir).Stat(ctx, first.ID+".ngbak")
	if err != nil {
		t.Fatal(err)
	}
	before := files(t, env.dir)
	for _, limit := range []int64{0, 1000, info.Size / 2, info.Size - 64, info.Size - 24} {
		t.Run(fmt.Sprint(limit), func(t *testing.T) {
			full.limit = limit
			_, err := env.m.Create(ctx, nil)
			if !errors.Is(err, errDiskFull) {
				t.Fatalf("Create on a storage full after %d of about %d bytes: %v", limit, info.Size, err)
			}
			list, err := env.m.List(ctx)
			if err != nil || len(list) != 1 || list[0].Manifest.ID != first.ID {
				t.Fatalf("List after the failed Create: %v, %v", list, err)
			}
			if diff := cmp.Diff(before, files(t, env.dir)); diff != "" {
				t.Fatalf("the failed Create left files (-before +after):\n%s", diff)
			}
		})
	}
	full.limit = 1 << 62
	if man := env.create(t); !slices.Equal(man.Backends[0].Files[0:1], first.Backends[0].Files[0:1]) {
		t.Fatalf("after the failures a Create holds %v, the first %v", man.Backends[0].Files, first.Backends[0].Files)
	}
}

// brokenEncryption cannot start an encrypted stream.
type brokenEncryption struct{}

func (brokenEncryption) Name() string { return "broken" }
func (brokenEncryption) Encrypt(io.Writer) (io.WriteCloser, error) {
	return nil, errors.New("no key")
}
func (brokenEncryption) Decrypt(r io.Reader) (io.Reader, error) { return r, nil }

// TestBrokenEncryptionLeavesNoGoroutine: a Create whose encryption cannot
// start fails with its error and leaves no goroutine of the archive
// writer behind (the sink's starts before the encryption).
func TestBrokenEncryptionLeavesNoGoroutine(t *testing.T) {
	env := newEnv(t, ngbak.Options{Encryption: brokenEncryption{}}, newMem("mem", map[string]string{"a": "1"}))
	before := runtime.NumGoroutine()
	for range 20 {
		if _, err := env.m.Create(context.Background(), nil); err == nil || !strings.Contains(err.Error(), "no key") {
			t.Fatalf("Create with a broken encryption: %v", err)
		}
	}
	for deadline := time.Now().Add(5 * time.Second); runtime.NumGoroutine() > before+5; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines after 20 failed Creates, %d before", runtime.NumGoroutine(), before)
		}
	}
}
