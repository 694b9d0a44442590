package ngbak

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
)

// A Planner is an Exporter that can say, without changing anything, what a
// restore of a backend would do to its store: Manager.Plan asks it. An
// exporter that is not one is planned from the manifest alone.
type Planner interface {
	Exporter
	// PlanRestore describes the scope as it is now against b, the backup's
	// full record of this backend (Files included). It must not write.
	PlanRestore(ctx context.Context, b *Backend) (ScopePlan, error)
}

// ScopePlan is what a Planner reports about its scope now.
type ScopePlan struct {
	// Current counts what the scope holds now, under the names the
	// backend's Stats use ("keys", "nodes", "relationships", "points",
	// "files" ...), so that the two compare.
	Current map[string]int64
	// Deletes names what the restore would delete that the backup does not
	// hold: files, namespaces, collections, relationships leaving a label
	// scope, each with what it holds ("namespace llm_cache (120 keys)").
	Deletes []string
	// Bytes is how many payload bytes the scope holds now, which its safety
	// backup would hold; 0 when the store cannot tell without reading it
	// all.
	Bytes int64
}

// RestorePlan says what Manager.Restore would do with the same arguments.
type RestorePlan struct {
	// ID is the backup to restore.
	ID string `json:"id"`
	// Backends are the backends to restore, in archive order.
	Backends []BackendPlan `json:"backends"`
	// SafetyBackup says a safety backup would be taken first, and
	// SafetyBytes about how many payload bytes it would hold (the sum of
	// the backends'; see BackendPlan.SafetyBytes).
	SafetyBackup bool  `json:"safety_backup"`
	SafetyBytes  int64 `json:"safety_bytes"`
	// Refused is why the restore would stop before it changed anything
	// (another restore's record in the storage, a safety backup the
	// Manager could not decrypt), or empty. Backends have their own.
	Refused string `json:"refused,omitempty"`
}

// BackendPlan is one backend's part of a RestorePlan.
type BackendPlan struct {
	Name string `json:"name"`
	Kind string `json:"kind"`
	// Into is the exporter that would restore the backend when
	// RestoreOptions.Into maps it onto another one; empty otherwise.
	Into string `json:"into,omitempty"`
	// Backup holds the backup's counts (the manifest's Stats); Current the
	// scope's now, or nil when the exporter is not a Planner.
	Backup  map[string]int64 `json:"backup"`
	Current map[string]int64 `json:"current"`
	// Deletes names what the restore would delete that the backup does not
	// hold (see ScopePlan.Deletes).
	Deletes []string `json:"deletes,omitempty"`
	// Refused is why the exporter's CheckRestore refuses the restore, or
	// empty.
	Refused string `json:"refused,omitempty"`
	// SafetyBytes is about how many payload bytes the safety backup would
	// hold for this backend: what the exporter says, or, when it cannot
	// tell, the backup's bytes per item times the items it holds now
	// (SafetyEstimated). 0 with neither.
	SafetyBytes     int64 `json:"safety_bytes"`
	SafetyEstimated bool  `json:"safety_estimated,omitempty"`
}

// Deletes reports whether the restore would delete anything the backup
// does not hold, in any backend: what a caller asks a person to confirm
// with more than a click.
func (p *RestorePlan) Deletes() bool {
	for _, b := range p.Backends {
		if len(b.Deletes) > 0 {
			return true
		}
	}
	return false
}

// Refusal returns the first reason the restore would be refused, or "".
func (p *RestorePlan) Refusal() string {
	if p.Refused != "" {
		return p.Refused
	}
	for _, b := range p.Backends {
		if b.Refused != "" {
			return fmt.Sprintf("backend %q (%s): %s", b.Name, b.Kind, b.Refused)
		}
	}
	return ""
}

// Plan says, before anything changes, what Restore(ctx, id, opts) would do:
// per backend what the backup holds and what the scope holds now, what the
// restore would delete that the backup does not hold, whether an exporter
// would refuse and why, and how large the safety backup would be. It
// verifies the archive first, as Restore does (the file lists that say what
// a backup holds are in the archive's manifest only), and writes nothing.
//
// Errors that Restore would return before it verifies (no such backup, a
// backend without an exporter of its kind) are Plan's errors too; a
// refusal is in the plan.
func (m *Manager) Plan(ctx context.Context, id string, opts *RestoreOptions) (*RestorePlan, error) {
	if err := checkID(id); err != nil {
		return nil, err
	}
	if opts == nil {
		opts = &RestoreOptions{}
	}
	defer m.acquire(id)()
	p, err := m.makePlan(ctx, id, opts)
	if err != nil {
		return nil, fmt.Errorf("ngbak: plan %s: %w", id, err)
	}
	return p, nil
}

