package ngbak_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/ngbak/ngbak"
	"github.com/ngbak/ngbak/jsonexp"
)

// The plan names what the restore then deletes, and nothing else, counts
// the scope now against the backup, sizes the safety backup, and changes
// neither the stores nor the storage.
func TestPlanSaysWhatRestoreDoes(t *testing.T) {
	ctx := context.Background()
	dir := workdir(t)
	mem := newMem("mem", map[string]string{"a": "1"})
	env := newEnv(t, ngbak.Options{}, newJSON(t, dir), mem)
	man := env.create(t)
	extra := `{"later": true}`
	if err := os.WriteFile(filepath.Join(dir, "kv_store_llm_response_cache.json"), []byte(extra), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("not ngbak's"), 0o644); err != nil {
		t.Fatal(err)
	}
	mem.set("b", "2")
	tree, storage := readTree(t, dir), readTree(t, env.dir)

	p, err := env.m.Plan(ctx, man.ID, nil)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(tree, readTree(t, dir)); diff != "" {
		t.Fatalf("Plan changed the working dir:\n%s", diff)
	}
	if diff := cmp.Diff(storage, readTree(t, env.dir)); diff != "" {
		t.Fatalf("Plan changed the storage:\n%s", diff)
	}
	var nowBytes int64
	for name, data := range tree {
		if name != "notes.txt" {
			nowBytes += int64(len(data))
		}
	}
	jb, _ := man.Backend("json")
	want := &ngbak.RestorePlan{
		ID:           man.ID,
		SafetyBackup: true,
		SafetyBytes:  nowBytes,
		Backends: []ngbak.BackendPlan{
			{Name: "json", Kind: "json", Backup: jb.Stats,
				Current:     map[string]int64{"files": 5, "bytes": nowBytes},
				Deletes:     []string{"file kv_store_llm_response_cache.json (15 bytes)"},
				SafetyBytes: nowBytes},
			{Name: "mem", Kind: "mem", Backup: map[string]int64{"records": 1}},
		},
	}
	if diff := cmp.Diff(want, p); diff != "" {
		t.Fatalf("plan (-want +got):\n%s", diff)
	}
	if !p.Deletes() || p.Refusal() != "" {
		t.Fatalf("Deletes %v, Refusal %q", p.Deletes(), p.Refusal())
	}

	if _, err := env.m.Restore(ctx, man.ID, nil); err != nil {
		t.Fatal(err)
	}
	after := readTree(t, dir)
	if _, ok := after["kv_store_llm_response_cache.json"]; ok {
		t.Fatal("the restore kept the file the plan said it would delete")
	}
	if after["notes.txt"] != "not ngbak's" {
		t.Fatal("the restore touched a file the plan did not name")
	}
	p, err = env.m.Plan(ctx, man.ID, &ngbak.RestoreOptions{Backends: []string{"json"}, NoSafetyBackup: true})
	if err != nil {
		t.Fatal(err)
	}
	if p.Deletes() || p.SafetyBackup || p.SafetyBytes != 0 || len(p.Backends) != 1 || !cmp.Equal(p.Backends[0].Current, jb.Stats) {
		t.Fatalf("plan after the restore: %+v", p)
	}
}

