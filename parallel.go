package ngbak

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"slices"
	"sync"
)

// Backends run in parallel, and the archive stays what an ngbak/1 reader of
// any version expects: each backend's entries contiguous, in the order of
// the manifest's backends, SHA256SUMS and the manifest last. Entries of
// different backends never interleave, because a reader hands a backend's
// files to its exporter in one run (Reader.Next) and older readers check
// the entries against the manifest's files in that order.
//
// Create: one backend at a time holds the archive (archiveLease), from its
// first entry to the end of its export, and streams into it; the others
// spool the entries they write meanwhile to one temporary file each (in
// Options.TempDir) and copy them in once they hold it. The archive is
// handed on in the order the backends were registered, so the manifest
// lists them in that order, as a sequential Create does.
//
// Restore: after the full verification, one pass reads the archive; the
// entries of every planned backend but the last are spooled to a temporary
// file per backend, each entry handed to its exporter once it is read and
// checked, so that every exporter works at its own server's pace; the last
// backend reads the archive directly, as a sequential restore does.

// parallelism is how many of n backends run at once.
func (m *Manager) parallelism(n int) int {
	p := m.opts.Parallelism
	if p <= 0 || p > n {
		p = n
	}
	return max(p, 1)
}

// syncEmit serializes the progress events of one operation's goroutines:
// Options.Progress never runs concurrently with itself for one operation.
type syncEmit struct {
	m   *Manager
	ctx context.Context
	mu  sync.Mutex
}

func (s *syncEmit) emit(e Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m.emit(s.ctx, e)
}

// archiveLease lets one backend at a time write into the archive, in the
// order of exps: the first from its first entry, each next one once the one
// before it has ended. The archive, and so the manifest, then lists the
// backends in the order they were given (registration order), whichever
// of them finishes first, as a sequential Create does: a backup's layout
// does not depend on timing, and readers that look a backend up by
// position, or compare two manifests, see the same order every time.
type archiveLease struct {
	a     *archiveWriter
	order []string                 // the backends, in the archive's order
	turn  map[string]chan struct{} // a backend's holds a value when it may take the archive
	// taken, if set, is called by the backend that takes the archive.
	taken func(backend string)
}

func newArchiveLease(a *archiveWriter, backends []string, taken func(string)) *archiveLease {
	l := &archiveLease{a: a, order: backends, turn: map[string]chan struct{}{}, taken: taken}
	for _, b := range backends {
		l.turn[b] = make(chan struct{}, 1)
	}
	if len(backends) > 0 {
		l.turn[backends[0]] <- struct{}{}
	}
	return l
}

func (l *archiveLease) tryAcquire(backend string) bool {
	select {
	case <-l.turn[backend]:
		l.took(backend)
		return true
	default:
		return false
	}
}

