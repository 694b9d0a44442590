// Package redisexp backs up Redis: the key-value namespaces of a GraphRAG
// application through its Store (Exporter), and any other keys of any type
// with DUMP and RESTORE (RawExporter).
//
// Both read with SCAN, never KEYS, on every master of a Redis Cluster and on
// every shard of a go-redis Ring (refusing to run with a shard down, which
// go-redis would skip without a word; a plain client connected to one node
// of a cluster is refused too), with pipelined reads in batches;
// both stream one JSON line per entry into the archive, so memory is
// bounded by a batch, not by the data: batches are bounded in bytes as
// well as in keys (raw: RawOptions.BatchBytes, by MEMORY USAGE before the
// DUMP; KVStore: 16 MiB by STRLEN before the GET), and the KV parts being
// filled, one per namespace, to 8 MiB together. A KV backup reads every namespace in one SCAN of the prefix, and
// a restore deletes them in one, when the Store is a NamespaceScanner, as
// KVStore is: SCAN costs the whole keyspace whatever it matches. Neither
// is a point in time: each key is read as it is when its batch is read
// (pause writers with ngbak.Options.BeforeCreate if that matters). In a
// cluster, a scan reads every master's own view of its slots before and
// after, refuses to start while a slot is migrating or importing or the
// masters do not serve all 16384, and fails if the slots moved meanwhile:
// a resharding could carry keys from a master not yet scanned to one
// already scanned.
//
// A restore replaces: the namespaces (or the keys matching the pattern) are
// deleted, then the backup's entries are written in pipelined batches, the
// KV entries through Store.Upsert, so a service's own serialization and
// policies apply exactly once. A raw restore is first checked
// (RawExporter.CheckRestore): DUMP payloads restore only into a server of
// the same RDB version or newer, and one that is older is refused before
// any key is deleted.
//
// Times to live are restored relative to the restore by default: an entry
// that had two hours left when it was backed up has two hours left after it
// is restored, whenever that is. TTLAbsolute restores the original expiry
// instead, counted from when each batch was read, and leaves out entries
// whose time has passed. A key without an expiry is recorded as persistent
// and restored without one, whatever the Store's TTL policy gives new
// entries; only entries whose record says nothing about their expiry (a
// Store that reports none, a legacy conversion, a backup in the older
// formats redis-kv/1 and redis-dump/1) get the policy. A failed PTTL fails
// the backup.
//
// Each entry is one JSON line of the formats redis-kv/2 and redis-dump/2:
//
//	{"id":"doc-1","value":"{}","ttl_ms":3600000,"expires_at_ms":1795000000000}  expires
//	{"id":"doc-2","value":"{}","persistent":true}                               never expires
//	{"id":"doc-3","value":"{}"}                                                 not known
//
// with id_b64 and value_b64 for bytes that are not UTF-8 (DUMP payloads
// always). A KV restore gives the last form the Store's policy, a raw
// restore writes it without a TTL. The redis-kv/1 and redis-dump/1 formats
// had the first and the last form only, and wrote the last for keys
// without a TTL as well as for entries nothing was known of; their records
// restore as the last form says, as they always did. A raw backup's
// manifest details hold {"rdb_version":N}, the highest RDB version of its
// payloads.
package redisexp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
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
	KVFormat = "redis-kv/2"
)

// kvFormat1 is the format before records said "persistent" and before the
// parts of namespaces could alternate; Restore reads it (see AppendRecord
// for what its records without a TTL mean).
const kvFormat1 = "redis-kv/1"

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

// Export implements ngbak.Exporter: one folder of parts per namespace.
func (e *Exporter) Export(ctx context.Context, w *ngbak.Writer) (ngbak.Info, error) {
	info := ngbak.Info{Format: KVFormat, Stats: map[string]int64{}}
	if v, ok := e.store.(versioner); ok {
		ver, err := v.ServerVersion(ctx)
		if err != nil {
			return info, err
		}
		info.ServerVersion = ver
	}
	scan, err := e.scanner(ctx)
	if err != nil {
		return info, err
	}
	counts, err := e.export(ctx, w, scan)
	if err != nil {
		return info, err
	}
	var total int64
	for ns, n := range counts {
		info.Stats["keys."+ns] = n
		total += n
	}
	info.Stats["keys"] = total
	info.Stats["namespaces"] = int64(len(counts))
	return info, nil
}

// scanner returns how to read the ids of every namespace in scope: in one
// pass when the store can, else namespace by namespace.
func (e *Exporter) scanner(ctx context.Context) (func(fn func(ns string, ids []string) error) error, error) {
	if s, ok := e.store.(NamespaceScanner); ok {
		return func(fn func(ns string, ids []string) error) error {
			return s.ScanNamespaces(ctx, e.opts.Namespaces, fn)
		}, nil
	}
	nss, err := e.namespaces(ctx)
	if err != nil {
		return nil, err
	}
	return func(fn func(ns string, ids []string) error) error {
		for _, ns := range nss {
			var fnErr error // says its namespace already
			err := e.store.Scan(ctx, ns, func(ids []string) error { fnErr = fn(ns, ids); return fnErr })
			if err != nil && err != fnErr {
				return fmt.Errorf("redisexp: namespace %s: %w", ns, err)
			}
			if err != nil {
				return err
			}
		}
		return nil
	}, nil
}

// readBatch is a batch of entries of one namespace, and when it was read.
type readBatch struct {
	ns      string
	entries []Entry
	readAt  time.Time
}

