package ngbak

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/restic/chunker"
	"golang.org/x/sync/errgroup"
)

// DedupOptions turn on the deduplicating layout (Options.Dedup): each
// backup's tar stream is cut into content-defined chunks, each chunk stored
// once, whatever backup or store it came from. See the package
// documentation, "Deduplicated storage".
type DedupOptions struct {
	// AverageChunkSize is the chunker's average chunk size, a power of two
	// from 64 KiB to 8 MiB; 0 means 512 KiB. Chunks are between a quarter
	// of it and eight times it. Smaller chunks find more of what scattered
	// updates left unchanged, at one more stored object per chunk.
	AverageChunkSize int
}

const (
	chunkPrefix   = "chunk-"
	leaseSuffix   = ".lease"
	sweepSuffix   = ".sweep"
	leaseMagic    = "ngbak-dedup-lease/1 "
	defaultAvg    = 512 << 10
	maxChunkBound = 64 << 20 // the largest chunk a reader accepts
	// sweepWait is how long a Create waits for a sweep in another process
	// to end before it gives up with ErrBusy.
	sweepWait = 2 * time.Minute
)

// leaseRefresh is how often a running Create or sweep renews its lease;
// one not renewed for leaseExpiry is a crashed process's. Variables for
// the tests, which shorten them.
var (
	leaseRefresh = 10 * time.Minute
	leaseExpiry  = stalePartialAge
)

// dedupOwnName reports the names of the objects the layout writes.
func dedupOwnName(name string) bool {
	if h, ok := strings.CutPrefix(name, chunkPrefix); ok {
		return len(h) == 64 && lowerHex([]byte(h))
	}
	if name == dedupKeyName || name == dedupLayoutName {
		return true
	}
	for _, s := range []string{leaseSuffix, sweepSuffix} {
		if id, ok := strings.CutSuffix(name, s); ok && ownID(id) {
			return true
		}
	}
	return false
}

// subStorage is a Storage that can hold a second namespace apart from its
// own (Dir: a subfolder), so that listing the backups never lists chunks.
type subStorage interface {
	Sub(name string) (Storage, error)
}

// dedupStorage is the layout: a Storage that holds, under <id>.ngbak, the
// chunk list of an archive's tar stream instead of the archive, and the
// chunks beside (in the "chunks" namespace when the storage has one).
// Every other object passes through.
type dedupStorage struct {
	inner    Storage
	enc      Encryption
	level    int
	avgBits  int
	min, max uint
	log      *slog.Logger

	zenc *zstd.Encoder
	zdec *zstd.Decoder

	keyMu      sync.Mutex
	key        *dedupKey
	pendingKey []byte // the encrypted key made here, until a Create stores it

	layoutMu sync.Mutex
	chunks   Storage // where the chunks are, once recorded (layout)
	mode     string
}

const (
	dedupLayoutName = "ngbak-dedup.layout"
	layoutSub       = "ngbak-dedup/1 chunks=sub\n"
	layoutFlat      = "ngbak-dedup/1 chunks=flat\n"
)

// layout returns where the chunks are: as ngbak-dedup.layout records, or
// when there is no record yet (no backup was committed here), where this
// storage would put them (mode says which). The first Create to commit
// records it (recordLayout), so that every Manager on the storage agrees
// even when one sees the storage through a wrapper that hides Sub (which
// would otherwise put its chunks where the others never look).
func (d *dedupStorage) layout(ctx context.Context) (chunks Storage, mode string, err error) {
	d.layoutMu.Lock()
	defer d.layoutMu.Unlock()
	if d.chunks != nil {
		return d.chunks, d.mode, nil
	}
	data, err := readAllLimit(ctx, d.inner, dedupLayoutName, 256)
	if errors.Is(err, ErrNotFound) {
		mode = layoutFlat
		if _, ok := d.inner.(subStorage); ok {
			mode = layoutSub
		}
		chunks, err = d.storageFor(mode)
		return chunks, mode, err
	}
	if err != nil {
		return nil, "", err
	}
	if chunks, err = d.storageFor(string(data)); err != nil {
		return nil, "", err
	}
	d.chunks, d.mode = chunks, string(data)
	return chunks, d.mode, nil
}

func (d *dedupStorage) storageFor(mode string) (Storage, error) {
	switch mode {
	case layoutFlat:
		return d.inner, nil
	case layoutSub:
		sub, ok := d.inner.(subStorage)
		if !ok {
			return nil, fmt.Errorf("%s says the chunks are in the storage's \"chunks\" namespace, and this Storage has none (a wrapper must pass Sub on)", dedupLayoutName)
		}
		c, err := sub.Sub("chunks")
		if err != nil {
			return nil, fmt.Errorf("the chunks' namespace: %w", err)
		}
		if cf, ok := c.(chunkFolder); ok {
			return cf.deferSync(), nil
		}
		return c, nil
	}
	return nil, corrupt("%s holds %.40q", dedupLayoutName, mode)
}

