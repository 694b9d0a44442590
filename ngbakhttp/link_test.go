package ngbakhttp_test

import (
	"bytes"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/ngbak/ngbak/ngbakhttp"
)

// A download link needs no credentials, works once, and nothing else
// passes for one: another id, a changed expiry or signature, a reuse.
func TestDownloadLink(t *testing.T) {
	e := newEnv(t, ngbakhttp.Options{})
	job := e.backup()
	other := e.backup()
	stored, _ := os.ReadFile(filepath.Join(e.storage, job.BackupID+".ngbak"))
	var link struct{ URL string }
	e.mustStatus("POST", "/api/backups/"+job.BackupID+"/link", nil, http.StatusCreated, &link)
	get := func(rel string) (int, []byte) {
		t.Helper()
		resp, err := http.Get(e.url("/" + rel)) // no Authorization
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	u, _ := url.Parse(link.URL)
	q := u.Query()
	forged := []string{
		strings.Replace(link.URL, job.BackupID, other.BackupID, 1),
		u.Path + "?" + with(q, "expires", strconv.Itoa(mustAtoi(t, q.Get("expires"))+3600)),
		u.Path + "?" + with(q, "sig", strings.Repeat("0", 64)),
		u.Path + "?" + with(q, "nonce", "another"),
		u.Path,
	}
	for _, f := range forged {
		if code, body := get(f); code != http.StatusForbidden || !strings.Contains(string(body), `"forbidden"`) {
			t.Errorf("GET %s: %d %s", f, code, body)
		}
	}
	if code, body := get(link.URL); code != 200 || !bytes.Equal(body, stored) {
		t.Fatalf("GET of the link: %d, %d bytes, the archive has %d", code, len(body), len(stored))
	}
	if code, _ := get(link.URL); code != http.StatusForbidden {
		t.Fatalf("a second GET of the link: %d", code)
	}
	req, _ := http.NewRequest("POST", e.url("/api/backups/"+job.BackupID+"/link"), nil)
	req.Header.Set("Content-Type", "application/json")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("a link without a token: %v %v", resp.StatusCode, err)
	}
	e.mustError("POST", "/api/backups/20260101T000000.000Z-000000/link", nil, http.StatusNotFound, "not_found")
}

func with(q url.Values, k, v string) string {
	c := url.Values{}
	for key, vs := range q {
		c[key] = vs
	}
	c.Set(k, v)
	return c.Encode()
}

func mustAtoi(t *testing.T, s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
