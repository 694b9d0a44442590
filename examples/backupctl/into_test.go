package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

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
