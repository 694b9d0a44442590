package ngbakhttp_test

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ngbak/ngbak/jsonexp"
	"github.com/ngbak/ngbak/ngbakhttp"
)

// TestRestoreInto: the restore job takes "into", and restores the working
// dir's backup into a staging folder, leaving the working dir as it is.
func TestRestoreInto(t *testing.T) {
	staging := t.TempDir()
	stagingExp, err := jsonexp.New(jsonexp.Options{Dir: staging, Name: "staging"})
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, ngbakhttp.Options{}, stagingExp)
	id := e.backup().BackupID
	os.WriteFile(filepath.Join(e.work, "kv_store_full_docs.json"), []byte(`{"changed": true}`), 0o644)
	var j ngbakhttp.Job
	e.mustStatus("POST", "/api/backups/"+id+"/restore", strings.NewReader(`{"into": {"json": "staging"}}`), http.StatusAccepted, &j)
	events := e.wait(j.ID)
	if last := events[len(events)-1]; last.State != ngbakhttp.Succeeded {
		t.Fatalf("restore job: %+v", last)
	}
	if got, _ := os.ReadFile(filepath.Join(staging, "kv_store_full_docs.json")); string(got) != `{"doc-1": {"content": "original"}}` {
		t.Errorf("staging: %s", got)
	}
	if got, _ := os.ReadFile(filepath.Join(e.work, "kv_store_full_docs.json")); string(got) != `{"changed": true}` {
		t.Errorf("the working dir was touched: %s", got)
	}
}
