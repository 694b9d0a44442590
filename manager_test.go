package ngbak_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/klauspost/compress/zstd"
	"github.com/ngbak/ngbak"
	"github.com/ngbak/ngbak/internal/heap"
)

// Guarantee 1: nothing is restored from an archive that has not been
// verified. A damaged archive is refused before any exporter sees it.
func TestVerifyBeforeRestore(t *testing.T) {
	mem := newMem("mem", map[string]string{"a": "1", "b": "2"})
	env := newEnv(t, ngbak.Options{}, mem)
	man := env.create(t)
	mem.set("a", "changed")
	// The damage sits in the last part of the archive: a restore that
	// streamed before verifying would already have handed the records over.
	data := mustRead(t, env.archivePath(man.ID))
	data[len(data)-10] ^= 0xff
	if err := os.WriteFile(env.archivePath(man.ID), data, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := env.m.Restore(context.Background(), man.ID, nil)
	if !errors.Is(err, ngbak.ErrChecksum) {
		t.Fatalf("Restore of a damaged archive: %v, want ErrChecksum", err)
	}
	if mem.restores != 0 {
		t.Fatalf("the exporter's Restore ran %d times on an unverified archive", mem.restores)
	}
	if got := mem.snapshot()["a"]; got != "changed" {
		t.Fatalf("store changed by a refused restore: a = %q", got)
	}
	if err := env.m.Verify(context.Background(), man.ID); !errors.Is(err, ngbak.ErrChecksum) {
		t.Fatalf("Verify: %v, want ErrChecksum", err)
	}
}

// Guarantee 2 across several backends: each holds exactly the backup's
// content afterwards.
func TestRestoreReplaces(t *testing.T) {
	dir := workdir(t)
	mem := newMem("mem", map[string]string{"a": "1", "b": "2"})
	env := newEnv(t, ngbak.Options{}, newJSON(t, dir), mem)
	wantFiles, wantMem := readTree(t, dir), mem.snapshot()
	man := env.create(t)

	os.WriteFile(filepath.Join(dir, "kv_store_full_docs.json"), []byte("{}"), 0o644)
	os.WriteFile(filepath.Join(dir, "kv_store_new.json"), []byte(`{"x": 1}`), 0o644)
	os.Remove(filepath.Join(dir, "vdb_entities.json"))
	mem.set("c", "added")
	mem.set("a", "changed")

	res, err := env.m.Restore(context.Background(), man.ID, nil)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(wantFiles, readTree(t, dir)); diff != "" {
		t.Errorf("working dir (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(wantMem, mem.snapshot()); diff != "" {
		t.Errorf("mem store (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"json", "mem"}, res.Backends); diff != "" {
		t.Errorf("restored backends (-want +got):\n%s", diff)
	}
	// The safety backup holds the state just before the restore and undoes it.
	safety, err := env.m.Get(context.Background(), res.SafetyID)
	if err != nil {
		t.Fatal(err)
	}
	if got := safety.Manifest.Labels[ngbak.LabelSafetyFor]; got != man.ID {
		t.Errorf("safety backup label = %q, want %q", got, man.ID)
	}
	if _, err := env.m.Restore(context.Background(), res.SafetyID, &ngbak.RestoreOptions{NoSafetyBackup: true}); err != nil {
		t.Fatal(err)
	}
	if got := mem.snapshot()["c"]; got != "added" {
		t.Errorf("undo via the safety backup: c = %q, want %q", got, "added")
	}
}

// Guarantee 3: when a backend fails, the ones already restored and the
// failed one are rolled back from the safety backup, and the error says so.
// zbad sorts after json, so json is restored first and must be put back.
func TestRollbackAfterFailedBackend(t *testing.T) {
	ctx := context.Background()
	dir := workdir(t)
	bad := &onceFailing{memExporter: newMem("zbad", map[string]string{"k1": "v1", "k2": "v2", "k3": "v3", "k4": "v4"})}
	env := newEnv(t, ngbak.Options{}, newJSON(t, dir), bad)
	man := env.create(t)
	os.WriteFile(filepath.Join(dir, "kv_store_full_docs.json"), []byte(`{"after": "backup"}`), 0o644)
	bad.set("k5", "after backup")
	beforeFiles, beforeBad := readTree(t, dir), bad.snapshot()

	_, err := env.m.Restore(ctx, man.ID, nil)
	if !errors.Is(err, errHalfway) {
		t.Fatalf("Restore error %v does not wrap the backend's error", err)
	}
	for _, want := range []string{`backend "zbad" (mem) failed`, "rolled back json, zbad from safety backup"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if diff := cmp.Diff(beforeFiles, readTree(t, dir)); diff != "" {
		t.Errorf("json not rolled back (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(beforeBad, bad.snapshot()); diff != "" {
		t.Errorf("zbad not rolled back (-want +got):\n%s", diff)
	}
	if bad.restores != 2 {
		t.Errorf("zbad restored %d times, want 2 (the failure, the rollback)", bad.restores)
	}
}

var errHalfway = errors.New("first restore fails halfway")

type onceFailing struct {
	*memExporter
	failed bool
}

func (e *onceFailing) Restore(ctx context.Context, r *ngbak.Reader) error {
	if !e.failed {
		e.failed = true
		e.restoreErr = errHalfway
		defer func() { e.restoreErr = nil }()
	}
	return e.memExporter.Restore(ctx, r)
}

func TestRollbackFailsToo(t *testing.T) {
	bad := newMem("bad", map[string]string{"k1": "v1", "k2": "v2"})
	env := newEnv(t, ngbak.Options{}, bad)
	man := env.create(t)
	bad.restoreErr = errors.New("always fails")
	_, err := env.m.Restore(context.Background(), man.ID, nil)
	if err == nil || !strings.Contains(err.Error(), "rollback of bad from safety backup") || !strings.Contains(err.Error(), "failed too") {
		t.Fatalf("Restore error = %v, want one that says the rollback failed too", err)
	}
}

func TestNoSafetyBackup(t *testing.T) {
	bad := newMem("bad", map[string]string{"k1": "v1", "k2": "v2"})
	env := newEnv(t, ngbak.Options{}, bad)
	man := env.create(t)
	bad.restoreErr = errors.New("fails")
	_, err := env.m.Restore(context.Background(), man.ID, &ngbak.RestoreOptions{NoSafetyBackup: true})
	if err == nil || !strings.Contains(err.Error(), "no safety backup was taken, so bad may hold partial data") {
		t.Fatalf("Restore error = %v", err)
	}
	list, _ := env.m.List(context.Background())
	if len(list) != 1 {
		t.Fatalf("%d backups listed, want only the original: NoSafetyBackup took one", len(list))
	}
}

// A safety backup that cannot be taken stops the restore before any store
// is touched.
func TestSafetyBackupFails(t *testing.T) {
	mem := newMem("mem", map[string]string{"a": "1"})
	env := newEnv(t, ngbak.Options{}, mem)
	man := env.create(t)
	mem.set("a", "2")
	mem.exportErr = errors.New("store unreachable")
	_, err := env.m.Restore(context.Background(), man.ID, nil)
	if !errors.Is(err, mem.exportErr) || !strings.Contains(err.Error(), "safety backup failed, nothing was restored") {
		t.Fatalf("Restore error = %v", err)
	}
	if mem.restores != 0 || mem.snapshot()["a"] != "2" {
		t.Fatal("store touched although the safety backup failed")
	}
}

// Guarantee 4: errors are never swallowed.
func TestNoSwallowedErrors(t *testing.T) {
	ctx := context.Background()
	boom := errors.New("connection reset")
	t.Run("exporter", func(t *testing.T) {
		bad := newMem("bad", nil)
		bad.exportErr = boom
		env := newEnv(t, ngbak.Options{}, newJSON(t, workdir(t)), bad)
		_, err := env.m.Create(ctx, nil)
		if !errors.Is(err, boom) || !strings.Contains(err.Error(), `backend "bad" (mem)`) {
			t.Fatalf("Create error = %v", err)
		}
		if got := files(t, env.dir); len(got) != 0 {
			t.Fatalf("failed Create left %v", got)
		}
	})
	t.Run("hooks", func(t *testing.T) {
		var afterRan bool
		var afterSaw error
		env := newEnv(t, ngbak.Options{
			BeforeCreate: func(context.Context) error { return boom },
			AfterCreate:  func(_ context.Context, err error) error { afterRan, afterSaw = true, err; return nil },
		}, newMem("m", nil))
		_, err := env.m.Create(ctx, nil)
		if !errors.Is(err, boom) || !afterRan || !errors.Is(afterSaw, boom) {
			t.Fatalf("Create = %v; AfterCreate ran %v with %v", err, afterRan, afterSaw)
		}
		resume := errors.New("cannot resume writers")
		env = newEnv(t, ngbak.Options{AfterCreate: func(context.Context, error) error { return resume }}, newMem("m", nil))
		if _, err := env.m.Create(ctx, nil); !errors.Is(err, resume) {
			t.Fatalf("Create with a failing AfterCreate = %v", err)
		}
		if got := files(t, env.dir); len(got) != 0 {
			t.Fatalf("failed Create left %v", got)
		}
	})
	t.Run("unclosed file", func(t *testing.T) {
		env := newEnv(t, ngbak.Options{}, exporterFunc(func(ctx context.Context, w *ngbak.Writer) (ngbak.Info, error) {
			f, err := w.Create("never-closed")
			if err != nil {
				return ngbak.Info{}, err
			}
			f.Write([]byte("data"))
			return ngbak.Info{}, nil
		}))
		if _, err := env.m.Create(ctx, nil); err == nil || !strings.Contains(err.Error(), "not closed") {
			t.Fatalf("Create = %v, want an error about the unclosed file", err)
		}
	})
	t.Run("short file", func(t *testing.T) {
		env := newEnv(t, ngbak.Options{}, exporterFunc(func(ctx context.Context, w *ngbak.Writer) (ngbak.Info, error) {
			return ngbak.Info{}, w.WriteFile("short", 10, strings.NewReader("123"))
		}))
		if _, err := env.m.Create(ctx, nil); err == nil || !strings.Contains(err.Error(), "got 3 bytes, expected 10") {
			t.Fatalf("Create = %v", err)
		}
	})
	t.Run("details not an object", func(t *testing.T) {
		for _, details := range []string{`[1]`, `{"a":`, `"text"`} {
			env := newEnv(t, ngbak.Options{}, exporterFunc(func(ctx context.Context, w *ngbak.Writer) (ngbak.Info, error) {
				return ngbak.Info{Details: []byte(details)}, nil
			}))
			if _, err := env.m.Create(ctx, nil); err == nil || !strings.Contains(err.Error(), "Details is not a JSON object") {
				t.Fatalf("Create with Details %s: %v", details, err)
			}
			if got := files(t, env.dir); len(got) != 0 {
				t.Fatalf("a failed Create left %v", got)
			}
		}
	})
	t.Run("stated checksum", func(t *testing.T) {
		for _, c := range []struct{ sum, want string }{
			{"A665A45920422F9D417E4867EFDC4FB8A04A1F3FFF1FA07E998E86F7F7A27AE3", ""}, // sha256("123"), upper case
			{strings.Repeat("0", 64), "the source says"},
		} {
			env := newEnv(t, ngbak.Options{}, exporterFunc(func(ctx context.Context, w *ngbak.Writer) (ngbak.Info, error) {
				return ngbak.Info{}, w.WriteFileSHA256("stated", 3, c.sum, strings.NewReader("123"))
			}))
			_, err := env.m.Create(ctx, nil)
			if c.want == "" && err != nil || c.want != "" && (!errors.Is(err, ngbak.ErrChecksum) || !strings.Contains(err.Error(), c.want)) {
				t.Fatalf("WriteFileSHA256 with %s: %v", c.sum, err)
			}
			if c.want != "" && len(files(t, env.dir)) != 0 {
				t.Fatalf("a failed Create left %v", files(t, env.dir))
			}
		}
	})
	t.Run("exporter skips a file", func(t *testing.T) {
		mem := newMem("mem", map[string]string{"a": "1"})
		env := newEnv(t, ngbak.Options{}, mem)
		man := env.create(t)
		lazy := &lazyRestore{mem}
		m2, _ := ngbak.New(ngbak.Options{Storage: ngbak.Dir(env.dir)})
		m2.Register(lazy)
		if _, err := m2.Restore(ctx, man.ID, &ngbak.RestoreOptions{NoSafetyBackup: true}); err == nil || !strings.Contains(err.Error(), "restore did not read mem/records.jsonl") {
			t.Fatalf("Restore = %v", err)
		}
	})
}

type lazyRestore struct{ *memExporter }

func (lazyRestore) Restore(context.Context, *ngbak.Reader) error { return nil }

type exporterFunc func(ctx context.Context, w *ngbak.Writer) (ngbak.Info, error)

func (exporterFunc) Name() string { return "func" }
func (exporterFunc) Kind() string { return "func" }
func (f exporterFunc) Export(ctx context.Context, w *ngbak.Writer) (ngbak.Info, error) {
	return f(ctx, w)
}
func (exporterFunc) Restore(context.Context, *ngbak.Reader) error { return nil }

// streamExporter writes size bytes of compressible pseudo-JSON, through
// WriteFile (known size) and, if spool is set, through Create (unknown
// size, spooled). Its Restore reads and discards.
type streamExporter struct {
	size  int64
	spool bool
	read  int64
}

func (*streamExporter) Name() string { return "stream" }
func (*streamExporter) Kind() string { return "stream" }

func (e *streamExporter) Export(ctx context.Context, w *ngbak.Writer) (ngbak.Info, error) {
	if err := w.WriteFile("known.json", e.size, newJSONGen(e.size)); err != nil {
		return ngbak.Info{}, err
	}
	if e.spool {
		f, err := w.Create("unknown.json")
		if err != nil {
			return ngbak.Info{}, err
		}
		if _, err := io.Copy(f, newJSONGen(e.size)); err != nil {
			return ngbak.Info{}, err
		}
		if err := f.Close(); err != nil {
			return ngbak.Info{}, err
		}
	}
	return ngbak.Info{Format: "stream/1"}, nil
}

func (e *streamExporter) Restore(ctx context.Context, r *ngbak.Reader) error {
	for {
		_, _, err := r.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		n, err := io.Copy(io.Discard, r)
		e.read += n
		if err != nil {
			return err
		}
	}
}

// Guarantee 5: memory stays bounded whatever the data size. A large backup
// (1 GiB of payload, 256 MiB under the race detector, half of it through
// Writer.Create, which spools) must stay under fixed ceilings, far below
// its size, and within a margin of a small one (64 MiB): no part of the
// path holds data in proportion to its size. The ceilings leave room for
// the zstd workers' jobs (4 MiB each) and for garbage the GC has not
// collected yet.
func TestBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("moves 1 GiB")
	}
	ctx := context.Background()
	small, large := int64(32<<20), int64(512<<20)
	if raceEnabled {
		large = 128 << 20
	}
	ops := []string{"create", "verify", "restore"}
	ceiling := [3]uint64{192 << 20, 48 << 20, 48 << 20}
	peaks := map[int64][3]uint64{}
	for _, size := range []int64{small, large} {
		exp := &streamExporter{size: size, spool: true}
		env := newEnv(t, ngbak.Options{}, exp)
		var man *ngbak.Manifest
		var p [3]uint64
		p[0] = heap.Peak(func() {
			var err error
			if man, err = env.m.Create(ctx, nil); err != nil {
				t.Fatal(err)
			}
		})
		p[1] = heap.Peak(func() {
			if err := env.m.Verify(ctx, man.ID); err != nil {
				t.Fatal(err)
			}
		})
		p[2] = heap.Peak(func() {
			if _, err := env.m.Restore(ctx, man.ID, &ngbak.RestoreOptions{NoSafetyBackup: true}); err != nil {
				t.Fatal(err)
			}
		})
		if exp.read != 2*size {
			t.Fatalf("restore read %d bytes, want %d", exp.read, 2*size)
		}
		peaks[size] = p
		t.Logf("payload %4d MiB: heap peak create %5.1f MiB, verify %5.1f MiB, restore %5.1f MiB",
			2*size>>20, float64(p[0])/(1<<20), float64(p[1])/(1<<20), float64(p[2])/(1<<20))
	}
	const margin = 64 << 20
	for i, op := range ops {
		if got := peaks[large][i]; got > ceiling[i] {
			t.Errorf("%s: heap peak %d MiB for %d MiB of payload, ceiling %d MiB", op, got>>20, 2*large>>20, ceiling[i]>>20)
		}
		if peaks[large][i] > peaks[small][i]+margin {
			t.Errorf("%s: heap peak %d MiB for %d MiB of payload vs %d MiB for %d MiB: memory grows with the data",
				op, peaks[large][i]>>20, 2*large>>20, peaks[small][i]>>20, 2*small>>20)
		}
	}
}

// Guarantee 6: secrets never reach an archive.
func TestRedaction(t *testing.T) {
	type Neo4j struct {
		URI      string `json:"uri"`
		User     string `json:"user"`
		Password string `json:"neo4j_password"`
	}
	type Config struct {
		Neo4j      Neo4j             `json:"neo4j"`
		QdrantKey  string            `json:"qdrant_api_key"`
		RedisURL   string            `json:"redis_url"`
		Signing    string            `json:"signing" ngbak:"secret"`
		Extra      map[string]any    `json:"extra"`
		Headers    map[string]string `json:"headers"`
		Model      string            `json:"model"`
		unexported string
	}
	secrets := []string{"hunter2", "qd-key-123", "redis-pass", "sign-me", "tok-456", "aws-789", "bearer-abc", "unexported-value"}
	cfg := Config{
		Neo4j:     Neo4j{URI: "bolt://localhost:7687", User: "neo4j", Password: "hunter2"},
		QdrantKey: "qd-key-123",
		RedisURL:  "redis://default:redis-pass@localhost:6379/0",
		Signing:   "sign-me",
		Extra:     map[string]any{"nested": map[string]any{"access_token": "tok-456", "list": []any{map[string]any{"AWS_SECRET_ACCESS_KEY": "aws-789"}}}},
		Headers:   map[string]string{"X-Api-Key": "bearer-abc"},
		Model:     "gpt-4o-mini",
		// encoding/json ignores unexported fields, and so does the record.
		unexported: "unexported-value",
	}
	env := newEnv(t, ngbak.Options{AppConfig: cfg, App: &ngbak.App{Name: "graphrag", Version: "1.2"}}, newJSON(t, workdir(t)))
	man := env.create(t)
	if !strings.Contains(string(man.Config), "gpt-4o-mini") || !strings.Contains(string(man.Config), "bolt://localhost:7687") {
		t.Fatalf("config lost its non-secret fields: %s", man.Config)
	}
	// Look everywhere: the sidecars and every decompressed byte of the archive.
	var all []byte
	for _, name := range files(t, env.dir) {
		data := mustRead(t, filepath.Join(env.dir, name))
		all = append(all, data...)
		if strings.HasSuffix(name, ".ngbak") {
			zr, err := zstd.NewReader(bytes.NewReader(data))
			if err != nil {
				t.Fatal(err)
			}
			plain, err := io.ReadAll(zr)
			zr.Close()
			if err != nil {
				t.Fatal(err)
			}
			all = append(all, plain...)
		}
	}
	for _, s := range secrets {
		if bytes.Contains(all, []byte(s)) {
			t.Errorf("secret %q reached the backup", s)
		}
	}
	if n := strings.Count(string(man.Config), ngbak.Redacted); n < 6 {
		t.Errorf("config shows %d redactions, want at least 6: %s", n, man.Config)
	}
}

// Guarantee 8 for Create and Restore at every point where they look at the
// context: the conformance suite (exportertest) runs the same for every
// exporter; this adds the goroutine count.
func TestCancellationLeavesNothing(t *testing.T) {
	mem := newMem("mem", map[string]string{"a": "1", "b": "2"})
	env := newEnv(t, ngbak.Options{}, newJSON(t, workdir(t)), mem, &streamExporter{size: 3 << 20, spool: true})
	before := runtime.NumGoroutine()
	for n := 0; ; n = max(1, n*2) {
		ctx, cancel := context.WithCancel(context.Background())
		checks := 0
		cctx := &cancelAfter{Context: ctx, n: n, checks: &checks, cancel: cancel}
		_, err := env.m.Create(cctx, nil)
		cancel()
		if err == nil {
			break
		}
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Create cancelled at check %d: %v", n, err)
		}
		if got := files(t, env.dir); len(got) != 0 {
			t.Fatalf("Create cancelled at check %d left %v", n, got)
		}
		if got := files(t, env.tempDir); len(got) != 0 {
			t.Fatalf("Create cancelled at check %d left temp files %v", n, got)
		}
	}
	// The encoder's and decoder's goroutines end with the operation.
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if after := runtime.NumGoroutine(); after > before {
		buf := make([]byte, 1<<20)
		t.Fatalf("%d goroutines before, %d after:\n%s", before, after, buf[:runtime.Stack(buf, true)])
	}
}

// cancelAfter is cancelled at its n-th Err check.
type cancelAfter struct {
	context.Context
	n      int
	checks *int
	cancel context.CancelFunc
	mu     sync.Mutex
}

func (c *cancelAfter) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if *c.checks >= c.n {
		c.cancel()
	}
	*c.checks++
	return c.Context.Err()
}

// A crash mid-Create: the archive written but never committed, or committed
// without its manifest. Neither is visible, and a later Create cleans up
// once they are stale.
func TestCrashMidCreate(t *testing.T) {
	ctx := context.Background()
	mem := newMem("mem", map[string]string{"a": "1"})
	env := newEnv(t, ngbak.Options{}, mem)
	man := env.create(t)
	// Simulate the crashes from a finished backup's files.
	archive := mustRead(t, env.archivePath(man.ID))
	crashed := []string{"20200101T000000.000Z-aaaaaa.ngbak.partial", "20200101T000000.000Z-bbbbbb.ngbak", "20200101T000000.000Z-bbbbbb.ngbak.sha256"}
	for _, name := range crashed {
		data := archive
		if strings.HasSuffix(name, ".sha256") {
			data = []byte(strings.Repeat("0", 64) + "  20200101T000000.000Z-bbbbbb.ngbak\n")
		}
		if err := os.WriteFile(filepath.Join(env.dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	list, err := env.m.List(ctx)
	if err != nil || len(list) != 1 || list[0].Manifest.ID != man.ID {
		t.Fatalf("List = %v, %v; want only %s", list, err, man.ID)
	}
	// Fresh leftovers may belong to a Create in flight elsewhere: kept.
	env.create(t)
	for _, name := range crashed {
		if _, err := os.Stat(filepath.Join(env.dir, name)); err != nil {
			t.Fatalf("fresh %s removed: %v", name, err)
		}
	}
	old := time.Now().Add(-2 * time.Hour)
	for _, name := range crashed {
		os.Chtimes(filepath.Join(env.dir, name), old, old)
	}
	env.create(t)
	for _, name := range crashed {
		if _, err := os.Stat(filepath.Join(env.dir, name)); err == nil {
			t.Errorf("stale %s not cleaned up", name)
		}
	}
	// A commit that fails leaves nothing: storage that refuses the manifest.
	env2 := newEnv(t, ngbak.Options{Storage: failingCommit{ngbak.Dir(env.dir + "2"), ".manifest.json"}}, mem)
	if _, err := env2.m.Create(ctx, nil); err == nil {
		t.Fatal("Create succeeded although the manifest could not be committed")
	}
	if got := files(t, env.dir+"2"); len(got) != 0 {
		t.Fatalf("failed commit left %v", got)
	}
}

type failingCommit struct {
	ngbak.Storage
	suffix string
}

func (f failingCommit) Create(ctx context.Context, name string) (ngbak.ObjectWriter, error) {
	w, err := f.Storage.Create(ctx, name)
	if err != nil || !strings.HasSuffix(name, f.suffix) {
		return w, err
	}
	return failingWriter{w}, nil
}

type failingWriter struct{ ngbak.ObjectWriter }

func (w failingWriter) Commit() error {
	w.ObjectWriter.Abort()
	return errors.New("power cut")
}

// List reads sidecars only: it never opens an archive.
func TestListReadsSidecarsOnly(t *testing.T) {
	ctx := context.Background()
	counting := &countingStorage{Storage: ngbak.Dir(filepath.Join(t.TempDir(), "b"))}
	env := newEnv(t, ngbak.Options{Storage: counting}, newMem("m", map[string]string{"a": "1"}))
	var ids []string
	for range 5 {
		ids = append(ids, env.create(t).ID)
	}
	counting.opened = nil
	list, err := env.m.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, b := range list {
		got = append(got, b.Manifest.ID)
		if b.Size <= 0 {
			t.Errorf("%s: size %d", b.Manifest.ID, b.Size)
		}
	}
	slices.Reverse(ids)
	if diff := cmp.Diff(ids, got); diff != "" {
		t.Errorf("List order, want newest first (-want +got):\n%s", diff)
	}
	for _, name := range counting.opened {
		if !strings.HasSuffix(name, ".manifest.json") {
			t.Errorf("List opened %s", name)
		}
	}
	// One unreadable sidecar does not hide the others, and is reported.
	os.WriteFile(filepath.Join(t.TempDir(), "x"), nil, 0o644)
	bad := ids[0] + ".manifest.json"
	w, _ := counting.Storage.Create(ctx, "20300101T000000.000Z-cccccc.manifest.json")
	w.Write([]byte("{not json"))
	w.Commit()
	list, err = env.m.List(ctx)
	if len(list) != 5 || !errors.Is(err, ngbak.ErrCorrupt) {
		t.Fatalf("List with a broken sidecar = %d backups, %v; want 5 and ErrCorrupt (%s fine)", len(list), err, bad)
	}
}

type countingStorage struct {
	ngbak.Storage
	mu     sync.Mutex
	opened []string
}

func (c *countingStorage) Open(ctx context.Context, name string) (io.ReadCloser, error) {
	c.mu.Lock()
	c.opened = append(c.opened, name)
	c.mu.Unlock()
	return c.Storage.Open(ctx, name)
}

func TestIDs(t *testing.T) {
	seen := map[string]bool{}
	var prev string
	now := time.Now()
	for range 1000 {
		id := ngbak.NewID(now) // the same instant every time
		if !ngbak.ValidID(id) || seen[id] || id <= prev {
			t.Fatalf("id %q after %q: valid %v, seen %v", id, prev, ngbak.ValidID(id), seen[id])
		}
		seen[id], prev = true, id
	}
	for _, bad := range []string{"", ".", "..", "../x", "a/b", `a\b`, "-x", ".hidden", "a..b", "x y", "é", strings.Repeat("a", 129), "a\x00"} {
		if ngbak.ValidID(bad) {
			t.Errorf("ValidID(%q) = true", bad)
		}
	}
	ctx := context.Background()
	env := newEnv(t, ngbak.Options{}, newMem("m", nil))
	for _, bad := range []string{"../../etc/passwd", "x/y", ""} {
		if _, err := env.m.Get(ctx, bad); !errors.Is(err, ngbak.ErrInvalidID) {
			t.Errorf("Get(%q) = %v", bad, err)
		}
		if err := env.m.Verify(ctx, bad); !errors.Is(err, ngbak.ErrInvalidID) {
			t.Errorf("Verify(%q) = %v", bad, err)
		}
		if _, err := env.m.Restore(ctx, bad, nil); !errors.Is(err, ngbak.ErrInvalidID) {
			t.Errorf("Restore(%q) = %v", bad, err)
		}
		if err := env.m.Delete(ctx, bad); !errors.Is(err, ngbak.ErrInvalidID) {
			t.Errorf("Delete(%q) = %v", bad, err)
		}
		if _, err := env.m.Open(ctx, bad); !errors.Is(err, ngbak.ErrInvalidID) {
			t.Errorf("Open(%q) = %v", bad, err)
		}
	}
	for _, f := range []func() error{
		func() error { _, err := env.m.Get(ctx, "20200101T000000.000Z-000000"); return err },
		func() error { return env.m.Verify(ctx, "20200101T000000.000Z-000000") },
		func() error { return env.m.Delete(ctx, "20200101T000000.000Z-000000") },
		func() error { _, err := env.m.Restore(ctx, "20200101T000000.000Z-000000", nil); return err },
	} {
		if err := f(); !errors.Is(err, ngbak.ErrNotFound) {
			t.Errorf("on a missing backup: %v, want ErrNotFound", err)
		}
	}
}

func TestRestoreSubsetAndCompatibility(t *testing.T) {
	ctx := context.Background()
	a := newMem("a", map[string]string{"x": "1"})
	b := newMem("b", map[string]string{"y": "2"})
	env := newEnv(t, ngbak.Options{}, a, b)
	man := env.create(t)
	a.set("x", "changed")
	b.set("y", "changed")
	res, err := env.m.Restore(ctx, man.ID, &ngbak.RestoreOptions{Backends: []string{"b"}})
	if err != nil {
		t.Fatal(err)
	}
	if a.snapshot()["x"] != "changed" || b.snapshot()["y"] != "2" || !slices.Equal(res.Backends, []string{"b"}) {
		t.Fatalf("subset restore: a=%v b=%v backends=%v", a.snapshot(), b.snapshot(), res.Backends)
	}
	if _, err := env.m.Restore(ctx, man.ID, &ngbak.RestoreOptions{Backends: []string{"nope"}}); !errors.Is(err, ngbak.ErrNotFound) {
		t.Errorf("restore of an absent backend: %v", err)
	}
	// Another manager over the same storage: "b" missing, then of another kind.
	m2, _ := ngbak.New(ngbak.Options{Storage: ngbak.Dir(env.dir)})
	m2.Register(newMem("a", nil))
	if _, err := m2.Restore(ctx, man.ID, nil); !errors.Is(err, ngbak.ErrIncompatible) || !strings.Contains(err.Error(), `"b"`) {
		t.Errorf("restore with b unregistered: %v", err)
	}
	other := newMem("b", nil)
	other.kind = "redis"
	m2.Register(other)
	if _, err := m2.Restore(ctx, man.ID, nil); !errors.Is(err, ngbak.ErrIncompatible) || !strings.Contains(err.Error(), "kind") {
		t.Errorf("restore into another kind: %v", err)
	}
}

func TestDeleteAndBusy(t *testing.T) {
	ctx := context.Background()
	mem := newMem("m", map[string]string{"a": "1"})
	env := newEnv(t, ngbak.Options{}, mem)
	man := env.create(t)
	mem.restoreStarted, mem.restoreGo = make(chan struct{}), make(chan struct{})
	done := make(chan error)
	go func() {
		_, err := env.m.Restore(ctx, man.ID, &ngbak.RestoreOptions{NoSafetyBackup: true})
		done <- err
	}()
	<-mem.restoreStarted
	if err := env.m.Delete(ctx, man.ID); !errors.Is(err, ngbak.ErrBusy) {
		t.Errorf("Delete during restore: %v, want ErrBusy", err)
	}
	close(mem.restoreGo)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := env.m.Delete(ctx, man.ID); err != nil {
		t.Fatal(err)
	}
	if got := files(t, env.dir); len(got) != 0 {
		t.Errorf("Delete left %v", got)
	}
	if err := env.m.Delete(ctx, man.ID); !errors.Is(err, ngbak.ErrNotFound) {
		t.Errorf("second Delete: %v", err)
	}
}

func TestOpenAndImport(t *testing.T) {
	ctx := context.Background()
	mem := newMem("m", map[string]string{"a": "1"})
	src := newEnv(t, ngbak.Options{}, mem)
	man := src.create(t)
	rc, err := src.m.Open(ctx, man.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	dst := newEnv(t, ngbak.Options{}, mem)
	got, err := dst.m.Import(ctx, rc)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(man, got); diff != "" {
		t.Fatalf("imported manifest (-want +got):\n%s", diff)
	}
	if err := dst.m.Verify(ctx, man.ID); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(readTree(t, src.dir), readTree(t, dst.dir)); diff != "" {
		t.Fatalf("imported files differ (-want +got):\n%s", diff)
	}
	// The same archive again: refused, the stored one untouched.
	if _, err := dst.m.Import(ctx, bytes.NewReader(mustRead(t, src.archivePath(man.ID)))); !errors.Is(err, ngbak.ErrExists) {
		t.Fatalf("second Import: %v, want ErrExists", err)
	}
	if got := files(t, dst.tempDir); len(got) != 0 {
		t.Fatalf("Import left temp files %v", got)
	}
}

func TestProgress(t *testing.T) {
	var mu sync.Mutex
	var events []ngbak.Event
	env := newEnv(t, ngbak.Options{Progress: func(e ngbak.Event) {
		mu.Lock()
		events = append(events, e)
		mu.Unlock()
	}}, newJSON(t, workdir(t)), &streamExporter{size: 10 << 20})
	man := env.create(t)
	if _, err := env.m.Restore(context.Background(), man.ID, nil); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	var maxRestore ngbak.Event
	for _, e := range events {
		seen[e.Op+"/"+e.Phase+"/"+e.Backend] = true
		if e.Op == "restore" && e.Phase == "restore" && e.Bytes > maxRestore.Bytes {
			maxRestore = e
		}
	}
	for _, want := range []string{"create/export/json", "create/export/stream", "create/done/", "restore/verify/", "restore/safety-backup/", "restore/restore/json", "restore/restore/stream", "restore/done/"} {
		if !seen[want] {
			t.Errorf("no %s event; saw %v", want, seen)
		}
	}
	if maxRestore.Total == 0 || maxRestore.Bytes > maxRestore.Total || maxRestore.Bytes < 8<<20 {
		t.Errorf("restore byte progress %d of %d", maxRestore.Bytes, maxRestore.Total)
	}
}

// partsExporter writes records through Writer.Parts and reads them back.
type partsExporter struct {
	records int
	got     []string
	files   []string
}

func (*partsExporter) Name() string { return "parts" }
func (*partsExporter) Kind() string { return "parts" }

func (e *partsExporter) Export(ctx context.Context, w *ngbak.Writer) (ngbak.Info, error) {
	pw := w.Parts("records", ".txt")
	for i := range e.records {
		if err := pw.Append(fmt.Appendf(pw.Buffer(), "record %d %s\n", i, strings.Repeat("x", 1000))); err != nil {
			return ngbak.Info{}, err
		}
	}
	return ngbak.Info{}, pw.Close()
}

func (e *partsExporter) Restore(ctx context.Context, r *ngbak.Reader) error {
	e.got, e.files = nil, nil
	for {
		name, _, err := r.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		e.files = append(e.files, name)
		data, err := io.ReadAll(r)
		if err != nil {
			return err
		}
		if len(data) > 0 && data[len(data)-1] != '\n' {
			return fmt.Errorf("%s does not end with a whole record", name)
		}
		for _, line := range strings.SplitAfter(string(data), "\n") {
			if line != "" {
				e.got = append(e.got, line)
			}
		}
	}
}

// Writer.Parts cuts a stream into parts of about 2 MiB at record
// boundaries, and an empty stream into one empty part.
func TestParts(t *testing.T) {
	for _, c := range []struct {
		records int
		files   []string
	}{
		{0, []string{"records/000001.txt"}},
		{10, []string{"records/000001.txt"}},
		{5000, []string{"records/000001.txt", "records/000002.txt", "records/000003.txt"}},
	} {
		exp := &partsExporter{records: c.records}
		env := newEnv(t, ngbak.Options{}, exp)
		man := env.create(t)
		if _, err := env.m.Restore(context.Background(), man.ID, &ngbak.RestoreOptions{NoSafetyBackup: true}); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(c.files, exp.files); diff != "" {
			t.Errorf("%d records: files (-want +got):\n%s", c.records, diff)
		}
		if len(exp.got) != c.records {
			t.Fatalf("%d records written, %d read", c.records, len(exp.got))
		}
		for i, line := range exp.got {
			if !strings.HasPrefix(line, fmt.Sprintf("record %d ", i)) {
				t.Fatalf("record %d reads %.20q", i, line)
			}
		}
	}
}

// TestWithProgress: a context made by WithProgress gets the events of the
// operation it is passed to, and only those.
func TestWithProgress(t *testing.T) {
	env := newEnv(t, ngbak.Options{}, newMem("mem", map[string]string{"a": "1"}))
	var mine []ngbak.Event
	ctx := ngbak.WithProgress(context.Background(), func(e ngbak.Event) { mine = append(mine, e) })
	man, err := env.m.Create(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(mine) == 0 || mine[len(mine)-1].Phase != "done" || mine[len(mine)-1].ID != man.ID {
		t.Fatalf("create events: %+v", mine)
	}
	n := len(mine)
	if err := env.m.Verify(context.Background(), man.ID); err != nil {
		t.Fatal(err)
	}
	if len(mine) != n {
		t.Fatal("an operation with another context reported to this one")
	}
	if _, err := env.m.Restore(ctx, man.ID, nil); err != nil {
		t.Fatal(err)
	}
	var phases []string
	for _, e := range mine[n:] {
		if e.Op == "restore" && e.ID == man.ID && (len(phases) == 0 || phases[len(phases)-1] != e.Phase) {
			phases = append(phases, e.Phase)
		}
	}
	if want := []string{"verify", "safety-backup", "restore", "done"}; !slices.Equal(phases, want) {
		t.Fatalf("restore phases %v, want %v", phases, want)
	}
}

// checkedMem refuses restores by CheckRestore when refuse is set, and sees
// the backend being restored.
type checkedMem struct {
	*memExporter
	refuse error
	seen   *ngbak.Backend
}

func (c *checkedMem) CheckRestore(ctx context.Context, b *ngbak.Backend) error {
	c.seen = b
	return c.refuse
}

// A RestoreChecker's refusal stops a restore before anything changes: no
// safety backup, no Restore call, no rollback; its consent lets it run.
func TestRestoreChecker(t *testing.T) {
	plain := newMem("plain", map[string]string{"a": "1"})
	checked := &checkedMem{memExporter: newMem("checked", map[string]string{"b": "2"})}
	env := newEnv(t, ngbak.Options{}, plain, checked)
	man := env.create(t)
	plain.set("a", "changed")
	checked.set("b", "changed")
	checked.refuse = errors.New("the store would lose what the backup lacks")
	_, err := env.m.Restore(context.Background(), man.ID, nil)
	if err == nil || !strings.Contains(err.Error(), `backend "checked" (mem) cannot be restored, nothing was changed: the store would lose`) {
		t.Fatalf("Restore refused by a checker: %v", err)
	}
	if plain.restores+checked.restores != 0 {
		t.Fatalf("Restore called %d+%d times after a refusal", plain.restores, checked.restores)
	}
	if list, _ := env.m.List(context.Background()); len(list) != 1 {
		t.Fatalf("%d backups listed: a refused restore took a safety backup", len(list))
	}
	if checked.seen == nil || checked.seen.Name != "checked" || checked.seen.Stats["records"] != 1 {
		t.Fatalf("CheckRestore saw backend %+v", checked.seen)
	}
	checked.refuse = nil
	if _, err := env.m.Restore(context.Background(), man.ID, nil); err != nil {
		t.Fatal(err)
	}
	if got := checked.snapshot(); got["b"] != "2" {
		t.Fatalf("after the restore: %v", got)
	}
}
