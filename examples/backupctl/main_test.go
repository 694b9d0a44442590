package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"github.com/ngbak/ngbak/legacy"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/neo4j/neo4j-go-driver/v5/neo4j"
	"github.com/ngbak/ngbak/internal/qdrantemu"
	"github.com/ngbak/ngbak/internal/testlock"
	"github.com/qdrant/go-client/qdrant"
	"github.com/redis/go-redis/v9"
)

func ctl(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := run(context.Background(), args, &out, &errOut)
	return out.String(), err
}

func TestBackupctl(t *testing.T) {
	work, backups := t.TempDir(), t.TempDir()
	store := filepath.Join(work, "kv_store_full_docs.json")
	os.WriteFile(store, []byte(`{"doc": "original"}`), 0o644)
	flags := []string{"-dir", backups, "-json", work}

	out, err := ctl(t, append(flags, "create")...)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	id := lines[len(lines)-1]

	if out, err = ctl(t, append(flags, "list")...); err != nil || !strings.Contains(out, id) {
		t.Fatalf("list: %v\n%s", err, out)
	}
	out, err = ctl(t, append(flags, "inspect", id)...)
	var man struct{ ID string }
	if err != nil || json.Unmarshal([]byte(out), &man) != nil || man.ID != id {
		t.Fatalf("inspect: %v\n%s", err, out)
	}
	if out, err = ctl(t, append(flags, "verify", id)...); err != nil || !strings.Contains(out, "OK") {
		t.Fatalf("verify: %v\n%s", err, out)
	}
	os.WriteFile(store, []byte(`{}`), 0o644)
	if _, err = ctl(t, append(flags, "restore", id)...); err != nil {
		t.Fatal(err)
	}
	if data, _ := os.ReadFile(store); string(data) != `{"doc": "original"}` {
		t.Fatalf("after restore: %s", data)
	}
	// import into another folder, then delete.
	other := t.TempDir()
	if out, err = ctl(t, "-dir", other, "import", filepath.Join(backups, id+".ngbak")); err != nil || strings.TrimSpace(out) != id {
		t.Fatalf("import: %v\n%s", err, out)
	}
	if _, err = ctl(t, "-dir", other, "delete", id); err != nil {
		t.Fatal(err)
	}
	// prune: a dry run by default, then for real.
	if _, err := ctl(t, "-dir", backups, "-json", work, "create"); err != nil {
		t.Fatal(err)
	}
	out, err = ctl(t, "-dir", backups, "prune", "-keep-last", "1")
	if err != nil || !strings.Contains(out, "dry run") || strings.Count(out, "remove") < 1 {
		t.Fatalf("prune dry run: %v\n%s", err, out)
	}
	if out, err = ctl(t, "-dir", backups, "prune", "-keep-last", "1", "-confirm"); err != nil || !strings.Contains(out, "removed") {
		t.Fatalf("prune: %v\n%s", err, out)
	}
	// The newest backup, and the safety backup of the restore above: the
	// only undo of the last restore is kept by its own rule.
	if out, _ = ctl(t, "-dir", backups, "list"); strings.Count(out, "\n") != 3 || strings.Count(out, "ngbak.safety-for") != 1 {
		t.Fatalf("after prune -keep-last 1:\n%s", out)
	}
	if _, err := ctl(t, "-dir", backups, "prune"); err == nil {
		t.Error("prune without a policy succeeded")
	}
	// Encrypted with a passphrase: the key is needed to verify.
	pwFile := filepath.Join(t.TempDir(), "pw")
	os.WriteFile(pwFile, []byte("hunter2\n"), 0o600)
	encDir := t.TempDir()
	out, err = ctl(t, "-dir", encDir, "-json", work, "-passphrase-file", pwFile, "create")
	if err != nil {
		t.Fatal(err)
	}
	encID := strings.TrimSpace(out[strings.LastIndex(strings.TrimSpace(out), "\n")+1:])
	if _, err := ctl(t, "-dir", encDir, "-passphrase-file", pwFile, "verify", encID); err != nil {
		t.Fatal(err)
	}
	if _, err := ctl(t, "-dir", encDir, "verify", encID); err == nil || !strings.Contains(err.Error(), "no key") {
		t.Fatalf("verify without the key: %v", err)
	}
	// Encrypted to an age recipient, read with its identity file.
	ageKey, _ := age.GenerateX25519Identity()
	idFile := filepath.Join(t.TempDir(), "key.txt")
	os.WriteFile(idFile, []byte(ageKey.String()+"\n"), 0o600)
	out, err = ctl(t, "-dir", encDir, "-json", work, "-age-recipient", ageKey.Recipient().String(), "create")
	if err != nil {
		t.Fatal(err)
	}
	ageID := strings.TrimSpace(out[strings.LastIndex(strings.TrimSpace(out), "\n")+1:])
	if _, err := ctl(t, "-dir", encDir, "-json", work, "-age-identity", idFile, "restore", ageID); err != nil {
		t.Fatal(err)
	}
	// A bucket instead of a folder.
	bucketURL := "file://" + t.TempDir()
	if _, err = ctl(t, "-bucket", bucketURL, "-json", work, "create"); err != nil {
		t.Fatal(err)
	}
	if out, err := ctl(t, "-bucket", bucketURL, "list"); err != nil || strings.Count(out, "\n") != 2 {
		t.Fatalf("list on a bucket: %v\n%s", err, out)
	}
	// Failures are errors.
	for _, args := range [][]string{{"verify", "../x"}, {"inspect", id + "x"}, {"bogus"}, {}, {"verify"}} {
		if _, err := ctl(t, append([]string{"-dir", other}, args...)...); err == nil {
			t.Errorf("%v succeeded", args)
		}
	}
}

