package ngbak_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ngbak/ngbak"
)

// rendezvous makes the exporters of a test meet: each one waits, after its
// first file, until all have written theirs. Run one after the other, the
// first would wait for ever; wait gives up after a while instead.
type rendezvous struct {
	mu      sync.Mutex
	arrived int
	all     int
	met     chan struct{}
}

func newRendezvous(n int) *rendezvous { return &rendezvous{all: n, met: make(chan struct{})} }

func (r *rendezvous) wait(ctx context.Context) error {
	r.mu.Lock()
	r.arrived++
	if r.arrived == r.all {
		close(r.met)
	}
	r.mu.Unlock()
	select {
	case <-r.met:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(5 * time.Second):
		return errors.New("the other backends did not run meanwhile")
	}
}

// meetingFiles writes files files of size bytes each, meeting the other
// exporters after its first, and restores them into got.
type meetingFiles struct {
	name      string
	files     int
	size      int
	meet      *rendezvous
	failAfter error // if set, Export fails with it after meeting
	got       map[string]string
}

func (e *meetingFiles) Name() string { return e.name }
func (e *meetingFiles) Kind() string { return "meeting" }

func (e *meetingFiles) content(i int) []byte {
	line := fmt.Sprintf("%s file %d\n", e.name, i)
	return bytes.Repeat([]byte(line), e.size/len(line)+1)[:e.size]
}

func (e *meetingFiles) Export(ctx context.Context, w *ngbak.Writer) (ngbak.Info, error) {
	for i := range e.files {
		if err := w.WriteFile(fmt.Sprintf("f%03d", i), int64(e.size), bytes.NewReader(e.content(i))); err != nil {
			return ngbak.Info{}, err
		}
		if i == 0 && e.meet != nil {
			if err := e.meet.wait(ctx); err != nil {
				return ngbak.Info{}, err
			}
			if e.failAfter != nil {
				return ngbak.Info{}, e.failAfter
			}
		}
	}
	return ngbak.Info{Format: "meeting/1"}, nil
}

func (e *meetingFiles) Restore(ctx context.Context, r *ngbak.Reader) error {
	e.got = map[string]string{}
	for {
		name, _, err := r.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		b, err := io.ReadAll(r)
		if err != nil {
			return err
		}
		e.got[name] = string(b)
	}
}

func (e *meetingFiles) want() map[string]string {
	out := map[string]string{}
	for i := range e.files {
		out[fmt.Sprintf("f%03d", i)] = string(e.content(i))
	}
	return out
}

// tarList lists an archive with the tar tool, as a user outside Go would.
func tarList(t *testing.T, archive string) []string {
	t.Helper()
	out, err := exec.Command("tar", "--zstd", "-tf", archive).CombinedOutput()
	if err != nil {
		t.Fatalf("tar --zstd -tf: %v\n%s", err, out)
	}
	return strings.Fields(string(out))
}

