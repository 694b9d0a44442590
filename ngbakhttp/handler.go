// Package ngbakhttp is the backup API and dashboard that a GraphRAG Go
// service mounts: one http.Handler over an *ngbak.Manager, with JSON
// endpoints, jobs with live progress (server-sent events) and an embedded
// single-page dashboard.
//
//	h, err := ngbakhttp.New(manager, ngbakhttp.Options{Authorize: bearer(token)})
//	mux.Handle("/admin/backups/", http.StripPrefix("/admin/backups", h))
//
// Every path below is relative to where the handler is mounted:
//
//	GET    /                           the dashboard (static; it holds no data)
//	GET    /api/backups                list backups, newest first, as summaries (no config, details or files); ?limit=N&cursor=C pages (X-Next-Cursor, X-Total-Count)
//	POST   /api/backups                start a backup: 202 and a job
//	POST   /api/backups/upload         upload an archive (the request body), verified before it is stored: 201
//	GET    /api/backups/{id}           one backup's manifest
//	GET    /api/backups/{id}/archive   download the archive (Content-Length; Range when the storage seeks)
//	POST   /api/backups/{id}/verify    start reading the archive completely and checking every hash: 202 and a job
//	POST   /api/backups/{id}/restore   start a restore: 202 and a job; body {"backends": [...]} optional
//	DELETE /api/backups/{id}           delete a backup: 204
//	GET    /api/interrupted            restores that did not end (ngbak.Manager.Interrupted)
//	POST   /api/interrupted/{id}/rollback  roll one back from its safety backup: 202 and a job
//	GET    /api/jobs                   list jobs, newest first
//	GET    /api/jobs/{id}              one job
//	GET    /api/jobs/{id}/events       the job as server-sent events ("job"), until it ends
//	POST   /api/backups/{id}/link      a single-use download link, good for a minute on this instance, that needs no credentials: 201 {"url": ...}
//	GET    /api/download/{id}?...      the archive, once, for such a link (403 forged, expired or used)
//	GET    /api/health                 the newest complete backup's age and the last failed backup; ?max_age=26h makes it 503 when older
//	GET    /api/backups/{id}/plan      what a restore would do (ngbak.Manager.Plan); ?backends=a,b&no_safety_backup=true&into=json=staging
//	GET    /api/exporters              the registered exporters, [{"name", "kind"}]: the targets "into" may name
//
// Errors are JSON, {"error": {"code": "...", "message": "..."}}, with a
// stable code: not_found (404), invalid_id and invalid_archive (400), busy
// and exists (409), too_large (413), unsupported_media_type (415),
// unauthenticated (401), forbidden (403), bad_request (400) and internal
// (500).
//
// Requests that change state are refused (403) when a browser says they
// come from another origin (net/http's CrossOriginProtection, by
// Sec-Fetch-Site or Origin), and a POST must send Content-Type
// application/json (an upload: application/octet-stream), which no HTML
// form can: a page elsewhere cannot act with the dashboard user's
// credentials.
//
// Nothing is open by default: every API request goes through
// Options.Authorize, and without one the handler refuses everything unless
// Options.AllowUnauthenticated says the caller accepts that (for loopback
// demos). Ids from requests are validated; an upload is stored under the id
// of the manifest inside it, never under a name the client chose.
//
// One job (backup, restore or verify) runs at a time per handler; starting
// another while one runs is 409 busy. A restore or verify job lists its
// backends in Job.Progress, each with its state and its bytes of its size
// in the phase at work (BackendProgress), which the dashboard shows. Jobs live in a JobStore: in memory by
// default, RedisJobs for services that run several instances.
package ngbakhttp

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"mime"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/ngbak/ngbak"
)

// ErrUnauthenticated and ErrForbidden are what an Authorize hook returns to
// refuse a request with 401 or 403.
var (
	ErrUnauthenticated = errors.New("unauthenticated")
	ErrForbidden       = errors.New("forbidden")
)

// Options configure the handler.
type Options struct {
	// Authorize decides every API request: nil lets it through,
	// ErrUnauthenticated (401) or ErrForbidden (403), or any other error
	// (403), refuses it.
	Authorize func(*http.Request) error
	// AllowUnauthenticated serves every request without an Authorize hook.
	// Without either, every request is refused.
	AllowUnauthenticated bool
	// Jobs keeps the jobs; nil means in memory.
	Jobs JobStore
	// MaxUpload is the largest archive an upload may send; 0 means 64 GiB.
	MaxUpload int64
	// Logger receives job failures and refused requests; nil discards.
	Logger *slog.Logger
	// LastFailure, if set, tells GET /api/health of backups that failed
	// outside this handler: schedule.Scheduler.LastFailure.
	LastFailure func() (time.Time, error)
}

