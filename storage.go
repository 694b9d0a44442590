package ngbak

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Storage is where a Manager keeps archives and their sidecars: a flat
// namespace of named objects. Names are single path elements made by the
// Manager from validated ids.
//
// An implementation must make an object visible only once its writer has
// committed: a reader, List or a crash never sees a half-written object.
type Storage interface {
	// Create starts writing the object name. Nothing is visible under name
	// until Commit returns nil; Abort discards what was written.
	Create(ctx context.Context, name string) (ObjectWriter, error)
	// Open reads a committed object. A missing object is ErrNotFound.
	Open(ctx context.Context, name string) (io.ReadCloser, error)
	// Stat describes a committed object. A missing object is ErrNotFound.
	Stat(ctx context.Context, name string) (ObjectInfo, error)
	// List describes every committed object.
	List(ctx context.Context) ([]ObjectInfo, error)
	// Remove deletes a committed object. A missing object is ErrNotFound.
	Remove(ctx context.Context, name string) error
}

// ObjectWriter writes one object of a Storage.
type ObjectWriter interface {
	io.Writer
	// Commit makes the object durable and visible. An object of the same
	// name that already exists is an error wrapping ErrExists.
	Commit() error
	// Abort discards the object; it is safe to call after Commit, when it
	// does nothing.
	Abort() error
}

// ObjectInfo describes a stored object.
type ObjectInfo struct {
	Name    string
	Size    int64
	ModTime time.Time
}

// Dir returns a Storage that keeps objects as files in the folder path,
// creating it if needed. Objects are written to "<name>.partial", synced and
// renamed, and the folder is synced, so a crash leaves either the whole
// object or a partial file that List ignores and a later Create removes.
// The rename is a hard link, which never replaces an existing object: the
// folder must be on a file system with hard links (not FAT, exFAT or an SMB
// mount without them). A writer holds an flock(2) lock on its partial file
// until it commits or aborts, and Create removes only partial files of a
// Manager's own names that are an hour old and that it can lock, so a
// writer that goes quiet for hours, in this process or another, keeps its
// file (without flock, as on Windows, the age alone decides).
func Dir(path string) Storage { return dirStorage{dir: path} }

type dirStorage struct {
	dir string
	// lazySync leaves the folder's sync after each commit, and the
	// removal of stale partial files before each Create, to the caller
	// (chunkFolder): the deduplicating layout's chunks folder, where a
	// Create commits thousands of objects and needs their names durable
	// only before its chunk list commits.
	lazySync bool
}

const partialSuffix = ".partial"

// stalePartialAge is how old a partial file or an orphaned archive must be
// before it is taken to be left over from a crash. For Dir's partial files
// the writer's lock decides; the age covers the moment before it is taken.
const stalePartialAge = time.Hour

