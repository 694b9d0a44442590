package redisexp_test

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/ngbak/ngbak/redisexp"
	"github.com/redis/go-redis/v9"
)

// The plan names the namespaces a restore deletes, which it then deletes:
// every namespace the backup lacks with Options.Namespaces nil, none with a
// list; and it counts keys per namespace in the manifest's terms.
func TestPlanNamespaces(t *testing.T) {
	ctx := context.Background()
	eachServerKV(t, func(t *testing.T, client redis.UniversalClient, prefix string, store *redisexp.KVStore) {
		store.Upsert(ctx, "full_docs", []redisexp.Entry{{ID: "d1", Value: []byte(`{"a":1}`)}})
		all, _ := redisexp.New(store, redisexp.Options{})
		listed, _ := redisexp.New(store, redisexp.Options{Name: "listed", Namespaces: []string{"full_docs"}})
		m := newManager(t, all, listed)
		man, err := m.Create(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		store.Upsert(ctx, "llm_response_cache", []redisexp.Entry{{ID: "c1", Value: []byte(`1`)}, {ID: "c2", Value: []byte(`2`)}})
		store.Upsert(ctx, "full_docs", []redisexp.Entry{{ID: "d2", Value: []byte(`{"a":2}`)}})
		p, err := m.Plan(ctx, man.ID, nil)
		if err != nil {
			t.Fatal(err)
		}
		kv, lst := p.Backends[0], p.Backends[1]
		if diff := cmp.Diff([]string{"namespace llm_response_cache (2 keys)"}, kv.Deletes); diff != "" {
			t.Errorf("deletes of every namespace (-want +got):\n%s", diff)
		}
		wantNow := map[string]int64{"keys": 4, "keys.full_docs": 2, "keys.llm_response_cache": 2, "namespaces": 2}
		if diff := cmp.Diff(wantNow, kv.Current); diff != "" {
			t.Errorf("current counts (-want +got):\n%s", diff)
		}
		if len(lst.Deletes) != 0 || lst.Current["keys"] != 2 {
			t.Errorf("listed namespaces: deletes %q, current %v", lst.Deletes, lst.Current)
		}
		if _, err := m.Restore(ctx, man.ID, nil); err != nil {
			t.Fatal(err)
		}
		nss, err := store.Namespaces(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]string{"full_docs"}, nss); diff != "" {
			t.Errorf("namespaces after the restore (-want +got):\n%s", diff)
		}
	})
}
