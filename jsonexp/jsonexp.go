// Package jsonexp backs up the file-based stores of a GraphRAG working
// directory: the files in one folder whose names match glob patterns. By
// default these are nano-graphrag's key-value stores (kv_store_*.json), its
// graph (*.graphml) and its vector stores (vdb_*.json, and hnswlib's
// *_hnsw.index with *_hnsw_metadata.pkl).
//
// Files are copied byte for byte; nothing is parsed, so any content survives.
// Restore replaces: every file of the backup is written to a temporary file
// in the same folder and synced, then all are renamed into place, and only
// then are the files that match the patterns but are not in the backup
// removed. Files that match no pattern are never touched, nor are
// subfolders, except the temporary files (.ngbak-restore-*) a restore that
// died left behind, which the next restore removes.
package jsonexp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/ngbak/ngbak"
)

// DefaultPatterns match nano-graphrag's file-based stores: JsonKVStorage,
// NetworkXStorage, NanoVectorDBStorage and HNSWVectorStorage (hnswlib's
// <namespace>_hnsw.index beside <namespace>_hnsw_metadata.pkl). A vector
// index is only good with the stores it was built from: since a restore
// removes the matching files the backup does not hold, it never leaves an
// index from after the backup beside the backup's KV files.
var DefaultPatterns = []string{"kv_store_*.json", "*.graphml", "vdb_*.json", "*_hnsw.index", "*_hnsw_metadata.pkl"}

// Options configure an Exporter.
type Options struct {
	// Dir is the working directory holding the stores. Required.
	Dir string
	// Patterns are path.Match patterns for the file names to back up;
	// nil means DefaultPatterns.
	Patterns []string
	// Name is the exporter's folder in the archive; empty means "json".
	Name string
}

// Exporter backs up files of one folder. It implements ngbak.Exporter.
type Exporter struct {
	dir      string
	patterns []string
	name     string
}

// format is the version of this exporter's archive layout: one archive file
// per store file, under its own name.
// Kind and Format are what the exporter records in the manifest: the files
// of the working directory, each under its own name.
const (
	Kind   = "json"
	Format = "jsonexp/1"
)

// New returns an Exporter for opts.
func New(opts Options) (*Exporter, error) {
	if opts.Dir == "" {
		return nil, errors.New("jsonexp: Options.Dir is required")
	}
	e := &Exporter{dir: opts.Dir, patterns: opts.Patterns, name: opts.Name}
	if e.patterns == nil {
		e.patterns = DefaultPatterns
	}
	if e.name == "" {
		e.name = "json"
	}
	for _, p := range e.patterns {
		if _, err := path.Match(p, ""); err != nil || strings.Contains(p, "/") {
			return nil, fmt.Errorf("jsonexp: invalid pattern %q", p)
		}
	}
	return e, nil
}

// Name implements ngbak.Exporter.
func (e *Exporter) Name() string { return e.name }

// Kind implements ngbak.Exporter.
func (e *Exporter) Kind() string { return Kind }

func (e *Exporter) matches(name string) bool {
	if strings.HasPrefix(name, tempPrefix) {
		return false
	}
	for _, p := range e.patterns {
		if ok, _ := path.Match(p, name); ok {
			return true
		}
	}
	return false
}

// tempPrefix marks the temporary files of a restore in progress; they never
// match the patterns, so an interrupted restore's leftovers are not backed up.
const tempPrefix = ".ngbak-restore-"

// list returns the names of the matching files, sorted. A matching entry
// that is not a regular file is an error, not something to skip silently.
func (e *Exporter) list() ([]string, error) {
	entries, err := os.ReadDir(e.dir)
	if err != nil {
		return nil, fmt.Errorf("jsonexp: %w", err)
	}
	var names []string
	for _, d := range entries {
		if !e.matches(d.Name()) {
			continue
		}
		if !d.Type().IsRegular() {
			return nil, fmt.Errorf("jsonexp: %s matches the patterns but is not a regular file (%v)", filepath.Join(e.dir, d.Name()), d.Type())
		}
		names = append(names, d.Name())
	}
	return names, nil // os.ReadDir sorts by name
}

// Export implements ngbak.Exporter.
func (e *Exporter) Export(ctx context.Context, w *ngbak.Writer) (ngbak.Info, error) {
	names, err := e.list()
	if err != nil {
		return ngbak.Info{}, err
	}
	var total int64
	for _, name := range names {
		if err := ctx.Err(); err != nil {
			return ngbak.Info{}, err
		}
		n, err := exportFile(w, filepath.Join(e.dir, name), name)
		if err != nil {
			return ngbak.Info{}, err
		}
		total += n
	}
	return ngbak.Info{Format: Format, Stats: map[string]int64{"files": int64(len(names)), "bytes": total}}, nil
}

