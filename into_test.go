package ngbak_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/ngbak/ngbak"
)

// TestRestoreIntoStaging clones production's backup into a staging store
// on the same Manager: staging then holds production's backed-up state,
// production is neither restored, backed up nor read, and the safety
// backup is staging's, so a failure rolls staging back and nothing else.
func TestRestoreIntoStaging(t *testing.T) {
	ctx := context.Background()
	prod := newMem("prod", map[string]string{"a": "1", "b": "2"})
	staging := &failOnce{memExporter: newMem("staging", map[string]string{"s": "staging data"})}
	env := newEnv(t, ngbak.Options{}, prod, staging)
	man := env.create(t)
	prod.set("c", "written after the backup")
	staging.set("t", "also staging")
	prodNow, stagingNow := prod.snapshot(), staging.snapshot()

	res, err := env.m.Restore(ctx, man.ID, &ngbak.RestoreOptions{Into: map[string]string{"prod": "staging"}})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]string{"a": "1", "b": "2"}, staging.snapshot()); diff != "" {
		t.Errorf("staging after the clone (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(prodNow, prod.snapshot()); diff != "" || prod.restores != 0 {
		t.Errorf("production was touched (%d restores):\n%s", prod.restores, diff)
	}
	if diff := cmp.Diff([]string{"staging"}, res.Backends); diff != "" {
		t.Errorf("restored backends: %s", diff)
	}
	safety, err := env.m.Get(ctx, res.SafetyID)
	if err != nil {
		t.Fatal(err)
	}
	if len(safety.Manifest.Backends) != 1 || safety.Manifest.Backends[0].Name != "staging" {
		t.Errorf("the safety backup holds %+v, want staging alone", safety.Manifest.Backends)
	}

	// Restoring the safety backup puts staging back: it is staging's.
	if _, err := env.m.Restore(ctx, res.SafetyID, &ngbak.RestoreOptions{NoSafetyBackup: true}); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(stagingNow, staging.snapshot()); diff != "" {
		t.Errorf("staging after restoring the safety backup:\n%s", diff)
	}

	// A failure half way rolls staging back; production stays as it is.
	staging.fail = true
	if _, err := env.m.Restore(ctx, man.ID, &ngbak.RestoreOptions{Into: map[string]string{"prod": "staging"}}); err == nil || !strings.Contains(err.Error(), "rolled back staging") {
		t.Fatalf("failed restore: %v", err)
	}
	if diff := cmp.Diff(stagingNow, staging.snapshot()); diff != "" {
		t.Errorf("staging after the rollback:\n%s", diff)
	}
	if diff := cmp.Diff(prodNow, prod.snapshot()); diff != "" || prod.restores != 0 {
		t.Errorf("production was touched (%d restores):\n%s", prod.restores, diff)
	}
}

// failOnce fails its next Restore after it has cleared the store, once.
type failOnce struct {
	*memExporter
	fail bool
}

func (f *failOnce) Restore(ctx context.Context, r *ngbak.Reader) error {
	if !f.fail {
		return f.memExporter.Restore(ctx, r)
	}
	f.fail = false
	f.mu.Lock()
	f.data = map[string]string{}
	f.mu.Unlock()
	return errors.New("disk full")
}

// TestRestoreIntoRefused: every mapping that cannot be carried out is
// refused before anything changes.
func TestRestoreIntoRefused(t *testing.T) {
	ctx := context.Background()
	a := newMem("a", map[string]string{"k": "v"})
	b := newMem("b", nil)
	other := newMem("other", nil)
	other.kind = "other"
	env := newEnv(t, ngbak.Options{}, a, b, other)
	man := env.create(t)
	before, _ := env.m.List(ctx)
	for _, tc := range []struct {
		into     map[string]string
		backends []string
		want     error
	}{
		{map[string]string{"a": "nowhere"}, nil, ngbak.ErrIncompatible},
		{map[string]string{"missing": "b"}, nil, ngbak.ErrNotFound},
		{map[string]string{"a": "b"}, []string{"b"}, ngbak.ErrIncompatible}, // a and b both into b
		{map[string]string{"a": "other"}, nil, ngbak.ErrIncompatible},       // another kind, no Converter
	} {
		_, err := env.m.Restore(ctx, man.ID, &ngbak.RestoreOptions{Into: tc.into, Backends: tc.backends})
		if !errors.Is(err, tc.want) {
			t.Errorf("Into %v, Backends %v: %v, want %v", tc.into, tc.backends, err, tc.want)
		}
	}
	after, _ := env.m.List(ctx)
	if len(after) != len(before) || a.restores+b.restores+other.restores != 0 {
		t.Errorf("a refused restore changed something: %d backups before, %d after, %d restores", len(before), len(after), a.restores+b.restores+other.restores)
	}
}

