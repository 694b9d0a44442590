package ngbakhttp_test

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ngbak/ngbak/ngbakhttp"
)

type health struct {
	OK      bool
	Problem string
	Newest  *struct {
		ID          string
		CompletedAt time.Time `json:"completed_at"`
		AgeSeconds  float64   `json:"age_seconds"`
	}
	LastFailure *struct {
		At     time.Time
		Error  string
		Source string
		JobID  string `json:"job_id"`
	} `json:"last_failure"`
}

// GET /api/health: 503 without a backup and when the newest is older than
// max_age, 200 otherwise; safety backups do not count; the last failure
// is the newer of a failed backup job and the scheduler's.
func TestHealth(t *testing.T) {
	var mu sync.Mutex
	var schedAt time.Time
	var schedErr error
	e := newEnv(t, ngbakhttp.Options{LastFailure: func() (time.Time, error) {
		mu.Lock()
		defer mu.Unlock()
		return schedAt, schedErr
	}})
	var h health
	e.mustStatus("GET", "/api/health", nil, http.StatusServiceUnavailable, &h)
	if h.OK || h.Problem != "no complete backup" || h.Newest != nil || h.LastFailure != nil {
		t.Fatalf("health with no backup: %+v", h)
	}
	e.mustError("GET", "/api/health?max_age=soon", nil, http.StatusBadRequest, "bad_request")
	if resp, _ := e.do("GET", "/api/health", nil, "Authorization", "Bearer wrong"); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("health with a wrong token: %d", resp.StatusCode)
	}

	job := e.backup()
	e.mustStatus("GET", "/api/health?max_age=26h", nil, http.StatusOK, &h)
	if !h.OK || h.Newest == nil || h.Newest.ID != job.BackupID || h.Newest.AgeSeconds > 60 {
		t.Fatalf("health after a backup: %+v", h)
	}
	time.Sleep(20 * time.Millisecond)
	e.mustStatus("GET", "/api/health?max_age=10ms", nil, http.StatusServiceUnavailable, &h)
	if h.OK || !strings.Contains(h.Problem, "more than 10ms") {
		t.Fatalf("health of a stale backup: %+v", h)
	}

	// A restore's safety backup is newer, and not what the check watches.
	res, err := e.m.Restore(context.Background(), job.BackupID, nil)
	if err != nil {
		t.Fatal(err)
	}
	e.mustStatus("GET", "/api/health", nil, http.StatusOK, &h)
	if h.Newest.ID != job.BackupID || res.SafetyID == "" {
		t.Fatalf("newest %s, want %s and not the safety backup %s", h.Newest.ID, job.BackupID, res.SafetyID)
	}

	// A failed backup job, then a newer failure of the scheduler.
	os.Mkdir(filepath.Join(e.work, "kv_store_broken.json"), 0o755)
	var j ngbakhttp.Job
	e.mustStatus("POST", "/api/backups", nil, http.StatusAccepted, &j)
	if last := e.wait(j.ID); last[len(last)-1].State != ngbakhttp.Failed {
		t.Fatalf("backup job with a folder among the stores: %+v", last[len(last)-1])
	}
	e.mustStatus("GET", "/api/health", nil, http.StatusOK, &h)
	if f := h.LastFailure; f == nil || f.Source != "job" || f.JobID != j.ID || !strings.Contains(f.Error, "not a regular file") {
		t.Fatalf("last failure after a failed job: %+v", f)
	}
	mu.Lock()
	schedAt, schedErr = time.Now(), errors.New("scheduled backup: store down")
	mu.Unlock()
	e.mustStatus("GET", "/api/health", nil, http.StatusOK, &h)
	if f := h.LastFailure; f == nil || f.Source != "scheduler" || f.Error != "scheduled backup: store down" {
		t.Fatalf("last failure after the scheduler's: %+v", f)
	}
}

// GET /api/backups/{id}/plan is Manager.Plan.
func TestPlanEndpoint(t *testing.T) {
	e := newEnv(t, ngbakhttp.Options{})
	job := e.backup()
	os.WriteFile(filepath.Join(e.work, "kv_store_later.json"), []byte(`{}`), 0o644)
	var p struct {
		ID           string
		SafetyBackup bool `json:"safety_backup"`
		Backends     []struct {
			Name    string
			Deletes []string
			Current map[string]int64
		}
	}
	e.mustStatus("GET", "/api/backups/"+job.BackupID+"/plan", nil, http.StatusOK, &p)
	if p.ID != job.BackupID || !p.SafetyBackup || len(p.Backends) != 1 || len(p.Backends[0].Deletes) != 1 || !strings.Contains(p.Backends[0].Deletes[0], "kv_store_later.json") || p.Backends[0].Current["files"] != 2 {
		t.Fatalf("plan: %+v", p)
	}
	e.mustStatus("GET", "/api/backups/"+job.BackupID+"/plan?no_safety_backup=true", nil, http.StatusOK, &p)
	if p.SafetyBackup {
		t.Fatal("no_safety_backup=true planned a safety backup")
	}
	e.mustError("GET", "/api/backups/"+job.BackupID+"/plan?backends=nope", nil, http.StatusNotFound, "not_found")
	e.mustError("GET", "/api/backups/20260101T000000.000Z-000000/plan", nil, http.StatusNotFound, "not_found")
	if _, err := os.Stat(filepath.Join(e.work, "kv_store_later.json")); err != nil {
		t.Fatal("the plan changed the store")
	}
}
