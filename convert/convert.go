// Package convert restores a backup of one kind of store into another, in
// nano-graphrag's own schema, so that the application's storage classes
// read the same data afterwards: it is how an application moves from its
// default file stores to Redis, Neo4j and Qdrant without computing any
// embedding or extraction again, and back.
//
// New wraps the exporter of the target store; registered in its place, the
// wrapper is the same exporter for every backup and restore of its own kind
// and an ngbak.Converter for the other, which RestoreOptions.Into selects:
//
//	kv, _ := convert.New(redisKV, convert.Options{Partial: true}) // redisKV: a *redisexp.Exporter named "kv"
//	m.Register(kv)
//	m.Restore(ctx, id, &ngbak.RestoreOptions{Into: map[string]string{"json": "kv"}})
//
// The conversions, from a jsonexp backend of a working dir:
//
//	kv_store_<ns>.json        -> Redis (redisexp KV): nano_graphrag:<ns>:<id>, each value as RedisKVStorage
//	                             writes it (json.dumps: ", " and ": ", ASCII escapes), the namespaces' TTL policy
//	vdb_<ns>.json             -> Qdrant collection <ns> as QdrantVectorStorage writes it: point id
//	                             xxh64(record id), payload {"id", "content" (the id when the record has none,
//	                             as the storage does), the record's fields}, one Cosine vector, bit for bit
//	<namespace>.graphml       -> Neo4j, under the exporter's Options.Label, as Neo4jStorage writes it: the
//	                             label and the sanitized entity type's, id and the typed attributes, RELATED
//	                             relationships (weight a float, relation_type sanitized), its uniqueness
//	                             constraint on id and indexes on entity_type, communityIds and source_id
//
// and back into a jsonexp working dir: a Redis KV backend as the files
// JsonKVStorage writes (json.dump(indent=2, ensure_ascii=False)), a
// logical-mode Qdrant backend as the files nano-vectordb saves, and a
// neo4jexp backend of Neo4jStorage's label as the
// graph_chunk_entity_relation.graphml NetworkXStorage writes
// (networkx.write_graphml by the standard library's xml.etree writer,
// which nano-graphrag uses: it pulls in no lxml): an undirected graph,
// keys d0... in order of first use and written last first, attr.type
// string, long, double or boolean per value, str(value) as Python writes
// it, ElementTree's escapes and indentation; the entity-type label is the
// entity_type attribute's, and the id property the node's id. Ids are
// written sorted, since no store keeps insertion order (a graph's nodes
// by id, its edges from their smaller end by their ends, attributes by
// name): a file in that order comes back byte for byte, any other as the
// same data in another order; a relationship's direction is NetworkX's
// graph's, which has none. Redis holds no empty namespace, so an empty
// kv_store file does not come back (nano-graphrag reads a missing file as
// an empty store).
//
// A conversion is a restore like any other: the archive is verified first,
// the target store is backed up first (the safety backup is of the target
// kind) and rolled back if the conversion fails, the target counts what it
// wrote, and it streams: one entry in memory at a time, the ids of one
// namespace or collection and the GraphML node ids beside them; converted
// files wait in Options.TempDir. What the target cannot hold exactly is an
// error, before anything changes when the manifest shows it (a file of
// another store without Options.Partial, a JSON target whose patterns
// would remove files the backup does not hold, a Neo4j target without a
// label), else while converting, before the target is touched where the
// conversion is spooled first (Qdrant, Neo4j, files) or with a rollback
// (an entry with a time to live for a file store unless Options.DropTTL, a
// value that is not JSON, an integer beyond int64, a GraphML graph
// attribute, default or multigraph key, a named or sparse vector; for
// GraphML a property networkx's writer has no type for (lists, temporal
// and spatial values) or would not read back (an empty string, a carriage
// return in text, a character XML 1.0 lacks), a node label beyond
// Neo4jStorage's two, a relationship other than RELATED or a second
// between two nodes, a constraint or index other than Neo4jStorage's).
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
// their vdb_<ns>.json, a *neo4jexp.Exporter their GraphML, and a
// *jsonexp.Exporter converts redisexp KV, logical-mode qdrantexp and
// neo4jexp backends.
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
		// From Redis KV, Qdrant or Neo4j, by the backend's kind.
		e.check = func(b *ngbak.Backend) error {
			switch b.Kind {
			case qdrantexp.Kind:
				return checkQdrantToFiles(t, b)
			case neo4jexp.Kind:
				return checkNeo4jToFiles(t, b)
			}
			return checkRedisToFiles(t, b)
		}
		e.conv = func(ctx context.Context, r *ngbak.Reader) error {
			switch r.Backend().Kind {
			case qdrantexp.Kind:
				return e.qdrantToFiles(ctx, r)
			case neo4jexp.Kind:
				return e.neo4jToFiles(ctx, r)
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

// PlanRestore implements ngbak.Planner for the target's own backups, by
// the target's Planner: a converter registered in place of its target must
// plan as the target does (every target New accepts is a Planner).
func (e *Exporter) PlanRestore(ctx context.Context, b *ngbak.Backend) (ngbak.ScopePlan, error) {
	pl, ok := e.Exporter.(ngbak.Planner)
	if !ok {
		return ngbak.ScopePlan{}, fmt.Errorf("convert: exporter %q (%s) cannot plan a restore", e.Name(), e.Kind())
	}
	return pl.PlanRestore(ctx, b)
}
