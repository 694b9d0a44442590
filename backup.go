package ngbak

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
)

// Options configure a Manager.
type Options struct {
	// Storage is where archives and sidecars live. Required; Dir(path) keeps
	// them in a local folder.
	Storage Storage
	// Logger receives what the Manager does; nil discards it. Errors are
	// always returned, never only logged.
	Logger *slog.Logger
	// Progress, if set, is called as operations advance: at each phase and
	// backend, and every few MiB of data. It is called from the goroutines
	// running the operation, one call at a time, and must not block.
	Progress func(Event)
	// TempDir holds spooled export files of unknown size and archives being
	// imported; empty means os.TempDir().
	TempDir string
	// CompressionLevel is the zstd level, 1 to 22 as in the zstd tool; 0
	// means 3. Levels map to the four speeds of klauspost/compress.
	CompressionLevel int
	// App and AppConfig describe the application in every manifest. Secrets in
	// AppConfig are redacted before they reach the manifest: fields tagged
	// `ngbak:"secret"`; keys whose name holds, as a word, password, secret,
	// credential, authorization, an api, access, secret, private or
	// encryption key, or ends in token or auth (max_tokens and
	// token_budget_ratio are not secrets); passwords, users without a
	// password and secret query parameters in URLs; and the value of a
	// "Name: value" string with a secret name or after Bearer or Basic.
	App       *App
	AppConfig any
	// BeforeCreate runs before a backup starts reading the stores, to pause
	// writers (no store gives a cross-store point in time); an error aborts
	// the backup. AfterCreate always runs once the stores have been read, or
	// once BeforeCreate failed, with the error so far; its error fails the
	// backup. Neither runs for the safety backup Restore takes.
	BeforeCreate func(ctx context.Context) error
	AfterCreate  func(ctx context.Context, err error) error
	// BeforeRestore runs once the backup to restore is verified and the
	// exporters accept it, before the safety backup and the first change to
	// a store, to stop the application's readers and writers; an error
	// aborts the restore with nothing changed. AfterRestore always runs
	// once BeforeRestore has, with the restore's error (after any
	// rollback); its error fails the restore.
	BeforeRestore func(ctx context.Context) error
	AfterRestore  func(ctx context.Context, err error) error
	// Limits bound what reading an archive may cost (Verify, Restore, Import).
	Limits Limits
	// Encryption, if set, encrypts every new archive (the .sha256 sidecar
	// then covers the ciphertext, checkable without a key) and decrypts
	// encrypted ones. The sidecar manifest of an encrypted backup shows only
	// ids, times, backend names, kinds and counts: see Manifest.Encryption.
	// Package agecrypt provides age encryption.
	Encryption Encryption
	// Parallelism is how many backends Create and Restore run at once; 0
	// means all of them, 1 one after the other. See "Parallel backends" in
	// the package doc for the archive order and what each one spools.
	Parallelism int
	// TracerProvider and MeterProvider receive ngbak's spans and metrics
	// (README: Monitoring with OpenTelemetry); nil means otel's global
	// providers, which record nothing until the application installs an SDK.
	TracerProvider trace.TracerProvider
	MeterProvider  metric.MeterProvider
	// Dedup, if set, keeps the backups in the deduplicating layout: each
	// byte once across every backup and store (see "Deduplicated storage"
	// in the package documentation).
	Dedup *DedupOptions
}

// Encryption is a layer between the compressed archive and its storage.
type Encryption interface {
	// Name is recorded in the manifest ("age").
	Name() string
	// Encrypt returns a writer whose Close ends the encrypted stream.
	Encrypt(w io.Writer) (io.WriteCloser, error)
	// Decrypt returns the plaintext of r; it fails at once if none of its
	// keys opens r, and the reader fails if r was tampered with.
	Decrypt(r io.Reader) (io.Reader, error)
}

// CreateOptions configure one Create; nil means none.
type CreateOptions struct {
	// Labels are stored in the manifest.
	Labels map[string]string
}

// RestoreOptions configure one Restore; nil means the defaults.
type RestoreOptions struct {
	// Backends restores only these backends of the backup; empty means all.
	Backends []string
	// NoSafetyBackup skips the backup of the current state that Restore takes
	// first by default, and with it the rollback if a backend fails.
	NoSafetyBackup bool
	// Into restores a backend of the backup into another registered
	// exporter: backend name -> exporter name. The exporter is another
	// scope (a staging collection, label, prefix or folder) or another
	// server of the same kind, or a Converter of another kind. Only the
	// backends Into and Backends name are restored; the safety backup and
	// a rollback are of the exporters restored into, and the backend's own
	// exporter is not touched.
	Into map[string]string
}

// RestoreResult tells what a successful Restore did.
type RestoreResult struct {
	// Backends are the names of the backends restored, in order.
	Backends []string
	// SafetyID is the safety backup of the state before the restore, kept so
	// that the restore can itself be undone; empty with NoSafetyBackup.
	SafetyID string
}

// Backup is a stored backup as List and Get describe it.
type Backup struct {
	Manifest *Manifest
	// Size is the size of the archive in bytes.
	Size int64
	// Interrupted is set on the backup an interrupted restore was restoring
	// and on its safety backup (see Manager.Interrupted).
	Interrupted *Interruption
}

// Event reports progress. An event without Backend marks a phase as it
// begins, or the operation's end ("done"). Bytes and Total count payload (uncompressed) bytes, per phase:
//
//   - "export": Backend is the backend writing into the archive; Bytes
//     counts the payload the archive holds so far, of all backends.
//   - "verify" (of Op "verify", and the first pass of "restore", "plan"
//     and "import"): Backend is the backend whose entries are being read,
//     the first component of their names; SHA256SUMS and the manifest
//     belong to none. Bytes counts how many of its bytes have been read,
//     Total is its size as the sidecar manifest records it (Backend.Size),
//     0 for a backup made before sizes were recorded and for an import,
//     which knows nothing before it has read. Each backend has an event
//     with Bytes 0 at its first entry, one every few MiB and one after
//     its last entry, in the archive's order: backends do not interleave.
//   - "restore" and "rollback": Backend is the exporter restoring (with
//     RestoreOptions.Into, the one the backend is restored into); Bytes
//     counts the bytes its Restore has read, Total is the size of the
//     backend it restores. Each has an event with Bytes 0 as it starts,
//     one every few MiB and one when its Restore returns; with backends in
//     parallel their events interleave, each backend's Bytes only grows.
//   - "done": for Op "create" and "import", Bytes and Total are the
//     archive's size.
type Event struct {
	Op      string // "create", "verify", "plan", "restore", "rollback" or "import"
	ID      string // the backup being made or read; "" in an import's verify
	Phase   string // "export", "verify", "safety-backup", "restore", "rollback" or "done"
	Backend string // the backend at work, if any
	Bytes   int64
	Total   int64 // 0 when not known
}

