package ngbak

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"
)

// markerFormat names the format of a restore marker.
const markerFormat = "ngbak-restore/1"

// markerSuffix ends the name of a restore marker, <id>.restore.json, where
// id is the restore's safety backup.
const markerSuffix = ".restore.json"

func markerName(id string) string { return id + markerSuffix }

// restoreMarker is what a Restore records in the storage before it takes
// its safety backup, and removes once the stores are either restored or
// rolled back. While it exists its safety backup is held.
type restoreMarker struct {
	Format    string    `json:"format"`
	ID        string    `json:"id"`
	Backup    string    `json:"backup"`
	SafetyID  string    `json:"safety_id,omitempty"`
	Backends  []string  `json:"backends"`
	StartedAt time.Time `json:"started_at"`
}

func (m *Manager) writeMarker(ctx context.Context, mk *restoreMarker) error {
	data, err := json.MarshalIndent(mk, "", "  ")
	if err != nil {
		return err
	}
	return m.put(ctx, markerName(mk.ID), append(data, '\n'))
}

func (m *Manager) removeMarker(ctx context.Context, id string) error {
	if err := m.store.Remove(ctx, markerName(id)); err != nil {
		return fmt.Errorf("removing the restore marker %s: %w", markerName(id), err)
	}
	return nil
}

// Interruption is a restore that began and has not ended: its process
// died, or it runs in another process. The stores it names may hold part
// of Backup and part of what they held before.
type Interruption struct {
	// ID names the interruption for RollBack: the safety backup's id, or a
	// fresh one for a restore without a safety backup.
	ID string `json:"id"`
	// Backup is the backup that was being restored.
	Backup string `json:"backup"`
	// SafetyID is the safety backup of the stores' state before; empty if
	// the restore took none (RestoreOptions.NoSafetyBackup).
	SafetyID string `json:"safety_id,omitempty"`
	// Backends are the backends the restore was replacing.
	Backends  []string  `json:"backends"`
	StartedAt time.Time `json:"started_at"`
}

// Interrupted returns the restores recorded in the storage that have not
// ended, oldest first, except one running in this Manager. A restore
// running in another process is among them: StartedAt tells how long it
// has been going. Create and Restore refuse (ErrBusy) while there is one.
func (m *Manager) Interrupted(ctx context.Context) ([]Interruption, error) {
	objs, err := m.store.List(ctx)
	if err != nil {
		return nil, fmt.Errorf("ngbak: interrupted: %w", err)
	}
	out, err := m.interruptions(ctx, objs)
	if err != nil {
		return nil, fmt.Errorf("ngbak: interrupted: %w", err)
	}
	return out, nil
}

func (m *Manager) interruptions(ctx context.Context, objs []ObjectInfo) ([]Interruption, error) {
	m.mu.Lock()
	own := m.marker
	m.mu.Unlock()
	var out []Interruption
	for _, id := range markerIDs(objs) {
		if id == own {
			continue
		}
		mk, err := m.readMarker(ctx, id)
		if errors.Is(err, ErrNotFound) {
			continue // ended since the listing
		}
		if err != nil {
			return nil, err
		}
		out = append(out, Interruption{ID: mk.ID, Backup: mk.Backup, SafetyID: mk.SafetyID, Backends: mk.Backends, StartedAt: mk.StartedAt})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].StartedAt.Before(out[j].StartedAt) })
	return out, nil
}

func (m *Manager) readMarker(ctx context.Context, id string) (*restoreMarker, error) {
	data, err := m.readSmall(ctx, markerName(id))
	if err != nil {
		return nil, err
	}
	return parseMarker(markerName(id), data)
}

// RollBack ends the interrupted restore id (see Interrupted): it restores
// the backends it was replacing from its safety backup, verified first,
// then removes its record. If the safety backup was never completed, the
// restore had not touched a store: the record is removed and the result
// lists no backends. A restore without a safety backup cannot be rolled
// back: RollBack removes its record, since nothing else would, and returns
// an error that says so; restoring a backup is then what repairs the
// stores. RollBack must not be called for a restore that is still running
// in another process.
func (m *Manager) RollBack(ctx context.Context, id string) (*RestoreResult, error) {
	if err := checkID(id); err != nil {
		return nil, err
	}
	res, err := m.rollBack(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("ngbak: roll back %s: %w", id, err)
	}
	return res, nil
}