// recordLayout records where a Create put its chunks, before its chunk
// list is committed; a record that says otherwise (another Manager,
// through another view of the storage, committed first) fails the Create.
func (d *dedupStorage) recordLayout(ctx context.Context, mode string) error {
	d.layoutMu.Lock()
	have := d.mode
	d.layoutMu.Unlock()
	if have == "" {
		if err := putObject(ctx, d.inner, dedupLayoutName, []byte(mode)); err != nil && !errors.Is(err, ErrExists) {
			return fmt.Errorf("writing %s: %w", dedupLayoutName, err)
		}
		_, m, err := d.layout(ctx)
		if err != nil {
			return err
		}
		have = m
		d.layoutMu.Lock()
		recorded := d.chunks != nil
		d.layoutMu.Unlock()
		if !recorded {
			return fmt.Errorf("%w: %s was written and is not there", ErrCorrupt, dedupLayoutName)
		}
	}
	if have != mode {
		return fmt.Errorf("%w: this Create put its chunks %q, and %s says %q: another Manager sees this storage otherwise (a wrapper that hides Sub?)", ErrIncompatible, strings.TrimSpace(mode), dedupLayoutName, strings.TrimSpace(have))
	}
	return nil
}

func readAllLimit(ctx context.Context, s Storage, name string, limit int64) ([]byte, error) {
	rc, err := s.Open(ctx, name)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, limit))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", name, err)
	}
	return data, nil
}

func newDedupStorage(s Storage, opts Options) (*dedupStorage, error) {
	avg := opts.Dedup.AverageChunkSize
	if avg == 0 {
		avg = defaultAvg
	}
	if avg < 64<<10 || avg > 8<<20 || avg&(avg-1) != 0 {
		return nil, fmt.Errorf("ngbak: Dedup.AverageChunkSize %d is not a power of two from 64 KiB to 8 MiB", avg)
	}
	bits := 0
	for 1<<bits < avg {
		bits++
	}
	d := &dedupStorage{inner: s, enc: opts.Encryption, level: opts.CompressionLevel, avgBits: bits, min: uint(avg / 4), max: uint(avg * 8)}
	var err error
	// One encoder per worker: EncodeAll waits for a free one. A chunk is
	// checked against its id, a SHA-256: zstd's checksum would add nothing
	// but its cost.
	if d.zenc, err = zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.EncoderLevelFromZstd(d.level)), zstd.WithEncoderConcurrency(chunkWorkers()), zstd.WithWindowSize(1<<20), zstd.WithEncoderCRC(false)); err != nil {
		return nil, err
	}
	if d.zdec, err = zstd.NewReader(nil, zstd.WithDecoderConcurrency(4), zstd.WithDecoderMaxMemory(maxChunkBound), zstd.WithDecoderMaxWindow(8<<20), zstd.IgnoreChecksum(true)); err != nil {
		return nil, err
	}
	return d, nil
}

func isArchive(name string) (string, bool) {
	id, ok := strings.CutSuffix(name, ".ngbak")
	return id, ok && ValidID(id)
}

func (d *dedupStorage) Stat(ctx context.Context, name string) (ObjectInfo, error) {
	return d.inner.Stat(ctx, name)
}

func (d *dedupStorage) List(ctx context.Context) ([]ObjectInfo, error) { return d.inner.List(ctx) }

func (d *dedupStorage) Create(ctx context.Context, name string) (ObjectWriter, error) {
	id, ok := isArchive(name)
	if !ok {
		return d.inner.Create(ctx, name)
	}
	return d.newWriter(ctx, id)
}

func (d *dedupStorage) Open(ctx context.Context, name string) (io.ReadCloser, error) {
	if _, ok := isArchive(name); !ok {
		return d.inner.Open(ctx, name)
	}
	return d.newReader(ctx, name)
}

// Remove of an archive removes its chunk list, then sweeps the chunks that
// list held and no other list does.
func (d *dedupStorage) Remove(ctx context.Context, name string) error {
	if _, ok := isArchive(name); !ok {
		return d.inner.Remove(ctx, name)
	}
	cands := map[[32]byte]struct{}{}
	if err := d.removeList(ctx, name, cands); err != nil {
		return err
	}
	return d.sweepFreed(ctx, name, cands)
}

