// Package redisexp backs up Redis: the key-value namespaces of a GraphRAG
// application through its Store (Exporter), and any other keys of any type
// with DUMP and RESTORE (RawExporter).
//
// Both read with SCAN, never KEYS, on every master of a Redis Cluster and on
// every shard of a go-redis Ring (refusing to run with a shard down, which
// go-redis would skip without a word; a plain client connected to one node
// of a cluster is refused too), with pipelined reads in batches;
// both stream one JSON line per entry into the archive, so memory is
// bounded by a batch, not by the data. Neither is a
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
	"context"
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
	// Batch is how many entries one Upsert carries; 0 means 2000.
	Batch int
}

// Exporter backs up namespaces of a Store. It implements ngbak.Exporter.
type Exporter struct {
	store Store
	opts  Options
}

// KVKind and KVFormat are what the KV exporter records in the manifest: one
// folder per namespace of JSON-lines parts (see AppendRecord).
const (
	KVKind   = "redis-kv"
	KVFormat = "redis-kv/1"
)

// New returns an Exporter over store.
func New(store Store, opts Options) (*Exporter, error) {
	if store == nil {
		return nil, errors.New("redisexp: nil Store")
	}
	if opts.Name == "" {
		opts.Name = "kv"
	}
	if opts.Batch <= 0 {
		opts.Batch = 2000
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
func (e *Exporter) Kind() string { return KVKind }

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
	info := ngbak.Info{Format: KVFormat, Stats: map[string]int64{}}
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

// exportNamespace streams a namespace into its parts. A goroutine reads
// batches from the store while this one encodes the previous batch, and the
// archive compresses each part while the next is read.
func (e *Exporter) exportNamespace(ctx context.Context, w *ngbak.Writer, ns string) (int64, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	batches := make(chan []Entry, 2)
	readErr := make(chan error, 1)
	go func() {
		defer close(batches)
		readErr <- e.store.Scan(ctx, ns, func(ids []string) error {
			entries, err := e.store.Get(ctx, ns, ids)
			if err != nil {
				return err
			}
			select {
			case batches <- entries:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
	}()
	pw := w.Parts(ns, ".jsonl")
	var n int64
	var err error
	now := time.Now()
	for entries := range batches {
		if err != nil {
			continue // drain, so the reader can stop
		}
		for _, ent := range entries {
			if err = pw.Append(appendRecord(pw.Buffer(), []byte(ent.ID), ent.Value, false, ent.TTL, now)); err != nil {
				cancel()
				break
			}
		}
		n += int64(len(entries))
	}
	if rerr := <-readErr; err == nil {
		err = rerr
	}
	if err == nil {
		err = pw.Close()
	}
	return n, err
}

// Restore implements ngbak.Exporter.
func (e *Exporter) Restore(ctx context.Context, r *ngbak.Reader) error {
	if f := r.Backend().Format; f != KVFormat {
		return fmt.Errorf("redisexp: unknown format %q", f)
	}
	restored := map[string]bool{}
	err := e.restoreParts(ctx, r, func(ns string) error {
		if err := checkNamespace(ns); err != nil {
			return err
		}
		if e.opts.Namespaces != nil && !slices.Contains(e.opts.Namespaces, ns) {
			return fmt.Errorf("redisexp: the backup holds namespace %q, which this exporter does not cover (Options.Namespaces %q)", ns, e.opts.Namespaces)
		}
		if restored[ns] {
			return fmt.Errorf("redisexp: the parts of namespace %q are not together", ns)
		}
		restored[ns] = true
		return e.store.Drop(ctx, ns)
	})
	if err != nil || e.opts.Namespaces != nil {
		return err
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

// batch is a run of entries of one namespace, decoded from the archive.
type batch struct {
	ns      string
	first   bool // the namespace's first batch: drop it before writing
	entries []Entry
}

// restoreParts decodes the archive's parts in a goroutine while this one
// writes the previous batch through the store; begin runs before the first
// batch of each namespace.
func (e *Exporter) restoreParts(ctx context.Context, r *ngbak.Reader, begin func(ns string) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	batches := make(chan batch, 4)
	readErr := make(chan error, 1)
	go func() {
		defer close(batches)
		readErr <- e.decodeParts(ctx, r, batches)
	}()
	var err error
	for b := range batches {
		if err != nil {
			continue // drain, so the decoder can stop
		}
		if b.first {
			err = begin(b.ns)
		}
		if err == nil && len(b.entries) > 0 {
			err = e.store.Upsert(ctx, b.ns, b.entries)
		}
		if err != nil {
			err = fmt.Errorf("redisexp: namespace %s: %w", b.ns, err)
			cancel()
		}
	}
	if derr := <-readErr; err == nil {
		err = derr
	}
	return err
}

func (e *Exporter) decodeParts(ctx context.Context, r *ngbak.Reader, out chan<- batch) error {
	send := func(b batch) error {
		select {
		case out <- b:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	prev := ""
	for {
		name, _, err := r.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		ns, part, ok := strings.Cut(name, "/")
		if !ok || !strings.HasSuffix(part, ".jsonl") || strings.Contains(part, "/") {
			return fmt.Errorf("redisexp: unexpected file %q in the backup", name)
		}
		cur := batch{ns: ns, first: ns != prev}
		prev = ns
		var size int
		err = readRecords(r, name, func(l *line) error {
			id, value := l.id, l.value
			ttl, live := l.ttl(e.opts.TTL, time.Now())
			if !live {
				return nil
			}
			cur.entries = append(cur.entries, Entry{ID: string(id), Value: value, TTL: ttl})
			size += len(value)
			// Batches are bounded in bytes too, for memory's sake.
			if len(cur.entries) >= e.opts.Batch || size >= maxBatchBytes {
				if err := send(cur); err != nil {
					return err
				}
				cur, size = batch{ns: ns}, 0
			}
			return nil
		})
		if err != nil {
			return err
		}
		if len(cur.entries) > 0 || cur.first {
			if err := send(cur); err != nil {
				return err
			}
		}
	}
}

// maxBatchBytes bounds the values one restore batch holds in memory.
const maxBatchBytes = 16 << 20