// Handler serves the API and the dashboard. Close it on shutdown: it
// cancels running jobs and waits for them.
type Handler struct {
	m    *ngbak.Manager
	opts Options
	mux  *http.ServeMux
	log  *slog.Logger
	// cop refuses cross-origin requests that change state (CSRF): a
	// browser tells by Sec-Fetch-Site or Origin.
	cop *http.CrossOriginProtection

	ctx    context.Context // jobs run under it; Close cancels it
	cancel context.CancelFunc
	wg     sync.WaitGroup
	mu     sync.Mutex
	busy   string // the running job's id
	links  *links
}

//go:embed static
var static embed.FS

// New returns a Handler over m.
func New(m *ngbak.Manager, opts Options) (*Handler, error) {
	if m == nil {
		return nil, errors.New("ngbakhttp: nil Manager")
	}
	if opts.Jobs == nil {
		opts.Jobs = NewMemoryJobs(1000)
	}
	if opts.MaxUpload <= 0 {
		opts.MaxUpload = 64 << 30
	}
	h := &Handler{m: m, opts: opts, mux: http.NewServeMux(), log: opts.Logger, cop: http.NewCrossOriginProtection(), links: newLinks()}
	h.cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.log.Info("ngbakhttp: cross-origin request refused", "method", r.Method, "path", r.URL.Path, "origin", r.Header.Get("Origin"))
		writeError(w, apiError{http.StatusForbidden, "forbidden", "cross-origin request refused"})
	}))
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	h.ctx, h.cancel = context.WithCancel(context.Background())
	sub, _ := fs.Sub(static, "static")
	files := http.FileServerFS(sub)
	h.mux.Handle("GET /{$}", files)
	h.mux.Handle("GET /static/", http.StripPrefix("/static", files))
	api := func(pattern string, fn func(http.ResponseWriter, *http.Request) error) {
		h.mux.Handle(pattern, h.authorized(fn))
	}
	api("GET /api/backups", h.list)
	api("POST /api/backups", h.create)
	api("POST /api/backups/upload", h.upload)
	api("GET /api/backups/{id}", h.get)
	api("GET /api/backups/{id}/archive", h.download)
	api("POST /api/backups/{id}/verify", h.verify)
	api("POST /api/backups/{id}/restore", h.restore)
	api("DELETE /api/backups/{id}", h.delete)
	api("GET /api/interrupted", h.interrupted)
	api("POST /api/interrupted/{id}/rollback", h.rollBack)
	api("GET /api/jobs", h.listJobs)
	api("GET /api/jobs/{id}", h.getJob)
	api("GET /api/jobs/{id}/events", h.events)
	api("GET /api/health", h.health)
	api("GET /api/backups/{id}/plan", h.plan)
	api("GET /api/exporters", h.exporters)
	api("POST /api/backups/{id}/link", h.link)
	h.mux.HandleFunc("GET /api/download/{id}", h.signedDownload)
	return h, nil
}

// ServeHTTP implements http.Handler. The dashboard's page, script and style
// hold no data and are served once the handler is configured to serve at
// all; every API request is authorized.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h.opts.Authorize == nil && !h.opts.AllowUnauthenticated {
		writeError(w, apiError{http.StatusUnauthorized, "unauthenticated", "ngbakhttp: no Authorize hook is configured, so every request is refused (Options.AllowUnauthenticated serves without one)"})
		return
	}
	// The dashboard builds no HTML from data and loads nothing from
	// elsewhere; the policy makes sure of it.
	w.Header().Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Referrer-Policy", "no-referrer")
	h.cop.Handler(h.mux).ServeHTTP(w, r)
}

// Close cancels running jobs and waits for them to end (a restore in
// progress rolls back).
func (h *Handler) Close() error {
	h.cancel()
	h.wg.Wait()
	return nil
}

func (h *Handler) authorized(fn func(http.ResponseWriter, *http.Request) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if h.opts.Authorize != nil {
			if err := h.opts.Authorize(r); err != nil {
				h.log.Info("ngbakhttp: request refused", "method", r.Method, "path", r.URL.Path, "err", err)
				if errors.Is(err, ErrUnauthenticated) {
					writeError(w, apiError{http.StatusUnauthorized, "unauthenticated", err.Error()})
				} else {
					writeError(w, apiError{http.StatusForbidden, "forbidden", err.Error()})
				}
				return
			}
		}
		if err := checkContentType(r); err != nil {
			writeError(w, *err)
			return
		}
		if err := fn(w, r); err != nil {
			writeError(w, toAPIError(err))
		}
	})
}

