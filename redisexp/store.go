package redisexp

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Store is the key-value store a KV export reads and a KV restore writes
// through. A GraphRAG service that has its own Redis store type, with its
// own serialization and TTL policy, implements Store over it, so that a
// restore writes exactly what the service would have written: restoring
// behind a store's back is how the old system encoded every value twice.
//
// Values are opaque bytes: what Get returns, Upsert must accept and store so
// that Get returns the same bytes again.
type Store interface {
	// Namespaces returns the namespaces that hold at least one entry.
	Namespaces(ctx context.Context) ([]string, error)
	// Scan calls fn with the ids of the namespace's entries, in batches.
	Scan(ctx context.Context, namespace string, fn func(ids []string) error) error
	// Get reads entries with their remaining time to live. Ids that no longer
	// exist are left out.
	Get(ctx context.Context, namespace string, ids []string) ([]Entry, error)
	// Upsert writes entries through the store's own serialization.
	Upsert(ctx context.Context, namespace string, entries []Entry) error
	// Drop deletes every entry of the namespace.
	Drop(ctx context.Context, namespace string) error
}

// Entry is one key-value pair of a namespace.
type Entry struct {
	ID    string
	Value []byte
	// TTL is the time the entry has left to live; 0 means it does not expire
	// (KVStore then applies its namespace's policy, if any).
	TTL time.Duration
}

// DefaultPrefix is nano-graphrag's key prefix.
const DefaultPrefix = "nano_graphrag:"

// DefaultTTLPolicy is nano-graphrag's: cached LLM responses live 12 hours,
// community reports 24 hours, everything else for ever.
var DefaultTTLPolicy = map[string]time.Duration{
	"llm_response_cache": 12 * time.Hour,
	"community_reports":  24 * time.Hour,
}

// KVStore is nano-graphrag's Redis key-value layout: the entry id of
// namespace ns lives at the key <prefix><ns>:<id>, and its value is JSON
// text, stored as is. It works on a single Redis, through Sentinel, on a
// Redis Cluster, whose every master it scans, and on a Ring, whose every
// shard it scans.
type KVStore struct {
	client redis.UniversalClient
	prefix string
	policy map[string]time.Duration
	batch  int
}

// KVStoreOptions configure a KVStore.
type KVStoreOptions struct {
	// Prefix of every key; empty means DefaultPrefix.
	Prefix string
	// TTLPolicy gives, per namespace, the time to live of entries written
	// without one; nil means DefaultTTLPolicy.
	TTLPolicy map[string]time.Duration
	// Batch is how many keys one pipeline of reads carries; 0 means 500.
	Batch int
}

// NewKVStore returns a KVStore over client.
func NewKVStore(client redis.UniversalClient, opts KVStoreOptions) *KVStore {
	s := &KVStore{client: client, prefix: opts.Prefix, policy: opts.TTLPolicy, batch: opts.Batch}
	if s.prefix == "" {
		s.prefix = DefaultPrefix
	}
	if s.policy == nil {
		s.policy = DefaultTTLPolicy
	}
	if s.batch <= 0 {
		s.batch = 500
	}
	return s
}

func (s *KVStore) key(ns, id string) string { return s.prefix + ns + ":" + id }

