package ngbak

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
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

// held returns the backups in use: in this process, and the safety backups
// that restore markers hold.
func (m *Manager) held(ctx context.Context) (map[string]bool, error) {
	objs, err := m.store.List(ctx)
	if err != nil {
		return nil, err
	}
	held := map[string]bool{}
	for _, id := range markerIDs(objs) {
		held[id] = true
	}
	m.mu.Lock()
	for id := range m.inUse {
		held[id] = true
	}
	m.mu.Unlock()
	return held, nil
}
