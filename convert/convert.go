// Package convert restores a backup of one kind of store into another, in
// nano-graphrag's own schema: a backup of the file stores of a working
// directory (jsonexp) into Redis (redisexp), and a backup of Redis into
// file stores, such that nano-graphrag's JsonKVStorage and RedisKVStorage
// read the same data afterwards. It is how an application moves from its
// default file stores to a server without computing anything again.
//
// New wraps the exporter of the target store; registered in its place, the
// wrapper is the same exporter for every backup and restore of its own kind
// and an ngbak.Converter for the other, which RestoreOptions.Into selects:
//
//	kv, _ := convert.New(redisKV, convert.Options{}) // redisKV: a *redisexp.Exporter named "kv"
//	m.Register(kv)
//	m.Restore(ctx, id, &ngbak.RestoreOptions{Into: map[string]string{"json": "kv"}})
//
// A conversion is a restore like any other: the archive is verified first,
// the target store is backed up first (the safety backup is of the target
// kind) and rolled back if the conversion fails, and it streams, one entry
// in memory at a time. What the target cannot hold exactly is an error:
// before anything changes when the manifest shows it (a GraphML or vector
// file for Redis, a JSON target whose patterns would remove files the KV
// backup does not hold), else during the restore, which is then rolled
// back (an entry with a time to live for a file store, unless
// Options.DropTTL).
//
// The KV values are re-encoded as nano-graphrag writes them: json.dumps
// (", " and ": " separators, ASCII escapes) for Redis, and the file's
// json.dump(data, indent=2, ensure_ascii=False) for JSON. The ids of a
// namespace are written to the file in sorted order: Redis keeps none, so
// a file whose ids were sorted comes back byte for byte, and any other as
// the same Python dict in another order.
//
// Conversion of the graph (GraphML into Neo4j) and of the vectors
// (nano-vectordb into Qdrant) is not implemented: a backend holding them is
// refused, before anything changes.
package convert

import (
	"context"
	"fmt"

	"github.com/ngbak/ngbak"
	"github.com/ngbak/ngbak/jsonexp"
	"github.com/ngbak/ngbak/neo4jexp"
	"github.com/ngbak/ngbak/qdrantexp"
	"github.com/ngbak/ngbak/redisexp"
)

// Options configure a conversion.
type Options struct {
	// DropTTL lets entries that had a time to live in Redis become file
	// entries, which never expire; without it such an entry is an error.
	DropTTL bool
	// Partial converts the files of a jsonexp backend that the target
	// holds (kv_store_*.json for Redis, vdb_*.json for Qdrant) and skips
	// the others, which another restore takes into their own stores;
	// without it they are an error.
	Partial bool
	// TempDir holds the converted files while the target exporter reads
	// them; empty means the system's.
	TempDir string
}

// Exporter is a target store's exporter that also converts. It implements
// ngbak.Converter and ngbak.RestoreChecker.
type Exporter struct {
	ngbak.Exporter
	opts  Options
	check func(b *ngbak.Backend) error
	// checkCtx is check for a target asked before anything changes.
	checkCtx func(ctx context.Context, b *ngbak.Backend) error
	conv     func(ctx context.Context, r *ngbak.Reader) error
}

// New returns target as a Converter. A *redisexp.Exporter of KV stores
// converts the kv_store_<ns>.json of jsonexp backends, a *qdrantexp.Exporter
// their vdb_<ns>.json, and a *jsonexp.Exporter converts redisexp KV
// backends.
func New(target ngbak.Exporter, opts Options) (*Exporter, error) {
	e := &Exporter{Exporter: target, opts: opts}
	switch t := target.(type) {
	case *redisexp.Exporter:
		if t.Kind() != redisexp.KVKind {
			return nil, fmt.Errorf("convert: exporter %q is of kind %q; only KV stores are converted into", t.Name(), t.Kind())
		}
		e.check, e.conv = e.checkFilesToRedis, e.filesToRedis
	case *neo4jexp.Exporter:
		e.checkCtx = func(ctx context.Context, b *ngbak.Backend) error { return e.checkFilesToNeo4j(ctx, t, b) }
		e.conv = func(ctx context.Context, r *ngbak.Reader) error { return e.filesToNeo4j(ctx, t, r) }
	case *qdrantexp.Exporter:
		e.check, e.conv = e.checkFilesToQdrant, e.filesToQdrant
	case *jsonexp.Exporter:
		// From Redis KV or from Qdrant, by the backend's kind.
		e.check = func(b *ngbak.Backend) error {
			if b.Kind == qdrantexp.Kind {
				return checkQdrantToFiles(t, b)
			}
			return checkRedisToFiles(t, b)
		}
		e.conv = func(ctx context.Context, r *ngbak.Reader) error {
			if r.Backend().Kind == qdrantexp.Kind {
				return e.qdrantToFiles(ctx, r)
			}
			return e.redisToFiles(ctx, r)
		}
	default:
		return nil, fmt.Errorf("convert: exporter %q of kind %q: no conversion into it", target.Name(), target.Kind())
	}
	return e, nil
}

// CheckRestore implements ngbak.RestoreChecker for the target's own
// backups.
func (e *Exporter) CheckRestore(ctx context.Context, b *ngbak.Backend) error {
	if rc, ok := e.Exporter.(ngbak.RestoreChecker); ok {
		return rc.CheckRestore(ctx, b)
	}
	return nil
}

// CheckConvert implements ngbak.Converter.
func (e *Exporter) CheckConvert(ctx context.Context, b *ngbak.Backend) error {
	check := e.checkCtx
	if check == nil {
		check = func(_ context.Context, b *ngbak.Backend) error { return e.check(b) }
	}
	if err := check(ctx, b); err != nil {
		return fmt.Errorf("convert: backend %q (%s) into %q (%s): %w", b.Name, b.Kind, e.Name(), e.Kind(), err)
	}
	return nil
}

// Convert implements ngbak.Converter.
func (e *Exporter) Convert(ctx context.Context, r *ngbak.Reader) error {
	b := r.Backend()
	if err := e.CheckConvert(ctx, b); err != nil {
		return err
	}
	if err := e.conv(ctx, r); err != nil {
		return fmt.Errorf("convert: backend %q (%s) into %q (%s): %w", b.Name, b.Kind, e.Name(), e.Kind(), err)
	}
	return nil
}