func (m *Manager) makePlan(ctx context.Context, id string, opts *RestoreOptions) (*RestorePlan, error) {
	man, _, err := m.readManifest(ctx, id)
	if err != nil {
		return nil, err
	}
	exps, err := m.planInto(man, opts)
	if err != nil {
		return nil, err
	}
	m.emit(ctx, Event{Op: "plan", ID: id, Phase: "verify"})
	v, err := m.verify(ctx, "plan", id)
	if err != nil {
		return nil, err
	}
	v.close()
	p := &RestorePlan{ID: id, SafetyBackup: !opts.NoSafetyBackup}
	if err := m.checkNoMarkers(ctx); errors.Is(err, ErrBusy) {
		p.Refused = err.Error()
	} else if err != nil {
		return nil, err
	}
	if p.SafetyBackup && m.opts.Encryption != nil {
		if err := m.checkReadBack(); err != nil {
			p.Refused = "the safety backup would be encrypted so that Options.Encryption cannot open it: " + err.Error()
		}
	}
	for _, e := range exps {
		b, ok := v.inner.Backend(backendOf(e))
		if !ok {
			return nil, corrupt("the archive's manifest has no backend %q", backendOf(e))
		}
		bp, err := planBackend(ctx, e, b)
		if err != nil {
			return nil, err
		}
		if p.SafetyBackup {
			p.SafetyBytes += bp.SafetyBytes
		}
		p.Backends = append(p.Backends, bp)
	}
	m.emit(ctx, Event{Op: "plan", ID: id, Phase: "done"})
	return p, nil
}

// planBackend asks one exporter. Its CheckRestore's error is a refusal in
// the plan, unless the context ended.
func planBackend(ctx context.Context, e Exporter, b *Backend) (BackendPlan, error) {
	bp := BackendPlan{Name: b.Name, Kind: b.Kind, Backup: b.Stats}
	if e.Name() != b.Name {
		bp.Into = e.Name()
	}
	if rc, ok := e.(RestoreChecker); ok {
		if err := rc.CheckRestore(ctx, b); err != nil {
			if ctx.Err() != nil {
				return bp, err
			}
			bp.Refused = err.Error()
		}
	}
	if w, ok := e.(*into); ok {
		if w.convert {
			// A Planner counts backends of its own kind; what a
			// conversion deletes is its CheckConvert's to refuse.
			return bp, nil
		}
		e = w.Exporter
	}
	pl, ok := e.(Planner)
	if !ok {
		return bp, nil
	}
	sp, err := pl.PlanRestore(ctx, b)
	if err != nil {
		return bp, fmt.Errorf("backend %q (%s): planning the restore: %w", b.Name, b.Kind, err)
	}
	bp.Current, bp.Deletes, bp.SafetyBytes = sp.Current, slices.Clone(sp.Deletes), sp.Bytes
	if bp.SafetyBytes == 0 {
		bp.SafetyBytes = estimateBytes(b, sp.Current)
		bp.SafetyEstimated = bp.SafetyBytes > 0
	}
	return bp, nil
}

// itemStats are the counts whose ratio scales a backup's size to the
// scope's now, in order of preference; after them any other count both
// have, by name.
var itemStats = []string{"keys", "points", "nodes", "files"}

// estimateBytes scales the backup's payload bytes by how many items the
// scope holds now against how many the backup holds.
func estimateBytes(b *Backend, current map[string]int64) int64 {
	var size int64
	for _, f := range b.Files {
		size += f.Size
	}
	for _, k := range append(slices.Clone(itemStats), slices.Sorted(maps.Keys(current))...) {
		then, ok1 := b.Stats[k]
		now, ok2 := current[k]
		if ok1 && ok2 && then > 0 {
			return int64(float64(size) * float64(now) / float64(then))
		}
	}
	return 0
}
