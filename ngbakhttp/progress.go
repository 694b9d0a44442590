package ngbakhttp

import (
	"slices"

	"github.com/ngbak/ngbak"
)

// BackendProgress is one backend of a restore job.
//
// The Manager's events tell which backend a restore has started, not when
// one has ended: with backends in parallel (ngbak.Options.Parallelism) a
// backend's data may be read from the archive long before it is restored.
// So a backend is "waiting" until the restore phase starts it,
// "restoring" from then on, and "restored" only when the whole restore has
// succeeded. A verify's events name no backend, and the sidecar manifest
// holds no file sizes to place its byte count in one, so a verify shows
// its bytes for the whole archive only (Job.BytesDone).
type BackendProgress struct {
	Name  string `json:"name"`
	State string `json:"state"`
}

// setLayout makes the job report the backends of man it restores (those
// of only, when set); into maps them onto the exporters that restore
// them, which the events name.
func (t *tracker) setLayout(man *ngbak.Manifest, only []string, into map[string]string) {
	t.mu.Lock()
	defer t.mu.Unlock()
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

// progressLocked recomputes the job's backends; final says the job has
// succeeded.
func (t *tracker) progressLocked(final bool) {
	if t.layout == nil {
		return
	}
	j := &t.job
	started := map[string]bool{}
	if j.Phase == "restore" {
		for _, e := range j.Backends {
			if b, ok := t.targets[e]; ok {
				started[b] = true
			}
		}
	}
	out := make([]BackendProgress, len(t.layout)) // a new slice: copies of the job are read unlocked
	for i, name := range t.layout {
		p := BackendProgress{Name: name, State: "waiting"}
		switch {
		case final || j.Phase == "done":
			p.State = "restored"
		case started[name]:
			p.State = "restoring"
		}
		out[i] = p
	}
	j.Progress = out
}
