package redisexp_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/ngbak/ngbak"
	"github.com/ngbak/ngbak/redisexp"
	"github.com/redis/go-redis/v9"
)

// TestCloneIntoPrefix restores production's KV namespaces under another
// prefix of the same server (RestoreOptions.Into onto a KVStore with
// another Prefix): staging then holds the backup's entries and TTL
// policy, production keeps what it has now.
func TestCloneIntoPrefix(t *testing.T) {
	url := os.Getenv("NGBAK_REDIS_URL")
	if url == "" {
		t.Skip("NGBAK_REDIS_URL is not set")
	}
	ctx := context.Background()
	ropts, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(ropts)
	defer c.Close()
	base := fmt.Sprintf("ngbak-into-%d:", time.Now().UnixNano())
	defer func() {
		if keys, _ := c.Keys(ctx, base+"*").Result(); len(keys) > 0 {
			c.Del(ctx, keys...)
		}
	}()
	prod, staging := base+"prod:", base+"staging:"
	state := func(p string) map[string]string {
		out := map[string]string{}
		keys, err := c.Keys(ctx, p+"*").Result()
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range keys {
			out[strings.TrimPrefix(k, p)] = fmt.Sprintf("%s ttl=%v", c.Get(ctx, k).Val(), c.PTTL(ctx, k).Val() > 0)
		}
		return out
	}
	c.Set(ctx, prod+"full_docs:doc-1", `{"content": "ü"}`, 0)
	c.Set(ctx, prod+"llm_response_cache:h1", `{"return": "x"}`, time.Hour)
	c.Set(ctx, staging+"full_docs:stale", `"old"`, 0)
	c.Set(ctx, staging+"other_ns:x", `"old"`, 0)
	backedUp := state(prod)

	newExp := func(name, prefix string) *redisexp.Exporter {
		e, err := redisexp.New(redisexp.NewKVStore(c, redisexp.KVStoreOptions{Prefix: prefix}), redisexp.Options{Name: name})
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	m, err := ngbak.New(ngbak.Options{Storage: ngbak.Dir(t.TempDir()), TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	m.Register(newExp("kv", prod), newExp("kv-staging", staging))
	man, err := m.Create(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	c.Set(ctx, prod+"full_docs:doc-2", `"after the backup"`, 0)
	prodNow := state(prod)
	if _, err := m.Restore(ctx, man.ID, &ngbak.RestoreOptions{Into: map[string]string{"kv": "kv-staging"}}); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(backedUp, state(staging)); diff != "" {
		t.Errorf("staging (-production at backup +staging):\n%s", diff)
	}
	if diff := cmp.Diff(prodNow, state(prod)); diff != "" {
		t.Errorf("production changed:\n%s", diff)
	}
}