// checkContentType requires a POST to say what it sends: JSON, or for an
// upload an archive. Neither is a type an HTML form can send, so a page on
// another site cannot post to the API even from a browser that sends no
// Sec-Fetch-Site or Origin.
func checkContentType(r *http.Request) *apiError {
	if r.Method != http.MethodPost {
		return nil
	}
	want := "application/json"
	if strings.HasSuffix(r.URL.Path, "/upload") {
		want = "application/octet-stream"
	}
	got, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || got != want {
		return &apiError{http.StatusUnsupportedMediaType, "unsupported_media_type", fmt.Sprintf("a POST here sends Content-Type %s, not %q", want, r.Header.Get("Content-Type"))}
	}
	return nil
}

// apiError is an error with its HTTP status and stable code.
type apiError struct {
	status  int
	code    string
	message string
}

func (e apiError) Error() string { return e.message }

func toAPIError(err error) apiError {
	var ae apiError
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &ae):
		return ae
	case errors.As(err, &mbe):
		return apiError{http.StatusRequestEntityTooLarge, "too_large", fmt.Sprintf("the upload is larger than the limit of %d bytes", mbe.Limit)}
	case errors.Is(err, ngbak.ErrNotFound):
		return apiError{http.StatusNotFound, "not_found", err.Error()}
	case errors.Is(err, ngbak.ErrInvalidID):
		return apiError{http.StatusBadRequest, "invalid_id", err.Error()}
	case errors.Is(err, ngbak.ErrChecksum), errors.Is(err, ngbak.ErrCorrupt), errors.Is(err, ngbak.ErrIncompatible):
		return apiError{http.StatusBadRequest, "invalid_archive", err.Error()}
	case errors.Is(err, ngbak.ErrBusy):
		return apiError{http.StatusConflict, "busy", err.Error()}
	case errors.Is(err, ngbak.ErrExists):
		return apiError{http.StatusConflict, "exists", err.Error()}
	}
	return apiError{http.StatusInternalServerError, "internal", err.Error()}
}

