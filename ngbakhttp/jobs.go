package ngbakhttp

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/ngbak/ngbak"
	"github.com/redis/go-redis/v9"
)

// Job states.
const (
	Pending   = "pending"
	Running   = "running"
	Succeeded = "succeeded"
	Failed    = "failed"
)

// Job is a backup, restore or verify started through the API.
type Job struct {
	ID   string `json:"id"`
	Kind string `json:"kind"` // "backup", "restore", "verify" or "rollback"
	// State is pending, running, succeeded or failed.
	State string `json:"state"`
	// Phase is the Manager's: export, verify, safety-backup, restore,
	// rollback or done.
	Phase   string `json:"phase,omitempty"`
	Backend string `json:"backend,omitempty"`
	// Backends are the backends the phase has started so far: with
	// backends in parallel (ngbak.Options.Parallelism), several run at
	// once and Backend is only the one heard from last.
	Backends []string `json:"backends,omitempty"`
	// BytesDone and BytesTotal are those of the Manager's last event
	// (ngbak.Event): in the verify and restore phases, those of Backend;
	// total 0 when not known (an export's size is known only at its end).
	BytesDone  int64 `json:"bytes_done"`
	BytesTotal int64 `json:"bytes_total"`
	// ItemsDone and ItemsTotal count backends.
	ItemsDone  int64 `json:"items_done"`
	ItemsTotal int64 `json:"items_total"`
	// Progress is each backend of a restore or a verify, with its bytes
	// (see BackendProgress for what can be told).
	Progress   []BackendProgress `json:"progress,omitempty"`
	CreatedAt  time.Time         `json:"created_at"`
	StartedAt  *time.Time        `json:"started_at,omitempty"`
	FinishedAt *time.Time        `json:"finished_at,omitempty"`
	UpdatedAt  time.Time         `json:"updated_at"`
	// BackupID is the backup made, restored or verified; Size its archive's size.
	BackupID string `json:"backup_id,omitempty"`
	Size     int64  `json:"size,omitempty"`
	// SafetyID is the safety backup a restore took.
	SafetyID string `json:"safety_id,omitempty"`
	Error    string `json:"error,omitempty"`
}

// Done says the job has ended.
func (j *Job) Done() bool { return j.State == Succeeded || j.State == Failed }

// JobStore keeps jobs. Implementations are safe for concurrent use. A job
// does not wait on its store: progress updates are written by a goroutine
// of their own, the newest replacing any not yet written, and one the store
// refuses is skipped (the first such failure is logged); the final state is
// written once the last update has been, and tried three times, a second
// apart.
type JobStore interface {
	// Put stores a job, replacing the one with its id.
	Put(ctx context.Context, j Job) error
	// Get returns a job, or an error wrapping ngbak.ErrNotFound.
	Get(ctx context.Context, id string) (Job, error)
	// List returns the jobs, newest first.
	List(ctx context.Context) ([]Job, error)
}

// MemoryJobs is a JobStore in memory that keeps the newest jobs.
type MemoryJobs struct {
	mu   sync.Mutex
	max  int
	jobs map[string]Job
}

// NewMemoryJobs returns a store that keeps at most max jobs, forgetting the
// oldest finished ones first.
func NewMemoryJobs(max int) *MemoryJobs {
	return &MemoryJobs{max: max, jobs: map[string]Job{}}
}

func (s *MemoryJobs) Put(_ context.Context, j Job) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.jobs[j.ID] = j
	if len(s.jobs) > s.max {
		var oldest *Job
		for _, o := range s.jobs {
			if o.Done() && (oldest == nil || o.CreatedAt.Before(oldest.CreatedAt)) {
				oldest = &o
			}
		}
		if oldest != nil {
			delete(s.jobs, oldest.ID)
		}
	}
	return nil
}

func (s *MemoryJobs) Get(_ context.Context, id string) (Job, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	j, ok := s.jobs[id]
	if !ok {
		return Job{}, fmt.Errorf("job %q: %w", id, ngbak.ErrNotFound)
	}
	return j, nil
}

