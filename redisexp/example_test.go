package redisexp_test

import (
	"context"
	"log"

	"github.com/ngbak/ngbak"
	"github.com/ngbak/ngbak/redisexp"
	"github.com/redis/go-redis/v9"
)

// Back up nano-graphrag's Redis KV namespaces. A service with a store type
// of its own passes that (implementing redisexp.Store) instead of KVStore,
// so that a restore writes through its serialization.
func Example() {
	ctx := context.Background()
	rdb := redis.NewUniversalClient(&redis.UniversalOptions{Addrs: []string{"localhost:6379"}})
	defer rdb.Close()

	store := redisexp.NewKVStore(rdb, redisexp.KVStoreOptions{}) // nano_graphrag:<namespace>:<id>
	kv, err := redisexp.New(store, redisexp.Options{Namespaces: []string{"full_docs", "text_chunks"}})
	if err != nil {
		log.Fatal(err)
	}
	m, _ := ngbak.New(ngbak.Options{Storage: ngbak.Dir("backups")})
	m.Register(kv, redisexp.NewRaw(rdb, redisexp.RawOptions{Pattern: "session:*"}))
	man, err := m.Create(ctx, nil)
	if err != nil {
		log.Fatal(err)
	}
	if _, err := m.Restore(ctx, man.ID, nil); err != nil {
		log.Fatal(err)
	}
}