func (l *archiveLease) acquire(ctx context.Context, backend string) error {
	select {
	case <-l.turn[backend]:
		l.took(backend)
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (l *archiveLease) took(backend string) {
	if l.taken != nil {
		l.taken(backend)
	}
}

// release ends backend's turn: the next backend may take the archive.
func (l *archiveLease) release(backend string) {
	if i := slices.Index(l.order, backend); i >= 0 && i+1 < len(l.order) {
		l.turn[l.order[i+1]] <- struct{}{}
	}
}

// pendingEntry is an entry spooled while another backend held the archive.
type pendingEntry struct {
	path      string
	size, off int64
	sha256    string
}

// add writes an entry into the archive if this backend holds it or can take
// it now, and else spools it.
func (w *Writer) add(path string, size int64, r io.Reader) (File, error) {
	if !w.held && w.lease.tryAcquire(w.backend) {
		w.held = true
		if err := w.flushPending(); err != nil {
			return File{}, err
		}
	}
	if w.held {
		return w.a.add(w.ctx, path, size, r)
	}
	return w.spoolEntry(path, size, r)
}

func (w *Writer) spoolEntry(path string, size int64, r io.Reader) (File, error) {
	if w.spoolFile == nil {
		f, err := os.CreateTemp(w.tempDir, "ngbak-spool-backend-*")
		if err != nil {
			return File{}, fmt.Errorf("spooling while another backend writes: %w", err)
		}
		w.spoolFile = f
		w.spoolBuf = make([]byte, 256<<10)
	}
	h := sha256.New()
	n, err := copyBuffer(w.ctx, io.MultiWriter(w.spoolFile, h), io.LimitReader(r, size), w.spoolBuf)
	if err != nil {
		return File{}, fmt.Errorf("spooling while another backend writes: %w", err)
	}
	if n != size {
		return File{}, fmt.Errorf("%s: got %d bytes, expected %d", path, n, size)
	}
	sum := hex.EncodeToString(h.Sum(nil))
	w.pending = append(w.pending, pendingEntry{path: path, size: size, off: w.spoolSize, sha256: sum})
	w.spoolSize += size
	return File{Path: path, Size: size, SHA256: sum}, nil
}

// flushPending copies the spooled entries into the archive, which this
// backend holds.
func (w *Writer) flushPending() error {
	defer w.discardSpool()
	for _, p := range w.pending {
		f, err := w.a.add(w.ctx, p.path, p.size, io.NewSectionReader(w.spoolFile, p.off, p.size))
		if err != nil {
			return fmt.Errorf("writing %s: %w", p.path, err)
		}
		if f.SHA256 != p.sha256 {
			return fmt.Errorf("writing %s: %w: the spooled copy in %s changed (sha256 %s, spooled %s)", p.path, ErrChecksum, w.spoolFile.Name(), f.SHA256, p.sha256)
		}
	}
	w.pending = nil
	return nil
}

func (w *Writer) discardSpool() {
	if w.spoolFile != nil {
		w.spoolFile.Close()
		os.Remove(w.spoolFile.Name())
		w.spoolFile, w.spoolSize, w.spoolBuf = nil, 0, nil
	}
}

// end finishes the backend's part of the archive: what it spooled goes in
// once it holds the archive, and then it lets the next backend write. On
// error it only cleans up.
func (w *Writer) end(err error) error {
	if w.open != nil {
		w.open.discard()
		if err == nil {
			err = fmt.Errorf("file %q was not closed", w.open.name)
		}
	}
	if err == nil {
		err = w.ctx.Err()
	}
	if err == nil && !w.held {
		if err = w.lease.acquire(w.ctx, w.backend); err == nil {
			w.held = true
			err = w.flushPending()
		}
	}
	w.discardSpool()
	if w.held {
		w.held = false
		w.lease.release(w.backend)
	}
	return err
}

// exportParallel runs the exporters, at most parallelism at once; the
// first that fails cancels the others.
func (m *Manager) exportParallel(ctx context.Context, op, id string, aw *archiveWriter, exps []Exporter) ([]Backend, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ev := &syncEmit{m: m, ctx: ctx}
	names := make([]string, len(exps))
	for i, e := range exps {
		names[i] = e.Name()
	}
	lease := newArchiveLease(aw, names, func(backend string) {
		aw.progress = func(n int64) {
			ev.emit(Event{Op: op, ID: id, Phase: "export", Backend: backend, Bytes: n})
		}
	})
	slots := make(chan struct{}, m.parallelism(len(exps)))
	backends := make([]Backend, len(exps))
	errs := make([]error, len(exps))
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr = -1
	)
	for i, e := range exps {
		// Slots are taken in the order of registration, so that with
		// Parallelism 1 the backends run in that order.
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			errs[i] = fmt.Errorf("backend %q (%s): %w", e.Name(), e.Kind(), ctx.Err())
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-slots }()
			backends[i], errs[i] = m.exportOne(ctx, ev, op, id, aw, lease, e)
			if errs[i] != nil {
				mu.Lock()
				if firstErr < 0 {
					firstErr = i
				}
				mu.Unlock()
				cancel()
			}
		}()
	}
	wg.Wait()
	aw.progress = nil
	if firstErr >= 0 {
		return nil, errs[firstErr]
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	out := make([]Backend, 0, len(exps))
	for _, name := range lease.order {
		i := slices.IndexFunc(backends, func(b Backend) bool { return b.Name == name })
		out = append(out, backends[i])
	}
	return out, nil
}

