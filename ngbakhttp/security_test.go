package ngbakhttp_test

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ngbak/ngbak/ngbakhttp"
)

// A browser on another site cannot make the dashboard's user start, upload
// or delete anything: cross-origin requests that change state are refused
// (net/http's CrossOriginProtection), and a POST must say it sends JSON (an
// upload: an archive), which a plain HTML form cannot.
func TestCrossOriginAndContentType(t *testing.T) {
	e := newEnv(t, ngbakhttp.Options{Authorize: bearer})
	for _, c := range []struct {
		name   string
		method string
		path   string
		hdr    []string
		status int
	}{
		{"cross-site fetch", "POST", "/api/backups", []string{"Sec-Fetch-Site", "cross-site", "Content-Type", "application/json"}, 403},
		{"cross-site delete", "DELETE", "/api/backups/20261121T224015.123Z-3f9a2c", []string{"Sec-Fetch-Site", "cross-site"}, 403},
		{"other origin", "POST", "/api/backups", []string{"Origin", "https://evil.example", "Content-Type", "application/json"}, 403},
		{"form post", "POST", "/api/backups", []string{"Content-Type", "application/x-www-form-urlencoded"}, 415},
		{"text post", "POST", "/api/backups/20261121T224015.123Z-3f9a2c/restore", []string{"Content-Type", "text/plain"}, 415},
		{"no content type", "POST", "/api/backups", []string{"Content-Type", ""}, 415},
		{"form upload", "POST", "/api/backups/upload", []string{"Content-Type", "multipart/form-data; boundary=x"}, 415},
	} {
		t.Run(c.name, func(t *testing.T) {
			resp, b := e.do(c.method, c.path, strings.NewReader(""), c.hdr...)
			if resp.StatusCode != c.status {
				t.Fatalf("%s %s %v: %d %s, want %d", c.method, c.path, c.hdr, resp.StatusCode, b, c.status)
			}
		})
	}
	if list, err := e.m.List(context.Background()); err != nil || len(list) != 0 {
		t.Fatalf("backups after refused requests: %d, %v", len(list), err)
	}
	// Same origin, JSON: accepted.
	resp, b := e.do("POST", "/api/backups", strings.NewReader("{}"), "Sec-Fetch-Site", "same-origin", "Content-Type", "application/json; charset=utf-8")
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("same-origin JSON POST: %d %s", resp.StatusCode, b)
	}
}

// slowJobs is a job store that takes 300 ms for every write, like a Redis
// far away.
type slowJobs struct {
	*ngbakhttp.MemoryJobs
	mu     sync.Mutex
	writes int
}

func (s *slowJobs) Put(ctx context.Context, j ngbakhttp.Job) error {
	time.Sleep(300 * time.Millisecond)
	s.mu.Lock()
	s.writes++
	s.mu.Unlock()
	return s.MemoryJobs.Put(ctx, j)
}

// The job store is not on the operation's path: progress is written in
// the background, so a slow store does not slow a backup, and the final
// state is still written.
func TestSlowJobStore(t *testing.T) {
	store := &slowJobs{MemoryJobs: ngbakhttp.NewMemoryJobs(10)}
	e := newEnv(t, ngbakhttp.Options{Authorize: bearer, Jobs: store})
	var j ngbakhttp.Job
	e.mustStatus("POST", "/api/backups", bytes.NewReader(nil), http.StatusAccepted, &j)
	events := e.wait(j.ID)
	last := events[len(events)-1]
	if last.State != ngbakhttp.Succeeded || last.BackupID == "" || last.StartedAt == nil || last.FinishedAt == nil {
		t.Fatalf("last state %+v", last)
	}
	if took := last.FinishedAt.Sub(*last.StartedAt); took > 300*time.Millisecond {
		t.Errorf("the backup took %v with a job store that takes 300 ms a write (%d writes)", took, store.writes)
	}
	stored, err := store.Get(context.Background(), j.ID)
	if err != nil || stored.State != ngbakhttp.Succeeded {
		t.Fatalf("stored job %+v, %v", stored, err)
	}
}
