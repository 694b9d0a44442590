package redisexp_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"net"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/ngbak/ngbak"
	"github.com/ngbak/ngbak/exportertest"
	"github.com/ngbak/ngbak/redisexp"
	"github.com/redis/go-redis/v9"
)

// The tests run against the servers that `make services` starts (or any
// others): NGBAK_REDIS_URL (a single Redis 7.0), NGBAK_REDIS8_URL (a single
// Redis 8), NGBAK_REDIS_RING (comma-separated addresses of plain servers,
// sharded by go-redis's Ring) and NGBAK_REDIS_CLUSTER (comma-separated
// addresses of a cluster). Without them they skip, unless
// NGBAK_REQUIRE_SERVERS is set, as in CI, where they fail.

func server(t testing.TB, env string) redis.UniversalClient {
	t.Helper()
	addr := os.Getenv(env)
	if addr == "" {
		if os.Getenv("NGBAK_REQUIRE_SERVERS") != "" {
			t.Fatalf("%s is not set and NGBAK_REQUIRE_SERVERS is: run make services", env)
		}
		t.Skipf("%s is not set: run make services, then source .services.env", env)
	}
	var client redis.UniversalClient
	switch env {
	case "NGBAK_REDIS_CLUSTER":
		client = redis.NewClusterClient(&redis.ClusterOptions{Addrs: strings.Split(addr, ",")})
	case "NGBAK_REDIS_RING":
		client = redis.NewRing(&redis.RingOptions{Addrs: ringAddrs(addr)})
	default:
		opts, err := redis.ParseURL(addr)
		if err != nil {
			t.Fatal(err)
		}
		client = redis.NewClient(opts)
	}
	t.Cleanup(func() { client.Close() })
	if err := client.Ping(context.Background()).Err(); err != nil {
		t.Fatalf("%s=%s: %v", env, addr, err)
	}
	return client
}

// ringAddrs names the shards of a comma-separated list s0, s1, ...
func ringAddrs(list string) map[string]string {
	addrs := map[string]string{}
	for i, a := range strings.Split(list, ",") {
		addrs[fmt.Sprintf("s%d", i)] = a
	}
	return addrs
}

// singles are the single servers, one per Redis version the package
// supports, that every test needing a plain client runs against: the
// versions differ in what they write (DUMP payloads, RDB 10 and 12) and in
// the commands they have.
var singles = []string{"NGBAK_REDIS_URL", "NGBAK_REDIS8_URL"}

// servers are the environments every test that does not need a single
// server runs against.
var servers = append(slices.Clone(singles), "NGBAK_REDIS_RING", "NGBAK_REDIS_CLUSTER")

// eachSingle runs fn as a subtest on each single server.
func eachSingle(t *testing.T, fn func(t *testing.T, client redis.UniversalClient)) {
	for _, env := range singles {
		t.Run(env, func(t *testing.T) { fn(t, server(t, env)) })
	}
}

// eachServerKV runs fn as a subtest on every server, with a KV store under
// a prefix of its own (given too) that is removed afterwards.
func eachServerKV(t *testing.T, fn func(t *testing.T, client redis.UniversalClient, prefix string, store *redisexp.KVStore)) {
	for _, env := range servers {
		t.Run(env, func(t *testing.T) {
			client := server(t, env)
			prefix := uniquePrefix()
			t.Cleanup(func() { cleanup(client, prefix) })
			fn(t, client, prefix, redisexp.NewKVStore(client, redisexp.KVStoreOptions{Prefix: prefix}))
		})
	}
}

func uniquePrefix() string {
	var b [6]byte
	rand.Read(b[:])
	return "ngbaktest:" + hex.EncodeToString(b[:]) + ":"
}

// kvHarness keeps the suite's records in two namespaces of nano-graphrag's
// layout under a prefix of its own, as JSON strings; entries of the "cache"
// namespace carry a TTL, as nano-graphrag's LLM cache does. Its state also
// covers a neighbour key outside the prefix, which no restore may touch.
type kvHarness struct {
	client    redis.UniversalClient
	prefix    string
	neighbour string
	exp       *redisexp.Exporter
}

