// Package blobstorage keeps a Manager's archives and sidecars in any bucket
// that gocloud.dev/blob opens: S3 and S3-compatible stores, Google Cloud
// Storage, Azure Blob Storage, a local folder (file://), memory (mem://).
//
//	import _ "gocloud.dev/blob/s3blob" // and the other drivers you need
//
//	store, err := blobstorage.Open(ctx, "s3://backups?region=eu-west-1&prefix=graphrag/")
//	m, err := ngbak.New(ngbak.Options{Storage: store})
//
// A file:// URL without a query is served by ngbak.Dir (see Open). On a
// bucket, the guarantees of ngbak.Dir hold: an object becomes visible only when its
// upload completes (a cancelled or failed upload is aborted and leaves no
// object), the sidecar manifest is written last, and an existing object is
// never overwritten (a conditional write, IfNotExist). Uploads and downloads
// stream: the drivers upload in parts (multipart on S3) of Options.PartSize,
// Options.Concurrency of them at a time, so an upload holds about
// (Concurrency+1) × PartSize in memory (on S3 also the first 16 MiB, which
// the SDK reads whole to choose between one request and a multipart upload).
// Unfinished multipart uploads are invisible but may cost storage until the
// bucket's lifecycle rule removes them; set one.
package blobstorage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/ngbak/ngbak"
	"gocloud.dev/blob"
	"gocloud.dev/gcerrors"
)

// Options configure a Storage.
type Options struct {
	// PartSize is the size of the parts an upload is sent in; 0 means 8 MiB.
	PartSize int
	// Concurrency is how many parts of an upload are sent at once; 0 means
	// the driver's default (5 on S3). Each costs PartSize of memory.
	Concurrency int
}

// Storage is an ngbak.Storage over a bucket.
type Storage struct {
	b    *blob.Bucket
	opts Options
	// dir, for a file:// URL, is the folder as ngbak.Dir keeps it.
	dir ngbak.Storage
	// prefix is the namespace of a Sub, before every key.
	prefix string
}

// Open opens the bucket at urlstr (its driver must be imported) and returns
// a Storage over it. Close the Storage when done.
//
// A file:// URL with no query (a local folder) is served by ngbak.Dir, not
// by gocloud's fileblob: fileblob does not sync what it writes, so a crash
// can lose an object it reported committed, and it checks IfNotExist with a
// Stat before renaming over the name, so two writers racing for one name
// both succeed, the second replacing the first. Dir syncs and commits with
// a hard link, which never replaces. A file:// URL with a query (fileblob's
// options) and a *blob.Bucket given to New keep fileblob's weaker
// guarantees.
func Open(ctx context.Context, urlstr string) (*Storage, error) {
	u, perr := url.Parse(urlstr)
	if perr == nil && u.Scheme == "file" {
		dir, err := fileDir(u)
		if err != nil {
			return nil, err
		}
		if u.RawQuery == "" {
			return &Storage{dir: ngbak.Dir(dir)}, nil
		}
	}
	b, err := blob.OpenBucket(ctx, urlstr)
	if err != nil {
		if perr == nil && u.Scheme == "file" && errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("blobstorage: %w (create the folder, or add create_dir=true to the URL)", err)
		}
		return nil, fmt.Errorf("blobstorage: %w", err)
	}
	return New(b, Options{}), nil
}

// New returns a Storage over an open bucket.
func New(b *blob.Bucket, opts Options) *Storage {
	if opts.PartSize <= 0 {
		opts.PartSize = 8 << 20
	}
	return &Storage{b: b, opts: opts}
}

// Close closes the bucket.
func (s *Storage) Close() error {
	if s.dir != nil {
		return nil
	}
	return s.b.Close()
}

func wrap(name string, err error) error {
	switch gcerrors.Code(err) {
	case gcerrors.NotFound:
		return fmt.Errorf("%w: %s", ngbak.ErrNotFound, name)
	case gcerrors.FailedPrecondition:
		return fmt.Errorf("%w: %s", ngbak.ErrExists, name)
	}
	return fmt.Errorf("blobstorage: %s: %w", name, err)
}

// Create implements ngbak.Storage.
func (s *Storage) Create(ctx context.Context, name string) (ngbak.ObjectWriter, error) {
	if s.dir != nil {
		return s.dir.Create(ctx, name)
	}
	// Cancelling the writer's context is how gocloud aborts an upload.
	wctx, cancel := context.WithCancel(ctx)
	w, err := s.b.NewWriter(wctx, s.prefix+name, &blob.WriterOptions{IfNotExist: true, BufferSize: s.opts.PartSize, MaxConcurrency: s.opts.Concurrency, ContentType: "application/octet-stream"})
	if err != nil {
		cancel()
		return nil, wrap(name, err)
	}
	return &writer{w: w, cancel: cancel, name: name}, nil
}

type writer struct {
	w      *blob.Writer
	cancel context.CancelFunc
	name   string
	done   bool
}

func (w *writer) Write(p []byte) (int, error) {
	n, err := w.w.Write(p)
	if err != nil {
		err = wrap(w.name, err)
	}
	return n, err
}