func (s *MemoryJobs) List(context.Context) ([]Job, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Job, 0, len(s.jobs))
	for _, j := range s.jobs {
		out = append(out, j)
	}
	sortJobs(out)
	return out, nil
}

func sortJobs(js []Job) {
	slices.SortFunc(js, func(a, b Job) int { return b.CreatedAt.Compare(a.CreatedAt) })
}

// RedisJobs is a JobStore in Redis, for services that run several
// instances: each job is a JSON string under Prefix+id with a time to live,
// and a sorted set Prefix+"index" orders them.
type RedisJobs struct {
	client redis.UniversalClient
	prefix string
	ttl    time.Duration
}

// NewRedisJobs returns a store under prefix (empty: "ngbak:jobs:") whose
// jobs expire after ttl (0: 7 days).
func NewRedisJobs(client redis.UniversalClient, prefix string, ttl time.Duration) *RedisJobs {
	if prefix == "" {
		prefix = "ngbak:jobs:"
	}
	if ttl <= 0 {
		ttl = 7 * 24 * time.Hour
	}
	return &RedisJobs{client: client, prefix: prefix, ttl: ttl}
}

func (s *RedisJobs) Put(ctx context.Context, j Job) error {
	b, err := json.Marshal(j)
	if err != nil {
		return err
	}
	// The job and its index entry are separate keys, which a cluster may
	// place on different nodes, so no MULTI: the index is cleaned lazily.
	if err := s.client.Set(ctx, s.prefix+j.ID, b, s.ttl).Err(); err != nil {
		return fmt.Errorf("ngbakhttp: storing job %s in Redis: %w", j.ID, err)
	}
	if err := s.client.ZAdd(ctx, s.prefix+"index", redis.Z{Score: float64(j.CreatedAt.UnixMilli()), Member: j.ID}).Err(); err != nil {
		return fmt.Errorf("ngbakhttp: indexing job %s in Redis: %w", j.ID, err)
	}
	return nil
}

func (s *RedisJobs) Get(ctx context.Context, id string) (Job, error) {
	b, err := s.client.Get(ctx, s.prefix+id).Bytes()
	if errors.Is(err, redis.Nil) {
		return Job{}, fmt.Errorf("job %q: %w", id, ngbak.ErrNotFound)
	}
	if err != nil {
		return Job{}, fmt.Errorf("ngbakhttp: reading job %s from Redis: %w", id, err)
	}
	var j Job
	if err := json.Unmarshal(b, &j); err != nil {
		return Job{}, fmt.Errorf("ngbakhttp: job %s in Redis: %w", id, err)
	}
	return j, nil
}

func (s *RedisJobs) List(ctx context.Context) ([]Job, error) {
	ids, err := s.client.ZRevRange(ctx, s.prefix+"index", 0, 999).Result()
	if err != nil {
		return nil, fmt.Errorf("ngbakhttp: listing jobs in Redis: %w", err)
	}
	out := []Job{}
	for _, id := range ids {
		j, err := s.Get(ctx, id)
		if errors.Is(err, ngbak.ErrNotFound) {
			s.client.ZRem(ctx, s.prefix+"index", id) // expired
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, j)
	}
	sortJobs(out)
	return out, nil
}

// tracker turns the Manager's events into job updates, taken at most
// every 200 ms and at every phase change, and written to the store by its
// own goroutine, so that a slow store never slows the operation.
type tracker struct {
	h       *Handler
	mu      sync.Mutex
	job     Job
	written time.Time
	seen    map[string]bool
	warned  bool // a progress update failed and was logged

	// layout, targets and bytes follow a restore's or a verify's
	// backends (progress.go).
	layout  []string
	targets map[string]string
	bytes   map[string]BackendProgress

	pending *Job          // the newest update not yet written
	wake    chan struct{} // buffered 1: there is a pending update
	stop    chan struct{} // closed when the job ends
	stopped chan struct{} // closed when the writer has returned
}

func newTracker(h *Handler, j Job) *tracker {
	t := &tracker{h: h, seen: map[string]bool{}, job: j, wake: make(chan struct{}, 1), stop: make(chan struct{}), stopped: make(chan struct{})}
	go t.writer()
	return t
}

