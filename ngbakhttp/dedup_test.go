package ngbakhttp_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/ngbak/ngbak"
	"github.com/ngbak/ngbak/jsonexp"
	"github.com/ngbak/ngbak/ngbakhttp"
)

// TestDedupStorage: on a deduplicated storage the API works unchanged: the
// download is a standard archive (sent without a Content-Length, since it
// is made as it is read) that a plain Manager imports, and an upload is
// stored deduplicated.
func TestDedupStorage(t *testing.T) {
	ctx := context.Background()
	work, storage := t.TempDir(), filepath.Join(t.TempDir(), "backups")
	os.WriteFile(filepath.Join(work, "kv_store_full_docs.json"), []byte(`{"doc-1": {"content": "deduplicated"}}`), 0o644)
	m, err := ngbak.New(ngbak.Options{Storage: ngbak.Dir(storage), TempDir: t.TempDir(), Dedup: &ngbak.DedupOptions{}})
	if err != nil {
		t.Fatal(err)
	}
	files, _ := jsonexp.New(jsonexp.Options{Dir: work})
	m.Register(files)
	h, err := ngbakhttp.New(m, ngbakhttp.Options{AllowUnauthenticated: true})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	srv := httptest.NewServer(h)
	defer srv.Close()
	man, err := m.Create(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(srv.URL + "/api/backups/" + man.ID + "/archive")
	if err != nil {
		t.Fatal(err)
	}
	var body bytes.Buffer
	body.ReadFrom(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.ContentLength != -1 {
		t.Fatalf("download: %d, Content-Length %d", resp.StatusCode, resp.ContentLength)
	}
	plain, _ := ngbak.New(ngbak.Options{Storage: ngbak.Dir(t.TempDir()), TempDir: t.TempDir()})
	if _, err := plain.Import(ctx, bytes.NewReader(body.Bytes())); err != nil {
		t.Fatalf("Import of the download: %v", err)
	}
	m.Delete(ctx, man.ID)
	req, _ := http.NewRequest("POST", srv.URL+"/api/backups/upload", bytes.NewReader(body.Bytes()))
	req.Header.Set("Content-Type", "application/octet-stream")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("upload: %d", resp.StatusCode)
	}
	if err := m.Verify(ctx, man.ID); err != nil {
		t.Fatal(err)
	}
	if rep, err := m.CheckRepository(ctx, ngbak.CheckOptions{ReadData: true}); err != nil || rep.Lists != 1 {
		t.Fatalf("CheckRepository: %v %+v", err, rep)
	}
}
