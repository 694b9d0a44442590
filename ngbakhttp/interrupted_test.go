package ngbakhttp_test

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/ngbak/ngbak"
	"github.com/ngbak/ngbak/ngbakhttp"
)

// interruptedFixture is a service with a backup, a store changed since
// and the marker a restore of that backup that died half way leaves.
func interruptedFixture(t *testing.T) (e *env, safety ngbakhttp.Job, store string) {
	e = newEnv(t, ngbakhttp.Options{})
	safety = e.backup() // the state before the restore that died
	store = filepath.Join(e.work, "kv_store_full_docs.json")
	os.WriteFile(store, []byte(`{"doc-1": {"content": "half restored"}}`), 0o644)
	// What Restore records before it touches a store, left by a crash.
	marker := fmt.Sprintf(`{"format": "ngbak-restore/1", "id": %q, "backup": %q, "safety_id": %q, "backends": ["json"], "started_at": %q}`,
		safety.BackupID, safety.BackupID, safety.BackupID, time.Now().UTC().Format(time.RFC3339Nano))
	if err := os.WriteFile(filepath.Join(e.storage, safety.BackupID+".restore.json"), []byte(marker), 0o644); err != nil {
		t.Fatal(err)
	}
	return e, safety, store
}

// A restore that died half way shows in the listing, and the API rolls it
// back from its safety backup as a job.
func TestInterruptedRollBack(t *testing.T) {
	e, safety, store := interruptedFixture(t)
	var list []struct {
		ID          string              `json:"id"`
		Interrupted *ngbak.Interruption `json:"interrupted"`
	}
	e.mustStatus("GET", "/api/backups", nil, http.StatusOK, &list)
	if len(list) != 1 || list[0].Interrupted == nil || list[0].Interrupted.ID != safety.BackupID {
		t.Fatalf("listing: %+v", list)
	}
	var ints []ngbak.Interruption
	e.mustStatus("GET", "/api/interrupted", nil, http.StatusOK, &ints)
	if len(ints) != 1 || ints[0].SafetyID != safety.BackupID {
		t.Fatalf("interrupted: %+v", ints)
	}
	// A backup now would hold the half-restored state: the job fails.
	var j ngbakhttp.Job
	e.mustStatus("POST", "/api/backups", nil, http.StatusAccepted, &j)
	if events := e.wait(j.ID); events[len(events)-1].State != ngbakhttp.Failed || !strings.Contains(events[len(events)-1].Error, "interrupted") {
		t.Fatalf("backup during an interrupted restore: %+v", events[len(events)-1])
	}
	e.mustStatus("POST", "/api/interrupted/"+safety.BackupID+"/rollback", nil, http.StatusAccepted, &j)
	events := e.wait(j.ID)
	if last := events[len(events)-1]; last.State != ngbakhttp.Succeeded || last.Kind != "rollback" || last.SafetyID != safety.BackupID {
		t.Fatalf("rollback job: %+v", last)
	}
	if got, _ := os.ReadFile(store); string(got) != `{"doc-1": {"content": "original"}}` {
		t.Errorf("store after the rollback: %s", got)
	}
	e.mustStatus("GET", "/api/interrupted", nil, http.StatusOK, &ints)
	if diff := cmp.Diff([]ngbak.Interruption{}, ints); diff != "" {
		t.Errorf("interrupted after the rollback (-want +got):\n%s", diff)
	}
	e.mustError("POST", "/api/interrupted/"+safety.BackupID+"/rollback", nil, http.StatusNotFound, "not_found")
}
