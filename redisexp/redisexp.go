// Package redisexp backs up Redis: the key-value namespaces of a GraphRAG
// application through its Store (Exporter), and any other keys of any type
// with DUMP and RESTORE (RawExporter).
//
// Both read with SCAN, never KEYS, on every master of a cluster, and with
// pipelined reads in batches; both stream one JSON line per entry into the
// archive, so memory is bounded by a batch, not by the data. Neither is a
// point in time: each key is read as it is when its batch is read (pause
// writers with ngbak.Options.BeforeCreate if that matters).
//
// A restore replaces: the namespaces (or the keys matching the pattern) are
// deleted, then the backup's entries are written in pipelined batches, the
// KV entries through Store.Upsert, so a service's own serialization and
// policies apply exactly once.
//
// Times to live are restored relative to the restore by default: an entry
// that had two hours left when it was backed up has two hours left after it
// is restored, whenever that is. TTLAbsolute restores the original expiry
// instead, and leaves out entries whose time has passed.
package redisexp

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/ngbak/ngbak"
)

// TTLMode says how restored entries get their time to live back.
type TTLMode int

const (
	// TTLRelative gives each entry the time it had left at backup time,
	// counted from the restore.
	TTLRelative TTLMode = iota
	// TTLAbsolute gives each entry its original expiry time; entries already
	// expired are not restored.
	TTLAbsolute
)

// Options configure an Exporter.
type Options struct {
	// Name is the exporter's folder in the archive; empty means "kv".
	Name string
	// Namespaces to back up; nil means every namespace the store has. With
	// nil, a restore also deletes the namespaces the backup does not hold.
	Namespaces []string
	// TTL says how restored entries get their time to live back.
	TTL TTLMode
	// Batch is how many entries one Upsert carries; 0 means 500.
	Batch int
}

// Exporter backs up namespaces of a Store. It implements ngbak.Exporter.
type Exporter struct {
	store Store
	opts  Options
}

const kvFormat = "redis-kv/1"

// New returns an Exporter over store.
func New(store Store, opts Options) (*Exporter, error) {
	if store == nil {
		return nil, errors.New("redisexp: nil Store")
	}
	if opts.Name == "" {
		opts.Name = "kv"
	}
	if opts.Batch <= 0 {
		opts.Batch = 500
	}
	for _, ns := range opts.Namespaces {
		if err := checkNamespace(ns); err != nil {
			return nil, err
		}
	}
	return &Exporter{store: store, opts: opts}, nil
}

// checkNamespace keeps namespaces usable as archive file names.
func checkNamespace(ns string) error {
	if ns == "" || ns == "." || ns == ".." || strings.ContainsAny(ns, "/\\\x00\n") || !utf8.ValidString(ns) {
		return fmt.Errorf("redisexp: namespace %q cannot be backed up: it is not usable as a file name", ns)
	}
	return nil
}

// Name implements ngbak.Exporter.
func (e *Exporter) Name() string { return e.opts.Name }

// Kind implements ngbak.Exporter.
func (e *Exporter) Kind() string { return "redis-kv" }

// versioner is what a Store may also implement to name its server in the
// manifest; KVStore does.
type versioner interface {
	ServerVersion(ctx context.Context) (string, error)
}

func (e *Exporter) namespaces(ctx context.Context) ([]string, error) {
	if e.opts.Namespaces != nil {
		return e.opts.Namespaces, nil
	}
	nss, err := e.store.Namespaces(ctx)
	if err != nil {
		return nil, fmt.Errorf("redisexp: listing namespaces: %w", err)
	}
	slices.Sort(nss)
	return nss, nil
}

// Export implements ngbak.Exporter: one file <namespace>.jsonl per
// namespace, one line per entry.
func (e *Exporter) Export(ctx context.Context, w *ngbak.Writer) (ngbak.Info, error) {
	info := ngbak.Info{Format: kvFormat, Stats: map[string]int64{}}
	if v, ok := e.store.(versioner); ok {
		ver, err := v.ServerVersion(ctx)
		if err != nil {
			return info, err
		}
		info.ServerVersion = ver
	}
	nss, err := e.namespaces(ctx)
	if err != nil {
		return info, err
	}
	var total int64
	for _, ns := range nss {
		if err := checkNamespace(ns); err != nil {
			return info, err
		}
		n, err := e.exportNamespace(ctx, w, ns)
		if err != nil {
			return info, fmt.Errorf("redisexp: namespace %s: %w", ns, err)
		}
		info.Stats["keys."+ns] = n
		total += n
	}
	info.Stats["keys"] = total
	info.Stats["namespaces"] = int64(len(nss))
	return info, nil
}

