package ngbak

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/klauspost/compress/zstd"
)

// Limits bound what reading an archive may cost. The zero value of a field
// means its default. Create refuses to write an archive that its own
// Limits would refuse to read; raise them for stores that big (and set the
// same on every Manager that reads the archives).
type Limits struct {
	// MaxEntries is the most entries an archive may hold. Default 1<<20.
	MaxEntries int
	// MaxEntrySize is the largest entry, uncompressed. Default 1 TiB.
	MaxEntrySize int64
	// MaxTotalSize is the largest payload, uncompressed: the bound on what a
	// decompression bomb can make Verify or Import read. Default 4 TiB.
	MaxTotalSize int64
	// MaxWindow is the largest zstd window the decoder accepts, which bounds
	// its memory. Default 64 MiB; Create writes windows of at most 8 MiB.
	MaxWindow uint64
}

func (l Limits) withDefaults() Limits {
	if l.MaxEntries <= 0 {
		l.MaxEntries = 1 << 20
	}
	if l.MaxEntrySize <= 0 {
		l.MaxEntrySize = 1 << 40
	}
	if l.MaxTotalSize <= 0 {
		l.MaxTotalSize = 4 << 40
	}
	if l.MaxWindow == 0 {
		l.MaxWindow = 64 << 20
	}
	return l
}

// archiveWriter writes ngbak/1: tar entries, zstd-compressed, into a storage
// object, hashing the compressed bytes as they go so that the sidecar
// .sha256 needs no second pass.
type archiveWriter struct {
	obj     ObjectWriter
	sum     hash.Hash // nil for a tarSink, whose sum is its chunk list's
	tarSink tarSink
	size    int64
	zw      *streamCompressor
	tw      *tar.Writer
	modTime time.Time
	files   []File
	buf     []byte
	enc     io.WriteCloser // the encryption layer, if any
	pipe    *sinkPipe
	// payload counts uncompressed entry bytes; progress, if set, hears of it
	// every progressStep bytes.
	payload  int64
	progress func(int64)
	// limits are what reading the archive back will accept: Create refuses
	// to write beyond them.
	limits Limits
}

// progressStep is how many bytes pass between two progress events.
const progressStep = 4 << 20

func newArchiveWriter(obj ObjectWriter, level int, modTime time.Time, enc Encryption, limits Limits) (*archiveWriter, error) {
	a := &archiveWriter{obj: obj, sum: sha256.New(), modTime: modTime.UTC().Truncate(time.Second), buf: make([]byte, 256<<10), limits: limits.withDefaults()}
	if t, ok := obj.(tarSink); ok {
		// The deduplicating layout compresses and encrypts chunk by chunk
		// (dedup.go). Headers carry no time, which would change every
		// header of every backup and with them the chunks around them.
		t.acceptTar()
		a.tarSink, a.sum = t, nil // the sidecar sum is the chunk list's
		a.modTime = time.Unix(0, 0).UTC()
		a.tw = tar.NewWriter(a.countingSink())
		return a, nil
	}
	var sink io.Writer = a.countingSink()
	if enc != nil {
		ew, err := enc.Encrypt(sink)
		if err != nil {
			a.pipe.close()
			return nil, fmt.Errorf("encrypting: %w", err)
		}
		a.enc, sink = ew, ew
	}
	zw, err := newStreamCompressor(sink, level)
	if err != nil {
		a.pipe.close()
		return nil, err
	}
	a.zw = zw
	a.tw = tar.NewWriter(zw)
	return a, nil
}

// encoderOptions compress one stream with its blocks encoded beside the
// writer's goroutine. Concurrent blocks (zstd.WithConcurrentBlocks) held
// about 100 MiB of queued jobs whatever the data and, on two busy cores,
// were slower, not faster (BenchmarkEncoder): backends that export in
// parallel already keep the cores busy. The window is kept small at the
// fast levels, where a larger one gains next to nothing.
func encoderOptions(level int) []zstd.EOption {
	window := 1 << 20
	if level > 3 {
		window = 4 << 20
	}
	return []zstd.EOption{
		zstd.WithEncoderLevel(zstd.EncoderLevelFromZstd(level)),
		zstd.WithEncoderConcurrency(min(runtime.GOMAXPROCS(0), 4)),
		zstd.WithWindowSize(window),
	}
}

type sinkFunc func([]byte) (int, error)