// The Redis flags, against the servers of make services: a single Redis by
// URL and a cluster by comma-separated addresses.
func TestBackupctlRedis(t *testing.T) {
	for _, env := range []string{"NGBAK_REDIS_URL", "NGBAK_REDIS_CLUSTER"} {
		t.Run(env, func(t *testing.T) {
			addr := os.Getenv(env)
			if addr == "" {
				if os.Getenv("NGBAK_REQUIRE_SERVERS") != "" {
					t.Fatalf("%s is not set", env)
				}
				t.Skipf("%s is not set: run make services", env)
			}
			ctx := context.Background()
			var client redis.UniversalClient
			if env == "NGBAK_REDIS_URL" {
				opts, _ := redis.ParseURL(addr)
				client = redis.NewClient(opts)
			} else {
				client = redis.NewClusterClient(&redis.ClusterOptions{Addrs: strings.Split(addr, ",")})
			}
			defer client.Close()
			prefix := fmt.Sprintf("ctltest:%d:", time.Now().UnixNano())
			key := prefix + "full_docs:doc-1"
			client.Set(ctx, key, `{"content":"original"}`, 0)
			defer client.Del(ctx, key)

			flags := []string{"-dir", t.TempDir(), "-redis", addr, "-redis-prefix", prefix}
			out, err := ctl(t, append(flags, "create")...)
			if err != nil {
				t.Fatal(err)
			}
			lines := strings.Split(strings.TrimSpace(out), "\n")
			id := lines[len(lines)-1]
			client.Set(ctx, key, `"changed"`, 0)
			if _, err := ctl(t, append(flags, "restore", id)...); err != nil {
				t.Fatal(err)
			}
			if got := client.Get(ctx, key).Val(); got != `{"content":"original"}` {
				t.Fatalf("after restore: %s", got)
			}
		})
	}
}

// The Neo4j flags, against Neo4j 5.26 (NGBAK_NEO4J_URI) and the newest
// Neo4j (NGBAK_NEO4J_NEXT_URI), each in a subtest.
func TestBackupctlNeo4j(t *testing.T) {
	for _, s := range []struct{ name, env, lock string }{
		{"5.26", "NGBAK_NEO4J_URI", "neo4j"},
		{"next", "NGBAK_NEO4J_NEXT_URI", "neo4j-next"},
	} {
		t.Run(s.name, func(t *testing.T) {
			uri := os.Getenv(s.env)
			if uri == "" {
				if os.Getenv("NGBAK_REQUIRE_SERVERS") != "" {
					t.Fatalf("%s is not set", s.env)
				}
				t.Skipf("%s is not set: run make services", s.env)
			}
			testlock.Lock(t, s.lock) // neo4jexp's tests replace the whole database
			testBackupctlNeo4j(t, uri)
		})
	}
}

