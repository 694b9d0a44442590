package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/neo4j/neo4j-go-driver/v5/neo4j"
	"github.com/ngbak/ngbak/internal/testlock"
	"github.com/qdrant/go-client/qdrant"
	"github.com/redis/go-redis/v9"
)

// TestBackupctlInto is the README's recipe: nano-graphrag's KV files
// backed up, restored into Redis with -into json=kv, and back into an
// empty working dir with -into kv=json.
func TestBackupctlInto(t *testing.T) {
	addr := os.Getenv("NGBAK_REDIS_URL")
	if addr == "" {
		t.Skip("NGBAK_REDIS_URL is not set: run make services")
	}
	ctx := context.Background()
	opts, _ := redis.ParseURL(addr)
	client := redis.NewClient(opts)
	defer client.Close()
	prefix := fmt.Sprintf("ctlinto:%d:", time.Now().UnixNano())
	defer func() {
		if keys, _ := client.Keys(ctx, prefix+"*").Result(); len(keys) > 0 {
			client.Del(ctx, keys...)
		}
	}()
	work, backups := t.TempDir(), t.TempDir()
	file := "{\n  \"doc-1\": {\n    \"content\": \"Ölfeld\"\n  },\n  \"doc-2\": {\n    \"content\": \"two\"\n  }\n}"
	os.WriteFile(filepath.Join(work, "kv_store_full_docs.json"), []byte(file), 0o644)
	os.WriteFile(filepath.Join(work, "graph_chunk_entity_relation.graphml"), []byte("<graphml/>"), 0o644)

	files := []string{"-dir", backups, "-json", work, "-json-patterns", "kv_store_*.json"}
	out, err := ctl(t, append(files, "create")...)
	if err != nil {
		t.Fatal(err)
	}
	id := lastLine(out)
	toRedis := []string{"-dir", backups, "-redis", addr, "-redis-prefix", prefix}
	if out, err := ctl(t, append(toRedis, "restore", "-into", "json=kv", id)...); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if got := client.Get(ctx, prefix+"full_docs:doc-1").Val(); got != `{"content": "\u00d6lfeld"}` {
		t.Fatalf("in Redis: %s", got)
	}
	if out, err = ctl(t, append(toRedis, "create")...); err != nil {
		t.Fatal(err)
	}
	redisID := lastLine(out)
	back := t.TempDir()
	if out, err := ctl(t, "-dir", backups, "-json", back, "-json-patterns", "kv_store_*.json", "restore", "-into", "kv=json", redisID); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if got, _ := os.ReadFile(filepath.Join(back, "kv_store_full_docs.json")); string(got) != file {
		t.Fatalf("back in a file:\n%s\nwant\n%s", got, file)
	}
	if _, err := os.Stat(filepath.Join(work, "graph_chunk_entity_relation.graphml")); err != nil {
		t.Fatal(err)
	}
	// Without -json-patterns the target would lose the graph: refused.
	if _, err := ctl(t, "-dir", backups, "-json", work, "restore", "-into", "kv=json", redisID); err == nil || !strings.Contains(err.Error(), "would remove") {
		t.Fatalf("into a working dir with a graph: %v", err)
	}
}

func lastLine(out string) string {
	lines := strings.Split(strings.TrimSpace(out), "\n")
	return lines[len(lines)-1]
}