func (f sinkFunc) Write(p []byte) (int, error) { return f(p) }

func (a *archiveWriter) countingSink() io.Writer {
	a.pipe = newSinkPipe(func(p []byte) error {
		n, err := a.obj.Write(p)
		if a.sum != nil {
			a.sum.Write(p[:n])
		}
		a.size += int64(n)
		return err
	})
	return a.pipe
}

// add writes one entry of exactly size bytes read from r and returns its
// description for the manifest.
func (a *archiveWriter) add(ctx context.Context, path string, size int64, r io.Reader) (File, error) {
	if len(a.files) >= a.limits.MaxEntries {
		return File{}, fmt.Errorf("%s: the archive would hold more than %d entries, which Verify and Restore refuse (Limits.MaxEntries); write fewer, larger files (Writer.Parts) or raise the limit", path, a.limits.MaxEntries)
	}
	if size > a.limits.MaxEntrySize {
		return File{}, fmt.Errorf("%s: %d bytes is more than Verify and Restore accept for an entry (Limits.MaxEntrySize %d)", path, size, a.limits.MaxEntrySize)
	}
	if a.payload+size > a.limits.MaxTotalSize {
		return File{}, fmt.Errorf("%s: the payload would exceed the %d bytes Verify and Restore accept (Limits.MaxTotalSize)", path, a.limits.MaxTotalSize)
	}
	hdr := &tar.Header{Typeflag: tar.TypeReg, Name: path, Size: size, Mode: 0o644, ModTime: a.modTime}
	if err := a.tw.WriteHeader(hdr); err != nil {
		return File{}, err
	}
	h := sha256.New()
	n, err := copyBuffer(ctx, io.MultiWriter(a.tw, h, sinkFunc(a.count)), io.LimitReader(r, size), a.buf)
	if err != nil {
		return File{}, err
	}
	if n != size {
		return File{}, fmt.Errorf("%s: got %d bytes, expected %d", path, n, size)
	}
	f := File{Path: path, Size: size, SHA256: hex.EncodeToString(h.Sum(nil))}
	a.files = append(a.files, f)
	return f, nil
}

func (a *archiveWriter) count(p []byte) (int, error) {
	before := a.payload
	a.payload += int64(len(p))
	if a.progress != nil && a.payload/progressStep != before/progressStep {
		a.progress(a.payload)
	}
	return len(p), nil
}

// finish writes SHA256SUMS and the manifest, closes the streams and returns
// the manifest bytes and the archive's SHA-256. It does not commit.
func (a *archiveWriter) finish(m *Manifest) (manifest []byte, sum string, err error) {
	sums := sha256Sums(a.files)
	m.PayloadSHA256 = payloadSHA256(a.files)
	if manifest, err = m.marshal(); err != nil {
		return nil, "", err
	}
	// The reader takes both whole into memory, up to maxManifestSize: a
	// backup beyond it could be written but never read.
	for _, e := range []struct {
		name string
		n    int
	}{{manifestName, len(manifest)}, {sumsName, len(sums)}} {
		if e.n > maxManifestSize {
			return nil, "", fmt.Errorf("%s would be %d bytes for %d files, more than the %d bytes a reader accepts: write fewer, larger files (Writer.Parts)", e.name, e.n, len(a.files), maxManifestSize)
		}
	}
	for _, e := range []struct {
		name string
		data []byte
	}{{sumsName, sums}, {manifestName, manifest}} {
		hdr := &tar.Header{Typeflag: tar.TypeReg, Name: e.name, Size: int64(len(e.data)), Mode: 0o644, ModTime: a.modTime}
		if err := a.tw.WriteHeader(hdr); err != nil {
			return nil, "", err
		}
		if _, err := a.tw.Write(e.data); err != nil {
			return nil, "", err
		}
	}
	if err := a.tw.Close(); err != nil {
		return nil, "", err
	}
	if a.zw != nil {
		if err := a.zw.Close(); err != nil {
			return nil, "", err
		}
	}
	if a.enc != nil {
		if err := a.enc.Close(); err != nil {
			return nil, "", fmt.Errorf("encrypting: %w", err)
		}
	}
	if err := a.pipe.close(); err != nil {
		return nil, "", err
	}
	if a.tarSink != nil {
		sum, _, err := a.tarSink.finishTar()
		return manifest, sum, err
	}
	return manifest, hex.EncodeToString(a.sum.Sum(nil)), nil
}