// removeList removes a chunk list, adding the chunks it held to cands.
func (d *dedupStorage) removeList(ctx context.Context, name string, cands map[[32]byte]struct{}) error {
	readErr := d.eachRef(ctx, name, func(c chunkRef) error {
		cands[c.ID] = struct{}{}
		return nil
	})
	if errors.Is(readErr, ErrNotFound) {
		return readErr
	}
	if err := d.inner.Remove(ctx, name); err != nil {
		return err
	}
	if readErr != nil {
		// The list is gone all the same: CheckRepository finds what it held.
		return fmt.Errorf("%s removed, but its chunks were not freed, since it could not be read: %w", name, readErr)
	}
	return nil
}

// sweepFreed sweeps the chunks of the lists what names removed.
func (d *dedupStorage) sweepFreed(ctx context.Context, what string, cands map[[32]byte]struct{}) error {
	if len(cands) == 0 {
		return nil
	}
	if _, skipped, err := d.sweep(ctx, cands); err != nil {
		return fmt.Errorf("%s removed; freeing its chunks: %w", what, err)
	} else if skipped != "" {
		d.logger().Info("chunks left for a later sweep", "backup", what, "why", skipped)
	}
	return nil
}

// sweepBatch is the layout for Prune: its Remove of an archive removes the
// chunk list and only notes the chunks it held, and sweep then frees them
// all at once, reading every other list once for all the backups deleted
// rather than once for each.
type sweepBatch struct {
	*dedupStorage
	cands map[[32]byte]struct{}
	names []string
}

func (d *dedupStorage) newSweepBatch() *sweepBatch {
	return &sweepBatch{dedupStorage: d, cands: map[[32]byte]struct{}{}}
}

func (b *sweepBatch) Remove(ctx context.Context, name string) error {
	if _, ok := isArchive(name); !ok {
		return b.inner.Remove(ctx, name)
	}
	if err := b.removeList(ctx, name, b.cands); err != nil {
		return err
	}
	b.names = append(b.names, name)
	return nil
}

func (b *sweepBatch) sweep(ctx context.Context) error {
	return b.sweepFreed(ctx, strings.Join(b.names, ", "), b.cands)
}

func (d *dedupStorage) logger() *slog.Logger {
	if d.log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return d.log
}

// plainArchive tells an archive stored whole (zstd, or age-encrypted) from
// a chunk list by its first bytes. Anything else is neither, and a sweep
// that meets it removes nothing: what a damaged list held is unknown.
func plainArchive(head []byte) bool {
	return bytes.HasPrefix(head, zstdMagic) || bytes.HasPrefix(head, []byte("age-encryption.org/"))
}

// eachRef calls fn for every chunk of a chunk list; an archive stored
// whole holds none.
func (d *dedupStorage) eachRef(ctx context.Context, name string, fn func(chunkRef) error) error {
	rc, err := d.inner.Open(ctx, name)
	if err != nil {
		return err
	}
	defer rc.Close()
	br := bufio.NewReaderSize(rc, 64<<10)
	if head, _ := br.Peek(len(chunkListMagic)); plainArchive(head) {
		return nil
	}
	l, err := newChunkListReader(br, maxChunkBound)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	for {
		c, err := l.next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		if err := fn(c); err != nil {
			return err
		}
	}
}

// putObject writes a small object.
func putObject(ctx context.Context, s Storage, name string, data []byte) error {
	w, err := s.Create(ctx, name)
	if err != nil {
		return err
	}
	if _, err := w.Write(data); err != nil {
		w.Abort()
		return err
	}
	return w.Commit()
}

// A lease is a small object that a Create (lease) or a sweep (sweepSuffix)
// keeps in the storage while it runs, renewed every leaseRefresh; see
// sweep for the protocol they follow.
type lease struct {
	s      Storage
	suffix string
	body   []byte
	mu     sync.Mutex
	name   string
	stop   chan struct{}
	done   chan struct{}
}

func takeLease(ctx context.Context, s Storage, suffix, body string) (*lease, error) {
	l := &lease{s: s, suffix: suffix, body: []byte(leaseMagic + body + "\n"), stop: make(chan struct{}), done: make(chan struct{})}
	l.name = NewID(time.Now()) + suffix
	if err := putObject(ctx, s, l.name, l.body); err != nil {
		return nil, fmt.Errorf("writing %s: %w", l.name, err)
	}
	go l.renew(context.WithoutCancel(ctx))
	return l, nil
}

