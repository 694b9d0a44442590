package redisexp

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
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
	// Batch is how many keys one SCAN asks for and one pipeline carries; 0
	// means 100. Memory holds one batch of values.
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

// rawFile holds every key, one line each.
const rawFile = "keys.jsonl"

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
	f, err := w.Create(rawFile)
	if err != nil {
		return info, err
	}
	bw := bufio.NewWriterSize(f, 256<<10)
	enc := json.NewEncoder(bw)
	var keys, bytes int64
	now := time.Now()
	err = scanKeys(ctx, e.client, e.opts.Pattern, e.opts.Batch, func(node redis.Cmdable, batch []string) error {
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
			rec := newRecord([]byte(k), nil, ttlOf(ttls[i].Val()), now)
			rec.Value, rec.ValueB64 = nil, dump // always base64: DUMP is binary
			if err := enc.Encode(rec); err != nil {
				return err
			}
			keys++
			bytes += int64(len(dump))
		}
		return ctx.Err()
	})
	if err == nil {
		err = bw.Flush()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return info, err
	}
	info.Stats = map[string]int64{"keys": keys, "dump_bytes": bytes}
	return info, nil
}

// Restore implements ngbak.Exporter: the keys matching the pattern are
// deleted, then the backup's keys are restored in pipelined batches.
func (e *RawExporter) Restore(ctx context.Context, r *ngbak.Reader) error {
	if f := r.Backend().Format; f != rawFormat {
		return fmt.Errorf("redisexp: unknown format %q", f)
	}
	name, _, err := r.Next()
	if err != nil {
		return err
	}
	if name != rawFile {
		return fmt.Errorf("redisexp: unexpected file %q in the backup", name)
	}
	if err := dropKeys(ctx, e.client, e.opts.Pattern, e.opts.Batch); err != nil {
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
	err = readRecords(r, rawFile, func(rec *record, key, dump []byte) error {
		ttl, live := rec.ttl(e.opts.TTL, time.Now())
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
	return flush()
}