// writer writes pending updates until the job ends; what is pending then
// is superseded by the final state.
func (t *tracker) writer() {
	defer close(t.stopped)
	for {
		select {
		case <-t.wake:
		case <-t.stop:
			return
		}
		t.mu.Lock()
		j := t.pending
		t.pending = nil
		t.mu.Unlock()
		if j == nil {
			continue
		}
		if err := t.h.opts.Jobs.Put(context.WithoutCancel(t.h.ctx), *j); err != nil {
			t.mu.Lock()
			warn := !t.warned
			t.warned = true
			t.mu.Unlock()
			if warn {
				t.h.log.Warn("ngbakhttp: a job's progress could not be stored; later updates may be missing too", "job", j.ID, "err", err)
			}
		}
	}
}

func (t *tracker) event(e ngbak.Event) {
	t.mu.Lock()
	defer t.mu.Unlock()
	j := &t.job
	if j.Kind == "restore" && e.ID != "" && e.ID != j.BackupID {
		return // the safety backup's own events: the job shows its phase "safety-backup"
	}
	phaseChange := e.Phase != j.Phase || e.Backend != j.Backend
	if e.Phase != j.Phase {
		j.Backends = nil
	}
	if e.Backend != "" && !slices.Contains(j.Backends, e.Backend) {
		j.Backends = append(slices.Clip(j.Backends), e.Backend) // a new array: copies of the job are read unlocked
	}
	j.Phase, j.Backend, j.BytesDone, j.BytesTotal = e.Phase, e.Backend, e.Bytes, e.Total
	if e.Backend != "" && !t.seen[e.Backend] && (e.Phase == "export" || e.Phase == "restore") {
		t.seen[e.Backend] = true
		j.ItemsDone = int64(len(t.seen)) - 1 // the one that starts is not done yet
	}
	t.countLocked(e)
	t.progressLocked(false)
	if phaseChange || time.Since(t.written) > 200*time.Millisecond {
		t.writeLocked()
	}
}

func (t *tracker) setTotal(n int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.job.ItemsTotal = n
	t.writeLocked()
}

func (t *tracker) finish(backupID string, size int64, safety string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.job.BackupID, t.job.Size, t.job.SafetyID = backupID, size, safety
}

// writeLocked hands a progress update to the writer without waiting.
func (t *tracker) writeLocked() {
	t.job.UpdatedAt = time.Now().UTC()
	t.written = time.Now()
	j := t.job
	t.pending = &j
	select {
	case t.wake <- struct{}{}:
	default: // already woken: it will take this newer update
	}
}

func (t *tracker) put() error {
	t.job.UpdatedAt = time.Now().UTC()
	t.written = time.Now()
	return t.h.opts.Jobs.Put(context.WithoutCancel(t.h.ctx), t.job)
}

// finalRetries is how often the final state of a job is tried, a second
// apart, before the failure is logged: a job left "running" in the store
// would mislead everyone who looks.
const finalRetries = 3

func (t *tracker) writeFinalLocked() {
	// An update still being written must not land after the final state.
	t.mu.Unlock()
	close(t.stop)
	<-t.stopped
	t.mu.Lock()
	var err error
	for i := range finalRetries {
		if err = t.put(); err == nil {
			return
		}
		if i < finalRetries-1 {
			time.Sleep(retryPause)
		}
	}
	t.h.log.Error("ngbakhttp: the final state of a job could not be stored", "job", t.job.ID, "state", t.job.State, "err", err)
}

// retryPause is a variable for the tests.
var retryPause = time.Second

func newJobID() string {
	b := make([]byte, 12)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// start records a job, runs fn in the background, one job at a time, and
// answers 202 with the job.
func (h *Handler) start(w http.ResponseWriter, r *http.Request, kind, backupID string, fn func(context.Context, *tracker) error) error {
	job, err := h.startJob(r.Context(), kind, backupID, fn)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, job)
	return nil
}