// renew writes a new lease before it removes the old one, so that there is
// always one.
func (l *lease) renew(ctx context.Context) {
	defer close(l.done)
	t := time.NewTicker(leaseRefresh)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
		}
		name := NewID(time.Now()) + l.suffix
		if err := putObject(ctx, l.s, name, l.body); err != nil {
			continue // the old one stands; the next tick tries again
		}
		l.mu.Lock()
		old := l.name
		l.name = name
		l.mu.Unlock()
		l.s.Remove(ctx, old) // an old lease left over expires on its own
	}
}

func (l *lease) release(ctx context.Context) error {
	close(l.stop)
	<-l.done
	if err := l.s.Remove(context.WithoutCancel(ctx), l.name); err != nil && !errors.Is(err, ErrNotFound) {
		return fmt.Errorf("removing %s: %w", l.name, err)
	}
	return nil
}

// liveLeases returns the names of the leases with suffix in objs that are
// younger than leaseExpiry, but for own.
func liveLeases(objs []ObjectInfo, suffix, own string) []string {
	var out []string
	for _, o := range objs {
		if id, ok := strings.CutSuffix(o.Name, suffix); ok && ownID(id) && o.Name != own && time.Since(o.ModTime) < leaseExpiry {
			out = append(out, o.Name)
		}
	}
	return out
}

// sweep removes the chunks of cands that no chunk list in the storage
// holds. A Create in another process may at any moment find a chunk
// present and rely on it without writing it, so the two follow a protocol
// of two flags: a Create writes its lease, then looks for a sweep's lease
// and waits while there is one; a sweep writes its lease, then looks for
// Creates' leases and removes nothing while there is one. Each writes
// before it looks, so (on a storage whose listing shows what was written
// before it, as Dir, S3 and MinIO do) at least one of them sees the other.
// A sweep that proceeds has seen no Create running, and every Create that
// ends before it had its chunk list committed before it released its
// lease: the listing taken after the lock holds every list there is.
// What a sweep skips stays for the next one or CheckRepository.
func (d *dedupStorage) sweep(ctx context.Context, cands map[[32]byte]struct{}) (removed int, skipped string, err error) {
	l, err := takeLease(ctx, d.inner, sweepSuffix, "sweep")
	if err != nil {
		return 0, "", err
	}
	defer func() {
		if rerr := l.release(ctx); rerr != nil {
			err = errors.Join(err, rerr)
		}
	}()
	objs, err := d.inner.List(ctx)
	if err != nil {
		return 0, "", err
	}
	if live := liveLeases(objs, leaseSuffix, ""); len(live) > 0 {
		return 0, "a backup is being written (" + live[0] + ")", nil
	}
	for _, o := range objs {
		if _, ok := isArchive(o.Name); !ok {
			continue
		}
		err := d.eachRef(ctx, o.Name, func(c chunkRef) error {
			delete(cands, c.ID)
			return nil
		})
		if err != nil && !errors.Is(err, ErrNotFound) {
			// What a list that cannot be read holds is unknown: keep all.
			return 0, "", fmt.Errorf("reading the chunks other backups use: %w", err)
		}
	}
	chunks, _, err := d.layout(ctx)
	if err != nil {
		return 0, "", err
	}
	for id := range cands {
		name := chunkRef{ID: id}.name()
		if err := chunks.Remove(ctx, name); err != nil && !errors.Is(err, ErrNotFound) {
			return removed, "", fmt.Errorf("removing %s: %w", name, err)
		}
		removed++
	}
	// Leases of processes that died are ngbak's to clean.
	for _, o := range objs {
		for _, suffix := range []string{leaseSuffix, sweepSuffix} {
			if id, ok := strings.CutSuffix(o.Name, suffix); ok && ownID(id) && time.Since(o.ModTime) > leaseExpiry {
				if err := d.inner.Remove(ctx, o.Name); err != nil && !errors.Is(err, ErrNotFound) {
					return removed, "", fmt.Errorf("removing the stale %s: %w", o.Name, err)
				}
			}
		}
	}
	return removed, "", nil
}