func testBackupctlNeo4j(t *testing.T, uri string) {
	ctx := context.Background()
	d, err := neo4j.NewDriverWithContext(uri, neo4j.NoAuth())
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close(ctx)
	label := fmt.Sprintf("Ctl%d", time.Now().UnixNano())
	q := func(query string) int64 {
		res, err := neo4j.ExecuteQuery(ctx, d, query, nil, neo4j.EagerResultTransformer)
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Records) == 0 {
			return 0
		}
		n, _ := res.Records[0].Values[0].(int64)
		return n
	}
	q("CREATE (:" + label + " {name: 'a'})-[:R]->(:" + label + " {name: 'b'})")
	defer q("MATCH (n:" + label + ") DETACH DELETE n")
	flags := []string{"-dir", t.TempDir(), "-neo4j", uri, "-neo4j-label", label}
	out, err := ctl(t, append(flags, "create")...)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	id := lines[len(lines)-1]
	q("MATCH (n:" + label + " {name: 'a'}) DETACH DELETE n")
	if _, err := ctl(t, append(flags, "restore", id)...); err != nil {
		t.Fatal(err)
	}
	if n := q("MATCH (:" + label + ")-[r:R]->(:" + label + ") RETURN count(r)"); n != 1 {
		t.Fatalf("%d relationships after restore, want 1", n)
	}
	// A clone under another label: refused without -neo4j-restore-as.
	staging := label + "Staging"
	defer q("MATCH (n:" + staging + ") DETACH DELETE n")
	cloneFlags := []string{"-dir", flags[1], "-neo4j", uri, "-neo4j-label", staging}
	if _, err := ctl(t, append(cloneFlags, "restore", id)...); err == nil || !strings.Contains(err.Error(), "RestoreAs") {
		t.Fatalf("restore of another label without -neo4j-restore-as: %v", err)
	}
	if _, err := ctl(t, append(cloneFlags, "-neo4j-restore-as", label+"="+staging, "restore", id)...); err != nil {
		t.Fatal(err)
	}
	if n := q("MATCH (:" + staging + ")-[r:R]->(:" + staging + ") RETURN count(r)"); n != 1 {
		t.Fatalf("%d relationships in the clone, want 1", n)
	}
	if n := q("MATCH (n:" + label + ") RETURN count(n)"); n != 2 {
		t.Fatalf("%d nodes in the source label after the clone, want 2", n)
	}
}

