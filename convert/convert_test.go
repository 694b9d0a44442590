package convert_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/ngbak/ngbak"
	"github.com/ngbak/ngbak/convert"
	"github.com/ngbak/ngbak/jsonexp"
	"github.com/ngbak/ngbak/redisexp"
	"github.com/redis/go-redis/v9"
)

func redisClient(t testing.TB) *redis.Client {
	t.Helper()
	url := os.Getenv("NGBAK_REDIS_URL")
	if url == "" {
		if os.Getenv("NGBAK_REQUIRE_SERVERS") != "" {
			t.Fatal("NGBAK_REDIS_URL is not set")
		}
		t.Skip("NGBAK_REDIS_URL is not set: run make services")
	}
	opts, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(opts)
	t.Cleanup(func() { c.Close() })
	return c
}

// prefix is a key prefix of this test alone on the shared server; its keys
// are removed afterwards.
func prefix(t *testing.T, c *redis.Client) string {
	p := fmt.Sprintf("ngbak-convert-%d:nano_graphrag:", time.Now().UnixNano())
	t.Cleanup(func() {
		keys, _ := c.Keys(context.Background(), p+"*").Result()
		if len(keys) > 0 {
			c.Del(context.Background(), keys...)
		}
	})
	return p
}

// copyDir copies testdata/nano's kv_store files into a new working dir.
func copyDir(t *testing.T, extra ...string) string {
	t.Helper()
	dir := t.TempDir()
	names, _ := filepath.Glob("testdata/nano/kv_store_*.json")
	for _, n := range append(names, extra...) {
		b, err := os.ReadFile(n)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(n)), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func readDir(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out[e.Name()] = string(b)
	}
	return out
}

// redisState is every key under p: namespace -> id -> value, and which
// keys have a TTL.
func redisState(t *testing.T, c *redis.Client, p string) (map[string]map[string]string, map[string]bool) {
	t.Helper()
	ctx := context.Background()
	vals := map[string]map[string]string{}
	ttl := map[string]bool{}
	keys, err := c.Keys(ctx, p+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		ns, id, _ := strings.Cut(strings.TrimPrefix(k, p), ":")
		if vals[ns] == nil {
			vals[ns] = map[string]string{}
		}
		vals[ns][id] = c.Get(ctx, k).Val()
		if d := c.PTTL(ctx, k).Val(); d > 0 {
			ttl[ns] = true
		}
	}
	return vals, ttl
}

type env struct {
	m                   *ngbak.Manager
	c                   *redis.Client
	prefix              string
	prod, staging       string // working dirs
	storage             ngbak.Storage
	kv, files           *convert.Exporter
	prodFiles, filesExp *jsonexp.Exporter
}

