package ngbak

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// An Exporter backs up and restores one store, or one scope of a store,
// through files in its own folder of the archive. Backend packages
// (jsonexp, redisexp, neo4jexp, qdrantexp) provide them; a Manager runs them.
//
// Every exporter is expected to pass the conformance suite in
// github.com/ngbak/ngbak/exportertest.
type Exporter interface {
	// Name is the exporter's folder in the archive and its key in the
	// manifest; it is unique within a Manager. It matches
	// ^[A-Za-z0-9][A-Za-z0-9_-]*$.
	Name() string
	// Kind names the store type ("json", "redis", "neo4j", "qdrant"). Restore
	// refuses to give a backend's files to an exporter of another kind.
	Kind() string
	// Export writes the store's state through w and describes what it wrote.
	// It must return an error if anything could not be read: a backup that
	// silently lacks data is worse than none.
	Export(ctx context.Context, w *Writer) (Info, error)
	// Restore replaces the store's state with the files read from r: after it
	// returns nil, the scope holds exactly what the backup held. On error the
	// Manager rolls back from its safety backup, so Restore need not undo its
	// own partial work, but it must report every failure.
	Restore(ctx context.Context, r *Reader) error
}

// A RestoreChecker is an Exporter that can tell, before anything changes,
// that a restore of a backend would fail or destroy what it cannot put
// back: a snapshot from a server version the store does not accept, data
// outside the backup that the restore would delete. Manager.Restore calls
// CheckRestore for every backend it is about to restore, after the archive
// is verified and before the safety backup; an error stops the restore with
// nothing changed.
type RestoreChecker interface {
	Exporter
	CheckRestore(ctx context.Context, b *Backend) error
}

// Info is what an exporter records about its export in the manifest.
type Info struct {
	// Format is the exporter's format version for its files, for example
	// "redis-kv/1", so a future exporter can read what an older one wrote.
	Format string
	// ServerVersion is what the store reported about itself.
	ServerVersion string
	// Stats holds counts: nodes, relationships, points, keys, files ...
	Stats map[string]int64
	// Details is what else the exporter records about the store in the
	// manifest, as a JSON object: a Qdrant collection's configuration and
	// aliases, for example. It must be valid JSON; nil means none.
	Details json.RawMessage
}

// spoolMemory is how much of a file of unknown size Writer.Create keeps in
// memory before it spills to a temporary file.
const spoolMemory = 1 << 20

// Writer is handed to Exporter.Export. It writes files into the exporter's
// folder of the archive, one at a time; it is not safe for concurrent use.
//
// A tar header holds an entry's size before its bytes, so a file whose size
// is known (WriteFile) streams straight into the archive; a file whose size
// is not known (Create) is held in memory up to 1 MiB and beyond that
// spooled to a temporary file in Options.TempDir until it is closed; and a
// stream of records of unknown size (Parts) is cut into parts of about
// 2 MiB, each written as soon as it is full. Memory stays bounded every way.
type Writer struct {
	ctx     context.Context
	a       *archiveWriter
	backend string
	tempDir string
	files   []File
	paths   map[string]bool // the paths of files, for the duplicate check
	open    *spool

	// For backends that export in parallel (parallel.go).
	lease     *archiveLease
	held      bool
	pending   []pendingEntry
	spoolFile *os.File
	spoolSize int64
	spoolBuf  []byte
}

// WriteFile writes the file name (relative to the exporter's folder, slash
// separated) with exactly size bytes read from r. It is an error if r holds
// fewer bytes; bytes past size are not read.
func (w *Writer) WriteFile(name string, size int64, r io.Reader) error {
	if w.open != nil {
		return fmt.Errorf("WriteFile(%q) while %q is open", name, w.open.name)
	}
	path, err := w.path(name)
	if err != nil {
		return err
	}
	f, err := w.add(path, size, r)
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	w.files = append(w.files, f)
	if w.paths == nil {
		w.paths = map[string]bool{}
	}
	w.paths[path] = true
	return nil
}

