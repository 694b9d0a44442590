// Package exportertest is the conformance suite every ngbak.Exporter passes,
// in the way gocloud.dev's drivertest proves every blob driver: a backend
// package's tests give RunConformanceTests a HarnessMaker, and the suite
// checks, against the real store, what DESIGN.md promises of every backend.
//
// The suite talks to the store only through the Harness: records are string
// keys and values that the harness stores the way the application would
// (a document in a JSON file, a key in a Redis namespace, a node in Neo4j),
// and State reads back the complete state of the scope, in any form go-cmp
// can compare. A harness whose State also covers what lies just outside the
// scope proves that a restore leaves it alone.
package exportertest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/klauspost/compress/zstd"
	"github.com/ngbak/ngbak"
)

// Harness gives the suite one fresh, empty scope of a store.
type Harness interface {
	// Exporter returns the exporter under test, bound to the scope.
	Exporter() ngbak.Exporter
	// Put adds records to the scope or replaces their values.
	Put(ctx context.Context, records map[string]string) error
	// Delete removes records from the scope.
	Delete(ctx context.Context, keys ...string) error
	// State returns the complete state of the scope, comparable with go-cmp.
	State(ctx context.Context) (any, error)
}

// HarnessMaker returns a harness over a new empty scope. It registers its
// own cleanup with t.Cleanup.
type HarnessMaker func(ctx context.Context, t *testing.T) Harness

// Options adjust the suite to a store's limits. The zero value runs
// everything.
type Options struct {
	// LargeValue is the size of the value in the LargeValues test; 0 means
	// 10 MiB.
	LargeValue int
	// Dedup runs every test on the deduplicating layout (ngbak.Options.Dedup),
	// with small chunks so that even small stores make several; the
	// tampering test then damages a chunk.
	Dedup bool
}

// RunConformanceTests runs the suite. Each test gets a new harness.
func RunConformanceTests(t *testing.T, newHarness HarnessMaker, opts Options) {
	if opts.LargeValue == 0 {
		opts.LargeValue = 10 << 20
	}
	tests := []struct {
		name string
		fn   func(*testing.T, *env)
	}{
		{"RoundTrip", testRoundTrip},
		{"EmptyStore", testEmptyStore},
		{"RestoreReplaces", testRestoreReplaces},
		{"LargeValues", func(t *testing.T, e *env) { testLargeValues(t, e, opts.LargeValue) }},
		{"UnusualCharacters", testUnusualCharacters},
		{"CancelledExport", testCancelledExport},
		{"CancelledRestore", testCancelledRestore},
		{"TamperedArchive", testTamperedArchive},
		{"CheckRestore", testCheckRestore},
		{"Plan", testPlan},
	}
	if opts.Dedup {
		tests = append(tests, struct {
			name string
			fn   func(*testing.T, *env)
		}{"TamperedChunk", testTamperedChunk})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			h := newHarness(ctx, t)
			tt.fn(t, newEnv(ctx, t, h, opts.Dedup))
		})
	}
}

// env is one test's store, manager and folders.
type env struct {
	ctx     context.Context
	h       Harness
	m       *ngbak.Manager
	dir     string // the storage folder
	tempDir string
	dedup   bool
}

func newEnv(ctx context.Context, t *testing.T, h Harness, dedup bool) *env {
	e := &env{ctx: ctx, h: h, dir: filepath.Join(t.TempDir(), "backups"), tempDir: t.TempDir(), dedup: dedup}
	opts := ngbak.Options{Storage: ngbak.Dir(e.dir), TempDir: e.tempDir}
	if dedup {
		opts.Dedup = &ngbak.DedupOptions{AverageChunkSize: 64 << 10}
	}
	m, err := ngbak.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Register(h.Exporter()); err != nil {
		t.Fatal(err)
	}
	e.m = m
	return e
}

func (e *env) put(t *testing.T, records map[string]string) {
	t.Helper()
	if err := e.h.Put(e.ctx, records); err != nil {
		t.Fatalf("harness Put: %v", err)
	}
}

func (e *env) state(t *testing.T) any {
	t.Helper()
	s, err := e.h.State(e.ctx)
	if err != nil {
		t.Fatalf("harness State: %v", err)
	}
	return s
}

func (e *env) create(t *testing.T) *ngbak.Manifest {
	t.Helper()
	man, err := e.m.Create(e.ctx, nil)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	return man
}

func (e *env) restore(t *testing.T, id string) {
	t.Helper()
	if _, err := e.m.Restore(e.ctx, id, nil); err != nil {
		t.Fatalf("Restore: %v", err)
	}
}