// newEnv: production's file stores ("json"), a Redis KV store ("kv") and a
// second working dir ("files"), both converters.
func newEnv(t *testing.T, prodExtra ...string) *env {
	t.Helper()
	e := &env{c: redisClient(t), prod: copyDir(t, prodExtra...), staging: t.TempDir()}
	e.prefix = prefix(t, e.c)
	var err error
	e.prodFiles, err = jsonexp.New(jsonexp.Options{Dir: e.prod})
	if err != nil {
		t.Fatal(err)
	}
	rkv, err := redisexp.New(redisexp.NewKVStore(e.c, redisexp.KVStoreOptions{Prefix: e.prefix}), redisexp.Options{Name: "kv"})
	if err != nil {
		t.Fatal(err)
	}
	if e.kv, err = convert.New(rkv, convert.Options{TempDir: t.TempDir()}); err != nil {
		t.Fatal(err)
	}
	e.filesExp, err = jsonexp.New(jsonexp.Options{Dir: e.staging, Name: "files", Patterns: []string{"kv_store_*.json"}})
	if err != nil {
		t.Fatal(err)
	}
	if e.files, err = convert.New(e.filesExp, convert.Options{TempDir: t.TempDir()}); err != nil {
		t.Fatal(err)
	}
	e.storage = ngbak.Dir(t.TempDir())
	e.m, err = ngbak.New(ngbak.Options{Storage: e.storage, TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.m.Register(e.prodFiles, e.kv, e.files); err != nil {
		t.Fatal(err)
	}
	return e
}

func wantRedis(t *testing.T) map[string]map[string]string {
	b, err := os.ReadFile("testdata/redis.json")
	if err != nil {
		t.Fatal(err)
	}
	var want map[string]map[string]string
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatal(err)
	}
	delete(want, "empty") // a namespace without entries has no keys
	return want
}

// TestFilesToRedisAndBack moves nano-graphrag's KV file stores into Redis,
// where every value is what RedisKVStorage writes (golden values made by
// Python), and back into files, which are then byte for byte the files
// JsonKVStorage wrote; production's working dir is never touched.
func TestFilesToRedisAndBack(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	prodBefore := readDir(t, e.prod)
	// A stale namespace and a stale key, which "restore means replace" removes.
	e.c.Set(ctx, e.prefix+"stale_ns:x", `"old"`, 0)
	e.c.Set(ctx, e.prefix+"full_docs:doc-stale", `"old"`, 0)

	files, err := e.m.Create(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := e.m.Restore(ctx, files.ID, &ngbak.RestoreOptions{Into: map[string]string{"json": "kv"}})
	if err != nil {
		t.Fatal(err)
	}
	got, ttl := redisState(t, e.c, e.prefix)
	if diff := cmp.Diff(wantRedis(t), got); diff != "" {
		t.Fatalf("Redis after the conversion (-python +got):\n%s", diff)
	}
	// The namespaces' TTL policy (redisexp.DefaultTTLPolicy, nano-graphrag's).
	if diff := cmp.Diff(map[string]bool{"llm_response_cache": true, "community_reports": true}, ttl); diff != "" {
		t.Errorf("namespaces with a TTL:\n%s", diff)
	}
	safety, err := e.m.Get(ctx, res.SafetyID)
	if err != nil {
		t.Fatal(err)
	}
	if b := safety.Manifest.Backends; len(b) != 1 || b[0].Name != "kv" || b[0].Kind != redisexp.KVKind {
		t.Errorf("safety backup: %+v, want the Redis store alone", b)
	}

	redisBackup, err := e.m.Create(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(e.staging, "kv_store_stale.json"), []byte("{}"), 0o644)
	os.WriteFile(filepath.Join(e.staging, "keep.txt"), []byte("not ngbak's"), 0o644)
	stagingBefore := readDir(t, e.staging)
	// Two namespaces have TTLs, which a file cannot hold: refused, and the
	// working dir is as it was.
	_, err = e.m.Restore(ctx, redisBackup.ID, &ngbak.RestoreOptions{Into: map[string]string{"kv": "files"}})
	if err == nil || !strings.Contains(err.Error(), "time to live") {
		t.Fatalf("conversion of entries with a TTL into files: %v", err)
	}
	if diff := cmp.Diff(stagingBefore, readDir(t, e.staging)); diff != "" {
		t.Fatalf("a refused conversion changed the working dir:\n%s", diff)
	}

	kvFiles, err := convert.New(e.filesExp, convert.Options{DropTTL: true, TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	m2, _ := ngbak.New(ngbak.Options{Storage: e.storage, TempDir: t.TempDir()})
	m2.Register(e.prodFiles, e.kv, kvFiles)
	if _, err := m2.Restore(ctx, redisBackup.ID, &ngbak.RestoreOptions{Into: map[string]string{"kv": "files"}}); err != nil {
		t.Fatal(err)
	}
	want := readDir(t, e.prod)
	want["keep.txt"] = "not ngbak's"
	// Redis holds no empty namespace; JsonKVStorage reads a missing file as
	// an empty store.
	delete(want, "kv_store_empty.json")
	if diff := cmp.Diff(want, readDir(t, e.staging)); diff != "" {
		t.Fatalf("files after Redis and back (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(prodBefore, readDir(t, e.prod)); diff != "" {
		t.Fatalf("production's working dir changed:\n%s", diff)
	}
}

// TestRefusedBeforeAnythingChanges: what the target cannot hold stops the
// restore before the safety backup, and the stores are as they were.
func TestRefusedBeforeAnythingChanges(t *testing.T) {
	ctx := context.Background()
	graphml := filepath.Join(t.TempDir(), "graph_chunk_entity_relation.graphml")
	os.WriteFile(graphml, []byte(`<graphml/>`), 0o644)
	e := newEnv(t, graphml)
	e.c.Set(ctx, e.prefix+"full_docs:keep", `"keep"`, 0)
	man, err := e.m.Create(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	before, _ := e.m.List(ctx)
	_, err = e.m.Restore(ctx, man.ID, &ngbak.RestoreOptions{Into: map[string]string{"json": "kv"}})
	if err == nil || !strings.Contains(err.Error(), "graph_chunk_entity_relation.graphml") {
		t.Fatalf("a GraphML file into Redis: %v", err)
	}
	// A JSON target whose patterns cover the graph would lose it.
	wide, _ := jsonexp.New(jsonexp.Options{Dir: e.prod, Name: "wide"})
	wideConv, _ := convert.New(wide, convert.Options{DropTTL: true})
	e.m.Register(wideConv)
	_, err = e.m.Restore(ctx, man.ID, &ngbak.RestoreOptions{Into: map[string]string{"kv": "wide"}})
	if err == nil || !strings.Contains(err.Error(), "would remove") {
		t.Fatalf("a KV backup into a working dir with a graph: %v", err)
	}
	after, _ := e.m.List(ctx)
	if len(after) != len(before) {
		t.Errorf("%d backups before, %d after: a refused restore took a safety backup", len(before), len(after))
	}
	if got, _ := redisState(t, e.c, e.prefix); !cmp.Equal(got, map[string]map[string]string{"full_docs": {"keep": `"keep"`}}) {
		t.Errorf("Redis changed: %v", got)
	}
	if _, err := os.Stat(filepath.Join(e.prod, "graph_chunk_entity_relation.graphml")); err != nil {
		t.Errorf("the graph is gone: %v", err)
	}
}