// WriteFileSHA256 is WriteFile for a file whose SHA-256 (hex) the source
// states, as a Qdrant snapshot's description does: the bytes are hashed
// once, for the archive, and a mismatch fails the write with ErrChecksum.
func (w *Writer) WriteFileSHA256(name string, size int64, sha256Hex string, r io.Reader) error {
	if err := w.WriteFile(name, size, r); err != nil {
		return err
	}
	if got := w.files[len(w.files)-1].SHA256; got != strings.ToLower(sha256Hex) {
		return fmt.Errorf("writing %s: %w: sha256 %s, the source says %s", w.files[len(w.files)-1].Path, ErrChecksum, got, sha256Hex)
	}
	return nil
}

// Create starts the file name, of a size not known in advance; it is added
// to the archive when the returned writer is closed. Close the file before
// creating or writing the next one.
func (w *Writer) Create(name string) (io.WriteCloser, error) {
	if w.open != nil {
		return nil, fmt.Errorf("Create(%q) while %q is open", name, w.open.name)
	}
	if _, err := w.path(name); err != nil {
		return nil, err
	}
	w.open = &spool{w: w, name: name}
	return w.open, nil
}

func (w *Writer) path(name string) (string, error) {
	path := w.backend + "/" + name
	if err := checkPath(path); err != nil {
		return "", err
	}
	if path == w.backend+"/" {
		return "", errors.New("empty file name")
	}
	if w.paths[path] {
		return "", fmt.Errorf("file %q written twice", name)
	}
	return path, nil
}

// spool holds a file of unknown size until it is closed.
type spool struct {
	w      *Writer
	name   string
	mem    bytes.Buffer
	file   *os.File
	size   int64
	closed bool
}

func (s *spool) Write(p []byte) (int, error) {
	if s.closed {
		return 0, fmt.Errorf("write to closed file %q", s.name)
	}
	if err := s.w.ctx.Err(); err != nil {
		return 0, err
	}
	if s.file == nil && s.mem.Len()+len(p) > spoolMemory {
		f, err := os.CreateTemp(s.w.tempDir, "ngbak-spool-*")
		if err != nil {
			return 0, fmt.Errorf("spooling %q: %w", s.name, err)
		}
		s.file = f
		if _, err := f.Write(s.mem.Bytes()); err != nil {
			return 0, fmt.Errorf("spooling %q: %w", s.name, err)
		}
		s.mem = bytes.Buffer{}
	}
	var n int
	var err error
	if s.file != nil {
		n, err = s.file.Write(p)
		if err != nil {
			err = fmt.Errorf("spooling %q: %w", s.name, err)
		}
	} else {
		n, _ = s.mem.Write(p)
	}
	s.size += int64(n)
	return n, err
}

// Close adds the file to the archive.
func (s *spool) Close() error {
	if s.closed {
		return nil
	}
	s.closed = true
	s.w.open = nil
	var r io.Reader = &s.mem
	if s.file != nil {
		defer s.discard()
		if _, err := s.file.Seek(0, io.SeekStart); err != nil {
			return err
		}
		r = s.file
	}
	return s.w.WriteFile(s.name, s.size, r)
}

func (s *spool) discard() {
	if s.file != nil {
		s.file.Close()
		os.Remove(s.file.Name())
		s.file = nil
	}
}

// Reader is handed to Exporter.Restore. It reads the exporter's files in the
// order they were written, like archive/tar's Reader: Next moves to the next
// file, Read reads it. The archive has been verified before Restore is
// called, and every file is checked again as it is read: Read returns an
// error wrapping ErrChecksum at the end of a file that does not match, so an
// exporter must read each file to io.EOF before it acts on it.
type Reader struct {
	a       *archiveReader
	backend *Backend
	next    int
	cur     io.Reader
	queue   *entryQueue                              // set when backends restore in parallel
	src     func() (string, int64, io.Reader, error) // NewReader's
	done    bool

	// progress, if set, hears how many bytes the exporter has read (see
	// track); reported is the last count it heard.
	progress       func(n int64)
	read, reported int64
}

// track makes r report the bytes its exporter reads as events like ev,
// against the backend's size: now (0), every progressStep bytes, and at
// trackEnd.
func (r *Reader) track(emit func(Event), ev Event) {
	ev.Total = r.backend.payloadSize()
	r.progress = func(n int64) {
		ev.Bytes = n
		emit(ev)
	}
	r.progress(0)
}