// export streams the namespaces into their parts and returns how many
// entries each got. A goroutine reads batches from the store while this one
// encodes the previous batch, and the archive compresses each part while
// the next is read.
func (e *Exporter) export(ctx context.Context, w *ngbak.Writer, scan func(fn func(ns string, ids []string) error) error) (map[string]int64, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	batches := make(chan readBatch, 2)
	readErr := make(chan error, 1)
	go func() {
		defer close(batches)
		readErr <- scan(func(ns string, ids []string) error {
			if err := checkNamespace(ns); err != nil {
				return err
			}
			entries, err := e.store.Get(ctx, ns, ids)
			if err != nil {
				return fmt.Errorf("redisexp: namespace %s: %w", ns, err)
			}
			// After the reads rather than before: a TTL is what was left
			// when the server answered, and a slow batch would otherwise
			// move its expiries earlier by however long it took.
			select {
			case batches <- readBatch{ns: ns, entries: entries, readAt: time.Now()}:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
	}()
	parts := newNamespaceParts(w)
	counts := map[string]int64{}
	for _, ns := range e.opts.Namespaces {
		counts[ns] = 0
	}
	var err error
	for b := range batches {
		if err != nil {
			continue // drain, so the reader can stop
		}
		for _, ent := range b.entries {
			if err = ent.check(); err != nil {
				err = fmt.Errorf("redisexp: namespace %s: %w", b.ns, err)
				break
			}
			exp := expiry{ttl: ent.TTL, readAt: b.readAt, persistent: ent.Persistent}
			if err = parts.append(b.ns, func(dst []byte) []byte {
				return appendRecord(dst, []byte(ent.ID), ent.Value, false, exp)
			}); err != nil {
				break
			}
		}
		if err != nil {
			cancel()
			continue
		}
		counts[b.ns] += int64(len(b.entries))
	}
	if rerr := <-readErr; err == nil {
		err = rerr
	}
	if err == nil {
		err = parts.close(slices.Collect(maps.Keys(counts)))
	}
	return counts, err
}

// Restore implements ngbak.Exporter. It deletes the namespaces in scope
// first, in one pass when the store can, then writes the backup's entries.
func (e *Exporter) Restore(ctx context.Context, r *ngbak.Reader) error {
	b := r.Backend()
	if b.Format != KVFormat && b.Format != kvFormat1 {
		return fmt.Errorf("redisexp: unknown format %q", b.Format)
	}
	nss, err := e.backupNamespaces(b)
	if err != nil {
		return err
	}
	if err := e.drop(ctx, nss); err != nil {
		return err
	}
	return e.restoreParts(ctx, r)
}

// backupNamespaces returns the namespaces a backup holds, from its
// manifest, and refuses one this exporter does not cover.
func (e *Exporter) backupNamespaces(b *ngbak.Backend) ([]string, error) {
	var nss []string
	for _, f := range b.Files {
		ns, _, ok := strings.Cut(strings.TrimPrefix(f.Path, b.Name+"/"), "/")
		if !ok {
			return nil, fmt.Errorf("redisexp: unexpected file %q in the backup", f.Path)
		}
		if slices.Contains(nss, ns) {
			continue
		}
		if err := checkNamespace(ns); err != nil {
			return nil, err
		}
		if e.opts.Namespaces != nil && !slices.Contains(e.opts.Namespaces, ns) {
			return nil, fmt.Errorf("redisexp: the backup holds namespace %q, which this exporter does not cover (Options.Namespaces %q)", ns, e.opts.Namespaces)
		}
		nss = append(nss, ns)
	}
	return nss, nil
}

// drop deletes the backup's namespaces nss, and with Options.Namespaces
// nil every other namespace too.
func (e *Exporter) drop(ctx context.Context, nss []string) error {
	if s, ok := e.store.(NamespaceScanner); ok {
		scope := nss
		if e.opts.Namespaces == nil {
			scope = nil
		}
		if err := s.DropNamespaces(ctx, scope); err != nil {
			return fmt.Errorf("redisexp: deleting the namespaces before the restore: %w", err)
		}
		return nil
	}
	for _, ns := range nss {
		if err := e.store.Drop(ctx, ns); err != nil {
			return fmt.Errorf("redisexp: dropping namespace %s: %w", ns, err)
		}
	}
	if e.opts.Namespaces != nil {
		return nil
	}
	current, err := e.store.Namespaces(ctx)
	if err != nil {
		return fmt.Errorf("redisexp: listing namespaces: %w", err)
	}
	for _, ns := range current {
		if !slices.Contains(nss, ns) {
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
	entries []Entry
}

// restoreParts decodes the archive's parts in a goroutine while this one
// writes the previous batch through the store.
func (e *Exporter) restoreParts(ctx context.Context, r *ngbak.Reader) error {
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
		if err = e.store.Upsert(ctx, b.ns, b.entries); err != nil {
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
		cur := batch{ns: ns}
		var size int
		err = readRecords(r, name, func(l *line) error {
			ent, live := l.entry(e.opts.TTL, time.Now())
			if !live {
				return nil
			}
			cur.entries = append(cur.entries, ent)
			size += len(ent.Value)
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
			return fmt.Errorf("redisexp: %w", err)
		}
		if len(cur.entries) > 0 {
			if err := send(cur); err != nil {
				return err
			}
		}
	}
}

// maxBatchBytes bounds the values one restore batch holds in memory.
const maxBatchBytes = 16 << 20
