package exportertest

import (
	"testing"

	"github.com/ngbak/ngbak"
)

// testPlan: an exporter that is an ngbak.Planner reports counts that move
// with the store, in the backup's terms, and planning changes nothing.
func testPlan(t *testing.T, e *env) {
	if _, ok := e.h.Exporter().(ngbak.Planner); !ok {
		t.Skip("the exporter is not an ngbak.Planner")
	}
	e.put(t, dataset(20, 11))
	man := e.create(t)
	e.put(t, map[string]string{"added-after-backup-1": "one", "added-after-backup-2": "two"})
	want := e.state(t)
	p, err := e.m.Plan(e.ctx, man.ID, nil)
	if err != nil {
		t.Fatalf("Plan: %v", err)
	}
	mustEqual(t, want, e.state(t), "Plan changed the store")
	if len(p.Backends) != 1 {
		t.Fatalf("the plan has %d backends, want 1", len(p.Backends))
	}
	bp := p.Backends[0]
	b, _ := man.Backend(bp.Name)
	mustEqual(t, b.Stats, bp.Backup, "the plan's backup counts are not the manifest's")
	if bp.Current == nil || bp.Refused != "" {
		t.Fatalf("plan of a fresh backup: current %v, refused %q", bp.Current, bp.Refused)
	}
	if sameCounts(bp.Current, bp.Backup) {
		t.Fatalf("with two records added the scope's counts %v equal the backup's %v", bp.Current, bp.Backup)
	}
	e.restore(t, man.ID)
	if p, err = e.m.Plan(e.ctx, man.ID, nil); err != nil {
		t.Fatalf("Plan after the restore: %v", err)
	}
	bp = p.Backends[0]
	if !sameCounts(bp.Current, bp.Backup) || len(bp.Deletes) > 0 {
		t.Fatalf("after restoring it, the plan of the same backup says: current %v, backup %v, deletes %q", bp.Current, bp.Backup, bp.Deletes)
	}
}

// sameCounts reports whether every count the scope reports is the
// backup's.
func sameCounts(current, backup map[string]int64) bool {
	for k, v := range current {
		if w, ok := backup[k]; ok && w != v {
			return false
		}
	}
	return current != nil
}