// The Qdrant flags, against the Qdrant emulator (or a real Qdrant given by
// NGBAK_QDRANT_URL and NGBAK_QDRANT_GRPC), in both modes.
func TestBackupctlQdrant(t *testing.T) {
	for _, mode := range []string{"snapshot", "logical"} {
		t.Run(mode, func(t *testing.T) {
			url, grpcAddr, key := os.Getenv("NGBAK_QDRANT_URL"), os.Getenv("NGBAK_QDRANT_GRPC"), os.Getenv("NGBAK_QDRANT_API_KEY")
			if url == "" || grpcAddr == "" {
				key = "ctl-key"
				emu, err := qdrantemu.Start(qdrantemu.Options{APIKey: key, Dir: t.TempDir()})
				if err != nil {
					t.Fatal(err)
				}
				defer emu.Close()
				url, grpcAddr = emu.URL, emu.GRPCAddr
			}
			host, port, _ := strings.Cut(grpcAddr, ":")
			var p int
			fmt.Sscan(port, &p)
			client, err := qdrant.NewClient(&qdrant.Config{Host: host, Port: p, APIKey: key, SkipCompatibilityCheck: true, PoolSize: 1})
			if err != nil {
				t.Fatal(err)
			}
			defer client.Close()
			ctx := context.Background()
			coll := fmt.Sprintf("ctltest_%d", time.Now().UnixNano())
			if err := client.CreateCollection(ctx, &qdrant.CreateCollection{CollectionName: coll,
				VectorsConfig: qdrant.NewVectorsConfig(&qdrant.VectorParams{Size: 2, Distance: qdrant.Distance_Dot})}); err != nil {
				t.Fatal(err)
			}
			defer client.DeleteCollection(ctx, coll)
			if _, err := client.Upsert(ctx, &qdrant.UpsertPoints{CollectionName: coll, Points: []*qdrant.PointStruct{
				{Id: qdrant.NewIDNum(7), Vectors: qdrant.NewVectors(0.5, -1), Payload: qdrant.NewValueMap(map[string]any{"text": "original"})},
			}}); err != nil {
				t.Fatal(err)
			}
			t.Setenv("QDRANT_API_KEY", key)
			flags := []string{"-dir", t.TempDir(), "-qdrant", url, "-qdrant-grpc", grpcAddr, "-qdrant-collections", coll, "-qdrant-mode", mode}
			out, err := ctl(t, append(flags, "create")...)
			if err != nil {
				t.Fatal(err)
			}
			lines := strings.Split(strings.TrimSpace(out), "\n")
			id := lines[len(lines)-1]
			if err := client.DeleteCollection(ctx, coll); err != nil {
				t.Fatal(err)
			}
			if _, err := ctl(t, append(flags, "restore", id)...); err != nil {
				t.Fatal(err)
			}
			got, err := client.Get(ctx, &qdrant.GetPoints{CollectionName: coll, Ids: []*qdrant.PointId{qdrant.NewIDNum(7)}, WithPayload: qdrant.NewWithPayload(true)})
			if err != nil || len(got) != 1 || got[0].Payload["text"].GetStringValue() != "original" {
				t.Fatalf("after restore: %v, %v", got, err)
			}
		})
	}
}

// oldArchive writes an archive of the old Python system holding files, and
// returns it with its checksum (computed by legacy.Verify on the archive
// written without one, as the old system hashed it).
func oldArchive(t *testing.T, files map[string]string) ([]byte, string) {
	write := func(sum string) []byte {
		manifest := `{
  "backup_id": "snapshot_2025-10-06T14-30-12Z",
  "created_at": "2025-10-06 14:30:12.953826+00:00"`
		if sum != "" {
			manifest += ",\n  \"checksum\": \"" + sum + "\""
		}
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		tw := tar.NewWriter(zw)
		put := func(name, data string) {
			tw.WriteHeader(&tar.Header{Name: "./" + name, Mode: 0o644, Size: int64(len(data)), Typeflag: tar.TypeReg})
			tw.Write([]byte(data))
		}
		put("manifest.json", manifest+"\n}")
		for name, data := range files {
			put(name, data)
		}
		tw.Close()
		zw.Close()
		return buf.Bytes()
	}
	res, _ := legacy.Verify(context.Background(), bytes.NewReader(write("")), nil, t.TempDir(), legacy.Limits{})
	if res == nil {
		t.Fatal("the fixture does not read")
	}
	return write(res.Checksum), res.Checksum
}

func TestBackupctlImportLegacy(t *testing.T) {
	work := t.TempDir()
	dir := t.TempDir()
	arc, sum := oldArchive(t, map[string]string{"kv/full_docs.json": `{"doc-1": {"content": "from the old system"}}`})
	file := filepath.Join(t.TempDir(), "snapshot_2025-10-06T14-30-12Z.ngbak")
	os.WriteFile(file, arc, 0o644)
	sidecar := filepath.Join(t.TempDir(), "snapshot_2025-10-06T14-30-12Z.checksum")
	os.WriteFile(sidecar, []byte("sha256:"+strings.Repeat("0", 64)), 0o644)

	// A wrong .checksum file: refused, nothing stored.
	out, err := ctl(t, "-dir", dir, "import-legacy", "-legacy-checksum", sidecar, "-legacy-kv", "json", file)
	if err == nil || !strings.Contains(out, "DOES NOT MATCH") {
		t.Fatalf("import-legacy with a wrong checksum file: %v\n%s", err, out)
	}
	if list, _ := ctl(t, "-dir", dir, "list"); strings.Contains(list, "Z-") {
		t.Fatalf("a refused import stored something:\n%s", list)
	}
	os.WriteFile(sidecar, []byte(sum), 0o644)
	out, err = ctl(t, "-dir", dir, "import-legacy", "-legacy-checksum", sidecar, "-legacy-kv", "json", file)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	id := lines[len(lines)-1]
	if _, err := ctl(t, "-dir", dir, "verify", id); err != nil {
		t.Fatal(err)
	}
	if _, err := ctl(t, "-dir", dir, "-json", work, "restore", id); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(work, "kv_store_full_docs.json"))
	if err != nil || string(got) != `{"doc-1": {"content": "from the old system"}}` {
		t.Fatalf("restored file: %q, %v", got, err)
	}
}