// Manager creates, lists, verifies, restores and deletes backups of the
// stores of its registered exporters. Its methods are safe for concurrent use.
type Manager struct {
	opts  Options
	store Storage
	log   *slog.Logger

	mu    sync.Mutex
	exps  []Exporter
	inUse map[string]int
	// creating counts the Creates running; restoring is set while a
	// Restore or RollBack runs. Each excludes the other.
	creating  int
	restoring bool
	// marker is the id of the restore marker of the restore running here.
	marker string
	tel    *telemetry
}

// New returns a Manager. Register exporters before calling Create or Restore.
func New(opts Options) (*Manager, error) {
	if opts.Storage == nil {
		return nil, errors.New("ngbak: Options.Storage is required")
	}
	if opts.CompressionLevel == 0 {
		opts.CompressionLevel = 3
	}
	if opts.CompressionLevel < 1 || opts.CompressionLevel > 22 {
		return nil, fmt.Errorf("ngbak: compression level %d is not within 1 to 22", opts.CompressionLevel)
	}
	if opts.TempDir == "" {
		opts.TempDir = os.TempDir()
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if _, err := redactConfig(opts.AppConfig); err != nil {
		return nil, err
	}
	tel, err := newTelemetry(opts.TracerProvider, opts.MeterProvider)
	if err != nil {
		return nil, fmt.Errorf("ngbak: telemetry: %w", err)
	}
	store := opts.Storage
	if opts.Dedup != nil {
		d, err := newDedupStorage(store, opts)
		if err != nil {
			return nil, err
		}
		d.log, store = log, d
	}
	return &Manager{opts: opts, store: store, log: log, inUse: map[string]int{}, tel: tel}, nil
}

// Register adds exporters. Names must be valid and unique.
func (m *Manager) Register(exps ...Exporter) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, e := range exps {
		if !validName(e.Name()) {
			return fmt.Errorf("ngbak: invalid exporter name %q", e.Name())
		}
		if e.Kind() == "" {
			return fmt.Errorf("ngbak: exporter %q has no kind", e.Name())
		}
		if m.exporter(e.Name()) != nil {
			return fmt.Errorf("ngbak: exporter %q registered twice", e.Name())
		}
		m.exps = append(m.exps, e)
	}
	return nil
}

func (m *Manager) exporter(name string) Exporter {
	for _, e := range m.exps {
		if e.Name() == name {
			return e
		}
	}
	return nil
}

func (m *Manager) exporters() []Exporter {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.exps)
}

// Create backs up every registered exporter's store into a new archive and
// returns its manifest. The backup becomes visible (List, Get) only once it
// is complete: a failed or cancelled Create leaves nothing that List shows.
func (m *Manager) Create(ctx context.Context, opts *CreateOptions) (_ *Manifest, err error) {
	ctx, end := m.tel.startOp(ctx, "Create", "")
	defer func() { end(err) }()
	exps := m.exporters()
	if len(exps) == 0 {
		return nil, errors.New("ngbak: create: no exporters registered")
	}
	var labels map[string]string
	if opts != nil {
		labels = opts.Labels
	}
	start := time.Now().UTC()
	id := NewID(start)
	trace.SpanFromContext(ctx).SetAttributes(attrID.String(id))
	m.mu.Lock()
	restoring := m.restoring
	if !restoring {
		m.creating++
	}
	m.mu.Unlock()
	if restoring {
		return nil, fmt.Errorf("ngbak: create %s: %w: a restore is running, and a backup now would hold a half-restored state", id, ErrBusy)
	}
	defer func() {
		m.mu.Lock()
		m.creating--
		m.mu.Unlock()
	}()
	if err := m.checkNoMarkers(ctx); err != nil {
		return nil, fmt.Errorf("ngbak: create %s: %w", id, err)
	}
	return m.create(ctx, "create", id, start, exps, labels, true)
}

// checkNoMarkers refuses while a restore marker is in the storage: a
// restore running in another process, or one that was interrupted and
// left the stores partial.
func (m *Manager) checkNoMarkers(ctx context.Context) error {
	objs, err := m.store.List(ctx)
	if err != nil {
		return err
	}
	if ids := markerIDs(objs); len(ids) > 0 {
		return fmt.Errorf("%w: a restore is running in another process or was interrupted (%s; see Manager.Interrupted)", ErrBusy, markerName(ids[0]))
	}
	return nil
}

func (m *Manager) create(ctx context.Context, op, id string, start time.Time, exps []Exporter, labels map[string]string, hooks bool) (man *Manifest, err error) {
	defer func() {
		if err != nil {
			err = fmt.Errorf("ngbak: %s %s: %w", op, id, err)
		}
	}()
	m.removeOrphans(ctx)
	config, err := redactConfig(m.opts.AppConfig)
	if err != nil {
		return nil, err
	}
	obj, err := m.store.Create(ctx, archiveName(id))
	if err != nil {
		return nil, err
	}
	aw, err := newArchiveWriter(obj, m.opts.CompressionLevel, start, m.opts.Encryption, m.opts.Limits)
	if err != nil {
		obj.Abort()
		return nil, err
	}
	defer func() {
		if err != nil {
			aw.abort()
			obj.Abort()
		}
	}()
	m.log.Info("creating backup", "id", id, "backends", len(exps))

	backends, err := m.exportAll(ctx, op, id, aw, exps, hooks)
	if err != nil {
		return nil, err
	}
	if op == "create" {
		// There was no restore marker when the export began; one now is a
		// restore in another process that began while the stores were
		// read, and the backup may hold a half-restored state.
		if err := m.checkNoMarkers(ctx); err != nil {
			return nil, fmt.Errorf("a restore began while this backup read the stores: %w", err)
		}
	}
	man = &Manifest{
		Format: Format, ID: id, CreatedAt: start, CompletedAt: time.Now().UTC(), Library: Version,
		App: m.opts.App, Labels: labels, Config: config, Compression: "zstd", Backends: backends,
	}
	if m.opts.Encryption != nil {
		man.Encryption = m.opts.Encryption.Name()
	}
	_, sum, err := aw.finish(man)
	if err != nil {
		return nil, err
	}
	manBytes, err := sidecarManifest(man)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := m.publish(ctx, id, obj, sum, manBytes); err != nil {
		return nil, err
	}
	m.emit(ctx, Event{Op: op, ID: id, Phase: "done", Bytes: aw.size, Total: aw.size})
	m.log.Info("backup created", "id", id, "bytes", aw.size)
	return man, nil
}