func (m *Manager) rollBack(ctx context.Context, id string) (*RestoreResult, error) {
	release, err := m.startRestore()
	if err != nil {
		return nil, err
	}
	defer release()
	mk, err := m.readMarker(ctx, id)
	if err != nil {
		return nil, err
	}
	if mk.SafetyID == "" {
		err := fmt.Errorf("the restore of %s took no safety backup, so there is nothing to roll %s back from; they may hold part of it: restore a backup to repair them (the record is removed)",
			mk.Backup, strings.Join(mk.Backends, ", "))
		return nil, errors.Join(err, m.removeMarker(ctx, id))
	}
	defer m.acquire(mk.SafetyID)()
	safety, _, err := m.readManifest(ctx, mk.SafetyID)
	if errors.Is(err, ErrNotFound) {
		// The stores are changed only once the safety backup is complete.
		m.log.Info("interrupted restore had not touched a store", "backup", mk.Backup, "safety", mk.SafetyID)
		return &RestoreResult{SafetyID: mk.SafetyID}, m.removeMarker(ctx, id)
	}
	if err != nil {
		return nil, err
	}
	plan, err := m.plan(safety, mk.Backends)
	if err != nil {
		return nil, err
	}
	m.emit(ctx, Event{Op: "rollback", ID: mk.SafetyID, Phase: "rollback"})
	if err := m.rollback(ctx, mk.SafetyID, plan); err != nil {
		return nil, fmt.Errorf("rolling %s back from safety backup %s: %w", strings.Join(names(plan), ", "), mk.SafetyID, err)
	}
	if err := m.removeMarker(ctx, id); err != nil {
		return nil, err
	}
	m.emit(ctx, Event{Op: "rollback", ID: mk.SafetyID, Phase: "done"})
	m.log.Info("interrupted restore rolled back", "backup", mk.Backup, "safety", mk.SafetyID)
	return &RestoreResult{Backends: names(plan), SafetyID: mk.SafetyID}, nil
}

func parseMarker(name string, data []byte) (*restoreMarker, error) {
	var mk restoreMarker
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&mk); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrCorrupt, name, err)
	}
	if mk.Format != markerFormat || markerName(mk.ID) != name || !ValidID(mk.Backup) || (mk.SafetyID != "" && mk.SafetyID != mk.ID) {
		return nil, fmt.Errorf("%w: %s is not a restore marker", ErrCorrupt, name)
	}
	return &mk, nil
}

// markerIDs returns the ids of the restore markers among objs.
func markerIDs(objs []ObjectInfo) []string {
	var ids []string
	for _, o := range objs {
		if id, ok := strings.CutSuffix(o.Name, markerSuffix); ok && ValidID(id) {
			ids = append(ids, id)
		}
	}
	return ids
}

// otherMarkers lists the restore markers in the storage other than own.
func (m *Manager) otherMarkers(ctx context.Context, own string) ([]string, error) {
	objs, err := m.store.List(ctx)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, id := range markerIDs(objs) {
		if id != own {
			out = append(out, id)
		}
	}
	return out, nil
}

// held returns the backups in use: in this process, and those that restore
// markers hold (each restore's safety backup and the backup it restores).
func (m *Manager) held(ctx context.Context) (map[string]bool, error) {
	objs, err := m.store.List(ctx)
	if err != nil {
		return nil, err
	}
	held := map[string]bool{}
	for _, id := range markerIDs(objs) {
		held[id] = true
		mk, err := m.readMarker(ctx, id)
		if errors.Is(err, ErrNotFound) {
			continue // ended since the listing
		}
		if err != nil {
			return nil, err
		}
		held[mk.Backup] = true
	}
	m.mu.Lock()
	for id := range m.inUse {
		held[id] = true
	}
	m.mu.Unlock()
	return held, nil
}