// abort stops the encoder's goroutines; the caller aborts the object.
func (a *archiveWriter) abort() {
	if a.zw != nil {
		a.zw.abort()
	}
	a.pipe.close()
}

// copyBuffer is io.CopyBuffer that stops promptly when ctx is done.
func copyBuffer(ctx context.Context, dst io.Writer, src io.Reader, buf []byte) (int64, error) {
	var n int64
	for {
		if err := ctx.Err(); err != nil {
			return n, err
		}
		nr, rerr := src.Read(buf)
		if nr > 0 {
			nw, werr := dst.Write(buf[:nr])
			n += int64(nw)
			if werr != nil {
				return n, werr
			}
		}
		if rerr == io.EOF {
			return n, nil
		}
		if rerr != nil {
			return n, rerr
		}
	}
}

// archiveReader reads an ngbak/1 archive as a stream and checks it as it
// goes: every entry name, type and size, every entry's hash, SHA256SUMS, the
// manifest, the end of the tar stream and of the compressed stream. Nothing
// is extracted: memory stays bounded by the zstd window and one buffer.
//
// If want is known (the sidecar manifest of a stored backup), each entry must
// be the next file it lists, with its size, and the archive's own manifest
// must be byte for byte the sidecar; else the archive is checked on its own.
type archiveReader struct {
	ctx    context.Context
	raw    *hashingReader
	zr     *zstd.Decoder
	tr     *tar.Reader
	limits Limits

	want []File // nil when unknown
	// sidecar, if set, is the sidecar manifest, which must be one of the
	// forms of the manifest inside (sidecarMatches).
	sidecar []byte

	files []File // what was read, in order
	seen  map[string]bool
	total int64
	cur   *entryReader

	// progress, if set, hears how many payload bytes of a backend (the
	// first component of its entries' names) have been read: at its first
	// entry, every progressStep bytes, and after its last entry.
	progress func(backend string, n int64)
	backend  string
	read     int64 // of backend
	reported int64 // the last n progress heard of backend

	// Set once next has returned io.EOF.
	manifest      *Manifest
	manifestBytes []byte

	plain io.Reader // the decrypted stream of an encrypted archive
}

// newArchiveReader reads r; dec, if not nil, decrypts it first. want, if
// set, lists the files to expect in order; sidecar, if set, is the sidecar
// manifest the manifest inside must match.
func newArchiveReader(ctx context.Context, r io.Reader, limits Limits, want *Manifest, sidecar []byte, dec Encryption) (*archiveReader, error) {
	limits = limits.withDefaults()
	raw := &hashingReader{r: r, h: sha256.New()}
	if u, ok := r.(unsummedReader); ok {
		raw.r, raw.h = u.Reader, nil
	}
	if t, ok := r.(tarSource); ok {
		// The deduplicating layout's tar stream, decrypted and checked
		// chunk by chunk against the ids of a list whose sum the sidecar
		// holds: hashing the stream too would add nothing (a version 1
		// list's sidecar holds the stream's sum, which is checked).
		raw.r = t.tarStream()
		if t.sumIsList() {
			raw.h, raw.list = nil, t
		}
		a := &archiveReader{ctx: ctx, raw: raw, tr: tar.NewReader(raw), limits: limits, seen: map[string]bool{}, sidecar: sidecar}
		if want != nil {
			a.want = append([]File{}, want.files()...)
		}
		return a, nil
	}
	var plain io.Reader = raw
	if dec != nil {
		d, err := dec.Decrypt(raw)
		if err != nil {
			if rerr := raw.readErr(); rerr != nil {
				return nil, fmt.Errorf("reading the archive: %w", rerr)
			}
			return nil, fmt.Errorf("%w: %v", ErrKey, err)
		}
		plain = d
	}
	zr, err := zstd.NewReader(plain, zstd.WithDecoderMaxWindow(limits.MaxWindow), zstd.WithDecoderMaxMemory(limits.MaxWindow), zstd.WithDecoderConcurrency(2))
	if err != nil {
		return nil, err
	}
	a := &archiveReader{ctx: ctx, raw: raw, zr: zr, tr: tar.NewReader(zr), limits: limits, seen: map[string]bool{}}
	if dec != nil {
		a.plain = plain
	}
	if want != nil {
		a.want = want.files()
		if a.want == nil {
			a.want = []File{}
		}
	}
	a.sidecar = sidecar
	return a, nil
}