// exportAll runs the exporters in order, between the hooks.
func (m *Manager) exportAll(ctx context.Context, op, id string, aw *archiveWriter, exps []Exporter, hooks bool) (backends []Backend, err error) {
	if hooks && m.opts.BeforeCreate != nil {
		err = m.opts.BeforeCreate(ctx)
		if err != nil {
			err = fmt.Errorf("BeforeCreate: %w", err)
		}
	}
	if err == nil {
		backends, err = m.runExporters(ctx, op, id, aw, exps)
	}
	if hooks && m.opts.AfterCreate != nil {
		if aerr := m.opts.AfterCreate(ctx, err); aerr != nil {
			err = errors.Join(err, fmt.Errorf("AfterCreate: %w", aerr))
		}
	}
	return backends, err
}

func (m *Manager) runExporters(ctx context.Context, op, id string, aw *archiveWriter, exps []Exporter) ([]Backend, error) {
	return m.exportParallel(ctx, op, id, aw, exps)
}

// publish commits an archive with its sidecars: the sum first, so that an
// archive a crash leaves without its manifest always has ngbak's own mark
// beside it (removeOrphans takes nothing else), then the archive, then the
// manifest, which makes the backup visible. If a step fails it removes what
// it committed, so nothing is left half there.
func (m *Manager) publish(ctx context.Context, id string, obj ObjectWriter, sum string, manifest []byte) error {
	var committed []string
	// undo removes what was committed, newest first so that the manifest
	// goes first, and the object whose commit failed too: a Commit can fail
	// after its object became visible (a folder's fsync, a lost response).
	undo := func(failed string, err error) error {
		names := []string{failed}
		if errors.Is(err, ErrExists) {
			names = nil // the object under that name is another's
		}
		for i := len(committed) - 1; i >= 0; i-- {
			names = append(names, committed[i])
		}
		for _, name := range names {
			if rerr := m.store.Remove(context.WithoutCancel(ctx), name); rerr != nil && !errors.Is(rerr, ErrNotFound) {
				err = errors.Join(err, fmt.Errorf("removing %s: %w", name, rerr))
			}
		}
		return err
	}
	if err := m.put(ctx, sumName(id), sidecarSum(id, sum)); err != nil {
		obj.Abort()
		return undo(sumName(id), err)
	}
	committed = append(committed, sumName(id))
	if err := obj.Commit(); err != nil {
		return undo(archiveName(id), err)
	}
	committed = append(committed, archiveName(id))
	if err := m.put(ctx, manifestFile(id), manifest); err != nil {
		return undo(manifestFile(id), err)
	}
	return nil
}

// sidecarManifest returns what <id>.manifest.json holds: the manifest
// without its file lists, or for an encrypted backup its public part.
// Either stays small whatever the number of files.
func sidecarManifest(m *Manifest) ([]byte, error) {
	if m.Encryption == "" {
		return m.summary().marshal()
	}
	return m.public().marshal()
}

// put writes a small object atomically.
func (m *Manager) put(ctx context.Context, name string, data []byte) error {
	w, err := m.store.Create(ctx, name)
	if err != nil {
		return err
	}
	if _, err := w.Write(data); err != nil {
		w.Abort()
		return err
	}
	if err := w.Commit(); err != nil {
		// It may be visible all the same; unless it is another's.
		if !errors.Is(err, ErrExists) {
			if rerr := m.store.Remove(context.WithoutCancel(ctx), name); rerr != nil && !errors.Is(rerr, ErrNotFound) {
				err = errors.Join(err, fmt.Errorf("removing %s: %w", name, rerr))
			}
		}
		return err
	}
	return nil
}

// removeOrphans deletes archives and sums whose manifest sidecar never
// appeared: what a crash between the sum's commit and the manifest's
// leaves. It takes only ids of the shape NewID makes whose sum sidecar is
// in ngbak's own format, never an archive on its own: what another tool or
// the old Python system keeps in the folder is not ngbak's to delete. Only
// sums older than stalePartialAge are taken, so a Create in flight in
// another process is left alone.
func (m *Manager) removeOrphans(ctx context.Context) {
	objs, err := m.store.List(ctx)
	if err != nil {
		m.log.Warn("listing storage for orphaned archives", "err", err)
		return
	}
	have := map[string]bool{}
	for _, o := range objs {
		have[o.Name] = true
	}
	for _, o := range objs {
		id, ok := strings.CutSuffix(o.Name, ".ngbak.sha256")
		if !ok || !ownID(id) || have[manifestFile(id)] || time.Since(o.ModTime) < stalePartialAge {
			continue
		}
		data, err := m.readSmall(ctx, o.Name)
		if err != nil {
			m.log.Warn("reading a sum sidecar without its manifest", "name", o.Name, "err", err)
			continue
		}
		if _, err := parseSidecarSum(id, data); err != nil {
			continue // not ngbak's
		}
		for _, name := range []string{archiveName(id), sumName(id)} {
			if err := m.store.Remove(ctx, name); err != nil && !errors.Is(err, ErrNotFound) {
				m.log.Warn("removing orphaned object", "name", name, "err", err)
				break
			}
			m.log.Info("removed orphaned object of an unfinished backup", "name", name)
		}
	}
}