func (d dirStorage) path(name string) (string, error) {
	if name == "" || strings.ContainsAny(name, `/\`) || name == "." || name == ".." || strings.HasSuffix(name, partialSuffix) {
		return "", fmt.Errorf("ngbak: invalid object name %q", name)
	}
	return filepath.Join(d.dir, name), nil
}

func (d dirStorage) Create(ctx context.Context, name string) (ObjectWriter, error) {
	final, err := d.path(name)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(d.dir, 0o755); err != nil {
		return nil, err
	}
	if !d.lazySync {
		d.removeStalePartials()
	}
	f, err := os.OpenFile(final+partialSuffix, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if errors.Is(err, fs.ErrExist) {
		// Another writer, here or in another process, is writing that
		// object (an Import of the same archive).
		return nil, fmt.Errorf("ngbak: %w: %s is being written by another writer", ErrBusy, name)
	}
	if err != nil {
		return nil, err
	}
	// The lock tells clean-up in any process that the file is live however
	// long it goes unwritten (a snapshot being made, a hook waiting).
	if err := lockFile(f); err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, fmt.Errorf("ngbak: locking %s: %w", f.Name(), err)
	}
	return &dirWriter{f: f, final: final, dir: d.dir, lazySync: d.lazySync}, nil
}

func (d dirStorage) removeStalePartials() {
	entries, err := os.ReadDir(d.dir)
	if err != nil {
		return // best effort: Create reports the real problem, if any
	}
	for _, e := range entries {
		// Only a Manager's own names: another tool's partial files are not
		// Dir's to delete.
		if name, ok := strings.CutSuffix(e.Name(), partialSuffix); !ok || !ownName(name) || !e.Type().IsRegular() {
			continue
		}
		if info, err := e.Info(); err == nil && time.Since(info.ModTime()) > stalePartialAge {
			removeUnlocked(filepath.Join(d.dir, e.Name()))
		}
	}
}

var errLocked = errors.New("locked by another writer")

// removeUnlocked removes a partial file unless its writer still holds its
// lock. The age check before it covers the moment between a writer's
// creating the file and locking it.
func removeUnlocked(path string) {
	f, err := os.Open(path)
	if err != nil {
		return
	}
	defer f.Close()
	if lockFile(f) != nil {
		return // live, or a file system without locks: leave it
	}
	os.Remove(path)
}

type dirWriter struct {
	f        *os.File
	final    string
	dir      string
	lazySync bool
	done     bool
}

func (w *dirWriter) Write(p []byte) (int, error) { return w.f.Write(p) }

func (w *dirWriter) Commit() (err error) {
	if w.done {
		return errors.New("ngbak: object already committed or aborted")
	}
	w.done = true
	defer func() {
		if err != nil {
			os.Remove(w.f.Name())
		}
	}()
	if err := w.f.Sync(); err != nil {
		w.f.Close()
		return err
	}
	// The file stays open, and so locked, until it has its final name:
	// closing it first would let clean-up take it in between.
	defer func() {
		if cerr := w.f.Close(); cerr != nil && err == nil {
			err = cerr
		}
	}()
	// Link refuses to replace an existing file, unlike Rename: an imported
	// archive can never overwrite a stored one.
	if err := os.Link(w.f.Name(), w.final); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("%w: %s", ErrExists, w.final)
		}
		if _, serr := os.Lstat(w.f.Name()); errors.Is(serr, fs.ErrNotExist) {
			return fmt.Errorf("ngbak: %s was removed while it was being written, by something other than this writer: %w", w.f.Name(), err)
		}
		return fmt.Errorf("ngbak: Dir commits an object with a hard link, so that it never replaces another; the file system of %s refused it (FAT, exFAT and some SMB mounts have none): %w", w.dir, err)
	}
	if err := os.Remove(w.f.Name()); err != nil {
		return err
	}
	if w.lazySync {
		return nil
	}
	return syncDir(w.dir)
}

func (w *dirWriter) Abort() error {
	if w.done {
		return nil
	}
	w.done = true
	w.f.Close()
	return os.Remove(w.f.Name())
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

func (d dirStorage) Open(ctx context.Context, name string) (io.ReadCloser, error) {
	p, err := d.path(name)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, p)
	}
	return f, err
}

func (d dirStorage) Stat(ctx context.Context, name string) (ObjectInfo, error) {
	p, err := d.path(name)
	if err != nil {
		return ObjectInfo{}, err
	}
	fi, err := os.Stat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return ObjectInfo{}, fmt.Errorf("%w: %s", ErrNotFound, p)
	}
	if err != nil {
		return ObjectInfo{}, err
	}
	return ObjectInfo{Name: name, Size: fi.Size(), ModTime: fi.ModTime()}, nil
}

func (d dirStorage) List(ctx context.Context) ([]ObjectInfo, error) {
	entries, err := os.ReadDir(d.dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []ObjectInfo
	for _, e := range entries {
		if !e.Type().IsRegular() || strings.HasSuffix(e.Name(), partialSuffix) {
			continue
		}
		fi, err := e.Info()
		if errors.Is(err, fs.ErrNotExist) {
			continue // removed since ReadDir
		}
		if err != nil {
			return nil, err
		}
		out = append(out, ObjectInfo{Name: e.Name(), Size: fi.Size(), ModTime: fi.ModTime()})
	}
	return out, nil
}

func (d dirStorage) Remove(ctx context.Context, name string) error {
	p, err := d.path(name)
	if err != nil {
		return err
	}
	err = os.Remove(p)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%w: %s", ErrNotFound, p)
	}
	return err
}