func writeError(w http.ResponseWriter, e apiError) {
	writeJSON(w, e.status, map[string]any{"error": map[string]string{"code": e.code, "message": e.message}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// backupID returns the request's {id}, validated.
func backupID(r *http.Request) (string, error) {
	id := r.PathValue("id")
	if !ngbak.ValidID(id) {
		return "", apiError{http.StatusBadRequest, "invalid_id", fmt.Sprintf("%q is not a backup id", id)}
	}
	return id, nil
}

// backupJSON is a backup as the API shows it.
type backupJSON struct {
	*ngbak.Manifest
	Size int64 `json:"size"`
	// Interrupted is set on both backups of a restore that did not end.
	Interrupted *ngbak.Interruption `json:"interrupted,omitempty"`
}

func (h *Handler) list(w http.ResponseWriter, r *http.Request) error {
	bs, err := h.m.List(r.Context())
	if err != nil {
		return err
	}
	return writeList(w, r, bs)
}

// backup returns the stored backup the request's {id} names.
func (h *Handler) backup(r *http.Request) (*ngbak.Backup, error) {
	id, err := backupID(r)
	if err != nil {
		return nil, err
	}
	return h.m.Get(r.Context(), id)
}

func (h *Handler) get(w http.ResponseWriter, r *http.Request) error {
	b, err := h.backup(r)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, backupJSON{b.Manifest, b.Size, b.Interrupted})
	return nil
}

func (h *Handler) download(w http.ResponseWriter, r *http.Request) error {
	b, err := h.backup(r)
	if err != nil {
		return err
	}
	id := b.Manifest.ID
	rc, err := h.m.Open(r.Context(), id)
	if err != nil {
		return err
	}
	defer rc.Close()
	w.Header().Set("Content-Type", "application/zstd")
	w.Header().Set("Content-Disposition", `attachment; filename="`+id+`.ngbak"`)
	if rs, ok := rc.(io.ReadSeeker); ok {
		http.ServeContent(w, r, id+".ngbak", b.Manifest.CompletedAt, rs)
		return nil
	}
	// A deduplicated backup's archive is made as it is read: its size is
	// not known before (Backup.Size is that of its chunk list).
	if u, ok := rc.(interface{ SizeUnknown() bool }); !ok || !u.SizeUnknown() {
		w.Header().Set("Content-Length", fmt.Sprint(b.Size))
	}
	w.WriteHeader(http.StatusOK)
	if _, err := io.Copy(w, rc); err != nil {
		// The status is sent: all that is left is to break the connection,
		// so that the client cannot take a short archive for a whole one.
		h.log.Warn("ngbakhttp: download cut short", "id", id, "err", err)
		panic(http.ErrAbortHandler)
	}
	return nil
}

func (h *Handler) upload(w http.ResponseWriter, r *http.Request) error {
	if r.ContentLength > h.opts.MaxUpload {
		return apiError{http.StatusRequestEntityTooLarge, "too_large", fmt.Sprintf("the upload of %d bytes is larger than the limit of %d bytes", r.ContentLength, h.opts.MaxUpload)}
	}
	body := http.MaxBytesReader(w, r.Body, h.opts.MaxUpload)
	man, err := h.m.Import(r.Context(), body)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, man)
	return nil
}

// verify is a job, as a backup is: reading a large archive takes longer
// than a proxy in front of the service waits for a response.
func (h *Handler) verify(w http.ResponseWriter, r *http.Request) error {
	b, err := h.backup(r)
	if err != nil {
		return err
	}
	id := b.Manifest.ID
	return h.start(w, r, "verify", id, func(ctx context.Context, j *tracker) error {
		j.setLayout(b.Manifest, nil, nil)
		if err := h.m.Verify(ctx, id); err != nil {
			return err
		}
		j.finish(id, b.Size, "")
		return nil
	})
}

func (h *Handler) delete(w http.ResponseWriter, r *http.Request) error {
	id, err := backupID(r)
	if err != nil {
		return err
	}
	if err := h.m.Delete(r.Context(), id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h *Handler) create(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Labels map[string]string `json:"labels"`
	}
	if err := decodeOptional(r, &req); err != nil {
		return err
	}
	return h.start(w, r, "backup", "", func(ctx context.Context, j *tracker) error {
		man, err := h.m.Create(ctx, &ngbak.CreateOptions{Labels: req.Labels})
		if err != nil {
			return err
		}
		b, err := h.m.Get(ctx, man.ID)
		if err != nil {
			return err
		}
		j.finish(man.ID, b.Size, "")
		return nil
	})
}

func (h *Handler) restore(w http.ResponseWriter, r *http.Request) error {
	b, err := h.backup(r)
	if err != nil {
		return err
	}
	id := b.Manifest.ID
	var req struct {
		Backends []string          `json:"backends"`
		Into     map[string]string `json:"into"`
	}
	if err := decodeOptional(r, &req); err != nil {
		return err
	}
	return h.start(w, r, "restore", id, func(ctx context.Context, j *tracker) error {
		j.setTotal(int64(len(b.Manifest.Backends)))
		j.setLayout(b.Manifest, req.Backends, req.Into)
		res, err := h.m.Restore(ctx, id, &ngbak.RestoreOptions{Backends: req.Backends, Into: req.Into})
		if err != nil {
			return err
		}
		j.finish(id, b.Size, res.SafetyID)
		return nil
	})
}

func (h *Handler) interrupted(w http.ResponseWriter, r *http.Request) error {
	ints, err := h.m.Interrupted(r.Context())
	if err != nil {
		return err
	}
	if ints == nil {
		ints = []ngbak.Interruption{}
	}
	writeJSON(w, http.StatusOK, ints)
	return nil
}

// rollBack ends an interrupted restore (ngbak.Manager.RollBack) as a job:
// it restores the stores from the safety backup, which takes as long as
// a restore.
func (h *Handler) rollBack(w http.ResponseWriter, r *http.Request) error {
	id, err := backupID(r)
	if err != nil {
		return err
	}
	ints, err := h.m.Interrupted(r.Context())
	if err != nil {
		return err
	}
	var found *ngbak.Interruption
	for i := range ints {
		if ints[i].ID == id {
			found = &ints[i]
		}
	}
	if found == nil {
		return apiError{http.StatusNotFound, "not_found", fmt.Sprintf("no interrupted restore %s", id)}
	}
	return h.start(w, r, "rollback", found.SafetyID, func(ctx context.Context, j *tracker) error {
		j.setTotal(int64(len(found.Backends)))
		res, err := h.m.RollBack(ctx, id)
		if err != nil {
			return err
		}
		j.finish(found.SafetyID, 0, res.SafetyID)
		return nil
	})
}

// decodeOptional reads a small optional JSON body.
func decodeOptional(r *http.Request, v any) error {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		return err
	}
	if len(strings.TrimSpace(string(body))) == 0 {
		return nil
	}
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return apiError{http.StatusBadRequest, "bad_request", "request body: " + err.Error()}
	}
	return nil
}
