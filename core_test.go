package ngbak_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/google/go-cmp/cmp"
	"github.com/ngbak/ngbak"
	"github.com/ngbak/ngbak/agecrypt"
)

// Guarantee 9: clean-up removes only what ngbak wrote. The old Python
// system's archives, files of other tools and archives of other shapes
// stay, however old they are; only leftovers of ngbak's own ids that carry
// ngbak's own marks (a .partial of its writer, a .sha256 sidecar in its
// format) go.
func TestOrphanCleanupLeavesForeignFiles(t *testing.T) {
	mem := newMem("mem", map[string]string{"a": "1"})
	env := newEnv(t, ngbak.Options{}, mem)
	man := env.create(t)
	foreign := map[string]string{
		"snapshot_2025-10-06T14-30-12Z.ngbak":         "python tar.gz",
		"snapshot_2025-10-06T14-30-12Z.checksum":      "sha256:00",
		"snapshot_2025-10-06T14-30-12Z.ngbak.partial": "python upload in progress",
		"nightly.ngbak":                            "a valid id, not ngbak's shape",
		"nightly.ngbak.sha256":                     "0000000000000000000000000000000000000000000000000000000000000000  nightly.ngbak\n",
		"20200101T000000.000Z-cccccc.ngbak":        "ngbak's shape, but no mark of ngbak's beside it",
		"20200101T000000.000Z-dddddd.ngbak":        "a .sha256 beside it that ngbak did not write",
		"20200101T000000.000Z-dddddd.ngbak.sha256": "sha256:1234\n",
		"notes.txt.partial":                        "another tool's partial file",
	}
	own := map[string]string{
		"20200101T000000.000Z-aaaaaa.ngbak.partial": "ngbak's partial, left by a crash",
		"20200101T000000.000Z-bbbbbb.ngbak":         "committed, manifest never written",
		"20200101T000000.000Z-bbbbbb.ngbak.sha256":  "0000000000000000000000000000000000000000000000000000000000000000  20200101T000000.000Z-bbbbbb.ngbak\n",
		"20200101T000000.000Z-eeeeee.ngbak.sha256":  "0000000000000000000000000000000000000000000000000000000000000000  20200101T000000.000Z-eeeeee.ngbak\n",
	}
	old := time.Now().Add(-48 * time.Hour)
	for name, data := range mergeMaps(foreign, own) {
		p := filepath.Join(env.dir, name)
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, old, old); err != nil {
			t.Fatal(err)
		}
	}
	second := env.create(t)
	want := []string{
		man.ID + ".manifest.json", man.ID + ".ngbak", man.ID + ".ngbak.sha256",
		second.ID + ".manifest.json", second.ID + ".ngbak", second.ID + ".ngbak.sha256",
	}
	for name := range foreign {
		want = append(want, name)
	}
	slices.Sort(want)
	if diff := cmp.Diff(want, files(t, env.dir)); diff != "" {
		t.Errorf("files after Create's clean-up (-want +got):\n%s", diff)
	}
	got := readTree(t, env.dir)
	for name, data := range foreign {
		if got[name] != data {
			t.Errorf("%s changed: %q", name, got[name])
		}
	}
	if _, err := env.m.List(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func mergeMaps(ms ...map[string]string) map[string]string {
	out := map[string]string{}
	for _, m := range ms {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}

// A partial file that has not been written to for longer than the stale
// age is still live while its writer holds it (a Qdrant snapshot being
// made, a BeforeCreate hook waiting): another writer's clean-up leaves it,
// and its Commit succeeds.
func TestLivePartialSurvivesCleanup(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "backups")
	store := ngbak.Dir(dir)
	name := "20200101T000000.000Z-aaaaaa.ngbak"
	w, err := store.Create(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte("the first bytes of a long export")); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-2 * time.Hour)
	if err := os.Chtimes(filepath.Join(dir, name+".partial"), old, old); err != nil {
		t.Fatal(err)
	}
	// Another Create, in this process or another: its clean-up runs.
	other, err := ngbak.Dir(dir).Create(ctx, "20200101T000000.000Z-bbbbbb.ngbak")
	if err != nil {
		t.Fatal(err)
	}
	if err := other.Abort(); err != nil {
		t.Fatal(err)
	}
	if err := w.Commit(); err != nil {
		t.Fatalf("Commit of a live partial after another writer's clean-up: %v", err)
	}
	if diff := cmp.Diff([]string{name}, files(t, dir)); diff != "" {
		t.Errorf("files (-want +got):\n%s", diff)
	}
}

