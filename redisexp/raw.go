package redisexp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
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
	// Batch is how many keys one pipeline carries; 0 means 100. Memory holds
	// one batch of values.
	Batch int
}

// RawExporter backs up every key matching a pattern, of any type (string,
// hash, list, set, sorted set, stream), with DUMP, and restores it with
// RESTORE ... REPLACE and its time to live. The DUMP payload is Redis's own
// binary serialization: it restores into the same or a newer Redis version.
// It implements ngbak.Exporter.
type RawExporter struct {
	client redis.UniversalClient
	opts   RawOptions
}

const rawFormat = "redis-dump/1"

// rawDir holds the parts of the key stream.
const rawDir = "keys"

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
	d := &dumper{pw: w.Parts(rawDir, ".jsonl"), now: time.Now()}
	err = scanKeys(ctx, e.client, e.opts.Pattern, func(node redis.Cmdable, keys []string) error {
		for batch := range slices.Chunk(keys, e.opts.Batch) {
			if err := d.dump(ctx, node, batch); err != nil {
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
	info.Stats = map[string]int64{"keys": d.keys, "dump_bytes": d.bytes}
	return info, nil
}

type dumper struct {
	pw          *ngbak.PartWriter
	now         time.Time
	keys, bytes int64
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
	for i, k := range batch {
		dump, err := dumps[i].Bytes()
		if errors.Is(err, redis.Nil) {
			continue // deleted since the scan
		}
		if err != nil {
			return fmt.Errorf("redisexp: DUMP %q: %w", k, err)
		}
		if err := d.pw.Append(appendRecord(d.pw.Buffer(), []byte(k), dump, true, ttlOf(ttls[i].Val()), d.now)); err != nil {
			return err
		}
		d.keys++
		d.bytes += int64(len(dump))
	}
	return nil
}

// Restore implements ngbak.Exporter: the keys matching the pattern are
// deleted, then the backup's keys are restored in pipelined batches.
func (e *RawExporter) Restore(ctx context.Context, r *ngbak.Reader) error {
	if f := r.Backend().Format; f != rawFormat {
		return fmt.Errorf("redisexp: unknown format %q", f)
	}
	if err := dropKeys(ctx, e.client, e.opts.Pattern); err != nil {
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
			pipe.RestoreReplace(ctx, string(key), ttl, string(dump))
			size += len(dump)
			if pipe.Len() >= e.opts.Batch || size >= maxBatchBytes {
				return flush()
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return flush()
}