func exportFile(w *ngbak.Writer, p, name string) (int64, error) {
	f, err := os.Open(p)
	if err != nil {
		return 0, fmt.Errorf("jsonexp: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return 0, fmt.Errorf("jsonexp: %w", err)
	}
	if err := w.WriteFile(name, fi.Size(), f); err != nil {
		return 0, fmt.Errorf("jsonexp: %s: %w (did it shrink while being backed up?)", p, err)
	}
	// A file that grew while it was copied would be archived cut short.
	if after, err := f.Stat(); err != nil || after.Size() != fi.Size() || !after.ModTime().Equal(fi.ModTime()) {
		return 0, fmt.Errorf("jsonexp: %s changed while it was being backed up; pause writers with Options.BeforeCreate", p)
	}
	return fi.Size(), nil
}

// Restore implements ngbak.Exporter.
func (e *Exporter) Restore(ctx context.Context, r *ngbak.Reader) (err error) {
	if f := r.Backend().Format; f != Format {
		return fmt.Errorf("jsonexp: unknown format %q", f)
	}
	if err := os.MkdirAll(e.dir, 0o755); err != nil {
		return fmt.Errorf("jsonexp: %w", err)
	}
	if err := e.removeLeftovers(); err != nil {
		return err
	}
	type staged struct{ tmp, final string }
	var done []staged
	defer func() {
		if err != nil {
			for _, s := range done {
				os.Remove(s.tmp)
			}
		}
	}()
	restored := map[string]bool{}
	for {
		name, _, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		if strings.Contains(name, "/") || !e.matches(name) {
			return fmt.Errorf("jsonexp: the backup holds %q, which the patterns %q do not match", name, e.patterns)
		}
		tmp, err := e.stage(name, r)
		if tmp != "" {
			done = append(done, staged{tmp, filepath.Join(e.dir, name)})
		}
		if err != nil {
			return err
		}
		restored[name] = true
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	// Every file is on disk in full: put them in place, then remove what the
	// backup does not hold.
	for i, s := range done {
		if err := os.Rename(s.tmp, s.final); err != nil {
			done = done[i:]
			return fmt.Errorf("jsonexp: %w", err)
		}
	}
	done = nil
	current, err := e.list()
	if err != nil {
		return err
	}
	for _, name := range current {
		if !restored[name] {
			if err := os.Remove(filepath.Join(e.dir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("jsonexp: %w", err)
			}
		}
	}
	if err := syncDir(e.dir); err != nil {
		return fmt.Errorf("jsonexp: %w", err)
	}
	return nil
}

// removeLeftovers removes the temporary files of a restore that died
// (ngbak's own, by their prefix), which would otherwise stay in the working
// directory for ever; restores are exclusive, so none is in use.
func (e *Exporter) removeLeftovers() error {
	entries, err := os.ReadDir(e.dir)
	if err != nil {
		return fmt.Errorf("jsonexp: %w", err)
	}
	for _, d := range entries {
		if strings.HasPrefix(d.Name(), tempPrefix) && d.Type().IsRegular() {
			if err := os.Remove(filepath.Join(e.dir, d.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("jsonexp: removing a dead restore's temporary file: %w", err)
			}
		}
	}
	return nil
}

// stage writes the current file of r to a synced temporary file beside its
// destination and returns that file's path.
func (e *Exporter) stage(name string, r io.Reader) (string, error) {
	f, err := os.CreateTemp(e.dir, tempPrefix+"*")
	if err != nil {
		return "", fmt.Errorf("jsonexp: %w", err)
	}
	tmp := f.Name()
	mode := fs.FileMode(0o644)
	if fi, err := os.Stat(filepath.Join(e.dir, name)); err == nil {
		mode = fi.Mode().Perm()
	}
	// Large writes: the copy is bound by the disk, not by the decoder. The
	// wrapper hides os.File's ReadFrom, which would copy 32 KiB at a time.
	_, err = io.CopyBuffer(struct{ io.Writer }{f}, r, make([]byte, 1<<20)) // the Reader stops with ctx
	if err == nil {
		err = f.Chmod(mode)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return tmp, fmt.Errorf("jsonexp: restoring %s: %w", name, err)
	}
	return tmp, nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