func (m *Manager) exportOne(ctx context.Context, ev *syncEmit, op, id string, aw *archiveWriter, lease *archiveLease, e Exporter) (b Backend, err error) {
	ev.emit(Event{Op: op, ID: id, Phase: "export", Backend: e.Name()})
	ctx, end := m.tel.startBackend(ctx, op, "export", e)
	defer func() { end(&b, err) }()
	w := &Writer{ctx: ctx, a: aw, backend: e.Name(), tempDir: m.opts.TempDir, lease: lease}
	info, err := e.Export(ctx, w)
	if err = w.end(err); err != nil {
		return Backend{}, fmt.Errorf("backend %q (%s): %w", e.Name(), e.Kind(), err)
	}
	if info.Details != nil && (!json.Valid(info.Details) || bytes.TrimSpace(info.Details)[0] != '{') {
		return Backend{}, fmt.Errorf("backend %q (%s): Info.Details is not a JSON object", e.Name(), e.Kind())
	}
	files := w.files
	if files == nil {
		files = []File{}
	}
	b = Backend{
		Name: e.Name(), Kind: e.Kind(), Format: info.Format, ServerVersion: info.ServerVersion,
		Stats: info.Stats, Details: info.Details, Files: files,
	}
	b.Size = b.payloadSize()
	return b, nil
}

// entryQueue hands a backend the entries the restore pass has spooled for
// it, each once it is read and checked.
type entryQueue struct {
	ctx     context.Context
	entries chan queuedEntry
	// failed is closed when the pass stops early; err says why.
	failed chan struct{}
	err    error
}

// spooledEntry reads an entry back from its spool and fails instead of
// ending if the spool no longer holds what was verified: an exporter may
// hand its bytes on as they come (qdrantexp's snapshot upload completes
// only on a clean end), so a temporary file changed meanwhile must not end
// as if it were the archive's entry.
type spooledEntry struct {
	r     io.Reader
	h     hash.Hash
	f     File
	spool string
	err   error
}

func (e *spooledEntry) Read(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	n, err := e.r.Read(p)
	e.h.Write(p[:n])
	if err == io.EOF {
		if got := hex.EncodeToString(e.h.Sum(nil)); got != e.f.SHA256 {
			err = fmt.Errorf("%w: %s: the spooled copy in %s has sha256 %s, the manifest says %s", ErrChecksum, e.f.Path, e.spool, got, e.f.SHA256)
		}
	}
	if err != nil {
		e.err = err
	}
	return n, err
}

type queuedEntry struct {
	f    File
	body io.Reader
}

func (r *Reader) nextEntry() (File, io.Reader, error) {
	q := r.queue
	if q == nil {
		return r.a.next()
	}
	select {
	case e := <-q.entries:
		return e.f, e.body, nil
	case <-q.failed:
		return File{}, nil, q.err
	case <-q.ctx.Done():
		return File{}, nil, q.ctx.Err()
	}
}

// restoreSpool is one backend's spooled entries during a parallel restore.
type restoreSpool struct {
	file *os.File
	size int64
}

func (s *restoreSpool) close() {
	if s.file != nil {
		s.file.Close()
		os.Remove(s.file.Name())
	}
}

