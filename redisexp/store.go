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
	// Get reads entries with their remaining time to live, or Persistent
	// for those that never expire; a store that does not know expiries
	// leaves both unset. Ids that no longer exist are left out.
	Get(ctx context.Context, namespace string, ids []string) ([]Entry, error)
	// Upsert writes entries through the store's own serialization: an entry
	// with a TTL expires after it, a Persistent one never expires, and one
	// with neither gets the store's policy.
	Upsert(ctx context.Context, namespace string, entries []Entry) error
	// Drop deletes every entry of the namespace.
	Drop(ctx context.Context, namespace string) error
}

// A NamespaceScanner is a Store that reads and deletes many namespaces in
// one pass; the Exporter uses one when its Store is one, as KVStore is.
// SCAN costs the whole keyspace whatever its MATCH, so a pass per namespace
// costs the keyspace once per namespace, and a restore paid that again per
// Drop.
type NamespaceScanner interface {
	Store
	// ScanNamespaces calls fn with batches of the ids of the namespaces
	// nss (nil: every namespace), each batch of one namespace, in one pass.
	ScanNamespaces(ctx context.Context, nss []string, fn func(namespace string, ids []string) error) error
	// DropNamespaces deletes every entry of the namespaces nss (nil: every
	// namespace) in one pass.
	DropNamespaces(ctx context.Context, nss []string) error
}

// Entry is one key-value pair of a namespace.
//
// Its expiry is one of three: a positive TTL (it expires), Persistent (it
// never expires, whatever a store's policy would give a new entry), or
// neither (not known: Upsert applies the store's policy). Persistent with a
// TTL, and a negative TTL, are errors.
type Entry struct {
	ID    string
	Value []byte
	// TTL, when positive, is the time the entry has left to live.
	TTL time.Duration
	// Persistent says the entry never expires.
	Persistent bool
}

// check refuses an entry whose expiry says two things.
func (e *Entry) check() error {
	switch {
	case e.TTL < 0:
		return fmt.Errorf("redisexp: entry %q has a negative TTL (%v)", e.ID, e.TTL)
	case e.TTL > 0 && e.Persistent:
		return fmt.Errorf("redisexp: entry %q has a TTL and is Persistent", e.ID)
	}
	return nil
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
	// with neither a TTL nor Persistent; nil means DefaultTTLPolicy.
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
			if ns, _, ok := s.split(k); ok {
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
	return s.ScanNamespaces(ctx, []string{ns}, func(_ string, ids []string) error { return fn(ids) })
}

// ScanNamespaces implements NamespaceScanner with one SCAN of the prefix,
// sorting each SCAN batch into namespaces; fn gets at most Batch ids at a
// time, and ids whose values (by STRLEN, one pipeline per SCAN batch) add
// up to at most 16 MiB, or a single larger one: a count alone would let
// Get hold 500 values of 10 MB at once.
func (s *KVStore) ScanNamespaces(ctx context.Context, nss []string, fn func(ns string, ids []string) error) error {
	pattern, in := s.scope(nss)
	type group struct {
		ids   []string
		bytes int64
	}
	var order []string
	groups := map[string]*group{}
	return scanKeys(ctx, s.client, pattern, func(node redis.Cmdable, keys []string) error {
		keys = slices.DeleteFunc(keys, func(k string) bool {
			ns, _, ok := s.split(k)
			return !ok || !in(ns)
		})
		pipe := node.Pipeline()
		lens := make([]*redis.IntCmd, len(keys))
		for i, k := range keys {
			lens[i] = pipe.StrLen(ctx, k)
		}
		if len(keys) > 0 {
			if _, err := pipe.Exec(ctx); err != nil {
				return fmt.Errorf("redisexp: STRLEN: %w", err)
			}
		}
		order = order[:0]
		clear(groups)
		flush := func(ns string, g *group) error {
			if len(g.ids) == 0 {
				return nil
			}
			err := fn(ns, g.ids)
			g.ids, g.bytes = nil, 0
			return err
		}
		for i, k := range keys {
			ns, id, _ := s.split(k)
			g := groups[ns]
			if g == nil {
				g = &group{}
				groups[ns] = g
				order = append(order, ns)
			}
			n := lens[i].Val()
			if len(g.ids) >= s.batch || (len(g.ids) > 0 && g.bytes+n > maxBatchBytes) {
				if err := flush(ns, g); err != nil {
					return err
				}
			}
			g.ids = append(g.ids, id)
			g.bytes += n
		}
		for _, ns := range order {
			if err := flush(ns, groups[ns]); err != nil {
				return err
			}
		}
		return nil
	})
}

// scope returns the SCAN pattern for the namespaces nss (nil: all) and
// whether a namespace is one of them. One namespace has a narrower MATCH,
// which costs the server the same and the network less.
func (s *KVStore) scope(nss []string) (string, func(string) bool) {
	if len(nss) == 1 {
		return escapeGlob(s.key(nss[0], "")) + "*", func(ns string) bool { return ns == nss[0] }
	}
	return escapeGlob(s.prefix) + "*", func(ns string) bool { return nss == nil || slices.Contains(nss, ns) }
}

// split returns the namespace and id of a key under the prefix, and false
// for a key that belongs to no namespace.
func (s *KVStore) split(key string) (ns, id string, ok bool) {
	rest, ok := strings.CutPrefix(key, s.prefix)
	if !ok {
		return "", "", false
	}
	return strings.Cut(rest, ":")
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
		e := Entry{ID: id, Value: v}
		if e.TTL, e.Persistent, err = ttlOf(ttls[i]); err != nil {
			return nil, err
		}
		if e.TTL == 0 && !e.Persistent {
			continue // deleted or expired since the GET
		}
		out = append(out, e)
	}
	return out, nil
}

