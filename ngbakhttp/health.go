package ngbakhttp

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/ngbak/ngbak"
)

// healthJSON is GET /api/health's answer.
type healthJSON struct {
	// OK says a complete backup exists, and is no older than max_age when
	// the request gives one; the status is then 200, else 503.
	OK      bool   `json:"ok"`
	Problem string `json:"problem,omitempty"`
	// Newest is the newest complete backup that is not a safety backup.
	Newest *struct {
		ID          string    `json:"id"`
		CompletedAt time.Time `json:"completed_at"`
		AgeSeconds  float64   `json:"age_seconds"`
	} `json:"newest,omitempty"`
	MaxAgeSeconds float64 `json:"max_age_seconds,omitempty"`
	// LastFailure is the newest failed backup: a backup job of this
	// handler, or what Options.LastFailure reports (a schedule).
	LastFailure *failureJSON `json:"last_failure,omitempty"`
}

type failureJSON struct {
	At     time.Time `json:"at"`
	Error  string    `json:"error"`
	Source string    `json:"source"` // "job" or "scheduler"
	JobID  string    `json:"job_id,omitempty"`
}

// health answers an uptime check: GET /api/health?max_age=26h is 503 when
// the newest complete backup is older than 26 hours, or there is none.
// Safety backups do not count: they are taken by restores, not by the
// schedule that the check watches.
func (h *Handler) health(w http.ResponseWriter, r *http.Request) error {
	var maxAge time.Duration
	if v := r.URL.Query().Get("max_age"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return apiError{http.StatusBadRequest, "bad_request", fmt.Sprintf("max_age %q is not a positive duration such as 26h", v)}
		}
		maxAge = d
	}
	bs, err := h.m.List(r.Context())
	if err != nil {
		return err
	}
	now := time.Now()
	out := healthJSON{MaxAgeSeconds: maxAge.Seconds()}
	for _, b := range bs {
		if _, safety := b.Manifest.Labels[ngbak.LabelSafetyFor]; safety {
			continue
		}
		out.Newest = &struct {
			ID          string    `json:"id"`
			CompletedAt time.Time `json:"completed_at"`
			AgeSeconds  float64   `json:"age_seconds"`
		}{b.Manifest.ID, b.Manifest.CompletedAt, max(0, now.Sub(b.Manifest.CompletedAt).Seconds())}
		break // List is newest first
	}
	if out.LastFailure, err = h.lastFailure(r); err != nil {
		return err
	}
	switch {
	case out.Newest == nil:
		out.Problem = "no complete backup"
	case maxAge > 0 && now.Sub(out.Newest.CompletedAt) > maxAge:
		out.Problem = fmt.Sprintf("the newest backup is %s old, more than %s", now.Sub(out.Newest.CompletedAt).Round(time.Second), maxAge)
	default:
		out.OK = true
	}
	status := http.StatusOK
	if !out.OK {
		status = http.StatusServiceUnavailable
	}
	writeJSON(w, status, out)
	return nil
}

// lastFailure is the newer of the last failed backup job and what
// Options.LastFailure reports.
func (h *Handler) lastFailure(r *http.Request) (*failureJSON, error) {
	var f *failureJSON
	jobs, err := h.opts.Jobs.List(r.Context())
	if err != nil {
		return nil, fmt.Errorf("listing jobs: %w", err)
	}
	for _, j := range jobs {
		if j.Kind == "backup" && j.State == Failed && j.FinishedAt != nil && (f == nil || j.FinishedAt.After(f.At)) {
			f = &failureJSON{At: *j.FinishedAt, Error: j.Error, Source: "job", JobID: j.ID}
		}
	}
	if h.opts.LastFailure != nil {
		if at, err := h.opts.LastFailure(); err != nil && (f == nil || at.After(f.At)) {
			f = &failureJSON{At: at, Error: strings.TrimSpace(err.Error()), Source: "scheduler"}
		}
	}
	return f, nil
}

// plan is GET /api/backups/{id}/plan?backends=a,b&no_safety_backup=true:
// what a restore would do (ngbak.Manager.Plan), which reads the archive
// through as a verify does.
func (h *Handler) plan(w http.ResponseWriter, r *http.Request) error {
	id, err := backupID(r)
	if err != nil {
		return err
	}
	opts := &ngbak.RestoreOptions{NoSafetyBackup: r.URL.Query().Get("no_safety_backup") == "true"}
	if v := r.URL.Query().Get("backends"); v != "" {
		opts.Backends = strings.Split(v, ",")
	}
	if opts.Into, err = parseInto(r.URL.Query().Get("into")); err != nil {
		return err
	}
	p, err := h.m.Plan(r.Context(), id, opts)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, p)
	return nil
}