// waitForSweeps returns once no sweep runs, the caller's lease taken.
func (d *dedupStorage) waitForSweeps(ctx context.Context) error {
	deadline := time.Now().Add(sweepWait)
	for {
		objs, err := d.inner.List(ctx)
		if err != nil {
			return err
		}
		live := liveLeases(objs, sweepSuffix, "")
		if len(live) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%w: chunks are being swept by another process (%s)", ErrBusy, live[0])
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// tarSink is the ObjectWriter of the layout: newArchiveWriter gives it the
// tar stream itself (acceptTar), Import gives it an archive, which it
// decompresses; finishTar tells the sidecar sum, the chunk list's.
type tarSink interface {
	ObjectWriter
	acceptTar()
	finishTar() (sum string, size int64, err error)
}

// tarSource is the reader of the layout: the archive reader takes the tar
// stream from it; Read gives a standard archive, made as it is read.
// If sumIsList, the sidecar holds the chunk list's SHA-256, which listSum
// returns once the tar stream has been read to its end; else (a version 1
// list) the sidecar holds the tar stream's.
type tarSource interface {
	io.ReadCloser
	tarStream() io.Reader
	sumIsList() bool
	listSum() (sum string, size int64)
}

type dedupWriter struct {
	d     *dedupStorage
	ctx   context.Context
	key   *dedupKey
	index ObjectWriter
	list  *chunkListWriter
	lease *lease
	// chunks is where this writer puts them (mode: as recorded, or to be)
	chunks Storage
	mode   string
	// written are the chunks this writer stored, for Abort to sweep: 32
	// bytes for each new chunk of the backup.
	mu      sync.Mutex
	written map[[32]byte]struct{}

	tar     bool // acceptTar was called: the input is the tar stream
	started bool
	pw      *io.PipeWriter
	done    chan struct{}
	err     error // the pipeline's, once done is closed
	closed  bool
	ended   bool
}

func (d *dedupStorage) newWriter(ctx context.Context, id string) (_ *dedupWriter, err error) {
	w := &dedupWriter{d: d, ctx: ctx, done: make(chan struct{})}
	if d.enc != nil {
		if w.key, err = d.loadKey(ctx, true); err != nil {
			return nil, err
		}
	}
	if w.lease, err = takeLease(ctx, d.inner, leaseSuffix, id); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, w.lease.release(ctx))
		}
	}()
	if err = d.waitForSweeps(ctx); err != nil {
		return nil, err
	}
	if w.chunks, w.mode, err = d.layout(ctx); err != nil {
		return nil, err
	}
	if cf, ok := w.chunks.(chunkFolder); ok {
		cf.removeStalePartials()
	}
	if w.index, err = d.inner.Create(ctx, archiveName(id)); err != nil {
		return nil, err
	}
	if w.list, err = newChunkListWriter(w.index, w.key != nil); err != nil {
		w.index.Abort()
		return nil, err
	}
	return w, nil
}

func (w *dedupWriter) acceptTar() { w.tar = true }

func (w *dedupWriter) start() {
	if w.started {
		return
	}
	w.started = true
	pr, pw := io.Pipe()
	w.pw = pw
	go func() {
		defer close(w.done)
		w.err = w.run(pr)
		pr.CloseWithError(errors.Join(w.err, errors.New("the chunk writer stopped")))
	}()
}

func (w *dedupWriter) Write(p []byte) (int, error) {
	if w.closed {
		return 0, errors.New("ngbak: write after the end of the archive")
	}
	w.start()
	n, err := w.pw.Write(p)
	if err != nil {
		<-w.done
		if w.err != nil {
			return n, w.err
		}
	}
	return n, err
}

// end closes the input and waits for the pipeline.
func (w *dedupWriter) end() error {
	if !w.ended {
		w.ended = true
		w.start()
		w.closed = true
		w.pw.Close()
		<-w.done
	}
	return w.err
}

// finishTar ends the input and the chunk list, and returns the list's
// SHA-256 and size: the backup's sidecar sum (see chunkListWriter).
func (w *dedupWriter) finishTar() (string, int64, error) {
	if err := w.end(); err != nil {
		return "", 0, err
	}
	if err := w.list.close(); err != nil {
		return "", 0, err
	}
	sum, size := w.list.sum()
	return sum, size, nil
}

func (w *dedupWriter) Commit() error {
	if err := w.end(); err != nil {
		w.Abort()
		return err
	}
	if err := w.list.close(); err != nil {
		w.Abort()
		return err
	}
	// The chunks, stored or found, get their names durably before the list
	// that relies on them does: once for all of them (the folder's sync
	// covers the names another process gave the chunks this one found).
	if fs, ok := w.chunks.(chunkFolder); ok {
		if err := fs.syncFolder(); err != nil {
			w.Abort()
			return err
		}
	}
	// The repository's records are written by the first Create to commit,
	// so that one cancelled leaves nothing.
	if err := w.d.recordLayout(w.ctx, w.mode); err != nil {
		w.Abort()
		return err
	}
	if err := w.d.storePendingKey(w.ctx); err != nil {
		w.Abort()
		return err
	}
	// The list is committed before the lease goes: a sweep that starts in
	// between sees the list.
	if err := w.index.Commit(); err != nil {
		w.lease.release(w.ctx)
		return err
	}
	return w.lease.release(w.ctx)
}