func (h *Handler) startJob(ctx context.Context, kind, backupID string, fn func(context.Context, *tracker) error) (Job, error) {
	h.mu.Lock()
	if h.busy != "" {
		running := h.busy
		h.mu.Unlock()
		return Job{}, apiError{http.StatusConflict, "busy", fmt.Sprintf("job %s is running; one job at a time", running)}
	}
	now := time.Now().UTC()
	job := Job{ID: newJobID(), Kind: kind, State: Pending, CreatedAt: now, UpdatedAt: now, BackupID: backupID}
	// The first write is the request's: it must be there for the client to
	// follow.
	if err := h.opts.Jobs.Put(ctx, job); err != nil {
		h.mu.Unlock()
		return Job{}, err
	}
	t := newTracker(h, job)
	h.busy = t.job.ID
	h.mu.Unlock()
	h.wg.Go(func() {
		defer func() {
			h.mu.Lock()
			h.busy = ""
			h.mu.Unlock()
		}()
		t.mu.Lock()
		started := time.Now().UTC()
		t.job.State, t.job.StartedAt = Running, &started
		t.writeLocked()
		t.mu.Unlock()
		err := fn(ngbak.WithProgress(h.ctx, t.event), t)
		t.mu.Lock()
		defer t.mu.Unlock()
		finished := time.Now().UTC()
		t.job.FinishedAt = &finished
		if err != nil {
			t.job.State, t.job.Error = Failed, err.Error()
			h.log.Error("ngbakhttp: job failed", "job", t.job.ID, "kind", kind, "err", err)
		} else {
			t.job.State, t.job.Phase = Succeeded, "done"
			if t.job.ItemsTotal == 0 {
				t.job.ItemsTotal = int64(len(t.seen))
			}
			t.job.ItemsDone = t.job.ItemsTotal
			t.progressLocked(true)
		}
		t.writeFinalLocked()
	})
	return job, nil
}

func jobID(r *http.Request) (string, error) {
	id := r.PathValue("id")
	if len(id) != 24 {
		return "", apiError{http.StatusBadRequest, "invalid_id", fmt.Sprintf("%q is not a job id", id)}
	}
	if _, err := hex.DecodeString(id); err != nil {
		return "", apiError{http.StatusBadRequest, "invalid_id", fmt.Sprintf("%q is not a job id", id)}
	}
	return id, nil
}

func (h *Handler) listJobs(w http.ResponseWriter, r *http.Request) error {
	js, err := h.opts.Jobs.List(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, js)
	return nil
}

// job returns the job the request's {id} names.
func (h *Handler) job(r *http.Request) (Job, error) {
	id, err := jobID(r)
	if err != nil {
		return Job{}, err
	}
	return h.opts.Jobs.Get(r.Context(), id)
}

func (h *Handler) getJob(w http.ResponseWriter, r *http.Request) error {
	j, err := h.job(r)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, j)
	return nil
}

// events streams a job as server-sent events: an event "job" with the job
// as JSON whenever it changes, until it ends. It reads the JobStore, so it
// follows a job run by another instance too.
func (h *Handler) events(w http.ResponseWriter, r *http.Request) error {
	j, err := h.job(r)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	var last time.Time
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		if !j.UpdatedAt.Equal(last) {
			last = j.UpdatedAt
			b, _ := json.Marshal(j)
			if _, err := fmt.Fprintf(w, "event: job\ndata: %s\n\n", b); err != nil {
				return nil // the client went away
			}
			if err := rc.Flush(); err != nil {
				return nil
			}
		}
		if j.Done() {
			return nil
		}
		select {
		case <-r.Context().Done():
			return nil
		case <-h.ctx.Done():
			return nil
		case <-tick.C:
		}
		id := j.ID
		if j, err = h.opts.Jobs.Get(r.Context(), id); err != nil {
			// The status went out long ago: the client hears of it in the
			// stream, the operator in the log.
			h.log.Warn("ngbakhttp: reading a job for its event stream", "job", id, "err", err)
			fmt.Fprintf(w, "event: error\ndata: %q\n\n", err.Error())
			return nil
		}
	}
}