func (a *archiveReader) close() {
	if a.zr != nil {
		a.zr.Close()
	}
}

func corrupt(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrCorrupt, fmt.Sprintf(format, args...))
}

// streamErr classifies an error from the tar or zstd layer: a failure to
// read the archive's bytes stays what it is; anything else means the bytes
// are not a valid archive.
func (a *archiveReader) streamErr(err error) error {
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	if ctxErr := a.ctx.Err(); ctxErr != nil {
		return ctxErr
	}
	if rerr := a.raw.readErr(); rerr != nil {
		return fmt.Errorf("reading the archive: %w", rerr)
	}
	if errors.Is(err, ErrCorrupt) || errors.Is(err, ErrChecksum) {
		return err
	}
	return fmt.Errorf("%w: %v", ErrCorrupt, err)
}

// header reads the next tar header and checks what every entry must be.
func (a *archiveReader) header() (*tar.Header, error) {
	if err := a.ctx.Err(); err != nil {
		return nil, err
	}
	hdr, err := a.tr.Next()
	if err != nil {
		return nil, a.streamErr(err)
	}
	if err := checkPath(hdr.Name); err != nil {
		return nil, corrupt("entry %d: %v", len(a.files)+1, err)
	}
	if hdr.Typeflag != tar.TypeReg {
		return nil, corrupt("entry %q is not a regular file (tar type %q)", hdr.Name, hdr.Typeflag)
	}
	if a.seen[hdr.Name] {
		return nil, corrupt("entry %q appears twice", hdr.Name)
	}
	a.seen[hdr.Name] = true
	if len(a.seen) > a.limits.MaxEntries+2 {
		return nil, corrupt("more than %d entries", a.limits.MaxEntries)
	}
	// SHA256SUMS and the manifest have their own bound (maxManifestSize),
	// which Create checks as the reader does; MaxEntrySize and the payload
	// are the exporters' entries, as Create counts them.
	own := hdr.Name == sumsName || hdr.Name == manifestName
	if hdr.Size < 0 || !own && hdr.Size > a.limits.MaxEntrySize {
		return nil, corrupt("entry %q is %d bytes, limit %d", hdr.Name, hdr.Size, a.limits.MaxEntrySize)
	}
	if !own {
		a.total += hdr.Size
	}
	if a.total > a.limits.MaxTotalSize {
		return nil, corrupt("payload exceeds %d bytes", a.limits.MaxTotalSize)
	}
	return hdr, nil
}

// next returns the next payload entry and a reader of its content, which
// reports ErrChecksum at its end if the content does not match. After the
// last payload entry it checks the rest of the archive and returns io.EOF.
func (a *archiveReader) next() (File, io.Reader, error) {
	if a.manifest != nil {
		return File{}, nil, io.EOF
	}
	if a.cur != nil {
		if _, err := copyBuffer(a.ctx, io.Discard, a.cur, make([]byte, 64<<10)); err != nil {
			return File{}, nil, err
		}
		if !a.cur.done {
			return File{}, nil, corrupt("entry %q ended early", a.cur.f.Path)
		}
		a.files = append(a.files, a.cur.got)
		a.cur = nil
	}
	hdr, err := a.header()
	if err != nil {
		return File{}, nil, err
	}
	i := len(a.files)
	a.enter(hdr.Name)
	if hdr.Name == sumsName {
		if a.want != nil && i != len(a.want) {
			return File{}, nil, corrupt("archive ends after %d of %d files; missing %q", i, len(a.want), a.want[i].Path)
		}
		if err := a.finish(hdr); err != nil {
			return File{}, nil, err
		}
		return File{}, nil, io.EOF
	}
	if hdr.Name == manifestName {
		return File{}, nil, corrupt("manifest.json before SHA256SUMS")
	}
	f := File{Path: hdr.Name, Size: hdr.Size}
	if a.want != nil {
		if i >= len(a.want) {
			return File{}, nil, corrupt("entry %q is not in the manifest", hdr.Name)
		}
		w := a.want[i]
		if w.Path != hdr.Name {
			return File{}, nil, corrupt("entry %d is %q, manifest says %q", i+1, hdr.Name, w.Path)
		}
		if w.Size != hdr.Size {
			return File{}, nil, corrupt("entry %q is %d bytes, manifest says %d", hdr.Name, hdr.Size, w.Size)
		}
		f = w
	}
	a.cur = &entryReader{a: a, f: f, h: sha256.New(), left: hdr.Size}
	return f, a.cur, nil
}