// List returns the stored backups, newest first. It reads only the sidecar
// manifests, never an archive. If some sidecars cannot be read, List returns
// the backups it could read and an error naming each one it could not.
func (m *Manager) List(ctx context.Context) ([]Backup, error) {
	objs, err := m.store.List(ctx)
	if err != nil {
		return nil, fmt.Errorf("ngbak: list: %w", err)
	}
	sizes := map[string]int64{}
	for _, o := range objs {
		sizes[o.Name] = o.Size
	}
	var out []Backup
	var errs []error
	for _, o := range objs {
		id, ok := strings.CutSuffix(o.Name, ".manifest.json")
		if !ok || !ValidID(id) {
			continue
		}
		man, _, err := m.readManifest(ctx, id)
		if errors.Is(err, ErrNotFound) {
			continue // deleted since the listing, by another process
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("ngbak: list: %w", err))
			continue
		}
		// A sidecar of the older form holds every file: not for a listing.
		out = append(out, Backup{Manifest: man.summary(), Size: sizes[archiveName(id)]})
	}
	ints, err := m.interruptions(ctx, objs)
	if err != nil {
		errs = append(errs, fmt.Errorf("ngbak: list: %w", err))
	}
	for i := range out {
		for j := range ints {
			if id := out[i].Manifest.ID; id == ints[j].Backup || id == ints[j].SafetyID {
				out[i].Interrupted = &ints[j]
			}
		}
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i].Manifest, out[j].Manifest
		if !a.CreatedAt.Equal(b.CreatedAt) {
			return a.CreatedAt.After(b.CreatedAt)
		}
		return a.ID > b.ID
	})
	return out, errors.Join(errs...)
}

// Get returns one stored backup.
func (m *Manager) Get(ctx context.Context, id string) (*Backup, error) {
	if err := checkID(id); err != nil {
		return nil, err
	}
	man, _, err := m.readManifest(ctx, id)
	if err == nil {
		var info ObjectInfo
		if info, err = m.store.Stat(ctx, archiveName(id)); err == nil {
			return &Backup{Manifest: man.summary(), Size: info.Size}, nil
		}
	}
	return nil, fmt.Errorf("ngbak: get %s: %w", id, err)
}

// readManifest reads and checks a sidecar manifest.
func (m *Manager) readManifest(ctx context.Context, id string) (*Manifest, []byte, error) {
	data, err := m.readSmall(ctx, manifestFile(id))
	if err != nil {
		return nil, nil, err
	}
	man, err := ParseManifest(data)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", manifestFile(id), err)
	}
	if man.ID != id {
		return nil, nil, fmt.Errorf("%w: %s holds the manifest of %s", ErrCorrupt, manifestFile(id), man.ID)
	}
	return man, data, nil
}

func (m *Manager) readSmall(ctx context.Context, name string) ([]byte, error) {
	rc, err := m.store.Open(ctx, name)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, int64(maxManifestSize)+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", name, err)
	}
	if len(data) > maxManifestSize {
		return nil, fmt.Errorf("%w: %s is larger than %d bytes", ErrCorrupt, name, maxManifestSize)
	}
	return data, nil
}

// Delete removes a backup: its manifest first, so that it stops being
// visible at once, then its archive and sum. A backup being restored or
// verified is not deleted (ErrBusy).
func (m *Manager) Delete(ctx context.Context, id string) error {
	return m.delete(ctx, id, m.store)
}

