package ngbakhttp_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/ngbak/ngbak"
	"github.com/ngbak/ngbak/jsonexp"
	"github.com/ngbak/ngbak/ngbakhttp"
	"github.com/redis/go-redis/v9"
)

const testToken = "s3cret-token"

func bearer(r *http.Request) error {
	switch r.Header.Get("Authorization") {
	case "Bearer " + testToken:
		return nil
	case "":
		return ngbakhttp.ErrUnauthenticated
	}
	return ngbakhttp.ErrForbidden
}

// env is a handler over a Manager of one JSON working directory.
type env struct {
	t       *testing.T
	work    string
	storage string
	m       *ngbak.Manager
	h       *ngbakhttp.Handler
	srv     *httptest.Server
}

func newEnv(t *testing.T, opts ngbakhttp.Options, exps ...ngbak.Exporter) *env {
	t.Helper()
	e := &env{t: t, work: t.TempDir(), storage: filepath.Join(t.TempDir(), "backups")}
	os.WriteFile(filepath.Join(e.work, "kv_store_full_docs.json"), []byte(`{"doc-1": {"content": "original"}}`), 0o644)
	m, err := ngbak.New(ngbak.Options{Storage: ngbak.Dir(e.storage), TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	files, err := jsonexp.New(jsonexp.Options{Dir: e.work})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Register(append([]ngbak.Exporter{files}, exps...)...); err != nil {
		t.Fatal(err)
	}
	if opts.Authorize == nil && !opts.AllowUnauthenticated {
		opts.Authorize = bearer
	}
	e.m = m
	if e.h, err = ngbakhttp.New(m, opts); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/admin/backups/", http.StripPrefix("/admin/backups", e.h))
	e.srv = httptest.NewServer(mux)
	t.Cleanup(func() {
		e.srv.Close()
		e.h.Close()
	})
	return e
}

func (e *env) url(path string) string { return e.srv.URL + "/admin/backups" + path }

// do sends a request with the token and returns the status and body.
func (e *env) do(method, path string, body io.Reader, hdr ...string) (*http.Response, []byte) {
	e.t.Helper()
	req, err := http.NewRequest(method, e.url(path), body)
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+testToken)
	if method == "POST" {
		// What the dashboard sends.
		if strings.HasSuffix(path, "/upload") {
			req.Header.Set("Content-Type", "application/octet-stream")
		} else {
			req.Header.Set("Content-Type", "application/json")
		}
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp, b
}

func (e *env) mustStatus(method, path string, body io.Reader, want int, v any) []byte {
	e.t.Helper()
	resp, b := e.do(method, path, body)
	if resp.StatusCode != want {
		e.t.Fatalf("%s %s: %d %s, want %d", method, path, resp.StatusCode, b, want)
	}
	if v != nil {
		if err := json.Unmarshal(b, v); err != nil {
			e.t.Fatalf("%s %s: %v in %s", method, path, err, b)
		}
	}
	return b
}

// mustError checks a JSON error's status and code.
func (e *env) mustError(method, path string, body io.Reader, status int, code string) {
	e.t.Helper()
	var got struct {
		Error struct{ Code, Message string }
	}
	e.mustStatus(method, path, body, status, &got)
	if got.Error.Code != code || got.Error.Message == "" {
		e.t.Fatalf("%s %s: error %+v, want code %s", method, path, got.Error, code)
	}
}

// wait follows a job's event stream until it ends and returns the events.
func (e *env) wait(id string) []ngbakhttp.Job {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", e.url("/api/jobs/"+id+"/events"), nil)
	req.Header.Set("Authorization", "Bearer "+testToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		e.t.Fatalf("events: Content-Type %q", ct)
	}
	var jobs []ngbakhttp.Job
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
			var j ngbakhttp.Job
			if err := json.Unmarshal([]byte(data), &j); err != nil {
				e.t.Fatal(err)
			}
			jobs = append(jobs, j)
		}
	}
	if len(jobs) == 0 || !jobs[len(jobs)-1].Done() {
		e.t.Fatalf("the event stream ended before the job: %+v", jobs)
	}
	return jobs
}

func (e *env) backup() ngbakhttp.Job {
	e.t.Helper()
	var j ngbakhttp.Job
	e.mustStatus("POST", "/api/backups", nil, http.StatusAccepted, &j)
	events := e.wait(j.ID)
	last := events[len(events)-1]
	if last.State != ngbakhttp.Succeeded {
		e.t.Fatalf("backup job: %+v", last)
	}
	return last
}