// A partial file removed under its writer is reported as that, not as a
// file system without hard links.
func TestRemovedPartialReported(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "backups")
	w, err := ngbak.Dir(dir).Create(ctx, "20200101T000000.000Z-aaaaaa.ngbak")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, "20200101T000000.000Z-aaaaaa.ngbak.partial")); err != nil {
		t.Fatal(err)
	}
	err = w.Commit()
	if !errors.Is(err, fs.ErrNotExist) || strings.Contains(err.Error(), "FAT") || !strings.Contains(err.Error(), "removed") {
		t.Fatalf("Commit of a removed partial = %v; want an error wrapping fs.ErrNotExist that says it was removed", err)
	}
}

// Guarantee 9: the safety backup of a restore is held from its creation
// until the restore returns. Neither this Manager nor another one on the
// same storage (another process) deletes it, so the rollback it exists
// for still works.
func TestSafetyBackupHeld(t *testing.T) {
	ctx := context.Background()
	bad := &onceFailing{memExporter: newMem("mem", map[string]string{"a": "1"})}
	mem := bad.memExporter
	env := newEnv(t, ngbak.Options{}, bad)
	man := env.create(t)
	mem.set("a", "2")
	newer := env.create(t)
	goOn := make(chan struct{})
	mem.restoreStarted, mem.restoreGo = make(chan struct{}), goOn
	other, err := ngbak.New(ngbak.Options{Storage: ngbak.Dir(env.dir), TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error)
	go func() {
		_, err := env.m.Restore(ctx, man.ID, nil)
		done <- err
	}()
	<-mem.restoreStarted
	safety := safetyBackups(t, env.m)
	if len(safety) != 1 {
		t.Fatalf("safety backups during the restore: %v", safety)
	}
	if err := env.m.Delete(ctx, safety[0]); !errors.Is(err, ngbak.ErrBusy) {
		t.Errorf("Delete of the safety backup during its restore: %v, want ErrBusy", err)
	}
	if err := other.Delete(ctx, safety[0]); !errors.Is(err, ngbak.ErrBusy) {
		t.Errorf("another Manager's Delete of the safety backup during its restore: %v, want ErrBusy", err)
	}
	// A policy that keeps only the newest backup keeps the one being
	// restored too, and says why, rather than failing on its Delete.
	ds, err := other.Prune(ctx, ngbak.RetentionPolicy{Last: 1}, false)
	if err != nil {
		t.Errorf("Prune during a restore: %v", err)
	}
	got := decisionsOf(ds)
	want := []decision{
		{safety[0], true, []string{"safety", "in use"}},
		{newer.ID, true, []string{"last"}},
		{man.ID, true, []string{"in use"}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Prune's decisions during a restore (-want +got):\n%s", diff)
	}
	mem.mu.Lock()
	mem.restoreStarted, mem.restoreGo = nil, nil // the rollback does not wait
	mem.mu.Unlock()
	close(goOn)
	err = <-done
	if err == nil || !strings.Contains(err.Error(), "rolled back mem from safety backup "+safety[0]) {
		t.Fatalf("Restore = %v; want a failure rolled back from %s", err, safety[0])
	}
	if diff := cmp.Diff(map[string]string{"a": "2"}, mem.snapshot()); diff != "" {
		t.Errorf("store after the rollback (-want +got):\n%s", diff)
	}
	// Held no longer: it can go now.
	if err := other.Delete(ctx, safety[0]); err != nil {
		t.Errorf("Delete of the safety backup after its restore: %v", err)
	}
}

// The newest safety backup is the only undo of the last restore: a policy
// written for ordinary backups does not remove it, whatever backups come
// after it (RetentionPolicy.Safety).
func TestSafetyRetention(t *testing.T) {
	key, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	enc, err := agecrypt.New(nil, []age.Identity{key})
	if err != nil {
		t.Fatal(err)
	}
	// Encrypted, the sidecar still says which backups are safety backups.
	t.Run("plain", func(t *testing.T) { testSafetyRetention(t, ngbak.Options{}) })
	t.Run("age", func(t *testing.T) { testSafetyRetention(t, ngbak.Options{Encryption: enc}) })
}

func testSafetyRetention(t *testing.T, opts ngbak.Options) {
	ctx := context.Background()
	mem := newMem("mem", map[string]string{"a": "1"})
	env := newEnv(t, opts, mem)
	first := env.create(t)
	mem.set("a", "2")
	res, err := env.m.Restore(ctx, first.ID, nil)
	if err != nil {
		t.Fatal(err)
	}
	later := env.create(t)
	ds, err := env.m.Prune(ctx, ngbak.RetentionPolicy{Daily: 1}, false)
	if err != nil {
		t.Fatal(err)
	}
	got := decisionsOf(ds)
	want := []decision{
		{later.ID, true, []string{"daily"}},
		{res.SafetyID, true, []string{"safety"}},
		{first.ID, false, nil},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("decisions (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{res.SafetyID}, safetyBackups(t, env.m)); diff != "" {
		t.Errorf("safety backups after Prune (-want +got):\n%s", diff)
	}
}

func safetyBackups(t *testing.T, m *ngbak.Manager) []string {
	t.Helper()
	list, err := m.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, b := range list {
		if _, ok := b.Manifest.Labels[ngbak.LabelSafetyFor]; ok {
			out = append(out, b.Manifest.ID)
		}
	}
	return out
}

// Create and Restore exclude each other: a backup taken during a restore
// would hold a half-restored state, and a restore during a backup would
// change what the backup is reading. The second one is refused with
// ErrBusy, in this process and, while a restore runs, in others.
func TestCreateRestoreExclusive(t *testing.T) {
	ctx := context.Background()
	mem := newMem("mem", map[string]string{"a": "1"})
	inCreate, leaveCreate := make(chan struct{}), make(chan struct{})
	var pauseCreate bool
	// inVerify, once set, is closed when a restore starts verifying, which
	// then waits for leaveVerify.
	var inVerify, leaveVerify chan struct{}
	env := newEnv(t, ngbak.Options{BeforeCreate: func(ctx context.Context) error {
		if pauseCreate {
			close(inCreate)
			<-leaveCreate
		}
		return nil
	}, Progress: func(e ngbak.Event) {
		if e.Op == "restore" && e.Phase == "verify" && inVerify != nil {
			close(inVerify)
			inVerify = nil
			<-leaveVerify
		}
	}}, mem)
	man := env.create(t)
	otherHooks := 0
	other, err := ngbak.New(ngbak.Options{Storage: ngbak.Dir(env.dir), TempDir: t.TempDir(), BeforeCreate: func(ctx context.Context) error {
		otherHooks++
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	if err := other.Register(newMem("mem", nil)); err != nil {
		t.Fatal(err)
	}

	goOn := make(chan struct{})
	mem.restoreStarted, mem.restoreGo = make(chan struct{}), goOn
	done := make(chan error)
	go func() {
		_, err := env.m.Restore(ctx, man.ID, nil)
		done <- err
	}()
	<-mem.restoreStarted
	if _, err := env.m.Create(ctx, nil); !errors.Is(err, ngbak.ErrBusy) {
		t.Errorf("Create during a restore: %v, want ErrBusy", err)
	}
	if _, err := other.Create(ctx, nil); !errors.Is(err, ngbak.ErrBusy) {
		t.Errorf("another Manager's Create during a restore: %v, want ErrBusy", err)
	}
	if otherHooks != 0 {
		t.Errorf("another Manager's refused Create ran BeforeCreate: it must refuse before the application pauses its writes")
	}
	if _, err := env.m.Restore(ctx, man.ID, nil); !errors.Is(err, ngbak.ErrBusy) {
		t.Errorf("Restore during a restore: %v, want ErrBusy", err)
	}
	mem.mu.Lock()
	mem.restoreStarted, mem.restoreGo = nil, nil
	mem.mu.Unlock()
	close(goOn)
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	pauseCreate = true
	go func() {
		_, err := env.m.Create(ctx, nil)
		done <- err
	}()
	<-inCreate
	if _, err := env.m.Restore(ctx, man.ID, nil); !errors.Is(err, ngbak.ErrBusy) {
		t.Errorf("Restore during a Create: %v, want ErrBusy", err)
	}
	pauseCreate = false
	close(leaveCreate)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if mem.restores != 1 {
		t.Errorf("%d restores ran, want 1", mem.restores)
	}
	// Both free again.
	env.create(t)
	if _, err := env.m.Restore(ctx, man.ID, nil); err != nil {
		t.Fatal(err)
	}

	// A restore that is still verifying, before its marker is written,
	// excludes a Create all the same.
	inVerify, leaveVerify = make(chan struct{}), make(chan struct{})
	started := inVerify
	go func() {
		_, err := env.m.Restore(ctx, man.ID, nil)
		done <- err
	}()
	<-started
	if _, err := env.m.Create(ctx, nil); !errors.Is(err, ngbak.ErrBusy) {
		t.Errorf("Create while a restore verifies: %v, want ErrBusy", err)
	}
	close(leaveVerify)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// BeforeRestore and AfterRestore run around a restore as BeforeCreate and
// AfterCreate run around a backup: after the archive is verified and
// before the safety backup; AfterRestore always, with the outcome.
func TestRestoreHooks(t *testing.T) {
	ctx := context.Background()
	var calls []string
	var restoring string
	bad := &onceFailing{memExporter: newMem("mem", map[string]string{"a": "1"})}
	opts := ngbak.Options{
		BeforeCreate: func(ctx context.Context) error { calls = append(calls, "before create"); return nil },
		AfterCreate: func(ctx context.Context, err error) error {
			calls = append(calls, fmt.Sprintf("after create: %v", err))
			return nil
		},
		BeforeRestore: func(ctx context.Context) error { calls = append(calls, "before restore"); return nil },
		AfterRestore: func(ctx context.Context, err error) error {
			calls = append(calls, fmt.Sprintf("after restore: %v", err != nil))
			return nil
		},
		Progress: func(e ngbak.Event) {
			if e.Op == "restore" && e.Backend == "" && e.ID == restoring {
				calls = append(calls, "phase "+e.Phase)
			}
		},
	}
	env := newEnv(t, opts, bad)
	man := env.create(t)
	calls, restoring = nil, man.ID
	if _, err := env.m.Restore(ctx, man.ID, nil); !errors.Is(err, errHalfway) {
		t.Fatalf("Restore: %v", err)
	}
	want := []string{"phase verify", "before restore", "phase safety-backup", "phase rollback", "after restore: true"}
	if diff := cmp.Diff(want, calls); diff != "" {
		t.Errorf("calls of a failed restore (-want +got):\n%s", diff)
	}
	calls = nil
	if _, err := env.m.Restore(ctx, man.ID, nil); err != nil {
		t.Fatal(err)
	}
	want = []string{"phase verify", "before restore", "phase safety-backup", "phase done", "after restore: false"}
	if diff := cmp.Diff(want, calls); diff != "" {
		t.Errorf("calls of a restore (-want +got):\n%s", diff)
	}
	// A failing BeforeRestore stops the restore with nothing changed; its
	// error and AfterRestore's reach the caller.
	env.m = nil
	errPause, errResume := errors.New("cannot pause ingestion"), errors.New("cannot resume")
	opts.BeforeRestore = func(ctx context.Context) error { return errPause }
	opts.AfterRestore = func(ctx context.Context, err error) error { return errResume }
	env2 := newEnv(t, opts, bad)
	man2 := env2.create(t)
	before := bad.restores
	_, err := env2.m.Restore(ctx, man2.ID, nil)
	if !errors.Is(err, errPause) || !errors.Is(err, errResume) || bad.restores != before {
		t.Fatalf("Restore with a failing BeforeRestore: %v (%d restores)", err, bad.restores-before)
	}
}

// Guarantee 11: a restore that dies half way (a crash, a kill) is recorded
// in the storage before the first store changes. A Manager started later
// on the same storage reports it (Interrupted, and List on the backups it
// concerns) and rolls the stores back from its safety backup.
func TestInterruptedRestore(t *testing.T) {
	ctx := context.Background()
	mem := newMem("mem", map[string]string{"a": "1"})
	env := newEnv(t, ngbak.Options{}, mem)
	man := env.create(t)
	mem.set("a", "2")
	mem.set("b", "written after the backup")
	before := mem.snapshot()

	// The restore is stopped inside the store; what the storage holds then
	// is what a crash at that point leaves.
	goOn := make(chan struct{})
	mem.restoreStarted, mem.restoreGo = make(chan struct{}), goOn
	done := make(chan error)
	go func() {
		_, err := env.m.Restore(ctx, man.ID, nil)
		done <- err
	}()
	<-mem.restoreStarted
	// This Manager's own restore is running, not interrupted.
	if got, err := env.m.Interrupted(ctx); err != nil || len(got) != 0 {
		t.Errorf("Interrupted during this Manager's own restore = %v, %v; want none", got, err)
	}
	crashed := filepath.Join(t.TempDir(), "crashed")
	if err := os.CopyFS(crashed, os.DirFS(env.dir)); err != nil {
		t.Fatal(err)
	}
	mem.mu.Lock()
	mem.restoreStarted, mem.restoreGo = nil, nil
	mem.mu.Unlock()
	close(goOn)
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	// The stores of the crashed process: half restored.
	half := newMem("mem", map[string]string{"a": "1", "b": "written after the backup"})
	later := newEnv(t, ngbak.Options{Storage: ngbak.Dir(crashed)}, half)
	got, err := later.m.Interrupted(ctx)
	if err != nil {
		t.Fatal(err)
	}
	safety := safetyBackups(t, later.m)
	if len(safety) != 1 || len(got) != 1 {
		t.Fatalf("Interrupted = %+v, safety backups %v; want one of each", got, safety)
	}
	want := ngbak.Interruption{ID: safety[0], Backup: man.ID, SafetyID: safety[0], Backends: []string{"mem"}, StartedAt: got[0].StartedAt}
	if diff := cmp.Diff(want, got[0]); diff != "" || got[0].StartedAt.IsZero() {
		t.Errorf("Interrupted (-want +got):\n%s", diff)
	}
	list, err := later.m.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	marked := map[string]string{}
	for _, b := range list {
		if b.Interrupted != nil {
			marked[b.Manifest.ID] = b.Interrupted.ID
		}
	}
	if diff := cmp.Diff(map[string]string{man.ID: safety[0], safety[0]: safety[0]}, marked); diff != "" {
		t.Errorf("List's Interrupted (-want +got):\n%s", diff)
	}
	// Nothing backs up or restores a half-restored state meanwhile.
	if _, err := later.m.Create(ctx, nil); !errors.Is(err, ngbak.ErrBusy) {
		t.Errorf("Create with an interrupted restore: %v, want ErrBusy", err)
	}
	res, err := later.m.RollBack(ctx, got[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(&ngbak.RestoreResult{Backends: []string{"mem"}, SafetyID: safety[0]}, res); diff != "" {
		t.Errorf("RollBack result (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(before, half.snapshot()); diff != "" {
		t.Errorf("store after RollBack (-want +got):\n%s", diff)
	}
	if got, err := later.m.Interrupted(ctx); err != nil || len(got) != 0 {
		t.Errorf("Interrupted after RollBack = %v, %v; want none", got, err)
	}
	if _, err := later.m.RollBack(ctx, safety[0]); !errors.Is(err, ngbak.ErrNotFound) {
		t.Errorf("second RollBack: %v, want ErrNotFound", err)
	}
	later.create(t)
	// The storage of the finished restore has no marker left.
	if got, err := env.m.Interrupted(ctx); err != nil || len(got) != 0 {
		t.Errorf("Interrupted after a finished restore = %v, %v; want none", got, err)
	}
}

// A restore without a safety backup is recorded too; there is nothing to
// roll back from, and RollBack says so.
func TestInterruptedRestoreWithoutSafety(t *testing.T) {
	ctx := context.Background()
	mem := newMem("mem", map[string]string{"a": "1"})
	env := newEnv(t, ngbak.Options{}, mem)
	man := env.create(t)
	goOn := make(chan struct{})
	mem.restoreStarted, mem.restoreGo = make(chan struct{}), goOn
	done := make(chan error)
	go func() {
		_, err := env.m.Restore(ctx, man.ID, &ngbak.RestoreOptions{NoSafetyBackup: true})
		done <- err
	}()
	<-mem.restoreStarted
	crashed := filepath.Join(t.TempDir(), "crashed")
	if err := os.CopyFS(crashed, os.DirFS(env.dir)); err != nil {
		t.Fatal(err)
	}
	close(goOn)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	later := newEnv(t, ngbak.Options{Storage: ngbak.Dir(crashed)}, newMem("mem", nil))
	got, err := later.m.Interrupted(ctx)
	if err != nil || len(got) != 1 || got[0].Backup != man.ID || got[0].SafetyID != "" {
		t.Fatalf("Interrupted = %+v, %v; want the restore of %s without a safety backup", got, err, man.ID)
	}
	_, err = later.m.RollBack(ctx, got[0].ID)
	if err == nil || !strings.Contains(err.Error(), "no safety backup") {
		t.Fatalf("RollBack without a safety backup: %v", err)
	}
	if got, err := later.m.Interrupted(ctx); err != nil || len(got) != 0 {
		t.Errorf("Interrupted after RollBack reported it = %v, %v; want none", got, err)
	}
}

// With Encryption to a recipient whose key is kept offline, the safety
// backup could not be opened by the Manager's own identities, and a
// rollback would fail. Restore finds that out before it changes anything.
func TestSafetyBackupUnreadable(t *testing.T) {
	ctx := context.Background()
	online, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	offline, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	mem := &onceFailing{memExporter: newMem("mem", map[string]string{"a": "1"})}
	maker, err := agecrypt.New(nil, []age.Identity{online})
	if err != nil {
		t.Fatal(err)
	}
	env := newEnv(t, ngbak.Options{Encryption: maker}, mem)
	man := env.create(t)
	mem.set("a", "2")
	// The service's Manager: it opens backups with the online key and
	// encrypts new ones to the offline one only.
	toOffline, err := agecrypt.New([]age.Recipient{offline.Recipient()}, []age.Identity{online})
	if err != nil {
		t.Fatal(err)
	}
	m, err := ngbak.New(ngbak.Options{Storage: ngbak.Dir(env.dir), TempDir: t.TempDir(), Encryption: toOffline})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Register(mem); err != nil {
		t.Fatal(err)
	}
	_, err = m.Restore(ctx, man.ID, nil)
	if !errors.Is(err, ngbak.ErrKey) || !strings.Contains(err.Error(), "safety backup") {
		t.Fatalf("Restore whose safety backup its keys could not open: %v; want ErrKey before anything changes", err)
	}
	if mem.restores != 0 || len(safetyBackups(t, m)) != 0 {
		t.Errorf("store restored %d times, %d safety backups: want nothing done", mem.restores, len(safetyBackups(t, m)))
	}
	if diff := cmp.Diff(map[string]string{"a": "2"}, mem.snapshot()); diff != "" {
		t.Errorf("store (-want +got):\n%s", diff)
	}
	// Without a safety backup there is nothing to read back: allowed.
	mem.failed = true
	if _, err := m.Restore(ctx, man.ID, &ngbak.RestoreOptions{NoSafetyBackup: true}); err != nil {
		t.Fatal(err)
	}
}

// Restore reads the archive twice: once to verify it, once to restore it.
// What the second pass reads is what the first verified: on Dir the file
// stays open between passes, so replacing it by name changes nothing, and
// sidecars that change in between stop the restore before a store is
// touched.
func TestRestorePinsVerifiedArchive(t *testing.T) {
	ctx := context.Background()
	mem := newMem("mem", map[string]string{"a": "1"})
	var between func()
	env := newEnv(t, ngbak.Options{BeforeRestore: func(ctx context.Context) error {
		if between != nil {
			between()
		}
		return nil
	}}, mem)
	man := env.create(t)
	mem.set("a", "2")
	other := env.create(t)
	mem.set("a", "3")

	// Another process puts a different archive in its place.
	between = func() { replaceArchive(t, env, man.ID, other.ID) }
	if _, err := env.m.Restore(ctx, man.ID, nil); err != nil {
		t.Fatalf("Restore with the archive replaced after verification: %v", err)
	}
	if diff := cmp.Diff(map[string]string{"a": "1"}, mem.snapshot()); diff != "" {
		t.Errorf("restored (-want +got):\n%s", diff)
	}

	// The sidecars change between the passes: refused before a store is
	// touched.
	for _, sidecar := range []string{".manifest.json", ".ngbak.sha256"} {
		t.Run(sidecar, func(t *testing.T) {
			mem.set("a", "4")
			third := env.create(t)
			between = func() {
				// The sidecar of another backup, its id swapped in.
				data := strings.ReplaceAll(string(mustRead(t, filepath.Join(env.dir, other.ID+sidecar))), other.ID, third.ID)
				if err := os.WriteFile(filepath.Join(env.dir, third.ID+sidecar), []byte(data), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			before := mem.restores
			_, err := env.m.Restore(ctx, third.ID, nil)
			if err == nil || !strings.Contains(err.Error(), "changed since") {
				t.Fatalf("Restore with %s changed after verification: %v", sidecar, err)
			}
			if mem.restores != before {
				t.Errorf("store touched %d times", mem.restores-before)
			}
		})
	}
}

// The second pass takes no hash of the whole archive: the entries' hashes,
// checked by the first pass against the manifest, guard what it restores.
// An archive damaged in place between the passes (same size, same time, on
// Dir the very file the first pass read) fails the restore with
// ErrChecksum and leaves the stores as they were, also where the damage is
// in an entry of incompressible bytes, stored raw, which no zstd check
// sees.
func TestRestoreSecondPassDamage(t *testing.T) {
	for _, storage := range []string{"dir", "no-seek"} {
		t.Run(storage, func(t *testing.T) {
			ctx := context.Background()
			work := t.TempDir()
			index := make([]byte, 4<<20)
			rng := rand.New(rand.NewPCG(3, 4))
			for i := range index {
				index[i] = byte(rng.Uint32())
			}
			os.WriteFile(filepath.Join(work, "vdb_entities_hnsw.index"), index, 0o644)
			os.WriteFile(filepath.Join(work, "kv_store_full_docs.json"), []byte(`{"doc-1": {"content": "GraphRAG"}}`), 0o644)
			dir := filepath.Join(t.TempDir(), "backups")
			var store ngbak.Storage = ngbak.Dir(dir)
			if storage == "no-seek" {
				store = noSeekStorage{store}
			}
			var between func()
			env := newEnv(t, ngbak.Options{Storage: store, BeforeRestore: func(ctx context.Context) error {
				if between != nil {
					between()
				}
				return nil
			}}, newJSON(t, work))
			env.dir = dir
			man := env.create(t)
			os.WriteFile(filepath.Join(work, "kv_store_full_docs.json"), []byte(`{}`), 0o644)
			want := readTree(t, work)
			between = func() {
				path := env.archivePath(man.ID)
				info, err := os.Stat(path)
				if err != nil {
					t.Fatal(err)
				}
				f, err := os.OpenFile(path, os.O_RDWR, 0)
				if err != nil {
					t.Fatal(err)
				}
				b := make([]byte, 1)
				f.ReadAt(b, info.Size()/2)
				b[0] ^= 0x10
				if _, err := f.WriteAt(b, info.Size()/2); err != nil {
					t.Fatal(err)
				}
				f.Close()
				os.Chtimes(path, info.ModTime(), info.ModTime())
			}
			_, err := env.m.Restore(ctx, man.ID, &ngbak.RestoreOptions{NoSafetyBackup: true})
			if !errors.Is(err, ngbak.ErrChecksum) {
				t.Fatalf("Restore of an archive damaged between the passes: %v, want ErrChecksum", err)
			}
			t.Logf("Restore: %v", err)
			if diff := cmp.Diff(want, readTree(t, work)); diff != "" {
				t.Errorf("the working folder after the failed restore (-before +after):\n%s", diff)
			}
		})
	}
}

// markerRace is a storage on which another process commits its restore
// marker just before this one's, as when both checked for markers before
// either wrote one.
type markerRace struct {
	ngbak.Storage
	name string // the other's marker
	data []byte
}

func (s *markerRace) Create(ctx context.Context, name string) (ngbak.ObjectWriter, error) {
	if strings.HasSuffix(name, ".restore.json") && s.name != "" {
		w, err := s.Storage.Create(ctx, s.name)
		if err != nil {
			return nil, err
		}
		if _, err := w.Write(s.data); err != nil {
			return nil, err
		}
		if err := w.Commit(); err != nil {
			return nil, err
		}
		s.name = ""
	}
	return s.Storage.Create(ctx, name)
}

// Two restores that begin at once, in two processes, both find the
// other's marker next to their own: each backs off (ErrBusy) with no store
// touched and its own marker removed, rather than both replacing the
// stores.
func TestSimultaneousRestoresBackOff(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "backups")
	store := &markerRace{Storage: ngbak.Dir(dir)}
	mem := newMem("mem", map[string]string{"a": "1"})
	env := newEnv(t, ngbak.Options{Storage: store}, mem)
	man := env.create(t)
	mem.set("a", "2")
	other := ngbak.NewID(time.Now())
	store.name = other + ".restore.json"
	store.data = fmt.Appendf(nil, `{"format": "ngbak-restore/1", "id": %q, "backup": %q, "safety_id": %q, "backends": ["mem"], "started_at": %q}`,
		other, man.ID, other, time.Now().UTC().Format(time.RFC3339Nano))
	_, err := env.m.Restore(ctx, man.ID, nil)
	if !errors.Is(err, ngbak.ErrBusy) || !strings.Contains(err.Error(), "nothing was restored") {
		t.Fatalf("Restore beside another process's marker: %v, want ErrBusy and nothing restored", err)
	}
	if diff := cmp.Diff(map[string]string{"a": "2"}, mem.snapshot()); diff != "" || mem.restores != 0 {
		t.Errorf("store after backing off, %d restores (-want +got):\n%s", mem.restores, diff)
	}
	want := []string{man.ID + ".manifest.json", man.ID + ".ngbak", man.ID + ".ngbak.sha256", other + ".restore.json"}
	slices.Sort(want)
	if diff := cmp.Diff(want, files(t, dir)); diff != "" {
		t.Errorf("files after backing off (-want +got):\n%s", diff)
	}
}

// noSeekStorage serves objects through readers that cannot seek, as a
// Storage of one's own may.
type noSeekStorage struct{ ngbak.Storage }

func (s noSeekStorage) Open(ctx context.Context, name string) (io.ReadCloser, error) {
	rc, err := s.Storage.Open(ctx, name)
	if err != nil {
		return nil, err
	}
	return struct{ io.ReadCloser }{rc}, nil
}

// Where the archive's reader cannot seek, a restore's second pass opens it
// again by name, and only if Stat still describes what the first pass
// verified: an archive replaced in between is refused before a store is
// touched.
func TestRestoreReopensOnlyTheVerifiedArchive(t *testing.T) {
	ctx := context.Background()
	mem := newMem("mem", map[string]string{"a": "1"})
	var between func()
	dir := filepath.Join(t.TempDir(), "backups")
	env := newEnv(t, ngbak.Options{Storage: noSeekStorage{ngbak.Dir(dir)}, BeforeRestore: func(ctx context.Context) error {
		if between != nil {
			between()
		}
		return nil
	}}, mem)
	env.dir = dir
	man := env.create(t)
	mem.set("a", "2")
	other := env.create(t)
	mem.set("a", "3")
	if _, err := env.m.Restore(ctx, other.ID, nil); err != nil {
		t.Fatalf("Restore through a reader that cannot seek: %v", err)
	}
	if diff := cmp.Diff(map[string]string{"a": "2"}, mem.snapshot()); diff != "" {
		t.Errorf("restored (-want +got):\n%s", diff)
	}

	// Another process puts a different archive in its place.
	between = func() { replaceArchive(t, env, man.ID, other.ID) }
	before := mem.restores
	_, err := env.m.Restore(ctx, man.ID, nil)
	if err == nil || !strings.Contains(err.Error(), "changed since") || strings.Contains(err.Error(), "rolled back") {
		t.Fatalf("Restore with the archive replaced after verification: %v; want it refused before a store is touched", err)
	}
	if mem.restores != before {
		t.Errorf("store touched %d times", mem.restores-before)
	}
}

// The sidecar of an encrypted backup now shows ngbak's own labels; one
// written before, without them, still verifies, and one whose labels were
// edited does not.
func TestEncryptedSidecarLabels(t *testing.T) {
	ctx := context.Background()
	key, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	enc, err := agecrypt.New(nil, []age.Identity{key})
	if err != nil {
		t.Fatal(err)
	}
	env := newEnv(t, ngbak.Options{Encryption: enc}, newMem("mem", map[string]string{"a": "1"}))
	man := env.create(t)
	res, err := env.m.Restore(ctx, man.ID, nil)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(env.dir, res.SafetyID+".manifest.json")
	orig := mustRead(t, path)
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(orig, &fields); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(`{"ngbak.safety-for":"`+man.ID+`"}`, strings.Join(strings.Fields(string(fields["labels"])), "")); diff != "" {
		t.Fatalf("labels in the public sidecar (-want +got):\n%s", diff)
	}
	older := strings.Replace(string(orig), "  \"labels\": {\n    \"ngbak.safety-for\": \""+man.ID+"\"\n  },\n", "", 1)
	if older == string(orig) {
		t.Fatal("could not remove the labels")
	}
	os.WriteFile(path, []byte(older), 0o644)
	if err := env.m.Verify(ctx, res.SafetyID); err != nil {
		t.Errorf("Verify with the older public sidecar: %v", err)
	}
	forged := strings.Replace(string(orig), man.ID, "20000101T000000.000Z-000000", 1)
	os.WriteFile(path, []byte(forged), 0o644)
	if err := env.m.Verify(ctx, res.SafetyID); !errors.Is(err, ngbak.ErrCorrupt) {
		t.Errorf("Verify with an edited label: %v, want ErrCorrupt", err)
	}
}

// Two writers of one object name on Dir at once (two processes importing
// the same archive): the second is told the object is busy, not handed a
// bare "file exists".
func TestDirSecondWriterBusy(t *testing.T) {
	ctx := context.Background()
	store := ngbak.Dir(filepath.Join(t.TempDir(), "b"))
	w, err := store.Create(ctx, "20200101T000000.000Z-aaaaaa.ngbak")
	if err != nil {
		t.Fatal(err)
	}
	defer w.Abort()
	if _, err := store.Create(ctx, "20200101T000000.000Z-aaaaaa.ngbak"); !errors.Is(err, ngbak.ErrBusy) {
		t.Fatalf("second writer of one name: %v, want ErrBusy", err)
	}
}

// decision is what Prune decided for a backup, as tests compare it.
type decision struct {
	ID      string
	Keep    bool
	Reasons []string
}

func decisionsOf(ds []ngbak.Decision) []decision {
	var out []decision
	for _, d := range ds {
		out = append(out, decision{d.Backup.Manifest.ID, d.Keep, d.Reasons})
	}
	return out
}

// replaceArchive puts the archive of from in the place of id's, as another
// process renaming a file over it would.
func replaceArchive(t *testing.T, env *testEnv, id, from string) {
	data := mustRead(t, env.archivePath(from))
	tmp := env.archivePath(id) + ".new"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, env.archivePath(id)); err != nil {
		t.Fatal(err)
	}
}