// mustDiffer guards a test against a harness whose Put or Delete did nothing,
// which would make every comparison after it pass vacuously.
func mustDiffer(t *testing.T, before, after any, what string) {
	t.Helper()
	if cmp.Equal(before, after) {
		t.Fatalf("harness: the state did not change after %s", what)
	}
}

func mustEqual(t *testing.T, want, got any, what string) {
	t.Helper()
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("%s (-want +got):\n%s", what, diff)
	}
}

// dataset returns n records of realistic shape.
func dataset(n int, seed uint64) map[string]string {
	r := rand.New(rand.NewPCG(seed, 1))
	words := []string{"entity", "graph", "community", "report", "chunk", "vector", "the", "of", "retrieval", "Ölfeld", "北京"}
	out := map[string]string{}
	for i := range n {
		var b strings.Builder
		for range 5 + r.IntN(40) {
			b.WriteString(words[r.IntN(len(words))])
			b.WriteByte(' ')
		}
		out[fmt.Sprintf("doc-%04d", i)] = b.String()
	}
	return out
}

func testRoundTrip(t *testing.T, e *env) {
	data := dataset(50, 1)
	e.put(t, data)
	want := e.state(t)
	man := e.create(t)
	keys := make([]string, 0, len(data))
	for k := range data {
		keys = append(keys, k)
	}
	if err := e.h.Delete(e.ctx, keys...); err != nil {
		t.Fatalf("harness Delete: %v", err)
	}
	mustDiffer(t, want, e.state(t), "deleting every record")
	e.restore(t, man.ID)
	mustEqual(t, want, e.state(t), "state after restore differs from state at backup")
}

// testCheckRestore: an exporter that is an ngbak.RestoreChecker accepts the
// backup it has just made of an unchanged store, and checking changes
// nothing.
func testCheckRestore(t *testing.T, e *env) {
	rc, ok := e.h.Exporter().(ngbak.RestoreChecker)
	if !ok {
		t.Skip("the exporter is not an ngbak.RestoreChecker")
	}
	e.put(t, dataset(20, 7))
	man := e.create(t)
	want := e.state(t)
	b, ok := man.Backend(rc.Name())
	if !ok {
		t.Fatalf("the manifest has no backend %q", rc.Name())
	}
	if err := rc.CheckRestore(e.ctx, b); err != nil {
		t.Fatalf("CheckRestore of a fresh backup of an unchanged store: %v", err)
	}
	mustEqual(t, want, e.state(t), "CheckRestore changed the store")
}

func testEmptyStore(t *testing.T, e *env) {
	want := e.state(t)
	man := e.create(t)
	e.put(t, dataset(10, 2))
	mustDiffer(t, want, e.state(t), "Put")
	e.restore(t, man.ID)
	mustEqual(t, want, e.state(t), "restoring an empty backup must empty the scope")
}

func testRestoreReplaces(t *testing.T, e *env) {
	data := dataset(40, 3)
	e.put(t, data)
	want := e.state(t)
	man := e.create(t)
	// Change some records, delete some, add some.
	changed := map[string]string{"doc-0001": "changed after the backup", "added-after-backup": "new"}
	e.put(t, changed)
	if err := e.h.Delete(e.ctx, "doc-0002", "doc-0003"); err != nil {
		t.Fatalf("harness Delete: %v", err)
	}
	mustDiffer(t, want, e.state(t), "changing records")
	e.restore(t, man.ID)
	mustEqual(t, want, e.state(t), "restore must replace: added records gone, deleted ones back, changed ones as they were")
	// A second restore of the same backup changes nothing: no duplicates.
	e.restore(t, man.ID)
	mustEqual(t, want, e.state(t), "restoring twice")
}

func testLargeValues(t *testing.T, e *env, size int) {
	r := rand.New(rand.NewPCG(4, 4))
	const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 {}[]\":,.é漢🙂"
	runes := []rune(alphabet)
	var b strings.Builder
	for b.Len() < size {
		b.WriteRune(runes[r.IntN(len(runes))])
	}
	e.put(t, map[string]string{"large": b.String(), "small": "x"})
	want := e.state(t)
	man := e.create(t)
	e.put(t, map[string]string{"large": "overwritten"})
	mustDiffer(t, want, e.state(t), "overwriting the large value")
	e.restore(t, man.ID)
	mustEqual(t, want, e.state(t), "large value after restore")
}

