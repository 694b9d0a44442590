package redisexp

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ngbak/ngbak"
	"github.com/redis/go-redis/v9"
)

// RawOptions configure a RawExporter.
type RawOptions struct {
	// Name is the exporter's folder in the archive; empty means "redis".
	Name string
	// Pattern selects the keys, as SCAN MATCH does; empty means "*".
	Pattern string
	// TTL says how restored keys get their time to live back.
	TTL TTLMode
	// Batch is how many keys one pipeline carries at most; 0 means 100.
	Batch int
	// BatchBytes bounds the DUMP payloads one pipeline carries, as MEMORY
	// USAGE estimates them before the DUMP (a key larger than that goes
	// alone); 0 means 16 MiB. Memory holds one batch.
	BatchBytes int
}

// RawExporter backs up every key matching a pattern, of any type (string,
// hash, list, set, sorted set, stream), with DUMP, and restores it with
// RESTORE ... REPLACE and its time to live. The DUMP payload is Redis's own
// binary serialization, which carries the RDB version of the server that
// wrote it: a server restores payloads of its own RDB version or older
// only. The backup records the highest RDB version of its payloads in the
// manifest's details, and CheckRestore refuses a target server that writes
// an older one (see CheckRestore). It implements ngbak.Exporter and
// ngbak.RestoreChecker.
type RawExporter struct {
	client redis.UniversalClient
	opts   RawOptions
}

// rawFormat is the raw exporter's format: records as the KV format's (a
// key without an expiry is "persistent"), and the details record
// rdb_version.
const rawFormat = "redis-dump/2"

// rawFormat1 is the format before the details recorded an RDB version;
// Restore reads it, CheckRestore cannot check its versions.
const rawFormat1 = "redis-dump/1"

// rawDir holds the parts of the key stream.
const rawDir = "keys"

// rawDetails is the raw backend's Info.Details.
type rawDetails struct {
	// RDBVersion is the highest RDB version of the backup's DUMP payloads;
	// 0 when it holds none.
	RDBVersion int `json:"rdb_version"`
}

// NewRaw returns a RawExporter over client.
func NewRaw(client redis.UniversalClient, opts RawOptions) *RawExporter {
	if opts.Name == "" {
		opts.Name = "redis"
	}
	if opts.Pattern == "" {
		opts.Pattern = "*"
	}
	if opts.Batch <= 0 {
		opts.Batch = 100
	}
	if opts.BatchBytes <= 0 {
		opts.BatchBytes = maxBatchBytes
	}
	return &RawExporter{client: client, opts: opts}
}

// Name implements ngbak.Exporter.
func (e *RawExporter) Name() string { return e.opts.Name }

// Kind implements ngbak.Exporter.
func (e *RawExporter) Kind() string { return "redis" }

// Export implements ngbak.Exporter.
func (e *RawExporter) Export(ctx context.Context, w *ngbak.Writer) (ngbak.Info, error) {
	info := ngbak.Info{Format: rawFormat}
	ver, err := serverVersion(ctx, e.client)
	if err != nil {
		return info, err
	}
	info.ServerVersion = ver
	d := &dumper{pw: w.Parts(rawDir, ".jsonl"), maxBytes: e.opts.BatchBytes}
	err = scanKeys(ctx, e.client, e.opts.Pattern, func(node redis.Cmdable, keys []string) error {
		for batch := range slices.Chunk(keys, e.opts.Batch) {
			if err := d.dumpSized(ctx, node, batch); err != nil {
				return err
			}
		}
		return ctx.Err()
	})
	if err == nil {
		err = d.pw.Close()
	}
	if err != nil {
		return info, err
	}
	if info.Details, err = json.Marshal(rawDetails{RDBVersion: d.rdb}); err != nil {
		return info, fmt.Errorf("redisexp: %w", err)
	}
	info.Stats = map[string]int64{"keys": d.keys, "dump_bytes": d.bytes}
	return info, nil
}

type dumper struct {
	pw          *ngbak.PartWriter
	maxBytes    int
	keys, bytes int64
	rdb         int // the highest RDB version seen
}

