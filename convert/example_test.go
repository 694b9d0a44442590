package convert_test

import (
	"context"
	"fmt"

	"github.com/ngbak/ngbak"
	"github.com/ngbak/ngbak/convert"
	"github.com/ngbak/ngbak/jsonexp"
	"github.com/ngbak/ngbak/redisexp"
	"github.com/redis/go-redis/v9"
)

// A Redis KV exporter as a converter: registered in place of the plain
// one, it restores the kv_store files of a working dir's backup with
// RestoreOptions.Into, and says before anything changes what it cannot
// hold.
func Example() {
	rdb := redis.NewClient(&redis.Options{Addr: "localhost:6379"}) // not dialled here
	plain, _ := redisexp.New(redisexp.NewKVStore(rdb, redisexp.KVStoreOptions{}), redisexp.Options{Name: "kv"})
	kv, _ := convert.New(plain, convert.Options{})

	// What a backup of a whole working dir records of its files.
	files := &ngbak.Backend{Name: "json", Kind: jsonexp.Kind, Format: jsonexp.Format, Files: []ngbak.File{
		{Path: "json/graph_chunk_entity_relation.graphml"}, {Path: "json/kv_store_full_docs.json"},
	}}
	fmt.Println(kv.CheckConvert(context.Background(), files))

	// With Partial, the graph is left for its own restore into Neo4j:
	//	m.Restore(ctx, id, &ngbak.RestoreOptions{Into: map[string]string{"json": "kv"}})
	kv, _ = convert.New(plain, convert.Options{Partial: true})
	fmt.Println(kv.CheckConvert(context.Background(), files))
	// Output:
	// convert: backend "json" (json) into "kv" (redis-kv): the backup holds graph_chunk_entity_relation.graphml, which a Redis KV store has no place for (only kv_store_<namespace>.json converts; Options.Partial skips the others, for their own restores)
	// <nil>
}