func (w *dedupWriter) Abort() error {
	if w.started && !w.ended {
		w.ended = true
		w.closed = true
		w.pw.CloseWithError(errors.New("aborted"))
		<-w.done
	}
	err := w.index.Abort()
	if w.lease != nil {
		l := w.lease
		w.lease = nil
		err = errors.Join(err, l.release(w.ctx))
		// The chunks this Create wrote go, by the sweep's protocol (another
		// Create may have found them meanwhile); what it skips, a later
		// sweep or CheckRepository frees.
		w.mu.Lock()
		written := w.written
		w.written = nil
		w.mu.Unlock()
		if len(written) > 0 {
			_, _, serr := w.d.sweep(context.WithoutCancel(w.ctx), written)
			err = errors.Join(err, serr)
		}
	}
	return err
}

// run cuts the input into chunks and stores those the storage does not
// hold, several at a time. Memory: one buffer of the largest chunk for the
// chunk being cut and one for each chunk being stored.
func (w *dedupWriter) run(pr io.Reader) error {
	var src io.Reader = pr
	if !w.tar {
		br := bufio.NewReader(pr)
		var plain io.Reader = br
		if head, _ := br.Peek(4); !bytes.Equal(head, zstdMagic) {
			if w.d.enc == nil {
				return fmt.Errorf("%w: the archive is not zstd, and no Options.Encryption to decrypt it", ErrCorrupt)
			}
			r, err := w.d.enc.Decrypt(br)
			if err != nil {
				return fmt.Errorf("%w: %v", ErrKey, err)
			}
			plain = r
		}
		zr, err := zstd.NewReader(plain, zstd.WithDecoderMaxWindow(64<<20), zstd.WithDecoderMaxMemory(64<<20), zstd.WithDecoderConcurrency(2))
		if err != nil {
			return err
		}
		defer zr.Close()
		src = zr
	}
	pol := plainPol
	if w.key != nil {
		pol = w.key.pol
	}
	ch := chunker.NewWithBoundaries(src, pol, w.d.min, w.d.max)
	ch.SetAverageBits(w.d.avgBits)
	workers := chunkWorkers()
	g, ctx := errgroup.WithContext(w.ctx)
	g.SetLimit(workers)
	bufs := make(chan []byte, workers+1)
	for range workers + 1 {
		bufs <- make([]byte, w.d.max)
	}
	// Chunks are hashed and stored by the workers; their ids reach the
	// list in order through one future each.
	ids := make(chan chan chunkRef, workers+1)
	listed := make(chan error, 1)
	go func() {
		var err error
		for f := range ids {
			if ref := <-f; err == nil {
				err = w.list.add(ref)
			}
		}
		listed <- err
	}()
	var err error
	for {
		if err = ctx.Err(); err != nil {
			break
		}
		buf := <-bufs
		var c chunker.Chunk
		c, err = ch.Next(buf)
		if err == io.EOF {
			err = nil
			bufs <- buf
			break
		}
		if err != nil {
			break
		}
		data := c.Data
		f := make(chan chunkRef, 1)
		ids <- f
		g.Go(func() error {
			defer func() { bufs <- buf[:cap(buf)] }()
			ref := chunkRef{ID: w.key.chunkID(data), Size: int64(len(data))}
			f <- ref
			stored, err := w.d.storeChunk(ctx, w.chunks, w.key, ref, data)
			if stored {
				w.mu.Lock()
				if w.written == nil {
					w.written = map[[32]byte]struct{}{}
				}
				w.written[ref.ID] = struct{}{}
				w.mu.Unlock()
			}
			return err
		})
	}
	gerr := g.Wait()
	close(ids)
	if lerr := <-listed; lerr != nil && err == nil {
		err = lerr
	}
	if gerr != nil {
		err = gerr
	}
	if err == nil && !w.tar {
		// What the decoder left (a checksum, trailing bytes) must be read
		// for its errors.
		if _, err = io.Copy(io.Discard, src); err != nil {
			return err
		}
	}
	return err
}

// chunkWorkers is how many chunks a Create hashes, compresses and stores
// at a time.
func chunkWorkers() int { return min(runtime.GOMAXPROCS(0), 4) }