// Backends export at the same time (each waits for the others after its
// first file), and the archive still holds each backend's files in one
// run, in the manifest's order, SHA256SUMS and the manifest last, as tar
// and any ngbak/1 reader expect; it restores completely.
func TestParallelCreate(t *testing.T) {
	meet := newRendezvous(3)
	exps := []*meetingFiles{
		{name: "a", files: 5, size: 300 << 10, meet: meet},
		{name: "b", files: 3, size: 1 << 20, meet: meet},
		{name: "c", files: 4, size: 10, meet: meet},
	}
	env := newEnv(t, ngbak.Options{}, exps[0], exps[1], exps[2])
	man := env.create(t)
	var want []string
	for _, b := range man.Backends {
		for _, f := range b.Files {
			want = append(want, f.Path)
		}
	}
	want = append(want, "SHA256SUMS", "manifest.json")
	if diff := cmp.Diff(want, tarList(t, env.archivePath(man.ID))); diff != "" {
		t.Fatalf("archive entries against the manifest (-manifest +tar):\n%s", diff)
	}
	var order []string
	for _, p := range want[:len(want)-2] {
		if dir := path.Dir(p); len(order) == 0 || order[len(order)-1] != dir {
			order = append(order, dir)
		}
	}
	// Each backend's files in one run, and the backends in the order of
	// registration, whichever finished first (c, the smallest, usually).
	if !slices.Equal(order, []string{"a", "b", "c"}) {
		t.Errorf("backend folders in the archive %v, want a, b, c: a backend's files are not in one run, or not in registration order", order)
	}
	if err := env.m.Verify(context.Background(), man.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := env.m.Restore(context.Background(), man.ID, &ngbak.RestoreOptions{NoSafetyBackup: true}); err != nil {
		t.Fatal(err)
	}
	for _, e := range exps {
		if diff := cmp.Diff(e.want(), e.got); diff != "" {
			t.Errorf("%s restored (-want +got):\n%s", e.name, diff)
		}
		e.got = nil
	}
	// The sequential restore is the reader of earlier versions: it takes
	// the archive as it is.
	seq, err := ngbak.New(ngbak.Options{Storage: ngbak.Dir(env.dir), TempDir: env.tempDir, Parallelism: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := seq.Register(exps[0], exps[1], exps[2]); err != nil {
		t.Fatal(err)
	}
	if _, err := seq.Restore(context.Background(), man.ID, &ngbak.RestoreOptions{NoSafetyBackup: true}); err != nil {
		t.Fatal(err)
	}
	for _, e := range exps {
		if diff := cmp.Diff(e.want(), e.got); diff != "" {
			t.Errorf("%s restored one after the other (-want +got):\n%s", e.name, diff)
		}
	}
	if left, _ := os.ReadDir(env.tempDir); len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

// Parallelism 1 runs the backends one after the other: the rendezvous
// fails, which shows the test above depends on running them at once.
func TestParallelismOne(t *testing.T) {
	meet := newRendezvous(2)
	env := newEnv(t, ngbak.Options{Parallelism: 1}, &meetingFiles{name: "a", files: 1, size: 10, meet: meet}, &meetingFiles{name: "b", files: 1, size: 10, meet: meet})
	if _, err := env.m.Create(context.Background(), nil); err == nil || !strings.Contains(err.Error(), "did not run meanwhile") {
		t.Fatalf("Create with Parallelism 1: %v, want the rendezvous to fail", err)
	}
}

// A backend that fails while another spools its files fails the Create
// with its own error, cancels the other, and leaves no spool, no archive.
func TestParallelCreateFails(t *testing.T) {
	errBroken := errors.New("the store broke")
	meet := newRendezvous(2)
	env := newEnv(t, ngbak.Options{},
		&meetingFiles{name: "a", files: 50, size: 1 << 20, meet: meet},
		&meetingFiles{name: "b", files: 3, size: 1 << 20, meet: meet, failAfter: errBroken})
	_, err := env.m.Create(context.Background(), nil)
	if !errors.Is(err, errBroken) || !strings.Contains(err.Error(), `backend "b"`) {
		t.Fatalf("Create: %v, want b's error", err)
	}
	if left, _ := os.ReadDir(env.tempDir); len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}
	if got := files(t, env.dir); len(got) > 0 {
		t.Errorf("storage holds %v after a failed Create", got)
	}
}

// halfway restores half of its records, then tells that it is half way
// and waits until the restore is cancelled: it is the backend still at
// work when another one fails.
type halfway struct {
	*memExporter
	reached chan struct{} // closed half way through the first restore
	first   bool
}

func (e *halfway) Restore(ctx context.Context, r *ngbak.Reader) error {
	if e.first {
		return e.memExporter.Restore(ctx, r)
	}
	e.first = true
	if _, _, err := r.Next(); err != nil {
		return err
	}
	if _, err := io.ReadAll(r); err != nil {
		return err
	}
	e.mu.Lock()
	for k := range e.data {
		e.data[k] = "half restored"
		break
	}
	e.data["half"] = "restored"
	e.mu.Unlock()
	close(e.reached)
	<-ctx.Done()
	return ctx.Err()
}

// failsAfter fails its first restore once other has reached half way.
type failsAfter struct {
	*memExporter
	other <-chan struct{}
	err   error
	done  bool
}

func (e *failsAfter) Restore(ctx context.Context, r *ngbak.Reader) error {
	if e.done {
		return e.memExporter.Restore(ctx, r)
	}
	e.done = true
	select {
	case <-e.other:
	case <-time.After(10 * time.Second):
		return errors.New("the other backend did not restore meanwhile")
	}
	e.mu.Lock()
	e.data = map[string]string{"partial": "write"}
	e.mu.Unlock()
	return e.err
}

// Guarantee 3 with backends restoring at once: b fails while a is half way;
// a is stopped, and both are rolled back from the safety backup to what
// they held before the restore.
func TestParallelRestoreRollback(t *testing.T) {
	errBroken := errors.New("the store broke")
	a := &halfway{memExporter: newMem("a", map[string]string{"k1": "backup", "k2": "backup"}), reached: make(chan struct{})}
	b := &failsAfter{memExporter: newMem("b", map[string]string{"x": "backup"}), other: a.reached, err: errBroken}
	b.kind = "mem2" // backends of one kind restore one after the other
	env := newEnv(t, ngbak.Options{}, a, b)
	man := env.create(t)
	a.set("k1", "since")
	a.set("k3", "since")
	b.set("y", "since")
	beforeA, beforeB := a.snapshot(), b.snapshot()

	_, err := env.m.Restore(context.Background(), man.ID, nil)
	if !errors.Is(err, errBroken) {
		t.Fatalf("Restore: %v, want b's error", err)
	}
	for _, want := range []string{`backend "b" (mem2) failed`, "rolled back a, b from safety backup"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if diff := cmp.Diff(beforeA, a.snapshot()); diff != "" {
		t.Errorf("a, half way when b failed, not rolled back (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(beforeB, b.snapshot()); diff != "" {
		t.Errorf("b not rolled back (-want +got):\n%s", diff)
	}
	if left, _ := os.ReadDir(env.tempDir); len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}
	if in, err := env.m.Interrupted(context.Background()); err != nil || len(in) > 0 {
		t.Errorf("Interrupted after a rolled back restore: %v, %v", in, err)
	}
}

// overlapCounting counts the restores running at once, across exporters.
type overlapCounting struct {
	*memExporter
	running, most *atomic.Int32
}

func (e *overlapCounting) Restore(ctx context.Context, r *ngbak.Reader) error {
	n := e.running.Add(1)
	defer e.running.Add(-1)
	for {
		m := e.most.Load()
		if n <= m || e.most.CompareAndSwap(m, n) {
			break
		}
	}
	time.Sleep(50 * time.Millisecond)
	return e.memExporter.Restore(ctx, r)
}

// Backends of one kind may share a server or overlap (two label scopes of
// one Neo4j database): they restore one after the other, while backends of
// different kinds restore at once.
func TestParallelRestoreOneKindAtATime(t *testing.T) {
	for _, tc := range []struct {
		kinds []string
		most  int32
	}{{[]string{"mem", "mem", "mem"}, 1}, {[]string{"mem", "other", "third"}, 3}} {
		var running, most atomic.Int32
		var exps []ngbak.Exporter
		for i, k := range tc.kinds {
			e := &overlapCounting{memExporter: newMem(fmt.Sprintf("e%d", i), map[string]string{"k": "v"}), running: &running, most: &most}
			e.kind = k
			exps = append(exps, e)
		}
		env := newEnv(t, ngbak.Options{}, exps...)
		man := env.create(t)
		if _, err := env.m.Restore(context.Background(), man.ID, &ngbak.RestoreOptions{NoSafetyBackup: true}); err != nil {
			t.Fatal(err)
		}
		if got := most.Load(); got != tc.most {
			t.Errorf("kinds %v: %d restores ran at once, want %d", tc.kinds, got, tc.most)
		}
	}
}

// A backend restored from its spool reads the bytes that were verified or
// fails: a spool changed after it was written ends in ErrChecksum, not in
// a clean end of the entry (an exporter may be handing the bytes on as they
// come, as qdrantexp's snapshot upload does).
func TestParallelRestoreSpoolChanged(t *testing.T) {
	a := newMem("a", map[string]string{"k1": "backup"})
	b := newMem("b", map[string]string{"x": "backup"})
	b.kind = "mem2" // backends of one kind restore one after the other
	env := newEnv(t, ngbak.Options{}, a, b)
	man := env.create(t)
	a.set("k1", "since")
	before := a.snapshot()
	a.restoreStarted, a.restoreGo = make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	go func() {
		_, err := env.m.Restore(context.Background(), man.ID, &ngbak.RestoreOptions{NoSafetyBackup: true})
		done <- err
	}()
	<-a.restoreStarted
	// a comes first in the archive: its entry is spooled whole before it
	// is queued for a's Restore, which waits.
	size := man.Backends[0].Files[0].Size
	var spool string
	for deadline := time.Now().Add(10 * time.Second); spool == "" && time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		matches, _ := filepath.Glob(filepath.Join(env.tempDir, "ngbak-spool-restore-*"))
		for _, p := range matches {
			if fi, err := os.Stat(p); err == nil && fi.Size() == size {
				spool = p
			}
		}
	}
	if spool == "" {
		t.Fatal("no complete spool of a")
	}
	data, err := os.ReadFile(spool)
	if err != nil {
		t.Fatal(err)
	}
	i := bytes.Index(data, []byte(`"backup"`))
	data[i+1] = 'c' // still a record, another value
	if err := os.WriteFile(spool, data, 0o600); err != nil {
		t.Fatal(err)
	}
	close(a.restoreGo)
	if err := <-done; !errors.Is(err, ngbak.ErrChecksum) {
		t.Fatalf("Restore from a changed spool: %v, want ErrChecksum", err)
	}
	if diff := cmp.Diff(before, a.snapshot()); diff != "" {
		t.Errorf("a restored from a changed spool (-want +got):\n%s", diff)
	}
}