// TestBackupctlMove is the README's recipe for the whole working dir: one
// backup of the file stores, restored into Redis, Neo4j and Qdrant with
// -into-partial, each store checked by its count.
func TestBackupctlMove(t *testing.T) {
	redisURL, neo4jURI := os.Getenv("NGBAK_REDIS_URL"), os.Getenv("NGBAK_NEO4J_URI")
	qdrantURL, qdrantGRPC := os.Getenv("NGBAK_QDRANT_URL"), os.Getenv("NGBAK_QDRANT_GRPC")
	if redisURL == "" || neo4jURI == "" || qdrantURL == "" || qdrantGRPC == "" {
		t.Skip("NGBAK_REDIS_URL, NGBAK_NEO4J_URI, NGBAK_QDRANT_URL or NGBAK_QDRANT_GRPC is not set: run make services")
	}
	testlock.Lock(t, "neo4j")
	ctx := context.Background()
	stamp := time.Now().UnixNano()
	prefix := fmt.Sprintf("ctlmove:%d:", stamp)
	label := fmt.Sprintf("GraphRAG_ctlmove_%d", stamp)
	coll := fmt.Sprintf("ctlmove_%d_entities", stamp)
	opts, _ := redis.ParseURL(redisURL)
	rc := redis.NewClient(opts)
	defer rc.Close()
	driver, err := neo4j.NewDriverWithContext(neo4jURI, neo4j.NoAuth())
	if err != nil {
		t.Fatal(err)
	}
	defer driver.Close(ctx)
	host, port, _ := strings.Cut(qdrantGRPC, ":")
	p, _ := strconv.Atoi(port)
	qc, err := qdrant.NewClient(&qdrant.Config{Host: host, Port: p, SkipCompatibilityCheck: true})
	if err != nil {
		t.Fatal(err)
	}
	defer qc.Close()
	defer func() {
		if keys, _ := rc.Keys(ctx, prefix+"*").Result(); len(keys) > 0 {
			rc.Del(ctx, keys...)
		}
		neo4j.ExecuteQuery(ctx, driver, "MATCH (n:`"+label+"`) DETACH DELETE n", nil, neo4j.EagerResultTransformer)
		for _, show := range []string{"SHOW CONSTRAINTS", "SHOW INDEXES"} {
			res, _ := neo4j.ExecuteQuery(ctx, driver, show+" YIELD name, labelsOrTypes WHERE $l IN labelsOrTypes RETURN name", map[string]any{"l": label}, neo4j.EagerResultTransformer)
			if res != nil {
				for _, r := range res.Records {
					kind := "CONSTRAINT"
					if show == "SHOW INDEXES" {
						kind = "INDEX"
					}
					neo4j.ExecuteQuery(ctx, driver, "DROP "+kind+" `"+r.Values[0].(string)+"` IF EXISTS", nil, neo4j.EagerResultTransformer)
				}
			}
		}
		qc.DeleteCollection(ctx, coll)
	}()

	work, backups := t.TempDir(), t.TempDir()
	src := "../../convert/testdata/nano/"
	for from, to := range map[string]string{"kv_store_full_docs.json": "kv_store_full_docs.json", "graph_chunk_entity_relation.graphml": "graph_chunk_entity_relation.graphml", "vdb_test_entities.json": "vdb_" + coll + ".json"} {
		b, err := os.ReadFile(src + from)
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(work, to), b, 0o644)
	}
	out, err := ctl(t, "-dir", backups, "-json", work, "create")
	if err != nil {
		t.Fatal(err)
	}
	id := lastLine(out)
	for _, args := range [][]string{
		{"-redis", redisURL, "-redis-prefix", prefix, "-into-partial", "restore", "-into", "json=kv", id},
		{"-neo4j", neo4jURI, "-neo4j-label", label, "-into-partial", "restore", "-into", "json=graph", id},
		{"-qdrant", qdrantURL, "-qdrant-grpc", qdrantGRPC, "-qdrant-collections", coll, "-into-partial", "restore", "-into", "json=qdrant", id},
	} {
		if out, err := ctl(t, append([]string{"-dir", backups}, args...)...); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
	}
	if keys, _ := rc.Keys(ctx, prefix+"full_docs:*").Result(); len(keys) != 40 {
		t.Errorf("%d documents in Redis, want 40", len(keys))
	}
	res, err := neo4j.ExecuteQuery(ctx, driver, "MATCH (n:`"+label+"`) RETURN count(n)", nil, neo4j.EagerResultTransformer)
	if err != nil || res.Records[0].Values[0].(int64) != 30 {
		t.Errorf("nodes in Neo4j: %v %v, want 30", res, err)
	}
	if n, err := qc.Count(ctx, &qdrant.CountPoints{CollectionName: coll}); err != nil || n != 24 {
		t.Errorf("points in Qdrant: %d %v, want 24", n, err)
	}
}