// storeChunk writes a chunk unless the storage holds it. Another writer of
// the same chunk, in this process or another, makes Dir's Create ErrBusy:
// it is waited for.
func (d *dedupStorage) storeChunk(ctx context.Context, chunks Storage, k *dedupKey, ref chunkRef, data []byte) (stored bool, err error) {
	name := ref.name()
	var sealed []byte
	defer func() {
		if sealed != nil {
			putBuf(sealed)
		}
	}()
	for attempt := 0; ; attempt++ {
		_, err := chunks.Stat(ctx, name)
		if err == nil {
			return false, nil
		}
		if !errors.Is(err, ErrNotFound) {
			return false, fmt.Errorf("%s: %w", name, err)
		}
		if sealed == nil {
			sealed = d.seal(k, ref.ID, data)
		}
		err = putObject(ctx, chunks, name, sealed)
		if err == nil {
			return true, nil
		}
		if errors.Is(err, ErrExists) {
			return false, nil
		}
		if !errors.Is(err, ErrBusy) || attempt > 600 {
			return false, fmt.Errorf("storing %s: %w", name, err)
		}
		select {
		case <-ctx.Done():
			return false, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// dedupReader reassembles an archive's tar stream from its chunks, a few
// fetched ahead in parallel.
type dedupReader struct {
	d      *dedupStorage
	name   string // the chunk list
	ctx    context.Context
	cancel context.CancelFunc
	key    *dedupKey
	order  chan chan fetched
	done   chan struct{}
	cur    []byte
	held   []byte // the buffer cur is in, back to bufPool once read
	err    error
	// the archive made on the fly for Read
	pr *io.PipeReader
	// list is read by produce; its sum is what the sidecar holds once
	// order is closed
	list *chunkListReader
}

type fetched struct {
	data []byte
	err  error
}

// prefetch is how many chunks a reader fetches ahead.
const prefetch = 8

func (d *dedupStorage) newReader(ctx context.Context, name string) (io.ReadCloser, error) {
	rc, err := d.inner.Open(ctx, name)
	if err != nil {
		return nil, err
	}
	br := bufio.NewReaderSize(rc, 64<<10)
	if head, _ := br.Peek(len(chunkListMagic)); plainArchive(head) {
		// Stored before the storage was deduplicated: read as it is.
		return struct {
			io.Reader
			io.Closer
		}{br, rc}, nil
	}
	l, err := newChunkListReader(br, maxChunkBound)
	if err != nil {
		rc.Close()
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	r := &dedupReader{d: d, order: make(chan chan fetched, prefetch), done: make(chan struct{}), list: l}
	if l.sealed {
		if d.enc == nil {
			rc.Close()
			return nil, fmt.Errorf("%w: %s lists encrypted chunks; set Options.Encryption with its key", ErrKey, name)
		}
		if r.key, err = d.loadKey(ctx, false); err != nil {
			rc.Close()
			return nil, err
		}
	}
	r.ctx, r.cancel = context.WithCancel(ctx)
	r.name = name
	go r.produce(rc, l, name)
	return r, nil
}

func (r *dedupReader) produce(rc io.ReadCloser, l *chunkListReader, name string) {
	defer close(r.done)
	defer close(r.order)
	defer rc.Close()
	for {
		ref, err := l.next()
		if err == io.EOF {
			return
		}
		ch := make(chan fetched, 1)
		select {
		case r.order <- ch:
		case <-r.ctx.Done():
			return
		}
		if err != nil {
			ch <- fetched{err: fmt.Errorf("%s: %w", name, err)}
			return
		}
		go func() { ch <- r.fetch(ref) }()
	}
}

func (r *dedupReader) fetch(ref chunkRef) fetched {
	data, err := r.d.readChunk(r.ctx, r.key, ref)
	if errors.Is(err, errChunkMissing) {
		// A backup deleted (in another process) while it was read loses
		// its chunks to the sweep: that is a backup gone, not a damaged one.
		if _, serr := r.d.inner.Stat(r.ctx, r.name); errors.Is(serr, ErrNotFound) {
			err = fmt.Errorf("%w: %s was deleted while it was read", ErrNotFound, r.name)
		}
	}
	return fetched{data, err}
}

var errChunkMissing = errors.New("missing")

func (d *dedupStorage) readChunk(ctx context.Context, k *dedupKey, ref chunkRef) ([]byte, error) {
	name := ref.name()
	chunks, _, err := d.layout(ctx)
	if err != nil {
		return nil, err
	}
	rc, err := chunks.Open(ctx, name)
	if errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("%w: chunk %s is %w: %v", ErrCorrupt, name, errChunkMissing, err)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	defer rc.Close()
	// zstd never grows data by more than a little; this bounds a forged
	// object's cost.
	buf := bytes.NewBuffer(getBuf(int(ref.Size/2) + 1<<10))
	_, err = buf.ReadFrom(io.LimitReader(rc, ref.Size+ref.Size/8+1<<10))
	data := buf.Bytes()
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", name, err)
	}
	defer putBuf(data)
	return d.unseal(k, ref, data)
}

// bufPool recycles the buffers chunks are read, sealed and unsealed in: a
// backup moves its size twice through them, which would otherwise be as
// much garbage. It holds no more than the chunks in flight.
var bufPool sync.Pool

// getBuf returns an empty buffer of at least n bytes' capacity.
func getBuf(n int) []byte {
	if b, ok := bufPool.Get().(*[]byte); ok && cap(*b) >= n {
		return (*b)[:0]
	}
	return make([]byte, 0, n)
}

func putBuf(b []byte) {
	b = b[:0]
	bufPool.Put(&b)
}

func (r *dedupReader) sumIsList() bool { return r.list.version >= 2 }

func (r *dedupReader) listSum() (string, int64) { return r.list.sum() }

// sidecarOf reads the sidecar sum of the archive name.
func (d *dedupStorage) sidecarOf(ctx context.Context, name string) (string, error) {
	id := strings.TrimSuffix(name, ".ngbak")
	rc, err := d.inner.Open(ctx, sumName(id))
	if err != nil {
		return "", fmt.Errorf("%s: %w", sumName(id), err)
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, 4<<10))
	if err != nil {
		return "", fmt.Errorf("reading %s: %w", sumName(id), err)
	}
	return parseSidecarSum(id, data)
}

// tarStream reads the tar stream. Closing the reader stops it.
func (r *dedupReader) tarStream() io.Reader { return readerFunc(r.readTar) }

type readerFunc func([]byte) (int, error)

func (f readerFunc) Read(p []byte) (int, error) { return f(p) }

func (r *dedupReader) readTar(p []byte) (int, error) {
	for len(r.cur) == 0 {
		if r.err != nil {
			return 0, r.err
		}
		ch, ok := <-r.order
		if !ok {
			if err := r.ctx.Err(); err != nil {
				r.err = err
			} else {
				r.err = io.EOF
			}
			continue
		}
		f := <-ch
		if f.err != nil {
			r.err = f.err
			continue
		}
		if r.held != nil {
			putBuf(r.held)
		}
		r.cur, r.held = f.data, f.data
	}
	n := copy(p, r.cur)
	r.cur = r.cur[n:]
	return n, nil
}

// Read returns a standard ngbak/1 archive of the tar stream, compressed as
// it is read and, for an encrypted backup, encrypted.
func (r *dedupReader) Read(p []byte) (int, error) {
	if r.pr == nil {
		pr, pw := io.Pipe()
		r.pr = pr
		go func() { pw.CloseWithError(r.compress(pw)) }()
	}
	return r.pr.Read(p)
}

func (r *dedupReader) compress(w io.Writer) error {
	// A download of a deduplicated backup checks itself against the
	// sidecar: the list's sum, or a version 1 list's stream's.
	want, err := r.d.sidecarOf(r.ctx, r.name)
	if err != nil {
		return err
	}
	tar := r.tarStream()
	var streamSum hash.Hash
	if !r.sumIsList() {
		streamSum = sha256.New()
		tar = io.TeeReader(tar, streamSum)
	}
	var enc io.WriteCloser
	if r.key != nil {
		var err error
		if enc, err = r.d.enc.Encrypt(w); err != nil {
			return fmt.Errorf("encrypting: %w", err)
		}
		w = enc
	}
	zw, err := newStreamCompressor(w, r.d.level)
	if err != nil {
		return err
	}
	n, err := io.Copy(zw, tar)
	if err != nil {
		zw.abort()
		return err
	}
	// Every chunk matched its id; the list must be the one the sidecar
	// names, or the archive is another backup's or a forged one.
	what := "tar stream"
	var got string
	if streamSum != nil {
		got = hex.EncodeToString(streamSum.Sum(nil))
	} else {
		got, n = r.listSum()
		what = "chunk list"
	}
	if got != want {
		zw.abort()
		return fmt.Errorf("%w: %s: its %s (%d bytes) has sha256 %s, its sidecar says %s", ErrChecksum, r.name, what, n, got, want)
	}
	if err := zw.Close(); err != nil {
		return err
	}
	if enc != nil {
		return enc.Close()
	}
	return nil
}

// SizeUnknown tells a server not to send Backup.Size (the chunk list's) as
// the archive's length: the archive is made as it is read.
func (r *dedupReader) SizeUnknown() bool { return true }

func (r *dedupReader) Close() error {
	r.cancel()
	if r.pr != nil {
		r.pr.Close()
	}
	<-r.done
	return nil
}