// Namespaces implements Store.
func (s *KVStore) Namespaces(ctx context.Context) ([]string, error) {
	seen := map[string]bool{}
	err := scanKeys(ctx, s.client, escapeGlob(s.prefix)+"*", func(_ redis.Cmdable, keys []string) error {
		for _, k := range keys {
			if ns, _, ok := strings.Cut(strings.TrimPrefix(k, s.prefix), ":"); ok {
				seen[ns] = true
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	var out []string
	for ns := range seen {
		out = append(out, ns)
	}
	return out, nil
}

// Scan implements Store, calling fn with at most Batch ids at a time.
func (s *KVStore) Scan(ctx context.Context, ns string, fn func(ids []string) error) error {
	pre := s.key(ns, "")
	return scanKeys(ctx, s.client, escapeGlob(pre)+"*", func(_ redis.Cmdable, keys []string) error {
		for chunk := range slices.Chunk(keys, s.batch) {
			ids := make([]string, len(chunk))
			for i, k := range chunk {
				ids[i] = k[len(pre):]
			}
			if err := fn(ids); err != nil {
				return err
			}
		}
		return nil
	})
}

// Get implements Store with one pipeline of GET and PTTL per batch.
func (s *KVStore) Get(ctx context.Context, ns string, ids []string) ([]Entry, error) {
	pipe := s.client.Pipeline()
	gets := make([]*redis.StringCmd, len(ids))
	ttls := make([]*redis.DurationCmd, len(ids))
	for i, id := range ids {
		gets[i] = pipe.Get(ctx, s.key(ns, id))
		ttls[i] = pipe.PTTL(ctx, s.key(ns, id))
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("redisexp: reading %s: %w", ns, err)
	}
	out := make([]Entry, 0, len(ids))
	for i, id := range ids {
		v, err := gets[i].Bytes()
		if errors.Is(err, redis.Nil) {
			continue // deleted since the scan
		}
		if err != nil {
			return nil, fmt.Errorf("redisexp: GET %s: %w", s.key(ns, id), err)
		}
		out = append(out, Entry{ID: id, Value: v, TTL: ttlOf(ttls[i].Val())})
	}
	return out, nil
}

// ttlOf turns a PTTL reply into an Entry.TTL: -1 (no expiry) and -2 (gone
// since the GET) are 0, and a key in its last millisecond keeps 1 ms rather
// than becoming one that never expires.
func ttlOf(d time.Duration) time.Duration {
	switch {
	case d < 0:
		return 0
	case d == 0:
		return time.Millisecond
	}
	return d
}

// Upsert implements Store: SET with the entry's TTL, or the namespace's
// policy for entries without one.
func (s *KVStore) Upsert(ctx context.Context, ns string, entries []Entry) error {
	pipe := s.client.Pipeline()
	for _, e := range entries {
		ttl := e.TTL
		if ttl == 0 {
			ttl = s.policy[ns]
		}
		pipe.Set(ctx, s.key(ns, e.ID), e.Value, ttl)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("redisexp: writing %s: %w", ns, err)
	}
	return nil
}

// Drop implements Store.
func (s *KVStore) Drop(ctx context.Context, ns string) error {
	return dropKeys(ctx, s.client, escapeGlob(s.key(ns, ""))+"*")
}

// ServerVersion reports the Redis version, for the manifest.
func (s *KVStore) ServerVersion(ctx context.Context) (string, error) {
	return serverVersion(ctx, s.client)
}

// scanCount is the COUNT of every SCAN: how many keys the server looks at
// per call. SCAN's cost grows with the whole keyspace, not with the keys
// that match, so a small COUNT on a large database means many round trips.
const scanCount = 1000

// scanKeys runs SCAN MATCH pattern on every node that holds keys and calls
// fn with each batch of keys and the node that holds them.
func scanKeys(ctx context.Context, client redis.UniversalClient, pattern string, fn func(node redis.Cmdable, keys []string) error) error {
	nodes, err := keyNodes(ctx, client)
	if err != nil {
		return err
	}
	for _, node := range nodes {
		var cursor uint64
		for {
			keys, next, err := node.Scan(ctx, cursor, pattern, scanCount).Result()
			if err != nil {
				return fmt.Errorf("redisexp: SCAN %s: %w", pattern, err)
			}
			if len(keys) > 0 {
				if err := fn(node, keys); err != nil {
					return err
				}
			}
			if cursor = next; cursor == 0 {
				break
			}
		}
	}
	return nil
}

// keyNodes returns the nodes that hold keys: every master of a cluster,
// every shard of a ring, or the client itself, unless it is connected to a
// single node of a cluster. Through a Ring, SCAN goes to one random shard,
// and ForEachShard skips shards that are down: either would leave keys out
// of a backup without a word, so every shard of RingOptions.Addrs must be
// up.
func keyNodes(ctx context.Context, client redis.UniversalClient) ([]redis.Cmdable, error) {
	var nodes []redis.Cmdable
	switch c := client.(type) {
	case *redis.ClusterClient:
		ch := make(chan redis.Cmdable, 1024)
		if err := c.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error {
			ch <- c
			return nil
		}); err != nil {
			return nil, fmt.Errorf("redisexp: listing the cluster's masters: %w", err)
		}
		close(ch)
		for c := range ch {
			nodes = append(nodes, c)
		}
	case *redis.Ring:
		shards := c.GetShardClients()
		if want := len(c.Options().Addrs); len(shards) < want {
			return nil, fmt.Errorf("redisexp: %d of the ring's %d shards are up; a backup or restore needs every one", len(shards), want)
		}
		for _, s := range shards {
			nodes = append(nodes, s)
		}
	default:
		// A plain client to one node of a cluster would see that node's
		// keys only.
		info, err := client.Info(ctx, "cluster").Result()
		if err != nil {
			return nil, fmt.Errorf("redisexp: INFO cluster: %w", err)
		}
		if strings.Contains(info, "cluster_enabled:1") {
			return nil, errors.New("redisexp: the server is a node of a Redis Cluster and the client reaches that node alone: pass a *redis.ClusterClient")
		}
		nodes = append(nodes, client)
	}
	return nodes, nil
}

// dropKeys deletes every key matching pattern, batch by batch, on the node
// that holds it: one UNLINK per batch on a single Redis, one per key in a
// cluster, which refuses multi-key commands across slots even on one node.
func dropKeys(ctx context.Context, client redis.UniversalClient, pattern string) error {
	_, cluster := client.(*redis.ClusterClient)
	return scanKeys(ctx, client, pattern, func(node redis.Cmdable, keys []string) error {
		if !cluster {
			if err := node.Unlink(ctx, keys...).Err(); err != nil {
				return fmt.Errorf("redisexp: UNLINK: %w", err)
			}
			return nil
		}
		pipe := node.Pipeline()
		for _, k := range keys {
			pipe.Unlink(ctx, k)
		}
		if _, err := pipe.Exec(ctx); err != nil {
			return fmt.Errorf("redisexp: UNLINK: %w", err)
		}
		return nil
	})
}

func serverVersion(ctx context.Context, client redis.UniversalClient) (string, error) {
	nodes, err := keyNodes(ctx, client)
	if err != nil {
		return "", err
	}
	info, err := nodes[0].Info(ctx, "server").Result()
	if err != nil {
		return "", fmt.Errorf("redisexp: INFO: %w", err)
	}
	for line := range strings.SplitSeq(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "redis_version:"); ok {
			return "redis " + v, nil
		}
	}
	return "redis", nil
}

// escapeGlob quotes the characters SCAN MATCH treats as pattern syntax.
func escapeGlob(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`*?[]\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}
