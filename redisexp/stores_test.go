package redisexp_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/ngbak/ngbak"
	"github.com/ngbak/ngbak/internal/heap"
	"github.com/ngbak/ngbak/redisexp"
	"github.com/redis/go-redis/v9"
)

// The tests of this file cover the stores as they really are: keys without
// a TTL under a namespace with a TTL policy, DUMP payloads newer than the
// target server, a cluster resharding under a backup, large keys, a server
// that refuses a command.

// ttlState is a key's value and its time to live to the minute, or "none".
type ttlState struct {
	Value string
	TTL   string
}

func readTTLState(ctx context.Context, t *testing.T, client redis.UniversalClient, pattern string) map[string]ttlState {
	t.Helper()
	out := map[string]ttlState{}
	var keys []string
	if err := scanAll(ctx, client, pattern, func(k string) { keys = append(keys, k) }); err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		v, err := client.Get(ctx, k).Result()
		if err != nil {
			t.Fatal(err)
		}
		d, err := client.PTTL(ctx, k).Result()
		if err != nil {
			t.Fatal(err)
		}
		ttl := "none"
		if d >= 0 {
			ttl = d.Round(time.Minute).String()
		}
		out[k] = ttlState{Value: v, TTL: ttl}
	}
	return out
}

// TestNoExpiry: a key that does not expire (nano-graphrag with
// REDIS_TTL_LLM_RESPONSE_CACHE=0, or a key PERSISTed) comes back without a
// TTL, even in a namespace whose policy gives new entries 12 hours; an
// entry whose store reports no TTL information at all gets the policy.
func TestNoExpiry(t *testing.T) {
	eachSingle(t, func(t *testing.T, client redis.UniversalClient) {
		ctx := context.Background()
		p := uniquePrefix()
		t.Cleanup(func() { cleanup(client, p) })
		client.Set(ctx, p+"llm_response_cache:zero", `{"a":1}`, 0)
		client.Set(ctx, p+"llm_response_cache:persisted", `{"b":1}`, time.Hour)
		client.Persist(ctx, p+"llm_response_cache:persisted")
		client.Set(ctx, p+"llm_response_cache:hour", `{"c":1}`, time.Hour)
		client.Set(ctx, p+"full_docs:doc", `{"d":1}`, 0)
		before := readTTLState(ctx, t, client, p+"*")
		if before[p+"llm_response_cache:persisted"].TTL != "none" {
			t.Fatalf("setup: %v", before)
		}
		store := redisexp.NewKVStore(client, redisexp.KVStoreOptions{Prefix: p}) // nano-graphrag's policy
		m := newManager(t, must(redisexp.New(store, redisexp.Options{})))
		man, err := m.Create(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		client.Del(ctx, p+"llm_response_cache:zero")
		client.Set(ctx, p+"llm_response_cache:persisted", `{"b":2}`, time.Minute)
		if _, err := m.Restore(ctx, man.ID, &ngbak.RestoreOptions{NoSafetyBackup: true}); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(before, readTTLState(ctx, t, client, p+"*")); diff != "" {
			t.Fatalf("after restore (-want +got):\n%s", diff)
		}

		// A store that reports no TTLs at all (as encodedStore, or a
		// converted legacy archive) leaves the expiry to the policy.
		m = newManager(t, must(redisexp.New(noTTLStore{store}, redisexp.Options{})))
		man, err = m.Create(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := m.Restore(ctx, man.ID, &ngbak.RestoreOptions{NoSafetyBackup: true}); err != nil {
			t.Fatal(err)
		}
		want := map[string]ttlState{}
		for k, s := range before {
			if strings.Contains(k, "llm_response_cache:") {
				s.TTL = "12h0m0s"
			}
			want[k] = s
		}
		if diff := cmp.Diff(want, readTTLState(ctx, t, client, p+"*")); diff != "" {
			t.Fatalf("after restore of entries without TTL information (-want +got):\n%s", diff)
		}
	})
}

// noTTLStore is a Store that knows nothing of times to live.
type noTTLStore struct{ *redisexp.KVStore }

func (s noTTLStore) Get(ctx context.Context, ns string, ids []string) ([]redisexp.Entry, error) {
	entries, err := s.KVStore.Get(ctx, ns, ids)
	for i := range entries {
		entries[i] = redisexp.Entry{ID: entries[i].ID, Value: entries[i].Value}
	}
	return entries, err
}

// commandCounter is a go-redis hook that counts commands by name, and
// calls before, if set, ahead of every pipeline it sees.
type commandCounter struct {
	mu     sync.Mutex
	counts map[string]int
	// scanPasses counts SCAN calls with cursor 0: full passes over a node.
	scanPasses int
	before     func(cmds []redis.Cmder)
	after      func(cmds []redis.Cmder)
}

func newCounter() *commandCounter { return &commandCounter{counts: map[string]int{}} }

func (c *commandCounter) count(cmds []redis.Cmder) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, cmd := range cmds {
		c.counts[cmd.Name()]++
		if args := cmd.Args(); cmd.Name() == "scan" && fmt.Sprint(args[1]) == "0" {
			c.scanPasses++
		}
	}
}

func (c *commandCounter) get(name string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.counts[name]
}

func (c *commandCounter) passes() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.scanPasses
}