// TestBackupctlDedup: -dedup keeps a deduplicated storage, which every
// command reads, and check reports on it.
func TestBackupctlDedup(t *testing.T) {
	work, backups := t.TempDir(), t.TempDir()
	store := filepath.Join(work, "kv_store_full_docs.json")
	os.WriteFile(store, []byte(`{"doc": "`+strings.Repeat("deduplicated ", 100000)+`"}`), 0o644)
	flags := []string{"-dir", backups, "-json", work, "-dedup"}
	var ids []string
	for range 2 {
		out, err := ctl(t, append(flags, "create")...)
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(out), "\n")
		ids = append(ids, lines[len(lines)-1])
	}
	if out, err := ctl(t, append(flags, "verify", ids[0])...); err != nil || !strings.Contains(out, "OK") {
		t.Fatalf("verify: %v\n%s", err, out)
	}
	want, _ := os.ReadFile(store)
	os.WriteFile(store, []byte(`{}`), 0o644)
	if _, err := ctl(t, append(flags, "restore", ids[0])...); err != nil {
		t.Fatal(err)
	}
	if data, _ := os.ReadFile(store); !bytes.Equal(data, want) {
		t.Fatalf("after restore: %.100s", data)
	}
	// export writes a standard archive, which a plain storage imports;
	// one whose chunk list is not the one its sidecar names fails.
	file := filepath.Join(t.TempDir(), ids[0]+".ngbak")
	if _, err := ctl(t, append(flags, "export", ids[0], file)...); err != nil {
		t.Fatalf("export: %v", err)
	}
	other := t.TempDir()
	if out, err := ctl(t, "import", file, "-dir", other); err != nil || strings.TrimSpace(out) != ids[0] {
		t.Fatalf("import of the export: %v\n%s", err, out)
	}
	if out, err := ctl(t, "-dir", other, "verify", ids[0]); err != nil || !strings.Contains(out, "OK") {
		t.Fatalf("verify of the imported export: %v\n%s", err, out)
	}
	list0, _ := os.ReadFile(filepath.Join(backups, ids[0]+".ngbak"))
	list1, _ := os.ReadFile(filepath.Join(backups, ids[1]+".ngbak"))
	os.WriteFile(filepath.Join(backups, ids[0]+".ngbak"), list1, 0o644)
	swapped := filepath.Join(t.TempDir(), "swapped.ngbak")
	if _, err := ctl(t, append(flags, "export", ids[0], swapped)...); err == nil || !strings.Contains(err.Error(), "checksum mismatch") {
		t.Fatalf("export of a backup whose chunk list was swapped: %v", err)
	}
	if _, err := os.Stat(swapped); err == nil {
		t.Fatal("a failed export was left as the file")
	}
	os.WriteFile(filepath.Join(backups, ids[0]+".ngbak"), list0, 0o644)

	if _, err := ctl(t, append(flags, "delete", ids[1])...); err != nil {
		t.Fatal(err)
	}
	out, err := ctl(t, append(flags, "check", "-read-data")...)
	if err != nil || !strings.Contains(out, " 0 missing, 0 damaged, 0 unused") {
		t.Fatalf("check: %v\n%s", err, out)
	}
	if _, err := ctl(t, "-dir", backups, "check"); err == nil {
		t.Fatalf("check without -dedup worked")
	}
}