// finish reads SHA256SUMS and the manifest and checks them against what was
// read, then checks that nothing follows.
func (a *archiveReader) finish(sumsHdr *tar.Header) error {
	sums, err := a.readSmall(sumsHdr)
	if err != nil {
		return err
	}
	if !bytes.Equal(sums, sha256Sums(a.files)) {
		return fmt.Errorf("%w: SHA256SUMS does not match the archive's entries", ErrChecksum)
	}
	hdr, err := a.header()
	if err != nil {
		return err
	}
	if hdr.Name != manifestName {
		return corrupt("entry %q after SHA256SUMS; expected manifest.json", hdr.Name)
	}
	data, err := a.readSmall(hdr)
	if err != nil {
		return err
	}
	m, err := ParseManifest(data)
	if err != nil {
		return err
	}
	if a.sidecar != nil && !sidecarMatches(m, data, a.sidecar) {
		return corrupt("the manifest inside the archive does not match %s", manifestFile(m.ID))
	}
	listed := m.files()
	if len(listed) != len(a.files) {
		return fmt.Errorf("%w: manifest lists %d files, archive holds %d", ErrChecksum, len(listed), len(a.files))
	}
	for i, f := range listed {
		if f != a.files[i] {
			return fmt.Errorf("%w: %s: manifest says %d bytes sha256 %s, archive holds %d bytes sha256 %s",
				ErrChecksum, f.Path, f.Size, f.SHA256, a.files[i].Size, a.files[i].SHA256)
		}
	}
	if m.PayloadSHA256 != payloadSHA256(a.files) {
		return fmt.Errorf("%w: payload_sha256 does not match SHA256SUMS", ErrChecksum)
	}
	if _, err := a.tr.Next(); err != io.EOF {
		if err == nil {
			return corrupt("entries after manifest.json")
		}
		return a.streamErr(err)
	}
	// What follows the tar end marker must be zero padding, then the end of
	// the zstd stream, then the end of the file.
	if err := a.checkTail(); err != nil {
		return err
	}
	a.manifest, a.manifestBytes = m, data
	return nil
}

// enter tells progress that the entry name is next: a backend's first
// entry starts it, at 0, and ends the backend before it. SHA256SUMS and
// the manifest belong to no backend.
func (a *archiveReader) enter(name string) {
	backend := ""
	if name != sumsName && name != manifestName {
		backend, _, _ = strings.Cut(name, "/")
	}
	if a.progress == nil || backend == a.backend {
		return
	}
	if a.backend != "" && a.reported != a.read {
		a.progress(a.backend, a.read)
	}
	a.backend, a.read, a.reported = backend, 0, 0
	if backend != "" {
		a.progress(backend, 0)
	}
}

func (a *archiveReader) count(n int) {
	before := a.read
	a.read += int64(n)
	if a.progress != nil && a.backend != "" && a.read/progressStep != before/progressStep {
		a.reported = a.read
		a.progress(a.backend, a.read)
	}
}

func (a *archiveReader) readSmall(hdr *tar.Header) ([]byte, error) {
	if hdr.Size > int64(maxManifestSize) {
		return nil, corrupt("%s is %d bytes, limit %d", hdr.Name, hdr.Size, maxManifestSize)
	}
	data, err := io.ReadAll(a.tr)
	if err != nil {
		return nil, a.streamErr(err)
	}
	return data, nil
}

// maxTail bounds the zero padding accepted after the tar end marker (GNU tar
// pads to 10 KiB records; Go's writer does not pad).
const maxTail = 1 << 20