func (c *commandCounter) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.counts, c.scanPasses = map[string]int{}, 0
}

func (c *commandCounter) DialHook(next redis.DialHook) redis.DialHook { return next }

func (c *commandCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		c.count([]redis.Cmder{cmd})
		if c.before != nil {
			c.before([]redis.Cmder{cmd})
		}
		err := next(ctx, cmd)
		if c.after != nil {
			c.after([]redis.Cmder{cmd})
		}
		return err
	}
}

func (c *commandCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		c.count(cmds)
		if c.before != nil {
			c.before(cmds)
		}
		err := next(ctx, cmds)
		if c.after != nil {
			c.after(cmds)
		}
		return err
	}
}

// hookedClient is a new client to the server of env, with a hook.
func hookedClient(t *testing.T, env string, h redis.Hook) *redis.Client {
	t.Helper()
	server(t, env)
	opts, err := redis.ParseURL(os.Getenv(env))
	if err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(opts)
	t.Cleanup(func() { c.Close() })
	c.AddHook(h)
	return c
}

// TestRDBVersion: a raw backup records the highest RDB version of its DUMP
// payloads, and a restore into an older server, which could not RESTORE
// them, is refused by the Manager before anything changes: no key is
// deleted or written, no safety backup is taken. The other way, from
// Redis 7 into Redis 8, works.
func TestRDBVersion(t *testing.T) {
	ctx := context.Background()
	r8 := server(t, "NGBAK_REDIS8_URL")
	counter := newCounter()
	r7 := hookedClient(t, "NGBAK_REDIS_URL", counter)
	p := uniquePrefix()
	t.Cleanup(func() { cleanup(r8, p); cleanup(r7, p) })
	r8.Set(ctx, p+"a", "from redis 8", 0)
	r8.HSet(ctx, p+"h", "f", "v")
	r7.Set(ctx, p+"a", "the target's own", time.Hour)
	r7.RPush(ctx, p+"l", "x", "y")
	storage := ngbak.Dir(t.TempDir())
	m8, _ := ngbak.New(ngbak.Options{Storage: storage})
	m8.Register(redisexp.NewRaw(r8, redisexp.RawOptions{Pattern: p + "*"}))
	man, err := m8.Create(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if d := string(man.Backends[0].Details); !strings.Contains(d, `"rdb_version":12`) {
		t.Errorf("details %s do not record RDB version 12", d)
	}
	before, err := readState(ctx, r7, p+"*")
	if err != nil {
		t.Fatal(err)
	}
	m7, _ := ngbak.New(ngbak.Options{Storage: storage})
	m7.Register(redisexp.NewRaw(r7, redisexp.RawOptions{Pattern: p + "*"}))
	counter.reset()
	_, err = m7.Restore(ctx, man.ID, nil)
	t.Logf("Restore: %v", err)
	if err == nil || !strings.Contains(err.Error(), "RDB version 12") {
		t.Fatalf("Restore of Redis 8 payloads into Redis 7: %v", err)
	}
	after, err := readState(ctx, r7, p+"*")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(before, after); diff != "" {
		t.Fatalf("the target changed (-before +after):\n%s", diff)
	}
	for _, cmd := range []string{"unlink", "del", "restore", "set"} {
		if n := counter.get(cmd); n != 0 {
			t.Errorf("the refused restore sent %d %s to the target", n, strings.ToUpper(cmd))
		}
	}
	if list, _ := m7.List(ctx); len(list) != 1 {
		t.Errorf("%d backups after the refused restore, want 1: a safety backup was taken", len(list))
	}

	// Older into newer is fine.
	man7, err := m7.Create(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	m8b, _ := ngbak.New(ngbak.Options{Storage: storage})
	m8b.Register(redisexp.NewRaw(r8, redisexp.RawOptions{Pattern: p + "*"}))
	if _, err := m8b.Restore(ctx, man7.ID, nil); err != nil {
		t.Fatal(err)
	}
	got, err := readState(ctx, r8, p+"*")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]keyState{}
	for k, s := range before {
		want[k] = s
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("Redis 8 after a restore of Redis 7's backup (-want +got):\n%s", diff)
	}
}

// TestOneScan: a KV backup reads every namespace in one SCAN pass, and a
// restore deletes them in one, where each namespace (and each Drop) used
// to be a pass over the whole keyspace of its own.
func TestOneScan(t *testing.T) {
	for _, env := range singles {
		t.Run(env, func(t *testing.T) {
			ctx := context.Background()
			counter := newCounter()
			client := hookedClient(t, env, counter)
			p := uniquePrefix()
			t.Cleanup(func() { cleanup(client, p) })
			for _, ns := range []string{"full_docs", "text_chunks", "community_reports", "llm_response_cache"} {
				for i := range 3 {
					client.Set(ctx, fmt.Sprintf("%s%s:%d", p, ns, i), `{}`, 0)
				}
			}
			before, err := readState(ctx, client, p+"*")
			if err != nil {
				t.Fatal(err)
			}
			for _, opts := range []redisexp.Options{{}, {Namespaces: []string{"full_docs", "text_chunks", "community_reports", "llm_response_cache"}}} {
				m := newManager(t, must(redisexp.New(redisexp.NewKVStore(client, redisexp.KVStoreOptions{Prefix: p}), opts)))
				counter.reset()
				man, err := m.Create(ctx, nil)
				if err != nil {
					t.Fatal(err)
				}
				if n := counter.passes(); n != 1 {
					t.Errorf("namespaces %q: the backup made %d SCAN passes, want 1", opts.Namespaces, n)
				}
				client.Set(ctx, p+"full_docs:new", `{}`, 0)
				counter.reset()
				if _, err := m.Restore(ctx, man.ID, &ngbak.RestoreOptions{NoSafetyBackup: true}); err != nil {
					t.Fatal(err)
				}
				if n := counter.passes(); n != 1 {
					t.Errorf("namespaces %q: the restore made %d SCAN passes, want 1", opts.Namespaces, n)
				}
				after, err := readState(ctx, client, p+"*")
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(before, after); diff != "" {
					t.Fatalf("after restore (-want +got):\n%s", diff)
				}
			}
		})
	}
}

// TestRawBatchBytes: raw mode holds at most about 16 MiB of DUMP payloads
// at once, however many keys a batch may count: 40 keys of 1 MiB (random,
// so DUMP cannot compress them) with Batch 1000 used to be one pipeline of
// 40 MiB. A restore's pipelines are bounded the same way.
func TestRawBatchBytes(t *testing.T) {
	const limit = 16<<20 + 1<<20 // a batch, and the key that crosses it
	for _, env := range singles {
		t.Run(env, func(t *testing.T) {
			ctx := context.Background()
			counter := newCounter()
			var mu sync.Mutex
			var maxDump, maxRestore int
			counter.after = func(cmds []redis.Cmder) {
				var dumped, restored int
				for _, c := range cmds {
					switch c.Name() {
					case "dump":
						dumped += len(c.(*redis.StringCmd).Val())
					case "restore":
						restored += len(fmt.Sprint(c.Args()[3]))
					}
				}
				mu.Lock()
				maxDump, maxRestore = max(maxDump, dumped), max(maxRestore, restored)
				mu.Unlock()
			}
			client := hookedClient(t, env, counter)
			p := uniquePrefix()
			t.Cleanup(func() { cleanup(client, p) })
			buf := make([]byte, 1<<20)
			for i := range 40 {
				rand.Read(buf)
				if err := client.Set(ctx, fmt.Sprintf("%sbig%02d", p, i), buf, 0).Err(); err != nil {
					t.Fatal(err)
				}
			}
			before, err := readState(ctx, client, p+"*")
			if err != nil {
				t.Fatal(err)
			}
			m := newManager(t, redisexp.NewRaw(client, redisexp.RawOptions{Pattern: p + "*", Batch: 1000}))
			man, err := m.Create(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := m.Restore(ctx, man.ID, &ngbak.RestoreOptions{NoSafetyBackup: true}); err != nil {
				t.Fatal(err)
			}
			t.Logf("largest pipeline: %d bytes of DUMP replies, %d bytes of RESTORE payloads", maxDump, maxRestore)
			if maxDump > limit || maxRestore > limit {
				t.Errorf("a pipeline held %d bytes of DUMP replies, %d of RESTORE payloads; want at most %d", maxDump, maxRestore, limit)
			}
			after, err := readState(ctx, client, p+"*")
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(before, after); diff != "" {
				t.Fatalf("after restore (-want +got):\n%s", diff[:min(len(diff), 2000)])
			}
		})
	}
}

// TestKVBatchBytes: a KV backup's reads are bounded in bytes as well:
// KVStore's Batch of 500 ids used to GET 40 values of 1 MiB in one
// pipeline, and Get returned them all at once.
func TestKVBatchBytes(t *testing.T) {
	const limit = 16<<20 + 1<<20
	for _, env := range singles {
		t.Run(env, func(t *testing.T) {
			ctx := context.Background()
			counter := newCounter()
			var mu sync.Mutex
			var maxGet int
			counter.after = func(cmds []redis.Cmder) {
				var got int
				for _, c := range cmds {
					if c.Name() == "get" {
						got += len(c.(*redis.StringCmd).Val())
					}
				}
				mu.Lock()
				maxGet = max(maxGet, got)
				mu.Unlock()
			}
			client := hookedClient(t, env, counter)
			p := uniquePrefix()
			t.Cleanup(func() { cleanup(client, p) })
			buf := make([]byte, 1<<19)
			for i := range 40 {
				rand.Read(buf)
				if err := client.Set(ctx, fmt.Sprintf("%sfull_docs:%02d", p, i), `"`+hex.EncodeToString(buf)+`"`, 0).Err(); err != nil {
					t.Fatal(err)
				}
			}
			before := digestState(ctx, t, client, p+"*")
			m := newManager(t, must(redisexp.New(redisexp.NewKVStore(client, redisexp.KVStoreOptions{Prefix: p}), redisexp.Options{})))
			man, err := m.Create(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			client.Del(ctx, p+"full_docs:03")
			if _, err := m.Restore(ctx, man.ID, &ngbak.RestoreOptions{NoSafetyBackup: true}); err != nil {
				t.Fatal(err)
			}
			t.Logf("largest pipeline: %d bytes of GET replies", maxGet)
			if maxGet > limit {
				t.Errorf("a pipeline held %d bytes of GET replies; want at most %d", maxGet, limit)
			}
			if diff := cmp.Diff(before, digestState(ctx, t, client, p+"*")); diff != "" {
				t.Fatalf("after restore (-want +got):\n%s", diff)
			}
		})
	}
}

// TestPTTLError: a PTTL that fails (here, an ACL user that may not run it)
// fails the backup, in both modes, instead of recording the key as one that
// never expires. It used to pass unnoticed when an earlier reply of the
// same pipeline was a nil (a key deleted since the SCAN).
func TestPTTLError(t *testing.T) {
	eachSingle(t, func(t *testing.T, server redis.UniversalClient) {
		ctx := context.Background()
		// A database of its own: the two keys must come in one SCAN page
		// for the reads to be one pipeline, which other keys in the
		// database (another test's, a benchmark's) would prevent.
		opts := *server.(*redis.Client).Options()
		opts.DB = 13
		admin := redis.NewClient(&opts)
		t.Cleanup(func() { admin.Close() })
		var b [6]byte
		rand.Read(b[:])
		user, pass := "ngbaktest-"+hex.EncodeToString(b[:]), hex.EncodeToString(b[:])
		if err := admin.Do(ctx, "ACL", "SETUSER", user, "on", ">"+pass, "~*", "&*", "+@all", "-pttl").Err(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { admin.Do(context.Background(), "ACL", "DELUSER", user) })
		client := redis.NewClient(&redis.Options{Addr: opts.Addr, DB: opts.DB, Username: user, Password: pass})
		t.Cleanup(func() { client.Close() })
		p := uniquePrefix()
		t.Cleanup(func() { cleanup(admin, p) })

		// A key that vanishes between SCAN and the reads: its nil reply
		// comes first in the pipeline.
		counter := newCounter()
		var deleted atomic.Bool
		counter.before = func(cmds []redis.Cmder) {
			if len(cmds) >= 4 && (cmds[0].Name() == "get" || cmds[0].Name() == "dump") && !deleted.Swap(true) {
				admin.Del(ctx, fmt.Sprint(cmds[0].Args()[1]))
			}
		}
		client.AddHook(counter)
		for _, exp := range []ngbak.Exporter{
			must(redisexp.New(redisexp.NewKVStore(client, redisexp.KVStoreOptions{Prefix: p}), redisexp.Options{})),
			redisexp.NewRaw(client, redisexp.RawOptions{Pattern: p + "*"}),
		} {
			// The hook deletes one of them.
			admin.Set(ctx, p+"docs:a", `{}`, time.Hour)
			admin.Set(ctx, p+"docs:b", `{}`, time.Hour)
			deleted.Store(false)
			m := newManager(t, exp)
			_, err := m.Create(ctx, nil)
			t.Logf("%s: Create: %v", exp.Name(), err)
			if !deleted.Load() {
				t.Fatalf("%s: the two keys were not read in one pipeline", exp.Name())
			}
			if err == nil || !strings.Contains(strings.ToLower(err.Error()), "pttl") {
				t.Errorf("%s: Create with PTTL refused: %v", exp.Name(), err)
			}
		}
	})
}

// TestTTLAbsoluteReadTime: with TTLAbsolute, each key's expiry is counted
// from when its batch was read, not from the start of the backup: keys
// read three seconds into a backup used to come back expiring three
// seconds early.
func TestTTLAbsoluteReadTime(t *testing.T) {
	for _, env := range singles {
		t.Run(env, func(t *testing.T) {
			ctx := context.Background()
			counter := newCounter()
			var reads atomic.Int64
			counter.before = func(cmds []redis.Cmder) {
				if len(cmds) > 1 && (cmds[0].Name() == "get" || cmds[0].Name() == "dump") && reads.Add(1) == 2 {
					time.Sleep(3 * time.Second)
				}
			}
			client := hookedClient(t, env, counter)
			p := uniquePrefix()
			t.Cleanup(func() { cleanup(client, p) })
			expiry := time.Now().Add(100 * time.Second).Truncate(time.Millisecond)
			for i := range 4 {
				if err := client.SetArgs(ctx, fmt.Sprintf("%scache:%d", p, i), `{}`, redis.SetArgs{ExpireAt: expiry}).Err(); err != nil {
					t.Fatal(err)
				}
			}
			for _, exp := range []ngbak.Exporter{
				must(redisexp.New(redisexp.NewKVStore(client, redisexp.KVStoreOptions{Prefix: p, Batch: 2}), redisexp.Options{TTL: redisexp.TTLAbsolute, Batch: 2})),
				redisexp.NewRaw(client, redisexp.RawOptions{Pattern: p + "*", Batch: 2, TTL: redisexp.TTLAbsolute}),
			} {
				reads.Store(0)
				m := newManager(t, exp)
				man, err := m.Create(ctx, nil)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := m.Restore(ctx, man.ID, &ngbak.RestoreOptions{NoSafetyBackup: true}); err != nil {
					t.Fatal(err)
				}
				for i := range 4 {
					k := fmt.Sprintf("%scache:%d", p, i)
					ms, err := client.Do(ctx, "PEXPIRETIME", k).Int64()
					if err != nil {
						t.Fatal(err)
					}
					if d := time.UnixMilli(ms).Sub(expiry); d < -time.Second || d > time.Second {
						t.Errorf("%s: %s expires at %v, %v from its original expiry", exp.Name(), k, time.UnixMilli(ms), d)
					}
				}
			}
		})
	}
}

// TestManyNamespacesMemory: a backup that reads every namespace in one
// pass fills a part per namespace at once, and holds them to a bound
// (32 MiB), not a part per namespace: 80 namespaces of one 1 MiB entry each
// would otherwise be 80 MiB in memory. The backup's heap may peak at
// 120 MiB (the archive's compression and the reads take a good part of
// it): it peaked at 55-96 MiB with the bound, at 112-147 MiB without. The GC runs at
// GOGC=20 meanwhile, so that garbage does not hide the difference. The
// parts of the namespaces alternate in the archive, and restore as they
// were.
func TestManyNamespacesMemory(t *testing.T) {
	eachSingle(t, func(t *testing.T, client redis.UniversalClient) {
		ctx := context.Background()
		p := uniquePrefix()
		t.Cleanup(func() { cleanup(client, p) })
		value := make([]byte, 1<<20)
		for ns := range 80 {
			rand.Read(value)
			v := `"` + hex.EncodeToString(value)[:1<<20-2] + `"`
			if err := client.Set(ctx, fmt.Sprintf("%sns%02d:x", p, ns), v, 0).Err(); err != nil {
				t.Fatal(err)
			}
		}
		// Digests: the values themselves, live during the backup, would
		// let the GC leave that much garbage about too.
		before := digestState(ctx, t, client, p+"*")
		defer debug.SetGCPercent(debug.SetGCPercent(20))
		backup := func(m *ngbak.Manager) (*ngbak.Manifest, uint64) {
			var man *ngbak.Manifest
			var err error
			peak := heap.Peak(func() { man, err = m.Create(ctx, nil) })
			if err != nil {
				t.Fatal(err)
			}
			return man, peak
		}
		m := newManager(t, must(redisexp.New(redisexp.NewKVStore(client, redisexp.KVStoreOptions{Prefix: p}), redisexp.Options{})))
		man, peak := backup(m)
		t.Logf("peak heap: %.1f MiB (%d files)", float64(peak)/(1<<20), len(man.Backends[0].Files))
		if peak > 120<<20 {
			t.Errorf("the backup's heap peaked at %.1f MiB, want at most 120", float64(peak)/(1<<20))
		}
		client.Del(ctx, p+"ns07:x")
		if _, err := m.Restore(ctx, man.ID, &ngbak.RestoreOptions{NoSafetyBackup: true}); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(before, digestState(ctx, t, client, p+"*")); diff != "" {
			t.Fatalf("after restore (-want +got):\n%s", diff)
		}
	})
}

// digestState is each key's value's SHA-256 and whether it has a TTL.
func digestState(ctx context.Context, t *testing.T, client redis.UniversalClient, pattern string) map[string]string {
	t.Helper()
	st, err := readState(ctx, client, pattern)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for k, s := range st {
		out[k] = fmt.Sprintf("%s %x %v", s.Type, sha256.Sum256([]byte(s.Value)), s.TTL)
	}
	return out
}