// applyParallel is apply with the backends of plan restoring at once, at
// most parallelism of them. It returns every exporter it started, and the
// error of the first that failed.
func (m *Manager) applyParallel(ctx context.Context, op, id string, plan []Exporter, s *stored) (touched []Exporter, err error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// A backend that fails stops the pass too, where it is.
	outer := s.ar.ctx
	s.ar.ctx = ctx
	defer func() { s.ar.ctx = outer }()
	ev := &syncEmit{m: m, ctx: ctx}
	slots := make(chan struct{}, m.parallelism(len(plan)))
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
	)
	fail := func(err error) {
		mu.Lock()
		if firstErr == nil {
			firstErr = err
		}
		mu.Unlock()
		cancel()
	}
	// Backends of one kind restore one after the other: they may share a
	// server or overlap (two label scopes of one Neo4j database, two Redis
	// patterns), where writing at once could deadlock or race.
	kinds := map[string]*sync.Mutex{}
	for _, e := range plan {
		kinds[e.Kind()] = &sync.Mutex{}
	}
	// run restores one backend; it holds a slot while it does.
	run := func(e Exporter, r *Reader) (err error) {
		kinds[e.Kind()].Lock()
		defer kinds[e.Kind()].Unlock()
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			return ctx.Err()
		}
		defer func() { <-slots }()
		// The bytes the exporter reads, not those spooled for it: the
		// spool runs ahead of the restore.
		r.track(ev.emit, Event{Op: op, ID: id, Phase: op, Backend: e.Name()})
		bctx, end := m.tel.startBackend(ctx, op, "restore", e)
		defer func() { end(r.backend, err) }()
		err = e.Restore(bctx, r)
		r.trackEnd()
		if err != nil {
			return fmt.Errorf("backend %q (%s) failed: %w", e.Name(), e.Kind(), err)
		}
		if r.next < len(r.backend.Files) {
			return fmt.Errorf("backend %q (%s): restore did not read %s", e.Name(), e.Kind(), r.backend.Files[r.next].Path)
		}
		return nil
	}
	plannedAt := func(e Exporter) int {
		return slices.IndexFunc(plan, func(x Exporter) bool { return x.Name() == e.Name() })
	}
	last := -1
	for i := range s.man.Backends {
		if slices.ContainsFunc(plan, func(e Exporter) bool { return backendOf(e) == s.man.Backends[i].Name }) {
			last = i
		}
	}
	var spools []*restoreSpool
	defer func() {
		wg.Wait()
		for _, sp := range spools {
			sp.close()
		}
	}()
	// stop ends the pass: it waits for the backends it started and returns
	// the first error, a backend's before the pass's own.
	stop := func(passErr error) ([]Exporter, error) {
		if passErr != nil {
			fail(passErr)
		}
		wg.Wait()
		mu.Lock()
		defer mu.Unlock()
		slices.SortStableFunc(touched, func(a, b Exporter) int { return plannedAt(a) - plannedAt(b) })
		return touched, firstErr
	}
	for i := range s.man.Backends {
		b := &s.man.Backends[i]
		idx := slices.IndexFunc(plan, func(e Exporter) bool { return backendOf(e) == b.Name })
		if idx < 0 {
			if err := skipFiles(&Reader{a: s.ar, backend: b}); err != nil {
				return stop(err)
			}
			continue
		}
		e := plan[idx]
		mu.Lock()
		touched = append(touched, e)
		mu.Unlock()
		if i == last {
			if err := run(e, &Reader{a: s.ar, backend: b}); err != nil {
				return stop(err)
			}
			continue
		}
		q := &entryQueue{ctx: ctx, entries: make(chan queuedEntry, len(b.Files)), failed: make(chan struct{})}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := run(e, &Reader{a: s.ar, backend: b, queue: q}); err != nil {
				fail(err)
			}
		}()
		sp := &restoreSpool{}
		spools = append(spools, sp)
		if err := m.spoolBackend(ctx, s.ar, b, sp, q); err != nil {
			q.err = err
			close(q.failed)
			return stop(err)
		}
	}
	if _, _, err := s.ar.next(); err != io.EOF {
		if err == nil {
			err = corrupt("unexpected entry after the last backend")
		}
		return stop(err)
	}
	return stop(nil)
}

// spoolBackend reads a backend's entries from the archive into its spool,
// queueing each once it is checked.
func (m *Manager) spoolBackend(ctx context.Context, ar *archiveReader, b *Backend, sp *restoreSpool, q *entryQueue) error {
	buf := make([]byte, 256<<10)
	for range b.Files {
		f, body, err := ar.next()
		if errors.Is(err, io.EOF) {
			err = corrupt("archive ends before the files of %s", b.Name)
		}
		if err != nil {
			return err
		}
		if sp.file == nil {
			if sp.file, err = os.CreateTemp(m.opts.TempDir, "ngbak-spool-restore-*"); err != nil {
				return fmt.Errorf("spooling %s for backend %q: %w", f.Path, b.Name, err)
			}
		}
		// Read to the end: the entry reader reports a checksum mismatch
		// there, before the exporter sees any of it.
		n, err := copyBuffer(ctx, sp.file, body, buf)
		if err != nil {
			return fmt.Errorf("spooling %s for backend %q: %w", f.Path, b.Name, err)
		}
		q.entries <- queuedEntry{f: f, body: &spooledEntry{r: io.NewSectionReader(sp.file, sp.size, n), h: sha256.New(), f: f, spool: sp.file.Name()}}
		sp.size += n
	}
	return nil
}