// delete is Delete, removing the objects from store: the Manager's, or for
// Prune on the deduplicating layout a sweepBatch.
func (m *Manager) delete(ctx context.Context, id string, store Storage) error {
	if err := checkID(id); err != nil {
		return err
	}
	// In use here, or named by a restore marker (a restore in another
	// process, running or interrupted, holds its safety backup and the
	// backup it restores).
	held, err := m.held(ctx)
	if err != nil {
		return fmt.Errorf("ngbak: delete %s: %w", id, err)
	}
	if held[id] {
		return fmt.Errorf("ngbak: delete %s: %w: it is being restored or verified, or belongs to a restore that is running or was interrupted (see Manager.Interrupted)", id, ErrBusy)
	}
	if err := store.Remove(ctx, manifestFile(id)); err != nil {
		return fmt.Errorf("ngbak: delete %s: %w", id, err)
	}
	var errs []error
	for _, name := range []string{archiveName(id), sumName(id)} {
		if err := store.Remove(ctx, name); err != nil && !errors.Is(err, ErrNotFound) {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("ngbak: delete %s: %w", id, err)
	}
	m.log.Info("backup deleted", "id", id)
	return nil
}

// Open returns the archive of a stored backup as it is stored, for a
// download. Its content can be checked against Backup.Size and the
// <id>.ngbak.sha256 sidecar; Import checks it completely. On a
// deduplicated storage the archive is made as it is read (the reader has a
// SizeUnknown method that returns true) and checks itself instead: its
// Read fails with ErrChecksum before the end if it is not the backup the
// sidecar names.
func (m *Manager) Open(ctx context.Context, id string) (io.ReadCloser, error) {
	if _, err := m.Get(ctx, id); err != nil {
		return nil, err
	}
	rc, err := m.store.Open(ctx, archiveName(id))
	if err != nil {
		return nil, fmt.Errorf("ngbak: open %s: %w", id, err)
	}
	return rc, nil
}

func (m *Manager) acquire(id string) func() {
	m.mu.Lock()
	m.inUse[id]++
	m.mu.Unlock()
	return func() {
		m.mu.Lock()
		if m.inUse[id]--; m.inUse[id] == 0 {
			delete(m.inUse, id)
		}
		m.mu.Unlock()
	}
}

// stored is a stored backup opened for a streaming read.
type stored struct {
	id  string
	man *Manifest
	sum string
	rc  io.ReadCloser
	ar  *archiveReader
	// keep leaves rc open at finish: it is pinned for a second pass.
	keep     bool
	manBytes []byte // the sidecar manifest as read
	// unsummed: the archive's hash is not taken (a second pass)
	unsummed bool
}

// verified is what a verify pass read, for a pass that restores from it:
// the second pass reads what the first checked, or fails before it hands
// anything to an exporter.
type verified struct {
	inner    *Manifest // the manifest inside the archive
	manBytes []byte    // the sidecar manifest
	sum      string    // the sidecar sum
	// rc is the archive, still open, when the storage's reader seeks: on
	// Dir the open file is the verified one whatever is renamed over its
	// name. Else info is what Stat said before the first pass, and the
	// second pass opens the archive again by name if Stat still says so.
	rc   io.ReadSeekCloser
	info ObjectInfo
}

func (v *verified) close() {
	if v != nil && v.rc != nil {
		v.rc.Close()
	}
}

// openStored opens a stored backup. Without v (a first pass) the archive
// is read against its sidecars alone; with v it is read again as the first
// pass found it: same sidecars, same object, the files the manifest inside
// lists.
func (m *Manager) openStored(ctx context.Context, id string, v *verified) (*stored, error) {
	man, manBytes, err := m.readManifest(ctx, id)
	if err != nil {
		return nil, err
	}
	var inner *Manifest
	if v != nil {
		if !bytes.Equal(manBytes, v.manBytes) {
			return nil, corrupt("%s changed since the backup was verified", manifestFile(id))
		}
		inner = v.inner
	}
	// A sidecar lists no files (but one written before they left it, which
	// still gives the order to expect): the manifest inside does, once a
	// pass has read it.
	want := man
	var dec Encryption
	if man.Encryption != "" {
		if m.opts.Encryption == nil || m.opts.Encryption.Name() != man.Encryption {
			return nil, fmt.Errorf("%w: backup %s is encrypted with %s; set Options.Encryption with its key", ErrKey, id, man.Encryption)
		}
		dec = m.opts.Encryption
	}
	if man.Encryption != "" || len(man.files()) == 0 {
		want = inner
		if inner != nil {
			man = inner
		}
	}
	sumData, err := m.readSmall(ctx, sumName(id))
	if err != nil {
		return nil, err
	}
	sum, err := parseSidecarSum(id, sumData)
	if err != nil {
		return nil, err
	}
	if v != nil && sum != v.sum {
		return nil, fmt.Errorf("%w: %s changed since the backup was verified", ErrChecksum, sumName(id))
	}
	s := &stored{id: id, man: man, sum: sum, manBytes: manBytes}
	switch {
	case v != nil && v.rc != nil:
		if _, err := v.rc.Seek(0, io.SeekStart); err != nil {
			return nil, fmt.Errorf("reading %s again: %w", archiveName(id), err)
		}
		s.rc, s.keep = v.rc, true
	case v != nil:
		info, err := m.store.Stat(ctx, archiveName(id))
		if err != nil {
			return nil, err
		}
		if info.Size != v.info.Size || !info.ModTime.Equal(v.info.ModTime) {
			return nil, corrupt("%s changed since it was verified (%d bytes modified %s, then %d bytes modified %s)",
				archiveName(id), v.info.Size, v.info.ModTime.Format(time.RFC3339Nano), info.Size, info.ModTime.Format(time.RFC3339Nano))
		}
		if s.rc, err = m.store.Open(ctx, archiveName(id)); err != nil {
			return nil, err
		}
	default:
		if s.rc, err = m.store.Open(ctx, archiveName(id)); err != nil {
			return nil, err
		}
	}
	var src io.Reader = s.rc
	if _, dedup := s.rc.(tarSource); v != nil && !dedup {
		// A second pass reads every entry against the hashes the first
		// one checked (and an encrypted archive is authenticated as it
		// is decrypted): the archive's own hash would only say again
		// what they say, at the cost of a pass over it. Decided before
		// the reader exists: its decoder reads from a goroutine of its
		// own at once.
		src, s.unsummed = unsummedReader{s.rc}, true
	}
	if s.ar, err = newArchiveReader(ctx, src, m.opts.Limits, want, manBytes, dec); err != nil {
		if !s.keep {
			s.rc.Close()
		}
		return nil, err
	}
	return s, nil
}

// finish ends a read of a stored archive. It drains the archive so that its
// SHA-256 can be compared with the sidecar: if they differ, the archive was
// damaged and that is the error, with what reading it met as detail.
func (s *stored) finish(readErr error) error {
	if !s.keep {
		defer s.rc.Close()
	}
	defer s.ar.close()
	if readErr != nil && (errors.Is(readErr, context.Canceled) || errors.Is(readErr, context.DeadlineExceeded)) {
		return readErr
	}
	// A backend that failed on its own, with the archive reading cleanly
	// (it was verified before), is the whole story: draining the rest of
	// a large archive to check its sum would only delay the rollback.
	if readErr != nil && !errors.Is(readErr, ErrChecksum) && !errors.Is(readErr, ErrCorrupt) && s.ar.raw.readErr() == nil {
		return readErr
	}
	if s.unsummed {
		return readErr
	}
	got, n, err := s.ar.rawSum()
	if err != nil {
		return errors.Join(readErr, fmt.Errorf("reading %s: %w", archiveName(s.id), err))
	}
	if got != s.sum {
		detail := ""
		if readErr != nil {
			detail = fmt.Sprintf(" (reading it: %v)", readErr)
		}
		return fmt.Errorf("%w: %s (%d bytes) has sha256 %s, %s says %s%s",
			ErrChecksum, archiveName(s.id), n, got, sumName(s.id), s.sum, detail)
	}
	return readErr
}

// Verify reads a stored backup completely and checks it: the archive against
// its .sha256 sidecar, every entry's name, size and SHA-256 against the
// manifest, SHA256SUMS, the payload digest, and that the manifest inside the
// archive is the sidecar manifest. Any mismatch is an error wrapping
// ErrChecksum or ErrCorrupt.
func (m *Manager) Verify(ctx context.Context, id string) (err error) {
	ctx, end := m.tel.startOp(ctx, "Verify", id)
	defer func() { end(err) }()
	if err := checkID(id); err != nil {
		return err
	}
	defer m.acquire(id)()
	v, err := m.verify(ctx, "verify", id)
	if err != nil {
		return fmt.Errorf("ngbak: verify %s: %w", id, err)
	}
	v.close()
	m.emit(ctx, Event{Op: "verify", ID: id, Phase: "done"})
	return nil
}

// verify reads a stored backup completely and returns what it verified,
// the archive pinned for a second pass where the storage allows; the
// caller closes it.
func (m *Manager) verify(ctx context.Context, op, id string) (*verified, error) {
	// Stat comes first: an archive replaced after it differs from it at the
	// second pass, or fails this one's checks.
	info, err := m.store.Stat(ctx, archiveName(id))
	if err != nil {
		return nil, err
	}
	s, err := m.openStored(ctx, id, nil)
	if err != nil {
		return nil, err
	}
	// The sidecar says before the read how large each backend is.
	totals := map[string]int64{}
	for _, b := range s.man.Backends {
		totals[b.Name] = b.payloadSize()
	}
	s.ar.progress = func(backend string, n int64) {
		m.emit(ctx, Event{Op: op, ID: id, Phase: "verify", Backend: backend, Bytes: n, Total: totals[backend]})
	}
	rs, seeks := s.rc.(io.ReadSeekCloser)
	s.keep = seeks
	for err == nil {
		_, _, err = s.ar.next()
	}
	if err == io.EOF {
		err = nil
	}
	if err = s.finish(err); err != nil {
		if seeks {
			rs.Close()
		}
		return nil, err
	}
	v := &verified{inner: s.ar.manifest, manBytes: s.manBytes, sum: s.sum, info: info}
	if seeks {
		v.rc = rs
	}
	return v, nil
}

// Restore replaces the stores of the registered exporters with a backup.
//
// It checks first that every backend to restore has a registered exporter of
// the same name and kind (ErrIncompatible), and verifies the whole archive
// (as Verify does) before it touches any store. Unless opts.NoSafetyBackup is
// set it then backs up the current state of those stores; if a backend fails,
// every backend restored so far and the failed one are restored from that
// safety backup, and the error says which backend failed and whether the
// rollback worked. The rollback runs even if ctx was cancelled. The safety
// backup is kept, labelled LabelSafetyFor, so a restore can be undone.
func (m *Manager) Restore(ctx context.Context, id string, opts *RestoreOptions) (_ *RestoreResult, err error) {
	ctx, end := m.tel.startOp(ctx, "Restore", id)
	defer func() { end(err) }()
	if err := checkID(id); err != nil {
		return nil, err
	}
	if opts == nil {
		opts = &RestoreOptions{}
	}
	release, err := m.startRestore()
	if err != nil {
		return nil, fmt.Errorf("ngbak: restore %s: %w", id, err)
	}
	defer release()
	defer m.acquire(id)()
	res, err := m.restore(ctx, id, opts)
	if err != nil {
		return nil, fmt.Errorf("ngbak: restore %s: %w", id, err)
	}
	return res, nil
}

// startRestore marks this Manager as restoring, unless a Create or another
// restore runs.
func (m *Manager) startRestore() (func(), error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.restoring {
		return nil, fmt.Errorf("%w: another restore is running", ErrBusy)
	}
	if m.creating > 0 {
		return nil, fmt.Errorf("%w: a backup is running, and a restore now would change what it reads", ErrBusy)
	}
	m.restoring = true
	return func() {
		m.mu.Lock()
		m.restoring = false
		m.mu.Unlock()
	}, nil
}

func (m *Manager) restore(ctx context.Context, id string, opts *RestoreOptions) (*RestoreResult, error) {
	man, _, err := m.readManifest(ctx, id)
	if err != nil {
		return nil, err
	}
	plan, err := m.planInto(man, opts)
	if err != nil {
		return nil, err
	}
	m.emit(ctx, Event{Op: "restore", ID: id, Phase: "verify"})
	v, err := m.verify(ctx, "restore", id)
	if err != nil {
		return nil, err
	}
	defer v.close()
	inner := v.inner
	res := &RestoreResult{}
	for _, e := range plan {
		res.Backends = append(res.Backends, e.Name())
	}
	if err := checkRestore(ctx, plan, inner); err != nil {
		return nil, err
	}
	if err := m.checkNoMarkers(ctx); err != nil {
		return nil, err
	}
	if !opts.NoSafetyBackup && m.opts.Encryption != nil {
		if err := m.checkReadBack(); err != nil {
			return nil, fmt.Errorf("%w: the safety backup would be encrypted so that Options.Encryption cannot open it, and a rollback would fail; nothing was changed (give it an identity of a recipient, or RestoreOptions.NoSafetyBackup): %v", ErrKey, err)
		}
	}
	if m.opts.BeforeRestore != nil {
		if err := m.opts.BeforeRestore(ctx); err != nil {
			err = fmt.Errorf("BeforeRestore: %w", err)
			return nil, m.afterRestore(ctx, err)
		}
	}
	res, err = m.replace(ctx, id, plan, v, res, opts)
	return res, m.afterRestore(ctx, err)
}

func (m *Manager) afterRestore(ctx context.Context, err error) error {
	if m.opts.AfterRestore != nil {
		if aerr := m.opts.AfterRestore(ctx, err); aerr != nil {
			err = errors.Join(err, fmt.Errorf("AfterRestore: %w", aerr))
		}
	}
	return err
}

// replace takes the safety backup and replaces the stores of plan, rolling
// them back if one fails.
func (m *Manager) replace(ctx context.Context, id string, plan []Exporter, v *verified, res *RestoreResult, opts *RestoreOptions) (*RestoreResult, error) {
	// The marker is in the storage before the first store changes, so that
	// a restore that dies half way is never silent (see Interrupted). It
	// also holds the safety backup from before that exists until the
	// restore is over, for other processes; inUse does it in this one. A
	// Delete in between would take the rollback's only source.
	start := time.Now().UTC()
	marker := &restoreMarker{Format: markerFormat, ID: NewID(start), Backup: id, Backends: res.Backends, StartedAt: start}
	if !opts.NoSafetyBackup {
		res.SafetyID, marker.SafetyID = marker.ID, marker.ID
		defer m.acquire(res.SafetyID)()
	}
	m.mu.Lock()
	m.marker = marker.ID
	m.mu.Unlock()
	defer func() {
		m.mu.Lock()
		m.marker = ""
		m.mu.Unlock()
	}()
	if err := m.writeMarker(ctx, marker); err != nil {
		return nil, fmt.Errorf("recording the restore, nothing was restored: %w", err)
	}
	// Another process may have checked for markers when this one did and
	// written its own since: then both back off, and neither touches a
	// store.
	if others, err := m.otherMarkers(ctx, marker.ID); err != nil || len(others) > 0 {
		if err == nil {
			err = fmt.Errorf("%w: another restore began at the same time (%s)", ErrBusy, markerName(others[0]))
		}
		return nil, errors.Join(fmt.Errorf("nothing was restored: %w", err), m.removeMarker(context.WithoutCancel(ctx), marker.ID))
	}
	if !opts.NoSafetyBackup {
		m.emit(ctx, Event{Op: "restore", ID: id, Phase: "safety-backup"})
		if _, err := m.create(ctx, "restore", res.SafetyID, start, plan, map[string]string{LabelSafetyFor: id}, false); err != nil {
			err = fmt.Errorf("safety backup failed, nothing was restored: %w", err)
			return nil, errors.Join(err, m.removeMarker(context.WithoutCancel(ctx), marker.ID))
		}
		m.log.Info("safety backup taken", "id", res.SafetyID, "restoring", id)
	}
	touched, err := m.apply(ctx, "restore", id, plan, v)
	if err == nil {
		if err := m.removeMarker(context.WithoutCancel(ctx), marker.ID); err != nil {
			return nil, fmt.Errorf("restored, but: %w", err)
		}
		m.emit(ctx, Event{Op: "restore", ID: id, Phase: "done"})
		m.log.Info("backup restored", "id", id, "backends", res.Backends)
		return res, nil
	}
	if len(touched) == 0 {
		// Refused before an exporter saw any data (the archive changed
		// since it was verified, say): nothing to roll back.
		return nil, errors.Join(fmt.Errorf("%w; nothing was restored", err), m.removeMarker(context.WithoutCancel(ctx), marker.ID))
	}
	if res.SafetyID == "" {
		// The caller hears it from this error, and restoring again is what
		// repairs the stores: the marker, which is for a restore nobody
		// could hear from (a crash), would only make every Create and
		// Restore refuse until someone removed it.
		err = fmt.Errorf("%w; no safety backup was taken, so %s may hold partial data: restore a backup to repair them", err, strings.Join(names(touched), ", "))
		return nil, errors.Join(err, m.removeMarker(context.WithoutCancel(ctx), marker.ID))
	}
	m.emit(ctx, Event{Op: "restore", ID: id, Phase: "rollback"})
	m.log.Error("restore failed, rolling back", "id", id, "err", err, "safety", res.SafetyID)
	// A cancelled restore must still put the stores back.
	nctx := context.WithoutCancel(ctx)
	if rerr := m.rollback(nctx, res.SafetyID, touched); rerr != nil {
		// The marker stays: the stores are partial, and the safety backup
		// stays held as their only undo.
		return nil, fmt.Errorf("%w; rollback of %s from safety backup %s failed too: %w",
			err, strings.Join(names(touched), ", "), res.SafetyID, rerr)
	}
	err = fmt.Errorf("%w; rolled back %s from safety backup %s", err, strings.Join(names(touched), ", "), res.SafetyID)
	return nil, errors.Join(err, m.removeMarker(nctx, res.SafetyID))
}

// checkReadBack encrypts a few bytes as an archive would be and decrypts
// them: with recipients whose keys are elsewhere (an offline key), what
// Create writes cannot be read back by this Manager.
func (m *Manager) checkReadBack() error {
	var buf bytes.Buffer
	w, err := m.opts.Encryption.Encrypt(&buf)
	if err != nil {
		return fmt.Errorf("encrypting: %w", err)
	}
	probe := []byte("ngbak read-back probe")
	if _, err := w.Write(probe); err != nil {
		return fmt.Errorf("encrypting: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("encrypting: %w", err)
	}
	r, err := m.opts.Encryption.Decrypt(&buf)
	if err != nil {
		return fmt.Errorf("decrypting: %w", err)
	}
	got, err := io.ReadAll(r)
	if err != nil {
		return fmt.Errorf("decrypting: %w", err)
	}
	if !bytes.Equal(got, probe) {
		return errors.New("decrypting gave other bytes than were encrypted")
	}
	return nil
}

// checkRestore asks each exporter that can whether its restore may go
// ahead.
func checkRestore(ctx context.Context, plan []Exporter, man *Manifest) error {
	for _, e := range plan {
		rc, ok := e.(RestoreChecker)
		if !ok {
			continue
		}
		b, ok := man.Backend(backendOf(e))
		if !ok {
			return corrupt("the archive's manifest has no backend %q", backendOf(e))
		}
		if err := rc.CheckRestore(ctx, b); err != nil {
			return fmt.Errorf("backend %q (%s) cannot be restored, nothing was changed: %w", e.Name(), e.Kind(), err)
		}
	}
	return nil
}

// rollback restores the touched backends from the safety backup, which is
// verified first like any other.
func (m *Manager) rollback(ctx context.Context, safetyID string, touched []Exporter) error {
	v, err := m.verify(ctx, "rollback", safetyID)
	if err != nil {
		return err
	}
	defer v.close()
	_, err = m.apply(ctx, "rollback", safetyID, unwrap(touched), v)
	return err
}

func names(exps []Exporter) []string {
	var out []string
	for _, e := range exps {
		out = append(out, e.Name())
	}
	return out
}

// plan picks the registered exporters for the backends to restore and
// checks that each matches by name and kind.
func (m *Manager) plan(man *Manifest, want []string) ([]Exporter, error) {
	for _, name := range want {
		if _, ok := man.Backend(name); !ok {
			return nil, fmt.Errorf("%w: backup has no backend %q", ErrNotFound, name)
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	var plan []Exporter
	for _, b := range man.Backends {
		if len(want) > 0 && !slices.Contains(want, b.Name) {
			continue
		}
		e := m.exporter(b.Name)
		if e == nil {
			return nil, fmt.Errorf("%w: backend %q (%s) has no registered exporter", ErrIncompatible, b.Name, b.Kind)
		}
		if e.Kind() != b.Kind {
			return nil, fmt.Errorf("%w: backend %q is of kind %q, the registered exporter is %q", ErrIncompatible, b.Name, b.Kind, e.Kind())
		}
		plan = append(plan, e)
	}
	sortByRegistration(m.exps, plan)
	return plan, nil
}

// sortByRegistration orders plan as exps, the registered exporters, which a
// parallel Create's archive order need not be, so that results and errors
// read alike each time.
func sortByRegistration(exps, plan []Exporter) {
	reg := func(e Exporter) int {
		return slices.IndexFunc(exps, func(x Exporter) bool { return x.Name() == e.Name() })
	}
	slices.SortStableFunc(plan, func(a, b Exporter) int { return reg(a) - reg(b) })
}

// apply streams a stored archive into the exporters of plan, which must be
// in archive order, checking every entry again as it goes. It returns the
// exporters it has handed data to, including one that failed.
func (m *Manager) apply(ctx context.Context, op, id string, plan []Exporter, v *verified) (touched []Exporter, err error) {
	s, err := m.openStored(ctx, id, v)
	if err != nil {
		return nil, err
	}
	defer func() { err = s.finish(err) }()
	if m.parallelism(len(plan)) > 1 {
		return m.applyParallel(ctx, op, id, plan, s)
	}
	for i := range s.man.Backends {
		b := &s.man.Backends[i]
		idx := slices.IndexFunc(plan, func(e Exporter) bool { return backendOf(e) == b.Name })
		r := &Reader{a: s.ar, backend: b}
		if idx < 0 {
			if err := skipFiles(r); err != nil {
				return touched, err
			}
			continue
		}
		e := plan[idx]
		touched = append(touched, e)
		r.track(func(ev Event) { m.emit(ctx, ev) }, Event{Op: op, ID: id, Phase: op, Backend: e.Name()})
		bctx, end := m.tel.startBackend(ctx, op, "restore", e)
		err := e.Restore(bctx, r)
		r.trackEnd()
		if err != nil {
			err = fmt.Errorf("backend %q (%s) failed: %w", e.Name(), e.Kind(), err)
		} else if r.next < len(b.Files) {
			err = fmt.Errorf("backend %q (%s): restore did not read %s", e.Name(), e.Kind(), b.Files[r.next].Path)
		}
		if end(b, err); err != nil {
			return touched, err
		}
	}
	if _, _, err := s.ar.next(); err != io.EOF {
		if err == nil {
			err = corrupt("unexpected entry after the last backend")
		}
		return touched, err
	}
	return touched, nil
}

func skipFiles(r *Reader) error {
	for {
		if _, _, err := r.Next(); err == io.EOF {
			return nil
		} else if err != nil {
			return err
		}
	}
}

// Import stores an archive read from r, for instance an upload, as a
// backup. The archive is first copied to a temporary file in
// Options.TempDir while it is checked completely, as Verify does, without
// trusting anything it says; only then is it stored under the id of its
// manifest and made visible. A backup with that id already stored is
// ErrExists. Names from outside never become paths. A backup created more
// than ten minutes in the future, by this machine's clock, is refused.
func (m *Manager) Import(ctx context.Context, r io.Reader) (man *Manifest, err error) {
	defer func() {
		if err != nil {
			err = fmt.Errorf("ngbak: import: %w", err)
		}
	}()
	tmp, err := os.CreateTemp(m.opts.TempDir, "ngbak-import-*")
	if err != nil {
		return nil, err
	}
	defer func() {
		tmp.Close()
		os.Remove(tmp.Name())
	}()
	// An encrypted archive does not start with zstd's magic number.
	br := bufio.NewReader(io.TeeReader(r, tmp))
	var dec Encryption
	if head, _ := br.Peek(4); !bytes.Equal(head, zstdMagic) {
		if m.opts.Encryption == nil {
			if bytes.HasPrefix(head, []byte("age-")) {
				return nil, fmt.Errorf("%w: the archive is encrypted; set Options.Encryption with its key", ErrKey)
			}
		} else {
			dec = m.opts.Encryption
		}
	}
	ar, err := newArchiveReader(ctx, br, m.opts.Limits, nil, nil, dec)
	if err != nil {
		return nil, err
	}
	ar.progress = func(backend string, n int64) {
		m.emit(ctx, Event{Op: "import", Phase: "verify", Backend: backend, Bytes: n})
	}
	for err == nil {
		_, _, err = ar.next()
	}
	ar.close()
	if err != io.EOF {
		return nil, err
	}
	sum, size, err := ar.rawSum()
	if err != nil {
		return nil, err
	}
	man = ar.manifest
	if ahead := time.Until(man.CreatedAt); ahead > maxClockSkew {
		return nil, fmt.Errorf("%w: backup %s was created at %s, %s in the future (more than the %s of clock skew allowed): a retention policy would take it for the newest backup",
			ErrCorrupt, man.ID, man.CreatedAt.Format(time.RFC3339), ahead.Round(time.Second), maxClockSkew)
	}
	manBytes, err := sidecarManifest(man)
	if err != nil {
		return nil, err
	}
	id := man.ID
	if _, err := m.store.Stat(ctx, manifestFile(id)); err == nil {
		return nil, fmt.Errorf("%w: backup %s", ErrExists, id)
	} else if !errors.Is(err, ErrNotFound) {
		return nil, err
	}
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	obj, err := m.store.Create(ctx, archiveName(id))
	if err != nil {
		return nil, err
	}
	// The copy is hashed again: the temporary file is trusted no more than
	// the disk it is on.
	h := sha256.New()
	n, err := copyBuffer(ctx, io.MultiWriter(obj, h), tmp, make([]byte, 256<<10))
	if err == nil && (n != size || hex.EncodeToString(h.Sum(nil)) != sum) {
		err = fmt.Errorf("%w: the archive changed while it was being stored", ErrChecksum)
	}
	if t, ok := obj.(tarSink); ok && err == nil {
		// Deduplicated: the sum sidecar is the chunk list's.
		sum, _, err = t.finishTar()
	}
	if err != nil {
		obj.Abort()
		return nil, err
	}
	if err := m.publish(ctx, id, obj, sum, manBytes); err != nil {
		return nil, err
	}
	m.emit(ctx, Event{Op: "import", ID: id, Phase: "done", Bytes: size, Total: size})
	m.log.Info("backup imported", "id", id, "bytes", size)
	return man, nil
}

// maxClockSkew is how far in the future an imported backup may be dated:
// clocks of two machines differ by seconds, not by this.
const maxClockSkew = 10 * time.Minute

var zstdMagic = []byte{0x28, 0xb5, 0x2f, 0xfd}

func (m *Manager) emit(ctx context.Context, e Event) {
	if m.opts.Progress != nil {
		m.opts.Progress(e)
	}
	if fn, ok := ctx.Value(progressKey{}).(func(Event)); ok {
		fn(e)
	}
}

type progressKey struct{}

// WithProgress returns a context that makes the operation it is passed to
// report its progress to fn as well as to Options.Progress, as
// net/http/httptrace does for one request: an HTTP handler follows one job
// this way. fn is called from the goroutine running the operation and must
// not block.
func WithProgress(ctx context.Context, fn func(Event)) context.Context {
	return context.WithValue(ctx, progressKey{}, fn)
}