// Unusual are strings that broke other backup tools: quotes and escapes,
// statement separators and comment markers of the formats exporters write,
// client commands, every kind of line break, NUL, and text from many
// scripts.
var Unusual = []string{
	"plain",
	"",
	" leading and trailing spaces ",
	`double "quotes" and 'single' and ` + "`backticks`",
	`back\slash \n not a newline \u0041 \x00`,
	"new\nline and\r\nwindows line and\rcarriage return",
	"tab\tand\vvertical\fform feed",
	"semi;colon;",
	"// not a comment",
	"/* not a comment */",
	":begin\n:commit\n:param x => 1",
	"nul\x00byte",
	"line\u2028separator\u2029paragraph",
	"日本語 Ελληνικά العربية עברית हिन्दी 🧠🔥👩‍👩‍👧",
	"<script>alert(1)</script>",
	"${HOME} $(id) %s %d %%",
	`{"json": ["not", "an", "object"], "n": 1e309}`,
	"\u00e9 vs e\u0301",
	strings.Repeat("long ", 2000),
}

func testUnusualCharacters(t *testing.T, e *env) {
	records := map[string]string{}
	for i, s := range Unusual {
		records[fmt.Sprintf("value-%02d", i)] = s
		if s != "" {
			records[fmt.Sprintf("key-%02d:%s", i, s)] = fmt.Sprint(i)
		}
	}
	e.put(t, records)
	want := e.state(t)
	man := e.create(t)
	e.put(t, map[string]string{"value-00": "changed"})
	if err := e.h.Delete(e.ctx, "value-03"); err != nil {
		t.Fatalf("harness Delete: %v", err)
	}
	mustDiffer(t, want, e.state(t), "changing records")
	e.restore(t, man.ID)
	mustEqual(t, want, e.state(t), "unusual keys and values after restore")
}

// countdown is a context that is cancelled at its n-th check: run an
// operation with n = 0, 1, 2, 4 ... and it is cancelled at every point where
// it looks at its context, until it finishes.
type countdown struct {
	context.Context
	mu   sync.Mutex
	left int
	done chan struct{}
}

func newCountdown(n int) *countdown {
	return &countdown{Context: context.Background(), left: n, done: make(chan struct{})}
}

func (c *countdown) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.left <= 0 {
		select {
		case <-c.done:
		default:
			close(c.done)
		}
		return context.Canceled
	}
	c.left--
	return nil
}

func (c *countdown) Done() <-chan struct{} {
	c.Err() // a select on Done counts as a check
	return c.done
}

// maxCancelSteps bounds the cancellation loops.
const maxCancelSteps = 1 << 20

func testCancelledExport(t *testing.T, e *env) {
	e.put(t, dataset(20, 5))
	want := e.state(t)
	for n := 0; ; n = max(1, n*2) {
		if n > maxCancelSteps {
			t.Fatalf("Create still not finished after %d context checks", maxCancelSteps)
		}
		_, err := e.m.Create(newCountdown(n), nil)
		if err == nil {
			t.Logf("Create cancelled at checks 0 to %d, then finished", n)
			break
		}
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Create cancelled at check %d: error %v does not wrap context.Canceled", n, err)
		}
		list, lerr := e.m.List(e.ctx)
		if lerr != nil || len(list) != 0 {
			t.Fatalf("after Create cancelled at check %d: List = %d backups, %v; want none", n, len(list), lerr)
		}
		mustHoldNothing(t, e.dir, fmt.Sprintf("storage after Create cancelled at check %d", n))
		mustHoldNothing(t, e.tempDir, fmt.Sprintf("temp dir after Create cancelled at check %d", n))
		mustEqual(t, want, e.state(t), "a cancelled export must not change the store")
	}
}

func testCancelledRestore(t *testing.T, e *env) {
	e.put(t, dataset(20, 6))
	want := e.state(t)
	man := e.create(t)
	e.put(t, map[string]string{"doc-0001": "changed", "added": "after the backup"})
	changed := e.state(t)
	mustDiffer(t, want, changed, "changing records")
	for n := 0; ; n = max(1, n*2) {
		if n > maxCancelSteps {
			t.Fatalf("Restore still not finished after %d context checks", maxCancelSteps)
		}
		_, err := e.m.Restore(newCountdown(n), man.ID, nil)
		if err == nil {
			t.Logf("Restore cancelled at checks 0 to %d, then finished", n)
			break
		}
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Restore cancelled at check %d: error %v does not wrap context.Canceled", n, err)
		}
		mustEqual(t, changed, e.state(t), fmt.Sprintf("a restore cancelled at check %d must leave the store as it was (rolled back)", n))
		mustHoldNothing(t, e.tempDir, fmt.Sprintf("temp dir after Restore cancelled at check %d", n))
	}
	mustEqual(t, want, e.state(t), "state after the restore that finished")
}