// upper is a Converter of kind "upper" that restores "mem" backends with
// their values in upper case, through the memExporter it wraps, which
// reads the converted records from ngbak.NewReader.
type upper struct {
	*memExporter
	refuse error
	fail   bool // Convert clears the store, then fails
}

func (u *upper) CheckConvert(_ context.Context, b *ngbak.Backend) error {
	if b.Kind != "mem" {
		return errors.New("not mem")
	}
	return u.refuse
}

func (u *upper) Convert(ctx context.Context, r *ngbak.Reader) error {
	if u.fail {
		u.mu.Lock()
		u.data = map[string]string{}
		u.mu.Unlock()
		return errors.New("the target went away")
	}
	sent := false
	conv := ngbak.NewReader(&ngbak.Backend{Name: u.Name(), Kind: u.Kind()}, func() (string, int64, io.Reader, error) {
		if sent {
			return "", 0, nil, io.EOF
		}
		sent = true
		if _, _, err := r.Next(); err != nil {
			return "", 0, nil, err
		}
		b, err := io.ReadAll(r)
		if err != nil {
			return "", 0, nil, err
		}
		b = bytes.ToUpper(b)
		return "records.jsonl", int64(len(b)), bytes.NewReader(b), nil
	})
	return u.Restore(ctx, conv)
}

func TestRestoreIntoConverter(t *testing.T) {
	ctx := context.Background()
	src := newMem("src", map[string]string{"k": "value"})
	target := &upper{memExporter: newMem("target", map[string]string{"old": "x"})}
	target.kind = "upper"
	env := newEnv(t, ngbak.Options{}, src, target)
	man := env.create(t)
	target.set("old2", "y")
	want := target.snapshot()

	target.refuse = errors.New("a field the target has no place for")
	if _, err := env.m.Restore(ctx, man.ID, &ngbak.RestoreOptions{Into: map[string]string{"src": "target"}}); err == nil || !strings.Contains(err.Error(), "no place for") {
		t.Fatalf("refused conversion: %v", err)
	}
	if diff := cmp.Diff(want, target.snapshot()); diff != "" || target.restores != 0 {
		t.Fatalf("a refused conversion changed the target:\n%s", diff)
	}
	target.refuse = nil
	// A conversion that fails half way is rolled back from the target's
	// safety backup, which a plain Restore of the target's kind reads.
	target.fail = true
	if _, err := env.m.Restore(ctx, man.ID, &ngbak.RestoreOptions{Into: map[string]string{"src": "target"}}); err == nil || !strings.Contains(err.Error(), "rolled back target") {
		t.Fatalf("failed conversion: %v", err)
	}
	target.fail = false
	if diff := cmp.Diff(want, target.snapshot()); diff != "" {
		t.Fatalf("after the rollback of a failed conversion:\n%s", diff)
	}
	if _, err := env.m.Restore(ctx, man.ID, &ngbak.RestoreOptions{Into: map[string]string{"src": "target"}}); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]string{"K": "VALUE"}, target.snapshot()); diff != "" {
		t.Errorf("converted (-want +got):\n%s", diff)
	}
	// A plain restore of the target's own backend still works.
	if _, err := env.m.Restore(ctx, man.ID, &ngbak.RestoreOptions{Backends: []string{"target"}}); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]string{"old": "x"}, target.snapshot()); diff != "" {
		t.Errorf("after a restore of its own backend:\n%s", diff)
	}
}

// TestRestoreIntoSeveral maps two backends onto two other stores in one
// restore, which takes the parallel path: each target gets its own
// backend's data, and the sources stay as they are.
func TestRestoreIntoSeveral(t *testing.T) {
	ctx := context.Background()
	prod1 := newMem("prod1", map[string]string{"a": "1"})
	prod2 := newMem("prod2", map[string]string{"b": "2"})
	stage1 := newMem("stage1", map[string]string{"x": "old"})
	stage2 := newMem("stage2", map[string]string{"y": "old"})
	env := newEnv(t, ngbak.Options{}, prod1, prod2, stage1, stage2)
	man := env.create(t)
	prod1.set("c", "after the backup")
	prod1Now, prod2Now := prod1.snapshot(), prod2.snapshot()
	res, err := env.m.Restore(ctx, man.ID, &ngbak.RestoreOptions{Into: map[string]string{"prod1": "stage1", "prod2": "stage2"}})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]map[string]string{"stage1": stage1.snapshot(), "stage2": stage2.snapshot(), "prod1": prod1.snapshot(), "prod2": prod2.snapshot()}
	want := map[string]map[string]string{"stage1": {"a": "1"}, "stage2": {"b": "2"}, "prod1": prod1Now, "prod2": prod2Now}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("stores after the restore (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"stage1", "stage2"}, res.Backends); diff != "" {
		t.Errorf("restored backends: %s", diff)
	}
	if prod1.restores+prod2.restores != 0 {
		t.Errorf("sources restored %d times", prod1.restores+prod2.restores)
	}
}