// ttlOf turns a PTTL reply into a TTL, or persistent for -1 (no expiry);
// -2 (gone since the read before it) is neither. A key in its last
// millisecond keeps 1 ms rather than become one that never expires. A
// failed PTTL is an error: taking it for "no expiry" would make a cache
// entry immortal.
func ttlOf(cmd *redis.DurationCmd) (ttl time.Duration, persistent bool, err error) {
	d, err := cmd.Result()
	if err != nil {
		return 0, false, fmt.Errorf("redisexp: PTTL %s: %w", cmd.Args()[1], err)
	}
	switch {
	case d == -1:
		return 0, true, nil
	case d < 0:
		return 0, false, nil
	case d == 0:
		return time.Millisecond, false, nil
	}
	return d, false, nil
}

// Upsert implements Store: SET with the entry's TTL, without one for a
// Persistent entry, and with the namespace's policy for the others.
func (s *KVStore) Upsert(ctx context.Context, ns string, entries []Entry) error {
	pipe := s.client.Pipeline()
	for _, e := range entries {
		if err := e.check(); err != nil {
			return err
		}
		ttl := e.TTL
		if ttl == 0 && !e.Persistent {
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
	return s.DropNamespaces(ctx, []string{ns})
}

// DropNamespaces implements NamespaceScanner with one SCAN of the prefix.
// Keys under the prefix that belong to no namespace stay.
func (s *KVStore) DropNamespaces(ctx context.Context, nss []string) error {
	pattern, in := s.scope(nss)
	return dropKeys(ctx, s.client, pattern, func(k string) bool {
		ns, _, ok := s.split(k)
		return ok && in(ns)
	})
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
// fn with each batch of keys and the node that holds them. In a cluster it
// reads the slot map before and after (see slotMap), so that a resharding
// that moves keys from a node not scanned yet to one already scanned fails
// the scan instead of leaving them out.
func scanKeys(ctx context.Context, client redis.UniversalClient, pattern string, fn func(node redis.Cmdable, keys []string) error) error {
	nodes, err := keyNodes(ctx, client)
	if err != nil {
		return err
	}
	_, cluster := client.(*redis.ClusterClient)
	var before *slotMap
	if cluster {
		if before, err = readSlotMap(ctx, nodes); err != nil {
			return err
		}
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
	if cluster {
		after, err := readSlotMap(ctx, nodes)
		if err != nil {
			return fmt.Errorf("%w (after the SCAN of %s)", err, pattern)
		}
		if err := before.compare(after); err != nil {
			return fmt.Errorf("%w: the SCAN of %s may have missed keys that moved; try again", err, pattern)
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

// dropKeys deletes every key matching pattern (and del, if not nil),
// batch by batch, on the node that holds it: one UNLINK per batch on a
// single Redis, one per key in a cluster, which refuses multi-key commands
// across slots even on one node.
func dropKeys(ctx context.Context, client redis.UniversalClient, pattern string, del func(key string) bool) error {
	_, cluster := client.(*redis.ClusterClient)
	return scanKeys(ctx, client, pattern, func(node redis.Cmdable, keys []string) error {
		if del != nil {
			keys = slices.DeleteFunc(keys, func(k string) bool { return !del(k) })
			if len(keys) == 0 {
				return nil
			}
		}
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