func (e *Exporter) exportNamespace(ctx context.Context, w *ngbak.Writer, ns string) (int64, error) {
	f, err := w.Create(ns + ".jsonl")
	if err != nil {
		return 0, err
	}
	bw := bufio.NewWriterSize(f, 256<<10)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	var n int64
	now := time.Now()
	err = e.store.Scan(ctx, ns, func(ids []string) error {
		entries, err := e.store.Get(ctx, ns, ids)
		if err != nil {
			return err
		}
		for _, ent := range entries {
			if err := enc.Encode(newRecord([]byte(ent.ID), ent.Value, ent.TTL, now)); err != nil {
				return err
			}
		}
		n += int64(len(entries))
		return ctx.Err()
	})
	if err == nil {
		err = bw.Flush()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return n, err
}

// Restore implements ngbak.Exporter.
func (e *Exporter) Restore(ctx context.Context, r *ngbak.Reader) error {
	if f := r.Backend().Format; f != kvFormat {
		return fmt.Errorf("redisexp: unknown format %q", f)
	}
	restored := map[string]bool{}
	for {
		name, _, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		ns, ok := strings.CutSuffix(name, ".jsonl")
		if !ok || checkNamespace(ns) != nil {
			return fmt.Errorf("redisexp: unexpected file %q in the backup", name)
		}
		if e.opts.Namespaces != nil && !slices.Contains(e.opts.Namespaces, ns) {
			return fmt.Errorf("redisexp: the backup holds namespace %q, which this exporter does not cover (Options.Namespaces %q)", ns, e.opts.Namespaces)
		}
		if err := e.restoreNamespace(ctx, ns, name, r); err != nil {
			return fmt.Errorf("redisexp: namespace %s: %w", ns, err)
		}
		restored[ns] = true
	}
	if e.opts.Namespaces != nil {
		return nil
	}
	// Every namespace is in scope: those the backup does not hold go.
	current, err := e.store.Namespaces(ctx)
	if err != nil {
		return fmt.Errorf("redisexp: listing namespaces: %w", err)
	}
	for _, ns := range current {
		if !restored[ns] {
			if err := e.store.Drop(ctx, ns); err != nil {
				return fmt.Errorf("redisexp: dropping namespace %s, which the backup does not hold: %w", ns, err)
			}
		}
	}
	return nil
}

func (e *Exporter) restoreNamespace(ctx context.Context, ns, file string, r io.Reader) error {
	if err := e.store.Drop(ctx, ns); err != nil {
		return err
	}
	batch := make([]Entry, 0, e.opts.Batch)
	var size int
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		if err := e.store.Upsert(ctx, ns, batch); err != nil {
			return err
		}
		batch, size = batch[:0], 0
		return nil
	}
	err := readRecords(r, file, func(rec *record, id, value []byte) error {
		ttl, live := rec.ttl(e.opts.TTL, time.Now())
		if !live {
			return nil
		}
		batch = append(batch, Entry{ID: string(id), Value: value, TTL: ttl})
		size += len(value)
		// A batch is bounded in bytes too, for memory's sake.
		if len(batch) >= e.opts.Batch || size >= maxBatchBytes {
			return flush()
		}
		return nil
	})
	if err != nil {
		return err
	}
	return flush()
}

// maxBatchBytes bounds the values one restore batch holds in memory.
const maxBatchBytes = 16 << 20

// record is one line of an archive file: a key or entry id, its value, and
// its time to live. Text that is valid UTF-8 is stored as a JSON string,
// anything else in base64 (the _b64 fields), so every byte survives.
type record struct {
	ID       *string `json:"id,omitempty"`
	IDB64    []byte  `json:"id_b64,omitempty"`
	Value    *string `json:"value,omitempty"`
	ValueB64 []byte  `json:"value_b64,omitempty"`
	// TTLMillis is the time to live left at backup time; 0: no expiry.
	TTLMillis int64 `json:"ttl_ms,omitempty"`
	// ExpiresAt is the expiry in Unix milliseconds; 0: no expiry.
	ExpiresAt int64 `json:"expires_at_ms,omitempty"`
}

func newRecord(id, value []byte, ttl time.Duration, now time.Time) *record {
	rec := &record{}
	rec.ID, rec.IDB64 = text(id)
	rec.Value, rec.ValueB64 = text(value)
	if ttl > 0 {
		rec.TTLMillis = max(ttl.Milliseconds(), 1)
		rec.ExpiresAt = now.Add(ttl).UnixMilli()
	}
	return rec
}

func text(b []byte) (*string, []byte) {
	if utf8.Valid(b) {
		s := string(b)
		return &s, nil
	}
	return nil, b
}

func (rec *record) fields() (id, value []byte, err error) {
	switch {
	case rec.ID != nil && rec.IDB64 == nil:
		id = []byte(*rec.ID)
	case rec.ID == nil && rec.IDB64 != nil:
		id = rec.IDB64
	default:
		return nil, nil, errors.New("needs exactly one of id and id_b64")
	}
	switch {
	case rec.Value != nil && rec.ValueB64 == nil:
		value = []byte(*rec.Value)
	case rec.Value == nil && rec.ValueB64 != nil:
		value = rec.ValueB64
	default:
		return nil, nil, errors.New("needs exactly one of value and value_b64")
	}
	if rec.TTLMillis < 0 || rec.ExpiresAt < 0 {
		return nil, nil, errors.New("negative time to live")
	}
	return id, value, nil
}

// ttl returns the time to live to restore with, and false if the entry has
// expired (TTLAbsolute only).
func (rec *record) ttl(mode TTLMode, now time.Time) (time.Duration, bool) {
	if rec.TTLMillis == 0 {
		return 0, true
	}
	if mode == TTLAbsolute {
		left := time.UnixMilli(rec.ExpiresAt).Sub(now)
		return left, left > 0
	}
	return time.Duration(rec.TTLMillis) * time.Millisecond, true
}

// readRecords decodes the lines of one archive file. A line that does not
// decode is an error naming the file and line.
func readRecords(r io.Reader, file string, fn func(rec *record, id, value []byte) error) error {
	dec := json.NewDecoder(bufio.NewReaderSize(r, 256<<10))
	for line := 1; ; line++ {
		var rec record
		err := dec.Decode(&rec)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: entry %d: %w", file, line, err)
		}
		id, value, err := rec.fields()
		if err != nil {
			return fmt.Errorf("%s: entry %d: %w", file, line, err)
		}
		if err := fn(&rec, id, value); err != nil {
			return err
		}
	}
}