func newKVHarness(env string) exportertest.HarnessMaker {
	return func(ctx context.Context, t *testing.T) exportertest.Harness {
		client := server(t, env)
		h := &kvHarness{client: client, prefix: uniquePrefix()}
		h.neighbour = h.prefix[:len(h.prefix)-1] + "-neighbour"
		store := redisexp.NewKVStore(client, redisexp.KVStoreOptions{Prefix: h.prefix, Batch: 7})
		exp, err := redisexp.New(store, redisexp.Options{Batch: 5})
		if err != nil {
			t.Fatal(err)
		}
		h.exp = exp
		if err := client.Set(ctx, h.neighbour, "outside the scope", time.Hour).Err(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cleanup(client, h.prefix, h.neighbour) })
		return h
	}
}

func cleanup(client redis.UniversalClient, prefix string, keys ...string) {
	ctx := context.Background()
	scanAll(ctx, client, prefix+"*", func(k string) { keys = append(keys, k) })
	pipe := client.Pipeline()
	for _, k := range keys {
		pipe.Del(ctx, k)
	}
	pipe.Exec(ctx)
}

func scanAll(ctx context.Context, client redis.UniversalClient, pattern string, fn func(string)) error {
	scan := func(ctx context.Context, c *redis.Client) error {
		iter := c.Scan(ctx, 0, pattern, 100).Iterator()
		for iter.Next(ctx) {
			fn(iter.Val())
		}
		return iter.Err()
	}
	var forEach func(context.Context, func(context.Context, *redis.Client) error) error
	switch c := client.(type) {
	case *redis.ClusterClient:
		forEach = c.ForEachMaster
	case *redis.Ring:
		forEach = c.ForEachShard
	}
	if forEach != nil {
		keys := make(chan string, 1<<16)
		err := forEach(ctx, func(ctx context.Context, c *redis.Client) error {
			iter := c.Scan(ctx, 0, pattern, 100).Iterator()
			for iter.Next(ctx) {
				keys <- iter.Val()
			}
			return iter.Err()
		})
		close(keys)
		for k := range keys {
			fn(k)
		}
		return err
	}
	return scan(ctx, client.(*redis.Client))
}

func (h *kvHarness) Exporter() ngbak.Exporter { return h.exp }

func namespaceOf(key string) string {
	f := fnv.New32()
	f.Write([]byte(key))
	if f.Sum32()%3 == 0 {
		return "cache"
	}
	return "docs"
}

func (h *kvHarness) Put(ctx context.Context, records map[string]string) error {
	pipe := h.client.Pipeline()
	for k, v := range records {
		val, _ := json.Marshal(v)
		var ttl time.Duration
		ns := namespaceOf(k)
		if ns == "cache" {
			ttl = time.Hour
		}
		pipe.Set(ctx, h.prefix+ns+":"+k, val, ttl)
	}
	_, err := pipe.Exec(ctx)
	return err
}

func (h *kvHarness) Delete(ctx context.Context, keys ...string) error {
	pipe := h.client.Pipeline()
	for _, k := range keys {
		pipe.Del(ctx, h.prefix+namespaceOf(k)+":"+k)
	}
	_, err := pipe.Exec(ctx)
	return err
}

// keyState is what the suite compares of a key: its value and whether it
// has a TTL of at most an hour (exact TTLs are checked in TestTTL).
type keyState struct {
	Type  string
	Value string
	TTL   bool
}

func (h *kvHarness) State(ctx context.Context) (any, error) {
	return readState(ctx, h.client, h.prefix+"*", h.neighbour)
}

func readState(ctx context.Context, client redis.UniversalClient, pattern string, extra ...string) (map[string]keyState, error) {
	var keys []string
	if err := scanAll(ctx, client, pattern, func(k string) { keys = append(keys, k) }); err != nil {
		return nil, err
	}
	keys = append(keys, extra...)
	out := map[string]keyState{}
	for _, k := range keys {
		typ, err := client.Type(ctx, k).Result()
		if err != nil {
			return nil, err
		}
		var val string
		switch typ {
		case "string":
			val, err = client.Get(ctx, k).Result()
		case "none":
			continue
		default:
			var v any
			v, err = readValue(ctx, client, k, typ)
			b, _ := json.Marshal(v)
			val = string(b)
		}
		if err != nil {
			return nil, err
		}
		ttl, err := client.PTTL(ctx, k).Result()
		if err != nil {
			return nil, err
		}
		out[k] = keyState{Type: typ, Value: val, TTL: ttl > 0 && ttl <= time.Hour}
	}
	return out, nil
}