// A refusal is in the plan, as Restore would give it; a missing backup
// or backend is Plan's error.
func TestPlanRefusals(t *testing.T) {
	ctx := context.Background()
	checked := &checkedMem{memExporter: newMem("checked", map[string]string{"b": "2"})}
	env := newEnv(t, ngbak.Options{}, checked)
	man := env.create(t)
	checked.refuse = errors.New("the store would lose what the backup lacks")
	p, err := env.m.Plan(ctx, man.ID, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := p.Refusal(); got != `backend "checked" (mem): the store would lose what the backup lacks` {
		t.Fatalf("Refusal() = %q", got)
	}
	if _, err := env.m.Plan(ctx, "20260101T000000.000Z-000000", nil); !errors.Is(err, ngbak.ErrNotFound) {
		t.Fatalf("plan of a missing backup: %v", err)
	}
	if _, err := env.m.Plan(ctx, man.ID, &ngbak.RestoreOptions{Backends: []string{"nope"}}); !errors.Is(err, ngbak.ErrNotFound) {
		t.Fatalf("plan of a missing backend: %v", err)
	}
	checked.refuse = nil

	// While a restore runs (its record is in the storage), a plan says
	// that a restore now would be refused.
	checked.restoreStarted, checked.restoreGo = make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	go func() {
		_, err := env.m.Restore(ctx, man.ID, nil)
		done <- err
	}()
	<-checked.restoreStarted
	p, err = env.m.Plan(ctx, man.ID, nil)
	close(checked.restoreGo)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err != nil || !strings.Contains(p.Refusal(), "a restore is running in another process or was interrupted") {
		t.Fatalf("plan during a restore: %v, refusal %q", err, p.Refusal())
	}
}

// plannedMem is a Planner that counts its records but not their bytes.
type plannedMem struct{ *memExporter }

func (p plannedMem) PlanRestore(ctx context.Context, b *ngbak.Backend) (ngbak.ScopePlan, error) {
	return ngbak.ScopePlan{Current: map[string]int64{"records": int64(len(p.snapshot()))}}, nil
}

// A Planner that cannot tell its bytes gets an estimate: the backup's
// bytes per item times the items it holds now.
func TestPlanEstimatesSafetyBytes(t *testing.T) {
	mem := plannedMem{newMem("mem", map[string]string{"a": "1", "b": "2"})}
	env := newEnv(t, ngbak.Options{}, mem)
	man := env.create(t)
	mem.set("c", "3")
	mem.set("d", "4")
	p, err := env.m.Plan(context.Background(), man.ID, nil)
	if err != nil {
		t.Fatal(err)
	}
	var size int64
	for _, f := range man.Backends[0].Files {
		size += f.Size
	}
	if bp := p.Backends[0]; bp.SafetyBytes != 2*size || !bp.SafetyEstimated || p.SafetyBytes != 2*size {
		t.Fatalf("safety bytes %d (estimated %v), plan %d; want twice the backup's %d", bp.SafetyBytes, bp.SafetyEstimated, p.SafetyBytes, size)
	}
}

// TestPlanInto: a plan for a restore into another store counts and names
// what that store holds, not the backup's own source, as the restore then
// replaces the target only.
func TestPlanInto(t *testing.T) {
	ctx := context.Background()
	prodDir, stagingDir := workdir(t), t.TempDir()
	if err := os.WriteFile(filepath.Join(stagingDir, "kv_store_staging_only.json"), []byte(`{"s": 1}`), 0o644); err != nil {
		t.Fatal(err)
	}
	staging, err := jsonexp.New(jsonexp.Options{Dir: stagingDir, Name: "staging"})
	if err != nil {
		t.Fatal(err)
	}
	env := newEnv(t, ngbak.Options{}, newJSON(t, prodDir), staging)
	man := env.create(t)
	prodTree := readTree(t, prodDir)
	opts := &ngbak.RestoreOptions{Into: map[string]string{"json": "staging"}}
	p, err := env.m.Plan(ctx, man.ID, opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Backends) != 1 {
		t.Fatalf("plan: %+v", p)
	}
	got := p.Backends[0]
	want := ngbak.BackendPlan{Name: "json", Kind: "json", Into: "staging", Deletes: []string{"file kv_store_staging_only.json (8 bytes)"}}
	if diff := cmp.Diff(want, got, cmpopts.IgnoreFields(ngbak.BackendPlan{}, "Backup", "Current", "SafetyBytes", "SafetyEstimated")); diff != "" {
		t.Fatalf("plan of the restore into staging (-want +got):\n%s", diff)
	}
	if got.Current["files"] != 1 {
		t.Errorf("plan counts %v, want staging's one file", got.Current)
	}
	if _, err := env.m.Restore(ctx, man.ID, opts); err != nil {
		t.Fatal(err)
	}
	if _, ok := readTree(t, stagingDir)["kv_store_staging_only.json"]; ok {
		t.Error("the restore kept the file the plan said it would delete")
	}
	if diff := cmp.Diff(prodTree, readTree(t, prodDir)); diff != "" {
		t.Errorf("the source was touched:\n%s", diff)
	}
}