func (w *writer) Commit() error {
	if w.done {
		return fmt.Errorf("blobstorage: %s: already committed or aborted", w.name)
	}
	w.done = true
	defer w.cancel()
	if err := w.w.Close(); err != nil {
		return wrap(w.name, err)
	}
	return nil
}

func (w *writer) Abort() error {
	if w.done {
		return nil
	}
	w.done = true
	w.cancel()
	w.w.Close() // fails, as it should: the upload is abandoned
	return nil
}

// Open implements ngbak.Storage. The reader seeks (a download serves
// Range requests with it, and a Restore reads the archive it verified a
// second time through it); a seek makes the driver open the object again
// by name, so the reader checks that it is still the object it opened
// first, and fails if not: on S3 every request carries If-Match with the
// ETag the object had when it was opened, elsewhere the size and
// modification time are compared (an object replaced there within the
// time's resolution by one of the same size goes unnoticed by the reader,
// and ngbak's hashes catch it as it is read).
func (s *Storage) Open(ctx context.Context, name string) (io.ReadCloser, error) {
	if s.dir != nil {
		return s.dir.Open(ctx, name)
	}
	// The first request's answer gives the ETag that every later one,
	// after a seek, must match.
	var etag string
	opts := &blob.ReaderOptions{BeforeRead: func(as func(any) bool) error {
		var in *s3.GetObjectInput
		if etag != "" && as(&in) {
			in.IfMatch = aws.String(etag)
		}
		return nil
	}}
	r, err := s.b.NewReader(ctx, s.prefix+name, opts)
	if err != nil {
		return nil, readError(name, err)
	}
	var out s3.GetObjectOutput
	if r.As(&out) && out.ETag != nil {
		etag = *out.ETag
	}
	return &reader{r: r, name: name, size: r.Size(), modTime: r.ModTime()}, nil
}

// readError is wrap for reads, where a failed precondition is If-Match's:
// the object is not the one opened.
func readError(name string, err error) error {
	if gcerrors.Code(err) == gcerrors.FailedPrecondition {
		return fmt.Errorf("blobstorage: %s changed since it was opened (its ETag is not the one it had): %w", name, err)
	}
	return wrap(name, err)
}

// reader is a blob.Reader pinned to the object it first opened. It does
// not embed it: blob.Reader's WriteTo would bypass the check.
type reader struct {
	r       *blob.Reader
	name    string
	size    int64
	modTime time.Time
}

func (r *reader) same() error {
	if r.r.Size() != r.size || !r.r.ModTime().Equal(r.modTime) {
		return fmt.Errorf("blobstorage: %s changed since it was opened (%d bytes modified %s, now %d bytes modified %s)",
			r.name, r.size, r.modTime.Format(time.RFC3339Nano), r.r.Size(), r.r.ModTime().Format(time.RFC3339Nano))
	}
	return nil
}

func (r *reader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if serr := r.same(); serr != nil {
		return 0, serr
	}
	if err != nil && err != io.EOF {
		return n, readError(r.name, err)
	}
	return n, err
}

func (r *reader) Close() error { return r.r.Close() }

// Seek opens the object again at once, rather than at the next read as
// blob.Reader does, so that a changed object fails the Seek.
func (r *reader) Seek(offset int64, whence int) (int64, error) {
	pos, err := r.r.Seek(offset, whence)
	if err != nil {
		return pos, readError(r.name, err)
	}
	if _, err := r.r.Read(nil); err != nil && err != io.EOF {
		return pos, readError(r.name, err)
	}
	return pos, r.same()
}

// Stat implements ngbak.Storage.
func (s *Storage) Stat(ctx context.Context, name string) (ngbak.ObjectInfo, error) {
	if s.dir != nil {
		return s.dir.Stat(ctx, name)
	}
	a, err := s.b.Attributes(ctx, s.prefix+name)
	if err != nil {
		return ngbak.ObjectInfo{}, wrap(name, err)
	}
	return ngbak.ObjectInfo{Name: name, Size: a.Size, ModTime: a.ModTime}, nil
}

// List implements ngbak.Storage.
func (s *Storage) List(ctx context.Context) ([]ngbak.ObjectInfo, error) {
	if s.dir != nil {
		return s.dir.List(ctx)
	}
	var out []ngbak.ObjectInfo
	it := s.b.List(&blob.ListOptions{Prefix: s.prefix, Delimiter: "/"})
	for {
		o, err := it.Next(ctx)
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("blobstorage: listing: %w", err)
		}
		if o.IsDir {
			continue
		}
		out = append(out, ngbak.ObjectInfo{Name: strings.TrimPrefix(o.Key, s.prefix), Size: o.Size, ModTime: o.ModTime})
	}
}

// Remove implements ngbak.Storage.
func (s *Storage) Remove(ctx context.Context, name string) error {
	if s.dir != nil {
		return s.dir.Remove(ctx, name)
	}
	if err := s.b.Delete(ctx, s.prefix+name); err != nil {
		return wrap(name, err)
	}
	return nil
}