func (a *archiveReader) checkTail() error {
	buf := make([]byte, 32<<10)
	var n int64
	var tail io.Reader = a.raw
	if a.zr != nil {
		tail = a.zr
	}
	for {
		k, err := tail.Read(buf)
		for _, c := range buf[:k] {
			if c != 0 {
				return corrupt("data after the end of the tar stream")
			}
		}
		n += int64(k)
		if n > maxTail {
			return corrupt("more than %d bytes after the end of the tar stream", maxTail)
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return a.streamErr(err)
		}
	}
	// The decoder may stop short of the end of the input; read the rest so
	// the archive hash covers it (and an encrypted stream's last chunk is
	// authenticated), and refuse anything there.
	a.close()
	if a.plain != nil {
		k, err := io.Copy(io.Discard, a.plain)
		if err != nil {
			return a.streamErr(err)
		}
		if k > 0 {
			return corrupt("%d bytes after the end of the zstd stream", k)
		}
	}
	k, err := io.Copy(io.Discard, a.raw)
	if err != nil {
		return err
	}
	if k > 0 {
		return corrupt("%d bytes after the end of the zstd stream", k)
	}
	return nil
}

// rawSum drains the compressed stream and returns its SHA-256 and size.
func (a *archiveReader) rawSum() (string, int64, error) {
	a.close() // stops the decoder's reads of a.raw
	if _, err := copyBuffer(a.ctx, io.Discard, a.raw, make([]byte, 256<<10)); err != nil {
		return "", 0, err
	}
	if a.raw.list != nil {
		sum, n := a.raw.list.listSum()
		return sum, n, nil
	}
	return hex.EncodeToString(a.raw.h.Sum(nil)), a.raw.n, nil
}

type entryReader struct {
	a    *archiveReader
	f    File
	got  File
	h    hash.Hash
	left int64
	done bool
	err  error
}

func (e *entryReader) Read(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	if e.left == 0 {
		e.err = e.end()
		return 0, e.err
	}
	if err := e.a.ctx.Err(); err != nil {
		return 0, err
	}
	if int64(len(p)) > e.left {
		p = p[:e.left]
	}
	n, err := e.a.tr.Read(p)
	e.h.Write(p[:n])
	e.left -= int64(n)
	e.a.count(n)
	if err != nil && (err != io.EOF || e.left > 0) {
		e.err = e.a.streamErr(err)
		return n, e.err
	}
	return n, nil
}

func (e *entryReader) end() error {
	e.done = true
	e.got = File{Path: e.f.Path, Size: e.f.Size, SHA256: hex.EncodeToString(e.h.Sum(nil))}
	if e.f.SHA256 != "" && e.f.SHA256 != e.got.SHA256 {
		return fmt.Errorf("%w: %s: sha256 %s, manifest says %s", ErrChecksum, e.f.Path, e.got.SHA256, e.f.SHA256)
	}
	return io.EOF
}

// unsummedReader asks newArchiveReader not to hash the stream: rawSum is
// then not to be called.
type unsummedReader struct{ io.Reader }

// hashingReader hashes and counts the compressed stream, and keeps the
// error of the underlying reader apart from decoding errors. The zstd
// decoder reads it from its own goroutine; the archiveReader reads it
// directly only once the decoder is closed.
type hashingReader struct {
	r    io.Reader
	h    hash.Hash // nil if list is set, or under an unsummedReader
	list tarSource // the chunk list, whose sum is the sidecar's
	n    int64
	mu   sync.Mutex
	err  error
}

func (h *hashingReader) Read(p []byte) (int, error) {
	n, err := h.r.Read(p)
	if h.h != nil {
		h.h.Write(p[:n])
	}
	h.n += int64(n)
	if err != nil && err != io.EOF {
		h.mu.Lock()
		h.err = err
		h.mu.Unlock()
	}
	return n, err
}

func (h *hashingReader) readErr() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.err
}

// sidecarMatches reports whether sidecar is what <id>.manifest.json may
// hold for the manifest inside an archive, m as parsed from data: its
// summary, or the whole manifest as sidecars held before the file list
// left them, or for an encrypted backup its public part.
func sidecarMatches(m *Manifest, data, sidecar []byte) bool {
	if m.Encryption != "" {
		return publicMatches(m, sidecar)
	}
	if bytes.Equal(data, sidecar) {
		return true
	}
	b, err := m.summary().marshal()
	return err == nil && bytes.Equal(b, sidecar)
}

// publicMatches reports whether sidecar is the public manifest of m, in
// its current form or in the form before ngbak's own labels were public.
func publicMatches(m *Manifest, sidecar []byte) bool {
	pub := m.public()
	for _, labels := range []map[string]string{pub.Labels, nil} {
		pub.Labels = labels
		if b, err := pub.marshal(); err == nil && bytes.Equal(b, sidecar) {
			return true
		}
	}
	return false
}