func testTamperedArchive(t *testing.T, e *env) {
	e.put(t, dataset(30, 7))
	man := e.create(t)
	e.put(t, map[string]string{"doc-0001": "changed after the backup"})
	changed := e.state(t)
	// On the deduplicating layout <id>.ngbak is the chunk list; the chunks
	// are damaged in testTamperedChunk.
	path := filepath.Join(e.dir, man.ID+".ngbak")
	orig, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	damage := map[string][]byte{
		"flipped byte at start":  flip(orig, 20),
		"flipped byte in middle": flip(orig, len(orig)/2),
		"flipped last byte":      flip(orig, len(orig)-1),
		"truncated":              orig[:len(orig)*2/3],
		"appended garbage":       append(bytes.Clone(orig), "garbage"...),
	}
	for what, data := range damage {
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := e.m.Restore(e.ctx, man.ID, nil)
		if !errors.Is(err, ngbak.ErrChecksum) && !errors.Is(err, ngbak.ErrCorrupt) {
			t.Fatalf("%s: Restore error = %v, want ErrChecksum or ErrCorrupt", what, err)
		}
		mustEqual(t, changed, e.state(t), what+": a tampered archive must not touch the store")
	}
	if err := os.WriteFile(path, orig, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := e.m.Verify(e.ctx, man.ID); err != nil {
		t.Fatalf("Verify of the repaired archive: %v", err)
	}
}

// largestChunk is the path of the largest chunk of a deduplicated storage.
func largestChunk(t *testing.T, dir string) string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var best string
	var size int64 = -1
	for _, de := range entries {
		if info, err := de.Info(); err == nil && strings.HasPrefix(de.Name(), "chunk-") && info.Size() > size {
			best, size = filepath.Join(dir, de.Name()), info.Size()
		}
	}
	if best == "" {
		t.Fatalf("no chunk in %s", dir)
	}
	return best
}

// testTamperedChunk damages the largest chunk of a deduplicated storage.
// A flipped bit of the compressed bytes may leave what they decode to
// unchanged (and then nothing is damaged): the chunk's content is changed
// and compressed again instead.
func testTamperedChunk(t *testing.T, e *env) {
	e.put(t, dataset(30, 7))
	man := e.create(t)
	e.put(t, map[string]string{"doc-0001": "changed after the backup"})
	changed := e.state(t)
	path := largestChunk(t, filepath.Join(e.dir, "chunks"))
	orig, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	zd, _ := zstd.NewReader(nil)
	defer zd.Close()
	plain, err := zd.DecodeAll(orig, nil)
	if err != nil {
		t.Fatal(err)
	}
	ze, _ := zstd.NewWriter(nil)
	defer ze.Close()
	damage := map[string][]byte{
		"content changed": ze.EncodeAll(flip(plain, len(plain)/2), nil),
		"content cut":     ze.EncodeAll(plain[:len(plain)-1], nil),
		"truncated":       orig[:len(orig)/2],
		"emptied":         nil,
	}
	for what, data := range damage {
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := e.m.Restore(e.ctx, man.ID, nil)
		if !errors.Is(err, ngbak.ErrChecksum) && !errors.Is(err, ngbak.ErrCorrupt) {
			t.Fatalf("%s: Restore error = %v, want ErrChecksum or ErrCorrupt", what, err)
		}
		mustEqual(t, changed, e.state(t), what+": a tampered chunk must not touch the store")
	}
	os.Remove(path)
	if _, err := e.m.Restore(e.ctx, man.ID, nil); !errors.Is(err, ngbak.ErrCorrupt) {
		t.Fatalf("missing chunk: Restore error = %v, want ErrCorrupt", err)
	}
	if err := os.WriteFile(path, orig, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := e.m.Verify(e.ctx, man.ID); err != nil {
		t.Fatalf("Verify of the repaired chunk: %v", err)
	}
}

func flip(b []byte, i int) []byte {
	c := bytes.Clone(b)
	c[i] ^= 0x01
	return c
}

// mustHoldNothing fails if dir holds any file (an empty or missing folder
// passes).
func mustHoldNothing(t *testing.T, dir, what string) {
	t.Helper()
	var left []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		if !d.IsDir() {
			left = append(left, p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(left) > 0 {
		t.Fatalf("%s: left behind %v", what, left)
	}
}