// trackEnd reports what the exporter read in all, once its Restore has
// returned.
func (r *Reader) trackEnd() {
	if r.progress != nil && r.read != r.reported {
		r.reported = r.read
		r.progress(r.read)
	}
}

// Backend returns what the manifest records about this exporter's part of
// the backup: its format, the server version, statistics and files.
func (r *Reader) Backend() *Backend { return r.backend }

// Next advances to the next file and returns its name relative to the
// exporter's folder and its size. It returns io.EOF after the last file.
func (r *Reader) Next() (name string, size int64, err error) {
	if r.src != nil {
		return r.nextFromSource()
	}
	if r.next >= len(r.backend.Files) {
		r.cur = nil
		return "", 0, io.EOF
	}
	f, body, err := r.nextEntry()
	if errors.Is(err, io.EOF) {
		err = corrupt("archive ends before %s", r.backend.Files[r.next].Path)
	}
	if err != nil {
		return "", 0, err
	}
	r.next++
	r.cur = body
	return f.Path[len(r.backend.Name)+1:], f.Size, nil
}

// Read reads from the current file.
func (r *Reader) Read(p []byte) (int, error) {
	if r.cur == nil {
		return 0, errors.New("ngbak: Read before Next")
	}
	n, err := r.cur.Read(p)
	before := r.read
	r.read += int64(n)
	if r.progress != nil && r.read/progressStep != before/progressStep {
		r.reported = r.read
		r.progress(r.read)
	}
	return n, err
}

// partSize is the size at which a PartWriter closes a part. A part is
// held whole, and the collector lets the heap grow to about twice what is
// held, so this is most of an exporter's memory; each part costs a tar
// header and a SHA256SUMS line (about 600 bytes). At 8 MiB, neo4jexp's
// and redisexp's exports peaked at 30 to 45 MiB of heap; at 2 MiB, at 20
// to 22 MiB, as fast (BenchmarkExport in both).
const partSize = 2 << 20

// PartWriter cuts a stream of records of unknown total size into files of
// about 2 MiB, dir/000001<ext>, dir/000002<ext> ..., never splitting a
// record. Each part's size is known when it is written, so it streams into
// the archive, where it is compressed while the exporter produces the next:
// memory holds one part, and there is no temporary file. An empty stream
// still has one, empty, part. Readers see the parts in order with
// Reader.Next.
type PartWriter struct {
	w   *Writer
	dir string
	ext string
	n   int
	buf []byte
}

// Parts returns a PartWriter for files under dir ending in ext.
func (w *Writer) Parts(dir, ext string) *PartWriter {
	return &PartWriter{w: w, dir: dir, ext: ext}
}

// partSlack is room beyond partSize for the record that fills a part.
const partSlack = 1 << 20

// Buffer returns the part being filled, for the caller to append one
// record to and hand back with Append.
func (p *PartWriter) Buffer() []byte {
	if p.buf == nil {
		// Grown by append from empty, the first part would leave about
		// four times its size in dropped arrays for the collector to find,
		// and the heap grows by what it has not collected yet.
		p.buf = make([]byte, 0, partSize+partSlack)
	}
	return p.buf
}

// Append takes back the buffer with a record appended, and writes the part
// once it is large enough.
func (p *PartWriter) Append(b []byte) error {
	p.buf = b
	if len(p.buf) >= partSize {
		return p.flush()
	}
	return nil
}

func (p *PartWriter) flush() error {
	p.n++
	name := fmt.Sprintf("%s/%06d%s", p.dir, p.n, p.ext)
	if err := p.w.WriteFile(name, int64(len(p.buf)), bytes.NewReader(p.buf)); err != nil {
		return err
	}
	p.buf = p.buf[:0]
	return nil
}

// Close writes the last part, or the one empty part of an empty stream.
func (p *PartWriter) Close() error {
	var err error
	if len(p.buf) > 0 || p.n == 0 {
		err = p.flush()
	}
	p.buf = nil
	return err
}