func TestRefusedByDefault(t *testing.T) {
	m, _ := ngbak.New(ngbak.Options{Storage: ngbak.Dir(t.TempDir())})
	h, _ := ngbakhttp.New(m, ngbakhttp.Options{})
	defer h.Close()
	for _, path := range []string{"/", "/api/backups", "/static/app.js"} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		if rec.Code != http.StatusUnauthorized || !strings.Contains(rec.Body.String(), `"unauthenticated"`) {
			t.Fatalf("GET %s without an authorizer: %d %s", path, rec.Code, rec.Body)
		}
	}
	h2, _ := ngbakhttp.New(m, ngbakhttp.Options{AllowUnauthenticated: true})
	defer h2.Close()
	rec := httptest.NewRecorder()
	h2.ServeHTTP(rec, httptest.NewRequest("GET", "/api/backups", nil))
	if rec.Code != http.StatusOK || strings.TrimSpace(rec.Body.String()) != "[]" {
		t.Fatalf("AllowUnauthenticated: %d %s", rec.Code, rec.Body)
	}
}

func TestAuthorize(t *testing.T) {
	e := newEnv(t, ngbakhttp.Options{})
	for _, c := range []struct {
		header string
		status int
		code   string
	}{{"", 401, "unauthenticated"}, {"Bearer wrong", 403, "forbidden"}} {
		for _, ep := range [][2]string{{"GET", "/api/backups"}, {"POST", "/api/backups"}, {"GET", "/api/jobs"}, {"DELETE", "/api/backups/20261121T224015.123Z-3f9a2c"}} {
			req, _ := http.NewRequest(ep[0], e.url(ep[1]), nil)
			if c.header != "" {
				req.Header.Set("Authorization", c.header)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != c.status || !strings.Contains(string(b), `"code":"`+c.code+`"`) {
				t.Fatalf("%s %s with %q: %d %s", ep[0], ep[1], c.header, resp.StatusCode, b)
			}
		}
	}
	// The page itself holds no data: served, with a strict policy.
	resp, err := http.Get(e.url("/"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	csp := resp.Header.Get("Content-Security-Policy")
	if resp.StatusCode != 200 || !strings.Contains(csp, "default-src 'none'") || strings.Contains(csp, "unsafe-inline") {
		t.Fatalf("dashboard: %d, CSP %q", resp.StatusCode, csp)
	}
}

func TestBackupJob(t *testing.T) {
	e := newEnv(t, ngbakhttp.Options{})
	var j ngbakhttp.Job
	e.mustStatus("POST", "/api/backups", strings.NewReader(`{"labels": {"reason": "test"}}`), http.StatusAccepted, &j)
	if j.Kind != "backup" || j.ID == "" || (j.State != ngbakhttp.Pending && j.State != ngbakhttp.Running) {
		t.Fatalf("new job: %+v", j)
	}
	events := e.wait(j.ID)
	last := events[len(events)-1]
	if last.State != ngbakhttp.Succeeded || last.BackupID == "" || last.Size == 0 || last.StartedAt == nil || last.FinishedAt == nil || last.Error != "" || last.ItemsDone != 1 || last.ItemsTotal != 1 {
		t.Fatalf("finished job: %+v", last)
	}
	var got ngbakhttp.Job
	e.mustStatus("GET", "/api/jobs/"+j.ID, nil, 200, &got)
	if diff := cmp.Diff(last, got); diff != "" {
		t.Fatalf("GET job differs from the last event (-event +get):\n%s", diff)
	}
	var jobs []ngbakhttp.Job
	e.mustStatus("GET", "/api/jobs", nil, 200, &jobs)
	if len(jobs) != 1 || jobs[0].ID != j.ID {
		t.Fatalf("jobs: %+v", jobs)
	}
	var list []struct {
		ID     string            `json:"id"`
		Size   int64             `json:"size"`
		Labels map[string]string `json:"labels"`
	}
	e.mustStatus("GET", "/api/backups", nil, 200, &list)
	if len(list) != 1 || list[0].ID != last.BackupID || list[0].Size != last.Size || list[0].Labels["reason"] != "test" {
		t.Fatalf("list: %+v", list)
	}
	var man ngbak.Manifest
	e.mustStatus("GET", "/api/backups/"+last.BackupID, nil, 200, &man)
	if man.ID != last.BackupID || len(man.Backends) != 1 {
		t.Fatalf("manifest: %+v", man)
	}
	e.mustError("POST", "/api/backups", strings.NewReader(`{"unknown": 1}`), 400, "bad_request")
}

func TestDownloadUploadRestore(t *testing.T) {
	e := newEnv(t, ngbakhttp.Options{MaxUpload: 1 << 20})
	id := e.backup().BackupID
	stored, err := os.ReadFile(filepath.Join(e.storage, id+".ngbak"))
	if err != nil {
		t.Fatal(err)
	}
	resp, body := e.do("GET", "/api/backups/"+id+"/archive", nil)
	if resp.StatusCode != 200 || !bytes.Equal(body, stored) || resp.ContentLength != int64(len(stored)) {
		t.Fatalf("download: %d, %d bytes (Content-Length %d), want %d", resp.StatusCode, len(body), resp.ContentLength, len(stored))
	}
	resp, body = e.do("GET", "/api/backups/"+id+"/archive", nil, "Range", "bytes=4-9")
	if resp.StatusCode != 206 || !bytes.Equal(body, stored[4:10]) {
		t.Fatalf("range: %d %q", resp.StatusCode, body)
	}

	// Upload into a second service: stored under the manifest's id.
	other := newEnv(t, ngbakhttp.Options{MaxUpload: 1 << 20})
	var man ngbak.Manifest
	other.mustStatus("POST", "/api/backups/upload", bytes.NewReader(stored), http.StatusCreated, &man)
	if man.ID != id {
		t.Fatalf("uploaded as %s, want %s", man.ID, id)
	}
	other.mustError("POST", "/api/backups/upload", bytes.NewReader(stored), 409, "exists")
	damaged := bytes.Clone(stored)
	damaged[len(damaged)/2] ^= 1
	e.mustError("POST", "/api/backups/upload", bytes.NewReader(damaged), 400, "invalid_archive")
	e.mustError("POST", "/api/backups/upload", strings.NewReader("not an archive"), 400, "invalid_archive")
	e.mustError("POST", "/api/backups/upload", bytes.NewReader(make([]byte, 2<<20)), 413, "too_large")
	// Chunked, without a Content-Length: cut at the limit.
	small := newEnv(t, ngbakhttp.Options{MaxUpload: int64(len(stored) / 2)})
	small.mustError("POST", "/api/backups/upload", io.MultiReader(bytes.NewReader(stored)), 413, "too_large")
	if entries, _ := os.ReadDir(small.storage); len(entries) != 0 {
		t.Fatalf("a refused upload left %d entries in storage", len(entries))
	}

	// Restore through the second service replaces its working dir.
	os.WriteFile(filepath.Join(other.work, "kv_store_full_docs.json"), []byte(`{"changed": true}`), 0o644)
	var j ngbakhttp.Job
	other.mustStatus("POST", "/api/backups/"+id+"/restore", nil, http.StatusAccepted, &j)
	events := other.wait(j.ID)
	last := events[len(events)-1]
	if last.State != ngbakhttp.Succeeded || last.Kind != "restore" || last.SafetyID == "" || last.ItemsTotal != 1 || last.ItemsDone != 1 {
		t.Fatalf("restore job: %+v", last)
	}
	got, _ := os.ReadFile(filepath.Join(other.work, "kv_store_full_docs.json"))
	if string(got) != `{"doc-1": {"content": "original"}}` {
		t.Fatalf("after restore: %s", got)
	}
	// A restore of a backend the backup does not hold fails in its job.
	other.mustStatus("POST", "/api/backups/"+id+"/restore", strings.NewReader(`{"backends": ["nope"]}`), http.StatusAccepted, &j)
	events = other.wait(j.ID)
	if last := events[len(events)-1]; last.State != ngbakhttp.Failed || !strings.Contains(last.Error, "nope") {
		t.Fatalf("restore of an unknown backend: %+v", last)
	}
}

func TestVerifyDelete(t *testing.T) {
	e := newEnv(t, ngbakhttp.Options{})
	id := e.backup().BackupID
	verify := func() ngbakhttp.Job {
		var j ngbakhttp.Job
		e.mustStatus("POST", "/api/backups/"+id+"/verify", nil, http.StatusAccepted, &j)
		if j.Kind != "verify" || j.BackupID != id {
			t.Fatalf("verify job: %+v", j)
		}
		events := e.wait(j.ID)
		return events[len(events)-1]
	}
	if last := verify(); last.State != ngbakhttp.Succeeded || last.Size == 0 {
		t.Fatalf("verify of a sound backup: %+v", last)
	}
	path := filepath.Join(e.storage, id+".ngbak")
	data, _ := os.ReadFile(path)
	data[len(data)/2] ^= 1
	os.WriteFile(path, data, 0o644)
	if last := verify(); last.State != ngbakhttp.Failed || !strings.Contains(last.Error, "checksum") {
		t.Fatalf("verify of a damaged backup: %+v", last)
	}
	e.mustError("POST", "/api/backups/"+strings.Repeat("0", 20)+"/verify", nil, 404, "not_found")
	e.mustStatus("DELETE", "/api/backups/"+id, nil, 204, nil)
	e.mustError("DELETE", "/api/backups/"+id, nil, 404, "not_found")
	e.mustError("GET", "/api/backups/"+id, nil, 404, "not_found")
	e.mustError("GET", "/api/backups/"+id+"/archive", nil, 404, "not_found")
}

func TestInvalidIDs(t *testing.T) {
	e := newEnv(t, ngbakhttp.Options{})
	for _, id := range []string{"..%2f..%2fetc", "a%2fb", "%3Cscript%3E", "id%00nul", "a..b", strings.Repeat("a", 300)} {
		for _, ep := range [][2]string{{"GET", "/api/backups/" + id}, {"GET", "/api/backups/" + id + "/archive"}, {"POST", "/api/backups/" + id + "/verify"}, {"POST", "/api/backups/" + id + "/restore"}, {"DELETE", "/api/backups/" + id}} {
			e.mustError(ep[0], ep[1], nil, 400, "invalid_id")
		}
	}
	e.mustError("GET", "/api/jobs/nope", nil, 400, "invalid_id")
	e.mustError("GET", "/api/jobs/0123456789abcdef01234567", nil, 404, "not_found")
	e.mustError("GET", "/api/jobs/0123456789abcdef01234567/events", nil, 404, "not_found")
	e.mustError("POST", "/api/backups/20261121T224015.123Z-3f9a2c/restore", nil, 404, "not_found")
}

// blocking is an exporter whose export waits for release, or fails.
type blocking struct {
	release chan struct{}
	fail    bool
}

func (b *blocking) Name() string { return "blocking" }
func (b *blocking) Kind() string { return "test" }
func (b *blocking) Export(ctx context.Context, w *ngbak.Writer) (ngbak.Info, error) {
	select {
	case <-b.release:
	case <-ctx.Done():
		return ngbak.Info{}, ctx.Err()
	}
	if b.fail {
		return ngbak.Info{}, errors.New("the store refused on purpose")
	}
	return ngbak.Info{Format: "test/1"}, w.WriteFile("x", 1, strings.NewReader("x"))
}
func (b *blocking) Restore(context.Context, *ngbak.Reader) error { return nil }

func TestBusyAndFailedJobs(t *testing.T) {
	b := &blocking{release: make(chan struct{})}
	e := newEnv(t, ngbakhttp.Options{}, b)
	var j ngbakhttp.Job
	e.mustStatus("POST", "/api/backups", nil, http.StatusAccepted, &j)
	e.mustError("POST", "/api/backups", nil, 409, "busy")
	close(b.release)
	e.wait(j.ID)

	b2 := &blocking{release: make(chan struct{}), fail: true}
	close(b2.release)
	e2 := newEnv(t, ngbakhttp.Options{}, b2)
	e2.mustStatus("POST", "/api/backups", nil, http.StatusAccepted, &j)
	events := e2.wait(j.ID)
	last := events[len(events)-1]
	if last.State != ngbakhttp.Failed || !strings.Contains(last.Error, "refused on purpose") || last.FinishedAt == nil {
		t.Fatalf("failed job: %+v", last)
	}
	var list []any
	e2.mustStatus("GET", "/api/backups", nil, 200, &list)
	if len(list) != 0 {
		t.Fatalf("a failed backup is listed: %v", list)
	}
}

// TestCloseCancelsJobs: Close cancels a running job and waits for it.
func TestCloseCancelsJobs(t *testing.T) {
	b := &blocking{release: make(chan struct{})}
	e := newEnv(t, ngbakhttp.Options{}, b)
	var j ngbakhttp.Job
	e.mustStatus("POST", "/api/backups", nil, http.StatusAccepted, &j)
	done := make(chan struct{})
	go func() { e.h.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not return")
	}
	var got ngbakhttp.Job
	e.mustStatus("GET", "/api/jobs/"+j.ID, nil, 200, &got)
	if got.State != ngbakhttp.Failed || !strings.Contains(got.Error, "canceled") {
		t.Fatalf("job after Close: %+v", got)
	}
}

func jobStoreTest(t *testing.T, s ngbakhttp.JobStore) {
	ctx := context.Background()
	base := time.Now().UTC().Truncate(time.Millisecond)
	var ids []string
	for i := range 3 {
		id := fmt.Sprintf("%024x", time.Now().UnixNano()+int64(i))
		ids = append(ids, id)
		if err := s.Put(ctx, ngbakhttp.Job{ID: id, Kind: "backup", State: ngbakhttp.Running, CreatedAt: base.Add(time.Duration(i) * time.Second)}); err != nil {
			t.Fatal(err)
		}
	}
	done := ngbakhttp.Job{ID: ids[1], Kind: "backup", State: ngbakhttp.Succeeded, CreatedAt: base.Add(time.Second), BackupID: "b", Size: 42}
	if err := s.Put(ctx, done); err != nil {
		t.Fatal(err)
	}
	got, err := s.Get(ctx, ids[1])
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(done, got); diff != "" {
		t.Fatalf("Get (-want +got):\n%s", diff)
	}
	if _, err := s.Get(ctx, "000000000000000000000000"); !errors.Is(err, ngbak.ErrNotFound) {
		t.Fatalf("Get of an unknown job: %v", err)
	}
	list, err := s.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var order []string
	for _, j := range list {
		order = append(order, j.ID)
	}
	if want := []string{ids[2], ids[1], ids[0]}; !cmp.Equal(order[:3], want) {
		t.Fatalf("List order %v, want newest first %v", order, want)
	}
}

func TestMemoryJobs(t *testing.T) { jobStoreTest(t, ngbakhttp.NewMemoryJobs(10)) }

func TestRedisJobs(t *testing.T) {
	url := os.Getenv("NGBAK_REDIS_URL")
	if url == "" {
		if os.Getenv("NGBAK_REQUIRE_SERVERS") != "" {
			t.Fatal("NGBAK_REDIS_URL is not set")
		}
		t.Skip("NGBAK_REDIS_URL is not set: run make services")
	}
	opts, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	client := redis.NewClient(opts)
	defer client.Close()
	prefix := fmt.Sprintf("ngbakhttp-test:%d:", time.Now().UnixNano())
	defer func() {
		keys, _ := client.Keys(context.Background(), prefix+"*").Result()
		if len(keys) > 0 {
			client.Del(context.Background(), keys...)
		}
	}()
	s := ngbakhttp.NewRedisJobs(client, prefix, time.Minute)
	jobStoreTest(t, s)
	// A handler on Redis jobs: another instance follows the job.
	e := newEnv(t, ngbakhttp.Options{Jobs: s})
	e.backup()
	if ttl := client.TTL(context.Background(), prefix+"index").Val(); ttl != -1 {
		t.Logf("index TTL %v", ttl)
	}
}

// flaky is a job store that refuses every progress update and the first
// try of a job's final state.
type flaky struct {
	*ngbakhttp.MemoryJobs
	mu      sync.Mutex
	refused int
}

func (f *flaky) Put(ctx context.Context, j ngbakhttp.Job) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if j.State == ngbakhttp.Running || (j.Done() && f.refused == 0) {
		if j.Done() {
			f.refused++
		}
		return errors.New("store unavailable")
	}
	return f.MemoryJobs.Put(ctx, j)
}

// TestJobStoreFailures: a store that refuses updates does not stop the
// backup, and the job's final state is tried again until it is stored.
func TestJobStoreFailures(t *testing.T) {
	defer func(d time.Duration) { *ngbakhttp.RetryPause = d }(*ngbakhttp.RetryPause)
	*ngbakhttp.RetryPause = time.Millisecond
	store := &flaky{MemoryJobs: ngbakhttp.NewMemoryJobs(10)}
	e := newEnv(t, ngbakhttp.Options{Jobs: store})
	var j ngbakhttp.Job
	e.mustStatus("POST", "/api/backups", nil, http.StatusAccepted, &j)
	events := e.wait(j.ID)
	if last := events[len(events)-1]; last.State != ngbakhttp.Succeeded || last.BackupID == "" || store.refused != 1 {
		t.Fatalf("last state %+v, final tries refused %d", last, store.refused)
	}
}
