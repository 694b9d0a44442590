package ngbakhttp

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/ngbak/ngbak"
)

// summaryJSON is a backup as GET /api/backups lists it: no configuration,
// no details and no files, which GET /api/backups/{id} gives.
type summaryJSON struct {
	ID          string              `json:"id"`
	CreatedAt   time.Time           `json:"created_at"`
	CompletedAt time.Time           `json:"completed_at"`
	App         *ngbak.App          `json:"app,omitempty"`
	Labels      map[string]string   `json:"labels,omitempty"`
	Encryption  string              `json:"encryption,omitempty"`
	Backends    []backendSummary    `json:"backends"`
	Size        int64               `json:"size"`
	Interrupted *ngbak.Interruption `json:"interrupted,omitempty"`
}

type backendSummary struct {
	Name  string           `json:"name"`
	Kind  string           `json:"kind"`
	Stats map[string]int64 `json:"stats,omitempty"`
}

func summarize(b ngbak.Backup) summaryJSON {
	m := b.Manifest
	s := summaryJSON{ID: m.ID, CreatedAt: m.CreatedAt, CompletedAt: m.CompletedAt, App: m.App, Labels: m.Labels,
		Encryption: m.Encryption, Backends: make([]backendSummary, 0, len(m.Backends)), Size: b.Size, Interrupted: b.Interrupted}
	for _, be := range m.Backends {
		s.Backends = append(s.Backends, backendSummary{be.Name, be.Kind, be.Stats})
	}
	return s
}

// cursor marks a place in the list, newest first, by the last backup of
// a page: its creation time and id, which is where List sorts it, so a
// page after a backup deleted since still starts in the right place.
func cursor(m *ngbak.Manifest) string {
	return strconv.FormatInt(m.CreatedAt.UnixNano(), 10) + "-" + m.ID
}

// olderThan reports whether m sorts after the cursor c in List's order.
func olderThan(m *ngbak.Manifest, nanos int64, id string) bool {
	t := m.CreatedAt.UnixNano()
	return t < nanos || (t == nanos && m.ID < id)
}

// writeList pages the list: ?limit=N gives at most N backups and, when
// more follow, X-Next-Cursor for ?cursor= of the next page; X-Total-Count
// is the number of backups in all. Without limit, every backup.
func writeList(w http.ResponseWriter, r *http.Request, bs []ngbak.Backup) error {
	q := r.URL.Query()
	limit := len(bs)
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			return apiError{http.StatusBadRequest, "bad_request", fmt.Sprintf("limit %q is not a positive number", v)}
		}
		limit = n
	}
	start := 0
	if c := q.Get("cursor"); c != "" {
		ns, id, ok := strings.Cut(c, "-")
		nanos, err := strconv.ParseInt(ns, 10, 64)
		if !ok || err != nil || !ngbak.ValidID(id) {
			return apiError{http.StatusBadRequest, "bad_request", fmt.Sprintf("cursor %q is not one this API gave", c)}
		}
		start = len(bs)
		for i := range bs {
			if olderThan(bs[i].Manifest, nanos, id) {
				start = i
				break
			}
		}
	}
	end := min(len(bs), start+limit)
	out := make([]summaryJSON, 0, end-start)
	for _, b := range bs[start:end] {
		out = append(out, summarize(b))
	}
	w.Header().Set("X-Total-Count", strconv.Itoa(len(bs)))
	if end < len(bs) && end > start {
		w.Header().Set("X-Next-Cursor", cursor(bs[end-1].Manifest))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}