// dumpSized dumps keys in pipelines of at most maxBytes by MEMORY USAGE:
// a count alone would let a batch of large keys (a hundred of 100 MB)
// arrive in memory at once.
func (d *dumper) dumpSized(ctx context.Context, node redis.Cmdable, keys []string) error {
	pipe := node.Pipeline()
	sizes := make([]*redis.IntCmd, len(keys))
	for i, k := range keys {
		sizes[i] = pipe.MemoryUsage(ctx, k)
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return fmt.Errorf("redisexp: MEMORY USAGE: %w", err)
	}
	var batch []string
	var held int64
	for i, k := range keys {
		n, err := sizes[i].Result()
		if errors.Is(err, redis.Nil) {
			continue // deleted since the scan
		}
		if err != nil {
			return fmt.Errorf("redisexp: MEMORY USAGE %q: %w", k, err)
		}
		if len(batch) > 0 && held+n > int64(d.maxBytes) {
			if err := d.dump(ctx, node, batch); err != nil {
				return err
			}
			batch, held = batch[:0], 0
		}
		batch = append(batch, k)
		held += n
	}
	if len(batch) == 0 {
		return nil
	}
	return d.dump(ctx, node, batch)
}

// dump writes one pipelined batch of DUMP and PTTL.
func (d *dumper) dump(ctx context.Context, node redis.Cmdable, batch []string) error {
	pipe := node.Pipeline()
	dumps := make([]*redis.StringCmd, len(batch))
	ttls := make([]*redis.DurationCmd, len(batch))
	for i, k := range batch {
		dumps[i] = pipe.Dump(ctx, k)
		ttls[i] = pipe.PTTL(ctx, k)
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return fmt.Errorf("redisexp: DUMP: %w", err)
	}
	readAt := time.Now() // see Exporter.export
	for i, k := range batch {
		dump, err := dumps[i].Bytes()
		if errors.Is(err, redis.Nil) {
			continue // deleted since the scan
		}
		if err != nil {
			return fmt.Errorf("redisexp: DUMP %q: %w", k, err)
		}
		ttl, persistent, err := ttlOf(ttls[i])
		if err != nil {
			return err
		}
		if ttl == 0 && !persistent {
			continue // deleted or expired since the DUMP
		}
		v, err := payloadRDBVersion(dump)
		if err != nil {
			return fmt.Errorf("redisexp: DUMP %q: %w", k, err)
		}
		d.rdb = max(d.rdb, v)
		exp := expiry{ttl: ttl, readAt: readAt, persistent: persistent}
		if err := d.pw.Append(appendRecord(d.pw.Buffer(), []byte(k), dump, true, exp)); err != nil {
			return fmt.Errorf("redisexp: %w", err)
		}
		d.keys++
		d.bytes += int64(len(dump))
	}
	return nil
}

// payloadRDBVersion reads the RDB version a DUMP payload (or FUNCTION
// DUMP's) ends with: 2 bytes little-endian before the 8-byte CRC64.
func payloadRDBVersion(p []byte) (int, error) {
	if len(p) < 10 {
		return 0, fmt.Errorf("a payload of %d bytes has no RDB version and checksum", len(p))
	}
	return int(binary.LittleEndian.Uint16(p[len(p)-10:])), nil
}

// CheckRestore implements ngbak.RestoreChecker: it refuses, before anything
// changes, a backup whose DUMP payloads are of an RDB version newer than
// the target server's (a DUMP of Redis 7.4 or 8, RDB 12, into Redis 7.0, RDB
// 10, or Valkey 8, RDB 11), which RESTORE would refuse key by key after the
// restore had deleted the keys in scope.
//
// The target's version is what each of its nodes writes itself: the
// trailer of a FUNCTION DUMP (Redis 7.0 and later, Valkey), which reads
// nothing and writes nothing, and is right for every fork and future
// version, where a table of server versions would have to guess. A server
// older than 7.0, which has no FUNCTION, is taken by its redis_version (RDB
// 9 for 5.0 to 6.2, 8 for 4.0). A redis-dump/1 backup, which did not record
// the version, is not checked.
func (e *RawExporter) CheckRestore(ctx context.Context, b *ngbak.Backend) error {
	switch b.Format {
	case rawFormat1:
		return nil
	case rawFormat:
	default:
		return fmt.Errorf("redisexp: unknown format %q", b.Format)
	}
	var d rawDetails
	if err := json.Unmarshal(b.Details, &d); err != nil {
		return fmt.Errorf("redisexp: the manifest's details: %w", err)
	}
	if d.RDBVersion == 0 {
		return nil // no payloads
	}
	nodes, err := keyNodes(ctx, e.client)
	if err != nil {
		return err
	}
	for _, node := range nodes {
		v, err := serverRDBVersion(ctx, node)
		if err != nil {
			return err
		}
		if v < d.RDBVersion {
			return fmt.Errorf("redisexp: the backup's DUMP payloads are of RDB version %d (%s), and %s writes RDB version %d, which cannot RESTORE them: restore into a server as new as the backup's, or back up in KV mode", d.RDBVersion, b.ServerVersion, nodeName(node), v)
		}
	}
	return nil
}

