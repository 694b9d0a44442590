package ngbakhttp

import (
	"slices"

	"github.com/ngbak/ngbak"
)

// BackendProgress is one backend of a restore or verify job.
//
// A backend is "waiting" until the verify or the restore phase starts it,
// then "verifying" or "restoring", and "verified" or "restored" only when
// the whole job has succeeded: its hashes are checked against the
// manifest at the archive's end, and with backends in parallel
// (ngbak.Options.Parallelism) one backend's end tells nothing of the
// others'.
//
// Bytes and Total are the backend's bytes in Phase, the last phase that
// counted them ("verify", "restore"): how many of its bytes have been read
// from the archive (verify), or read by its exporter's Restore (restore),
// of its size as the sidecar manifest records it (ngbak.Backend.Size;
// Total 0 for a backup made before sizes were recorded).
type BackendProgress struct {
	Name  string `json:"name"`
	State string `json:"state"`
	Phase string `json:"phase,omitempty"`
	Bytes int64  `json:"bytes"`
	Total int64  `json:"total"`
}

// setLayout makes the job report the backends of man it restores or
// verifies (those of only and into, when set); into maps them onto the
// exporters that restore them, which the restore phase's events name.
func (t *tracker) setLayout(man *ngbak.Manifest, only []string, into map[string]string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	// As ngbak restores: with Into, only the backends of only and Into.
	if len(into) > 0 {
		only = slices.Clone(only)
		for from := range into {
			only = append(only, from)
		}
	}
	t.targets = map[string]string{}
	for _, b := range man.Backends {
		if len(only) == 0 || slices.Contains(only, b.Name) {
			t.layout = append(t.layout, b.Name)
			t.targets[b.Name] = b.Name
		}
	}
	for from, to := range into {
		if _, ok := t.targets[from]; ok {
			delete(t.targets, from)
			t.targets[to] = from
		}
	}
	t.progressLocked(false)
	t.writeLocked()
}

// countLocked keeps a backend's bytes from an event: the verify phase's
// events name the backup's backends, the restore phase's the exporters
// restoring them.
func (t *tracker) countLocked(e ngbak.Event) {
	if t.layout == nil || e.Backend == "" {
		return
	}
	name := e.Backend
	if e.Phase != "verify" {
		name = t.targets[e.Backend]
	}
	if !slices.Contains(t.layout, name) {
		return
	}
	if t.bytes == nil {
		t.bytes = map[string]BackendProgress{}
	}
	t.bytes[name] = BackendProgress{Phase: e.Phase, Bytes: e.Bytes, Total: e.Total}
}

// progressLocked recomputes the job's backends; final says the job has
// succeeded.
func (t *tracker) progressLocked(final bool) {
	if t.layout == nil {
		return
	}
	j := &t.job
	started := map[string]bool{}
	switch j.Phase {
	case "verify":
		for _, e := range j.Backends {
			started[e] = true
		}
	case "restore":
		for _, e := range j.Backends {
			if b, ok := t.targets[e]; ok {
				started[b] = true
			}
		}
	}
	out := make([]BackendProgress, len(t.layout)) // a new slice: copies of the job are read unlocked
	for i, name := range t.layout {
		p := t.bytes[name]
		p.Name, p.State = name, "waiting"
		switch {
		case (final || j.Phase == "done") && j.Kind == "verify":
			p.State = "verified"
		case final || j.Phase == "done":
			p.State = "restored"
		case started[name] && j.Phase == "verify":
			p.State = "verifying"
		case started[name]:
			p.State = "restoring"
		}
		out[i] = p
	}
	j.Progress = out
}