func readValue(ctx context.Context, c redis.UniversalClient, k, typ string) (any, error) {
	switch typ {
	case "hash":
		return c.HGetAll(ctx, k).Result()
	case "list":
		return c.LRange(ctx, k, 0, -1).Result()
	case "set":
		v, err := c.SMembers(ctx, k).Result()
		return fmt.Sprint(sortedCopy(v)), err
	case "zset":
		return c.ZRangeWithScores(ctx, k, 0, -1).Result()
	case "stream":
		return c.XRange(ctx, k, "-", "+").Result()
	}
	return nil, fmt.Errorf("type %s", typ)
}

func sortedCopy(v []string) []string {
	out := append([]string(nil), v...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

// rawHarness keeps the records as plain string keys under its prefix, and
// backs them up with DUMP and RESTORE.
type rawHarness struct {
	kvHarness
	raw *redisexp.RawExporter
}

func newRawHarness(env string) exportertest.HarnessMaker {
	return func(ctx context.Context, t *testing.T) exportertest.Harness {
		kv := newKVHarness(env)(ctx, t).(*kvHarness)
		return &rawHarness{kvHarness: *kv, raw: redisexp.NewRaw(kv.client, redisexp.RawOptions{Pattern: kv.prefix + "*", Batch: 7})}
	}
}

func (h *rawHarness) Exporter() ngbak.Exporter { return h.raw }

func (h *rawHarness) Put(ctx context.Context, records map[string]string) error {
	pipe := h.client.Pipeline()
	for k, v := range records {
		pipe.Set(ctx, h.prefix+k, v, 0)
	}
	_, err := pipe.Exec(ctx)
	return err
}

func (h *rawHarness) Delete(ctx context.Context, keys ...string) error {
	pipe := h.client.Pipeline()
	for _, k := range keys {
		pipe.Del(ctx, h.prefix+k)
	}
	_, err := pipe.Exec(ctx)
	return err
}

func TestConformance(t *testing.T) {
	for i, env := range servers {
		t.Run(env, func(t *testing.T) {
			t.Run("KV", func(t *testing.T) {
				exportertest.RunConformanceTests(t, newKVHarness(env), exportertest.Options{})
			})
			t.Run("Raw", func(t *testing.T) {
				exportertest.RunConformanceTests(t, newRawHarness(env), exportertest.Options{})
			})
			// The deduplicating layout is the Manager's, below the
			// exporter: one server shows each kind works on it.
			if i > 0 {
				return
			}
			t.Run("KVDedup", func(t *testing.T) {
				exportertest.RunConformanceTests(t, newKVHarness(env), exportertest.Options{Dedup: true})
			})
			t.Run("RawDedup", func(t *testing.T) {
				exportertest.RunConformanceTests(t, newRawHarness(env), exportertest.Options{Dedup: true})
			})
		})
	}
}

func newManager(t *testing.T, exps ...ngbak.Exporter) *ngbak.Manager {
	t.Helper()
	m, err := ngbak.New(ngbak.Options{Storage: ngbak.Dir(t.TempDir()), TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Register(exps...); err != nil {
		t.Fatal(err)
	}
	return m
}

// encodedStore is a service's own store: keys svc:<ns>/<id>, values stored
// as "v1:" and base64 of the JSON. A restore that bypassed it, or encoded
// again what it returned, would leave other bytes in Redis.
type encodedStore struct {
	client  redis.UniversalClient
	prefix  string
	upserts atomic.Int64
}

func (s *encodedStore) key(ns, id string) string { return s.prefix + ns + "/" + id }

func (s *encodedStore) Namespaces(ctx context.Context) ([]string, error) {
	seen := map[string]bool{}
	err := scanAll(ctx, s.client, s.prefix+"*", func(k string) {
		ns, _, _ := strings.Cut(strings.TrimPrefix(k, s.prefix), "/")
		seen[ns] = true
	})
	var out []string
	for ns := range seen {
		out = append(out, ns)
	}
	return out, err
}

func (s *encodedStore) Scan(ctx context.Context, ns string, fn func([]string) error) error {
	var ids []string
	if err := scanAll(ctx, s.client, s.key(ns, "*"), func(k string) { ids = append(ids, k[len(s.key(ns, "")):]) }); err != nil {
		return err
	}
	return fn(ids)
}

func (s *encodedStore) Get(ctx context.Context, ns string, ids []string) ([]redisexp.Entry, error) {
	var out []redisexp.Entry
	for _, id := range ids {
		raw, err := s.client.Get(ctx, s.key(ns, id)).Result()
		if err != nil {
			return nil, err
		}
		v, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(raw, "v1:"))
		if err != nil || !strings.HasPrefix(raw, "v1:") {
			return nil, fmt.Errorf("not this store's encoding: %q", raw)
		}
		out = append(out, redisexp.Entry{ID: id, Value: v})
	}
	return out, nil
}

func (s *encodedStore) Upsert(ctx context.Context, ns string, entries []redisexp.Entry) error {
	s.upserts.Add(int64(len(entries)))
	for _, e := range entries {
		if err := s.client.Set(ctx, s.key(ns, e.ID), "v1:"+base64.StdEncoding.EncodeToString(e.Value), 0).Err(); err != nil {
			return err
		}
	}
	return nil
}

func (s *encodedStore) Drop(ctx context.Context, ns string) error {
	var keys []string
	scanAll(ctx, s.client, s.key(ns, "*"), func(k string) { keys = append(keys, k) })
	for _, k := range keys {
		if err := s.client.Del(ctx, k).Err(); err != nil {
			return err
		}
	}
	return nil
}

// The restore goes through the service's Store: its Upsert writes, once,
// with its own encoding, and Redis ends byte for byte as it was.
func TestServiceStore(t *testing.T) { eachSingle(t, testServiceStore) }

func testServiceStore(t *testing.T, client redis.UniversalClient) {
	ctx := context.Background()
	store := &encodedStore{client: client, prefix: uniquePrefix()}
	t.Cleanup(func() { cleanup(client, store.prefix) })
	store.Upsert(ctx, "full_docs", []redisexp.Entry{{ID: "doc-1", Value: []byte(`{"content": "a"}`)}, {ID: "doc-2", Value: []byte(`"just a string"`)}})
	store.Upsert(ctx, "chunks", []redisexp.Entry{{ID: "c-1", Value: []byte(`[1, 2, 3]`)}})
	store.upserts.Store(0)
	before, err := readState(ctx, client, store.prefix+"*")
	if err != nil {
		t.Fatal(err)
	}
	exp, _ := redisexp.New(store, redisexp.Options{})
	m := newManager(t, exp)
	man, err := m.Create(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	store.Upsert(ctx, "full_docs", []redisexp.Entry{{ID: "doc-1", Value: []byte(`"changed"`)}})
	store.upserts.Store(0)
	if _, err := m.Restore(ctx, man.ID, nil); err != nil {
		t.Fatal(err)
	}
	after, err := readState(ctx, client, store.prefix+"*")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(before, after); diff != "" {
		t.Fatalf("Redis after restore (-want +got):\n%s", diff)
	}
	if got := store.upserts.Load(); got != 3 {
		t.Fatalf("the store's Upsert wrote %d entries, want 3", got)
	}
	if man.Backends[0].Stats["keys"] != 3 || man.Backends[0].Stats["keys.full_docs"] != 2 {
		t.Errorf("stats %v", man.Backends[0].Stats)
	}
}

// An exporter given a list of namespaces touches no other, even under the
// same prefix.
func TestOtherNamespacesUntouched(t *testing.T) {
	ctx := context.Background()
	eachServerKV(t, func(t *testing.T, client redis.UniversalClient, prefix string, store *redisexp.KVStore) {
		store.Upsert(ctx, "full_docs", []redisexp.Entry{{ID: "d1", Value: []byte(`{"a":1}`)}})
		store.Upsert(ctx, "other", []redisexp.Entry{{ID: "o1", Value: []byte(`{"b":1}`)}})
		exp, _ := redisexp.New(store, redisexp.Options{Namespaces: []string{"full_docs"}})
		m := newManager(t, exp)
		man, err := m.Create(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		store.Upsert(ctx, "other", []redisexp.Entry{{ID: "o2", Value: []byte(`{"after":1}`)}})
		store.Upsert(ctx, "full_docs", []redisexp.Entry{{ID: "d2", Value: []byte(`{"after":1}`)}})
		if _, err := m.Restore(ctx, man.ID, nil); err != nil {
			t.Fatal(err)
		}
		st, _ := readState(ctx, client, prefix+"*")
		want := []string{prefix + "full_docs:d1", prefix + "other:o1", prefix + "other:o2"}
		var got []string
		for k := range st {
			got = append(got, k)
		}
		if diff := cmp.Diff(sortedCopy(want), sortedCopy(got)); diff != "" {
			t.Fatalf("keys after restore (-want +got):\n%s", diff)
		}
	})
}

// TTLs come back within a second of what they should be, relative to the
// restore by default, or at their original expiry with TTLAbsolute.
func TestTTL(t *testing.T) { eachSingle(t, testTTL) }

func testTTL(t *testing.T, client redis.UniversalClient) {
	ctx := context.Background()
	prefix := uniquePrefix()
	t.Cleanup(func() { cleanup(client, prefix) })
	store := redisexp.NewKVStore(client, redisexp.KVStoreOptions{Prefix: prefix, TTLPolicy: map[string]time.Duration{}})
	store.Upsert(ctx, "cache", []redisexp.Entry{
		{ID: "long", Value: []byte(`1`), TTL: 100 * time.Second},
		{ID: "short", Value: []byte(`2`), TTL: 1500 * time.Millisecond},
		{ID: "forever", Value: []byte(`3`)},
	})
	rel, _ := redisexp.New(store, redisexp.Options{Name: "rel"})
	abs, _ := redisexp.New(store, redisexp.Options{Name: "abs", TTL: redisexp.TTLAbsolute})
	m := newManager(t, rel)
	man, err := m.Create(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second) // "short" expires
	restored := time.Now()
	if _, err := m.Restore(ctx, man.ID, &ngbak.RestoreOptions{NoSafetyBackup: true}); err != nil {
		t.Fatal(err)
	}
	// within checks a TTL that was want when the restore started.
	within := func(key string, want time.Duration) {
		t.Helper()
		got, err := client.PTTL(ctx, prefix+"cache:"+key).Result()
		if err != nil {
			t.Fatal(err)
		}
		want -= time.Since(restored)
		if d := got - want; d < -time.Second || d > time.Second {
			t.Errorf("%s: TTL %v, want %v ± 1s", key, got, want)
		}
	}
	within("long", 100*time.Second)
	within("short", 1500*time.Millisecond)
	if got, _ := client.PTTL(ctx, prefix+"cache:forever").Result(); got != -1 {
		t.Errorf("forever: TTL %v, want none", got)
	}

	// A new backup, restored with absolute TTLs two seconds later: "long"
	// has lost those two seconds, and "short", past its expiry, stays away.
	m3 := newManager(t, abs)
	man3, err := m3.Create(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second)
	if _, err := m3.Restore(ctx, man3.ID, &ngbak.RestoreOptions{NoSafetyBackup: true}); err != nil {
		t.Fatal(err)
	}
	within("long", 100*time.Second) // its original expiry: 100 s after the first restore
	if n, _ := client.Exists(ctx, prefix+"cache:short").Result(); n != 0 {
		t.Errorf("short restored although it had expired")
	}
}

// Every Redis type round-trips in raw mode, with binary keys and values and
// TTLs.
func TestRawTypes(t *testing.T) {
	ctx := context.Background()
	for _, env := range servers {
		t.Run(env, func(t *testing.T) {
			client := server(t, env)
			p := uniquePrefix()
			t.Cleanup(func() { cleanup(client, p) })
			bin := string([]byte{0, 0xff, 0xfe, '\n', 0x80})
			client.Set(ctx, p+"string"+bin, bin, time.Hour)
			client.HSet(ctx, p+"hash", "f1", "v1", "f2", bin)
			client.RPush(ctx, p+"list", "a", "b", bin, "a")
			client.SAdd(ctx, p+"set", "x", "y", bin)
			client.ZAdd(ctx, p+"zset", redis.Z{Score: 1.5, Member: "one"}, redis.Z{Score: -2, Member: bin})
			client.XAdd(ctx, &redis.XAddArgs{Stream: p + "stream", ID: "1-1", Values: []string{"k", "v"}})
			client.XAdd(ctx, &redis.XAddArgs{Stream: p + "stream", ID: "2-1", Values: []string{"k", bin}})
			client.Set(ctx, p+"empty", "", 0)
			before, err := readState(ctx, client, p+"*")
			if err != nil {
				t.Fatal(err)
			}
			if len(before) != 7 {
				t.Fatalf("setup made %d keys", len(before))
			}
			m := newManager(t, redisexp.NewRaw(client, redisexp.RawOptions{Pattern: p + "*"}))
			man, err := m.Create(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			client.Del(ctx, p+"hash", p+"list")
			client.Set(ctx, p+"new", "after", 0)
			if _, err := m.Restore(ctx, man.ID, nil); err != nil {
				t.Fatal(err)
			}
			after, err := readState(ctx, client, p+"*")
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(before, after); diff != "" {
				t.Fatalf("(-want +got):\n%s", diff)
			}
		})
	}
}

// A server that dies in the middle of an export makes Create fail and
// leaves no backup: on the redis-server of the PATH, and on the one
// NGBAK_REDIS8_BIN names, if it does.
func TestServerDiesMidExport(t *testing.T) {
	for _, bin := range serverBinaries(t) {
		t.Run(bin, func(t *testing.T) { testServerDiesMidExport(t, bin) })
	}
}

// serverBinaries are the redis-server binaries tests may start throwaway
// servers of.
func serverBinaries(t *testing.T) []string {
	var bins []string
	if bin, err := exec.LookPath("redis-server"); err == nil {
		bins = append(bins, bin)
	} else if os.Getenv("NGBAK_REQUIRE_SERVERS") != "" {
		t.Fatal("redis-server is not installed")
	}
	if bin := os.Getenv("NGBAK_REDIS8_BIN"); bin != "" {
		bins = append(bins, bin)
	}
	if len(bins) == 0 {
		t.Skip("redis-server is not installed")
	}
	return bins
}

// startServer starts a throwaway redis-server of bin, stopped at the end of
// the test, and returns a client that does not retry and a func that kills
// the server and waits for it to exit. A port that
// another process takes between freePort and the server's bind makes the
// server exit: it is started again on another port.
func startServer(t *testing.T, bin string) (kill func(), client *redis.Client) {
	ctx := context.Background()
	for try := 1; ; try++ {
		port := freePort(t)
		cmd := exec.Command(bin, "--bind", "127.0.0.1", "--port", strconv.Itoa(port), "--save", "", "--appendonly", "no", "--dir", t.TempDir())
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan struct{})
		go func() { cmd.Wait(); close(exited) }()
		t.Cleanup(func() { cmd.Process.Kill(); <-exited })
		c := redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", port), MaxRetries: -1})
		t.Cleanup(func() { c.Close() })
		client = c
		for i := 0; client.Ping(ctx).Err() != nil; i++ {
			select {
			case <-exited:
				if try == 3 {
					t.Fatalf("%s exited at start three times", bin)
				}
			case <-time.After(50 * time.Millisecond):
				if i > 100 {
					t.Fatalf("%s did not start", bin)
				}
				continue
			}
			break
		}
		select {
		case <-exited:
			continue
		default:
			return func() { cmd.Process.Kill(); <-exited }, client
		}
	}
}

func testServerDiesMidExport(t *testing.T, bin string) {
	ctx := context.Background()
	kill, client := startServer(t, bin)
	store := redisexp.NewKVStore(client, redisexp.KVStoreOptions{Batch: 10})
	for i := range 200 {
		store.Upsert(ctx, "full_docs", []redisexp.Entry{{ID: fmt.Sprint(i), Value: []byte(`{}`)}})
	}
	dying := &killAfterFirstGet{Store: store, kill: kill}
	exp, _ := redisexp.New(dying, redisexp.Options{})
	storage := t.TempDir()
	m, _ := ngbak.New(ngbak.Options{Storage: ngbak.Dir(storage)})
	m.Register(exp)
	_, err := m.Create(ctx, nil)
	if err == nil {
		t.Fatal("Create succeeded although the server died")
	}
	t.Logf("Create: %v", err)
	if n := strings.Count(err.Error(), "namespace full_docs"); n != 1 {
		t.Errorf("the error names the namespace %d times, want once", n)
	}
	if entries, _ := os.ReadDir(storage); len(entries) != 0 {
		t.Fatalf("a failed Create left %d files", len(entries))
	}
}

type killAfterFirstGet struct {
	redisexp.Store
	kill  func()
	calls int
}

func (k *killAfterFirstGet) Get(ctx context.Context, ns string, ids []string) ([]redisexp.Entry, error) {
	if k.calls++; k.calls == 2 {
		k.kill()
	}
	return k.Store.Get(ctx, ns, ids)
}

func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// TestRingShardDown: with a shard of a Ring down, Create and Restore fail
// and say so, rather than leave that shard's keys out (go-redis's
// ForEachShard skips such a shard without a word), and nothing is written.
func TestRingShardDown(t *testing.T) {
	ctx := context.Background()
	good := server(t, "NGBAK_REDIS_RING")
	live := strings.Split(os.Getenv("NGBAK_REDIS_RING"), ",")[0]
	ring := redis.NewRing(&redis.RingOptions{
		Addrs:              map[string]string{"live": live, "dead": fmt.Sprintf("127.0.0.1:%d", freePort(t))},
		HeartbeatFrequency: 20 * time.Millisecond,
	})
	t.Cleanup(func() { ring.Close() })
	for deadline := time.Now().Add(10 * time.Second); ring.Len() != 1; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the ring never saw its dead shard: %d shards up", ring.Len())
		}
	}
	prefix := uniquePrefix()
	t.Cleanup(func() { cleanup(ring, prefix) })
	store := redisexp.NewKVStore(ring, redisexp.KVStoreOptions{Prefix: prefix})
	if err := store.Upsert(ctx, "full_docs", []redisexp.Entry{{ID: "a", Value: []byte(`{}`)}}); err != nil {
		t.Fatal(err)
	}
	for _, exp := range []ngbak.Exporter{
		must(redisexp.New(store, redisexp.Options{})),
		redisexp.NewRaw(ring, redisexp.RawOptions{Name: "raw", Pattern: prefix + "*"}),
	} {
		storage := t.TempDir()
		m, _ := ngbak.New(ngbak.Options{Storage: ngbak.Dir(storage)})
		m.Register(exp)
		if _, err := m.Create(ctx, nil); err == nil || !strings.Contains(err.Error(), "1 of the ring's 2 shards are up") {
			t.Fatalf("%s: Create with a shard down: %v", exp.Name(), err)
		}
		if entries, _ := os.ReadDir(storage); len(entries) != 0 {
			t.Fatalf("%s: a failed Create left %d files", exp.Name(), len(entries))
		}
	}
	// A backup taken through the whole ring does not restore through half.
	storage := ngbak.Dir(t.TempDir())
	m, _ := ngbak.New(ngbak.Options{Storage: storage})
	m.Register(redisexp.NewRaw(good, redisexp.RawOptions{Pattern: prefix + "*"}))
	man, err := m.Create(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	m, _ = ngbak.New(ngbak.Options{Storage: storage})
	m.Register(redisexp.NewRaw(ring, redisexp.RawOptions{Pattern: prefix + "*"}))
	if _, err := m.Restore(ctx, man.ID, &ngbak.RestoreOptions{NoSafetyBackup: true}); err == nil || !strings.Contains(err.Error(), "1 of the ring's 2 shards are up") {
		t.Fatalf("Restore with a shard down: %v", err)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// TestClusterNodeAlone: a plain client connected to one node of a cluster
// would back up that node's keys only; Create refuses and says what to pass.
func TestClusterNodeAlone(t *testing.T) {
	ctx := context.Background()
	server(t, "NGBAK_REDIS_CLUSTER") // skips or fails without the cluster
	node := redis.NewClient(&redis.Options{Addr: strings.Split(os.Getenv("NGBAK_REDIS_CLUSTER"), ",")[0]})
	t.Cleanup(func() { node.Close() })
	for _, exp := range []ngbak.Exporter{
		must(redisexp.New(redisexp.NewKVStore(node, redisexp.KVStoreOptions{Prefix: uniquePrefix()}), redisexp.Options{})),
		redisexp.NewRaw(node, redisexp.RawOptions{Pattern: uniquePrefix() + "*"}),
	} {
		m, _ := ngbak.New(ngbak.Options{Storage: ngbak.Dir(t.TempDir())})
		m.Register(exp)
		if _, err := m.Create(ctx, nil); err == nil || !strings.Contains(err.Error(), "pass a *redis.ClusterClient") {
			t.Fatalf("%s: Create through one cluster node: %v", exp.Name(), err)
		}
	}
}