// serverRDBVersion returns the RDB version node writes (see CheckRestore).
func serverRDBVersion(ctx context.Context, node redis.Cmdable) (int, error) {
	p, err := node.FunctionDump(ctx).Result()
	if err == nil {
		v, err := payloadRDBVersion([]byte(p))
		if err != nil {
			return 0, fmt.Errorf("redisexp: FUNCTION DUMP on %s: %w", nodeName(node), err)
		}
		return v, nil
	}
	if !strings.Contains(strings.ToLower(err.Error()), "unknown command") {
		return 0, fmt.Errorf("redisexp: FUNCTION DUMP on %s, for the RDB version it writes: %w", nodeName(node), err)
	}
	info, err := node.Info(ctx, "server").Result()
	if err != nil {
		return 0, fmt.Errorf("redisexp: INFO on %s: %w", nodeName(node), err)
	}
	var major int
	for line := range strings.SplitSeq(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "redis_version:"); ok {
			major, _ = strconv.Atoi(strings.Split(v, ".")[0])
		}
	}
	switch major {
	case 5, 6:
		return 9, nil
	case 4:
		return 8, nil
	}
	return 0, fmt.Errorf("redisexp: %s has no FUNCTION DUMP and its version (major %d) does not say which RDB version it writes", nodeName(node), major)
}

// nodeName names a node in messages.
func nodeName(node redis.Cmdable) string {
	if c, ok := node.(*redis.Client); ok {
		return c.Options().Addr
	}
	return "the server"
}

// Restore implements ngbak.Exporter: after CheckRestore, the keys matching
// the pattern are deleted, then the backup's keys are restored in pipelined
// batches. A key whose record has no time to live is restored without one.
func (e *RawExporter) Restore(ctx context.Context, r *ngbak.Reader) error {
	// Again, for callers other than the Manager.
	if err := e.CheckRestore(ctx, r.Backend()); err != nil {
		return err
	}
	if err := dropKeys(ctx, e.client, e.opts.Pattern, nil); err != nil {
		return err
	}
	pipe := e.client.Pipeline()
	var size int
	flush := func() error {
		if pipe.Len() == 0 {
			return nil
		}
		cmds, err := pipe.Exec(ctx)
		if err != nil {
			for _, c := range cmds {
				if c.Err() != nil {
					return fmt.Errorf("redisexp: %v: %w", c.Args()[:2], c.Err())
				}
			}
			return fmt.Errorf("redisexp: RESTORE: %w", err)
		}
		size = 0
		return nil
	}
	for {
		name, _, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		if !strings.HasPrefix(name, rawDir+"/") || !strings.HasSuffix(name, ".jsonl") {
			return fmt.Errorf("redisexp: unexpected file %q in the backup", name)
		}
		err = readRecords(r, name, func(l *line) error {
			key, dump := l.id, l.value
			ttl, live := l.ttl(e.opts.TTL, time.Now())
			if !live {
				return nil
			}
			if size > 0 && size+len(dump) > e.opts.BatchBytes {
				if err := flush(); err != nil {
					return err
				}
			}
			pipe.RestoreReplace(ctx, string(key), ttl, string(dump))
			size += len(dump)
			if pipe.Len() >= e.opts.Batch {
				return flush()
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("redisexp: %w", err)
		}
	}
	return flush()
}
