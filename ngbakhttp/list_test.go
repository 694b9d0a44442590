package ngbakhttp_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/ngbak/ngbak"
	"github.com/ngbak/ngbak/ngbakhttp"
)

// manyBackups stores n backups fast: copies of one real backup's sidecar
// manifest under new ids and times, beside links to its archive. List
// reads sidecars only, so they list as n backups; they are for listing,
// not for verifying.
func manyBackups(t testing.TB, e *env, n int) []string {
	t.Helper()
	man, err := e.m.Create(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(e.storage, man.ID+".manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	ids := []string{man.ID}
	base := man.CreatedAt
	for i := 1; i < n; i++ {
		at := base.Add(-time.Duration(i) * time.Minute)
		id := ngbak.NewID(at)
		m["id"], m["created_at"], m["completed_at"] = id, at, at.Add(time.Second)
		m["labels"] = map[string]string{"n": strconv.Itoa(i)}
		b, _ := json.Marshal(m)
		for _, suffix := range []string{".ngbak", ".ngbak.sha256"} {
			if err := os.Link(filepath.Join(e.storage, man.ID+suffix), filepath.Join(e.storage, id+suffix)); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.WriteFile(filepath.Join(e.storage, id+".manifest.json"), b, 0o644); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	return ids // newest first
}

// GET /api/backups pages by a cursor that survives deletions between
// pages, and lists summaries without config or files.
func TestListPages(t *testing.T) {
	e := newEnv(t, ngbakhttp.Options{})
	ids := manyBackups(t, e, 25)
	var got []string
	cursor := ""
	for pages := 0; ; pages++ {
		path := "/api/backups?limit=10"
		if cursor != "" {
			path += "&cursor=" + url.QueryEscape(cursor)
		}
		resp, body := e.do("GET", path, nil)
		var page []map[string]any
		if resp.StatusCode != 200 || json.Unmarshal(body, &page) != nil {
			t.Fatalf("GET %s: %d %s", path, resp.StatusCode, body)
		}
		if resp.Header.Get("X-Total-Count") != strconv.Itoa(len(ids)) && pages == 0 {
			t.Fatalf("X-Total-Count %q", resp.Header.Get("X-Total-Count"))
		}
		for _, b := range page {
			got = append(got, b["id"].(string))
			if _, ok := b["config"]; ok {
				t.Fatal("the list holds the config")
			}
			for _, be := range b["backends"].([]any) {
				if _, ok := be.(map[string]any)["files"]; ok {
					t.Fatal("the list holds file lists")
				}
			}
		}
		if pages == 0 {
			// The backup that ends the first page goes before the second.
			if err := e.m.Delete(context.Background(), ids[9]); err != nil {
				t.Fatal(err)
			}
		}
		if cursor = resp.Header.Get("X-Next-Cursor"); cursor == "" {
			break
		}
		if len(page) != 10 {
			t.Fatalf("page %d has %d backups with more to come", pages, len(page))
		}
	}
	if diff := cmp.Diff(ids, got); diff != "" {
		t.Fatalf("pages (-want +got):\n%s", diff)
	}
	e.mustError("GET", "/api/backups?limit=0", nil, http.StatusBadRequest, "bad_request")
	e.mustError("GET", "/api/backups?cursor=nonsense", nil, http.StatusBadRequest, "bad_request")
}
