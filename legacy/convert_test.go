package legacy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/neo4j/neo4j-go-driver/v5/neo4j"
	"github.com/ngbak/ngbak"
	"github.com/ngbak/ngbak/internal/qdrantemu"
	"github.com/ngbak/ngbak/internal/testlock"
	"github.com/ngbak/ngbak/jsonexp"
	"github.com/ngbak/ngbak/neo4jexp"
	"github.com/ngbak/ngbak/qdrantexp"
	"github.com/ngbak/ngbak/redisexp"
	"github.com/qdrant/go-client/qdrant"
	"github.com/redis/go-redis/v9"
)

// oldArchive writes an archive in the old format, with the checksum the old
// algorithm gives (the algorithm itself is pinned by TestVerifyGood's
// vector, computed by the Python code). files maps names to contents.
func oldArchive(t testing.TB, files map[string]string) (archive []byte, checksum string) {
	t.Helper()
	manifest := func(sum string) string {
		m := `{
  "backup_id": "snapshot_2025-10-06T14-30-12Z",
  "created_at": "2025-10-06 14:30:12.953826+00:00",
  "nano_graphrag_version": "0.0.8",
  "storage_backends": {
    "graph": "neo4j",
    "vector": "qdrant",
    "kv": "redis"
  },
  "statistics": {
    "entities": 2,
    "relationships": 1,
    "documents": 2
  }`
		if sum != "" {
			m += ",\n  \"checksum\": \"" + sum + "\""
		}
		return m + "\n}"
	}
	members := func(sum string) []member {
		ms := []member{{name: "./", dir: true}, {name: "./manifest.json", data: manifest(sum)}}
		names := make([]string, 0, len(files))
		for n := range files {
			names = append(names, n)
		}
		sort.Strings(names)
		dirs := map[string]bool{}
		for _, n := range names {
			if d := filepath.Dir(n); d != "." && !dirs[d] {
				dirs[d] = true
				ms = append(ms, member{name: "./" + d + "/", dir: true})
			}
			ms = append(ms, member{name: "./" + n, data: files[n]})
		}
		return ms
	}
	a, err := open(context.Background(), bytes.NewReader(build(t, members(""))), nil, t.TempDir(), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	a.close()
	return build(t, members(a.Checksum)), a.Checksum
}

func kvFixture() map[string]string {
	return map[string]string{
		"config/graphrag_config.json": `{"working_dir": "./nano", "neo4j_url": "neo4j://neo4j:hunter2@db:7687", "neo4j_password": "hunter2", "qdrant_api_key": "qk"}`,
		"kv/full_docs.json": `{
  "doc-1": {
    "content": "Ölfeld 北京 \u00e9 \"quoted\""
  },
  "doc-2": {"content": "second", "n": 1e3, "list": [1, 2.50, null, true]}
}`,
		"kv/text_chunks.json":        `{"chunk-1": {"tokens": 12, "content": "a"}, "chunk-2": "plain string value"}`,
		"kv/llm_response_cache.json": `{}`,
		"kv/文档 ü.json":               `{"键": "值", "emoji 🧠": {"nested": ["ü"]}}`,
	}
}

func storageOpts(t testing.TB) (ngbak.Options, string) {
	dir := filepath.Join(t.TempDir(), "backups")
	return ngbak.Options{Storage: ngbak.Dir(dir), TempDir: t.TempDir()}, dir
}

func requireEnv(t *testing.T, name string) string {
	v := os.Getenv(name)
	if v == "" {
		if os.Getenv("NGBAK_REQUIRE_SERVERS") != "" {
			t.Fatalf("%s is not set", name)
		}
		t.Skipf("%s is not set: run make services", name)
	}
	return v
}

// wantKV is what the fixture's namespaces must become: each value as
// nano-graphrag's RedisKVStorage writes it, json.dumps(json.loads(value)),
// as Python 3.11 printed it for this fixture.
func wantKV(t *testing.T, files map[string]string) map[string]map[string]string {
	if len(files) != len(kvFixture()) {
		t.Fatal("wantKV knows only kvFixture")
	}
	return map[string]map[string]string{
		"full_docs": {
			"doc-1": "{\"content\": \"\\u00d6lfeld \\u5317\\u4eac \\u00e9 \\\"quoted\\\"\"}",
			"doc-2": "{\"content\": \"second\", \"n\": 1000.0, \"list\": [1, 2.5, null, true]}",
		},
		"text_chunks": {
			"chunk-1": "{\"tokens\": 12, \"content\": \"a\"}",
			"chunk-2": "\"plain string value\"",
		},
		"llm_response_cache": {},
		"文档 ü": {
			"键":       "\"\\u503c\"",
			"emoji 🧠": "{\"nested\": [\"\\u00fc\"]}",
		},
	}
}

func TestConvertToRedis(t *testing.T) {
	url := requireEnv(t, "NGBAK_REDIS_URL")
	ropts, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	client := redis.NewClient(ropts)
	defer client.Close()
	ctx := context.Background()
	prefix := fmt.Sprintf("legacytest:%d:", time.Now().UnixNano())
	defer func() {
		keys, _ := client.Keys(ctx, prefix+"*").Result()
		if len(keys) > 0 {
			client.Del(ctx, keys...)
		}
	}()
	files := kvFixture()
	arc, sum := oldArchive(t, files)
	opts, _ := storageOpts(t)
	man, res, err := Convert(ctx, bytes.NewReader(arc), opts, ConvertOptions{Sidecar: []byte(sum), KV: KVRedis})
	if err != nil {
		t.Fatal(err)
	}
	if !res.ManifestOK || !res.SidecarOK {
		t.Fatalf("checks: %+v", res)
	}
	if man.Labels["legacy.backup_id"] != "snapshot_2025-10-06T14-30-12Z" || man.Labels["legacy.verified"] != "true" ||
		man.Labels["legacy.checks"] != "manifest,sidecar" || !strings.Contains(man.Labels["legacy.statistics"], `"entities":2`) {
		t.Fatalf("labels: %v", man.Labels)
	}
	if c := string(man.Config); strings.Contains(c, "hunter2") || strings.Contains(c, `"qk"`) || !strings.Contains(c, "./nano") {
		t.Fatalf("config not redacted or lost: %s", c)
	}
	// A stale key that the restore must remove.
	client.Set(ctx, prefix+"full_docs:stale", `"old"`, 0)

	store := redisexp.NewKVStore(client, redisexp.KVStoreOptions{Prefix: prefix})
	kv, err := redisexp.New(store, redisexp.Options{})
	if err != nil {
		t.Fatal(err)
	}
	m, err := ngbak.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	m.Register(kv)
	if err := m.Verify(ctx, man.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Restore(ctx, man.ID, nil); err != nil {
		t.Fatal(err)
	}
	got := map[string]map[string]string{}
	keys, err := client.Keys(ctx, prefix+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		ns, id, _ := strings.Cut(strings.TrimPrefix(k, prefix), ":")
		if got[ns] == nil {
			got[ns] = map[string]string{}
		}
		got[ns][id] = client.Get(ctx, k).Val()
	}
	want := wantKV(t, files)
	delete(want, "llm_response_cache") // an empty namespace has no keys
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("Redis after restoring the converted backup (-want +got):\n%s", diff)
	}
}

func TestConvertToJSON(t *testing.T) {
	ctx := context.Background()
	files := kvFixture()
	arc, _ := oldArchive(t, files)
	opts, _ := storageOpts(t)
	man, res, err := Convert(ctx, bytes.NewReader(arc), opts, ConvertOptions{KV: KVJSON}) // no sidecar
	if err != nil {
		t.Fatal(err)
	}
	if res.SidecarChecked || man.Labels["legacy.checks"] != "manifest" {
		t.Fatalf("checks without a sidecar: %+v, labels %v", res, man.Labels)
	}
	work := t.TempDir()
	os.WriteFile(filepath.Join(work, "kv_store_stale.json"), []byte("{}"), 0o644)
	os.WriteFile(filepath.Join(work, "graph_chunk_entity_relation.graphml"), []byte("<graphml/>"), 0o644)
	files2, err := jsonexp.New(jsonexp.Options{Dir: work, Patterns: []string{"kv_store_*.json"}})
	if err != nil {
		t.Fatal(err)
	}
	m, _ := ngbak.New(opts)
	m.Register(files2)
	if _, err := m.Restore(ctx, man.ID, nil); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	entries, _ := os.ReadDir(work)
	for _, e := range entries {
		b, _ := os.ReadFile(filepath.Join(work, e.Name()))
		got[e.Name()] = string(b)
	}
	want := map[string]string{"graph_chunk_entity_relation.graphml": "<graphml/>"}
	for name, data := range files {
		if ns, ok := strings.CutPrefix(name, "kv/"); ok {
			want["kv_store_"+ns] = data
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("working dir after restore (-want +got):\n%s", diff)
	}
}

func TestConvertNeo4j(t *testing.T) {
	uri := requireEnv(t, "NGBAK_NEO4J_URI")
	testlock.Lock(t, "neo4j")
	ctx := context.Background()
	driver, err := neo4j.NewDriverWithContext(uri, neo4j.NoAuth())
	if err != nil {
		t.Fatal(err)
	}
	defer driver.Close(ctx)
	label := fmt.Sprintf("LegacyEntity%d", time.Now().UnixNano())
	// What apoc.export.cypher.query writes in cypher-shell format with
	// UNWIND_BATCH, as the old system's graph/neo4j.dump holds it.
	script := `:begin
CREATE CONSTRAINT UNIQUE_IMPORT_NAME FOR (node:` + "`UNIQUE IMPORT LABEL`" + `) REQUIRE (node.` + "`UNIQUE IMPORT ID`" + `) IS UNIQUE;
:commit
CALL db.awaitIndexes(300);
:begin
UNWIND [{_id:0, properties:{name:"Alice \"A\"; ü", rank:1}}, {_id:1, properties:{name:"Bob", tags:["x","y"]}}] AS row
CREATE (n:` + "`UNIQUE IMPORT LABEL`{`UNIQUE IMPORT ID`: row._id}" + `) SET n += row.properties SET n:` + label + `;
:commit
:begin
UNWIND [{start: {_id:0}, end: {_id:1}, properties:{weight:1.5}}] AS row
MATCH (start:` + "`UNIQUE IMPORT LABEL`{`UNIQUE IMPORT ID`: row.start._id}" + `)
MATCH (end:` + "`UNIQUE IMPORT LABEL`{`UNIQUE IMPORT ID`: row.end._id}" + `)
CREATE (start)-[r:RELATED]->(end) SET r += row.properties;
:commit
:begin
MATCH (n:` + "`UNIQUE IMPORT LABEL`" + `)  WITH n LIMIT 20000 REMOVE n:` + "`UNIQUE IMPORT LABEL`" + ` REMOVE n.` + "`UNIQUE IMPORT ID`" + `;
:commit
:begin
DROP CONSTRAINT UNIQUE_IMPORT_NAME;
:commit
`
	arc, sum := oldArchive(t, map[string]string{"graph/neo4j.dump": script})
	opts, _ := storageOpts(t)
	man, _, err := Convert(ctx, bytes.NewReader(arc), opts, ConvertOptions{Sidecar: []byte(sum)})
	if err != nil {
		t.Fatal(err)
	}
	run := func(q string) []*neo4j.Record {
		t.Helper()
		res, err := neo4j.ExecuteQuery(ctx, driver, q, nil, neo4j.EagerResultTransformer)
		if err != nil {
			t.Fatal(err)
		}
		return res.Records
	}
	run("CREATE (:" + label + " {name: 'stale'})")
	defer run("MATCH (n:" + label + ") DETACH DELETE n")
	g, err := neo4jexp.New(driver, neo4jexp.Options{Label: label})
	if err != nil {
		t.Fatal(err)
	}
	m, _ := ngbak.New(opts)
	m.Register(g)
	if _, err := m.Restore(ctx, man.ID, nil); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range run("MATCH (n:" + label + ") OPTIONAL MATCH (n)-[r:RELATED]->(m) RETURN n.name + ' ' + coalesce(toString(n.rank), '-') + ' ' + coalesce(n.tags[1], '-') + ' -> ' + coalesce(m.name, '-') + ' ' + coalesce(toString(r.weight), '-') AS s ORDER BY s") {
		got = append(got, r.Values[0].(string))
	}
	want := []string{`Alice "A"; ü 1 - -> Bob 1.5`, "Bob - y -> - -"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("graph after restore (-want +got):\n%s", diff)
	}
}

func TestConvertQdrant(t *testing.T) {
	ctx := context.Background()
	emu, err := qdrantemu.Start(qdrantemu.Options{APIKey: "k", Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer emu.Close()
	exp, err := qdrantexp.New(qdrantexp.Config{URL: emu.URL, GRPC: emu.GRPCAddr, APIKey: "k"}, qdrantexp.Options{Collections: []string{"nano_entities"}})
	if err != nil {
		t.Fatal(err)
	}
	defer exp.Close()
	// The old archive's snapshot: one the server made of a collection.
	host, port, _ := strings.Cut(emu.GRPCAddr, ":")
	var p int
	fmt.Sscan(port, &p)
	client, err := qdrant.NewClient(&qdrant.Config{Host: host, Port: p, APIKey: "k", SkipCompatibilityCheck: true, PoolSize: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	if err := client.CreateCollection(ctx, &qdrant.CreateCollection{CollectionName: "nano_entities",
		VectorsConfig: qdrant.NewVectorsConfig(&qdrant.VectorParams{Size: 3, Distance: qdrant.Distance_Dot})}); err != nil {
		t.Fatal(err)
	}
	if _, err := client.Upsert(ctx, &qdrant.UpsertPoints{CollectionName: "nano_entities", Points: []*qdrant.PointStruct{
		{Id: qdrant.NewIDNum(1), Vectors: qdrant.NewVectors(0.25, -1, 3e-9), Payload: qdrant.NewValueMap(map[string]any{"entity_name": "ALICE"})},
		{Id: qdrant.NewIDNum(2), Vectors: qdrant.NewVectors(1, 2, 3), Payload: qdrant.NewValueMap(map[string]any{"entity_name": "BOB"})},
	}}); err != nil {
		t.Fatal(err)
	}
	snap := snapshotBytes(t, client, emu, "nano_entities")
	want := points(t, client, "nano_entities")
	arc, sum := oldArchive(t, map[string]string{"qdrant/nano_entities.snapshot": snap})
	opts, _ := storageOpts(t)
	man, _, err := Convert(ctx, bytes.NewReader(arc), opts, ConvertOptions{Sidecar: []byte(sum)})
	if err != nil {
		t.Fatal(err)
	}
	// The collection changes after the old backup; the restore brings back
	// the snapshot's points.
	if _, err := client.Upsert(ctx, &qdrant.UpsertPoints{CollectionName: "nano_entities", Points: []*qdrant.PointStruct{
		{Id: qdrant.NewIDNum(3), Vectors: qdrant.NewVectors(0, 0, 1)},
	}}); err != nil {
		t.Fatal(err)
	}
	m, _ := ngbak.New(opts)
	m.Register(exp)
	if _, err := m.Restore(ctx, man.ID, nil); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, points(t, client, "nano_entities")); diff != "" {
		t.Fatalf("collection after restore (-want +got):\n%s", diff)
	}
}

func snapshotBytes(t *testing.T, client *qdrant.Client, emu *qdrantemu.Server, coll string) string {
	desc, err := client.CreateSnapshot(context.Background(), coll)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("GET", emu.URL+"/collections/"+coll+"/snapshots/"+desc.Name, nil)
	req.Header.Set("api-key", "k")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func points(t *testing.T, client *qdrant.Client, coll string) []string {
	limit := uint32(100)
	ps, err := client.Scroll(context.Background(), &qdrant.ScrollPoints{CollectionName: coll, Limit: &limit,
		WithPayload: qdrant.NewWithPayload(true), WithVectors: qdrant.NewWithVectors(true)})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, p := range ps {
		out = append(out, p.String())
	}
	return out
}

// TestConvertRefuses: what must not become a backup.
func TestConvertRefuses(t *testing.T) {
	ctx := context.Background()
	files := kvFixture()
	arc, sum := oldArchive(t, files)
	cases := map[string]struct {
		archive []byte
		sidecar []byte
		want    error
		text    string
	}{
		"wrong sidecar":    {archive: arc, sidecar: []byte("sha256:" + strings.Repeat("0", 64)), want: ngbak.ErrChecksum},
		"unknown member":   {archive: mustOld(t, map[string]string{"kv/a.json": "{}", "notes.txt": "x"}), text: "does not know"},
		"kv list":          {archive: mustOld(t, map[string]string{"kv/full_docs.json": `[{"id": "doc-1"}]`}), text: "not a JSON object"},
		"kv trailing data": {archive: mustOld(t, map[string]string{"kv/full_docs.json": `{} {}`}), text: "after the JSON object"},
		"traversal":        {archive: build(t, []member{{name: "./manifest.json", data: "{}"}, {name: "../evil", data: "x"}}), want: ngbak.ErrCorrupt},
		"symlink":          {archive: build(t, []member{{name: "./manifest.json", data: "{}"}, {name: "./kv/x.json", typ: '2'}}), want: ngbak.ErrCorrupt},
		"truncated":        {archive: arc[:len(arc)/2], want: ngbak.ErrCorrupt},
		"manifest edited":  {archive: editManifest(t, arc), sidecar: []byte(sum), want: ngbak.ErrChecksum},
		"flipped byte": {archive: tamper(t, arc, func(name, data string) string {
			if name == "kv/text_chunks.json" {
				return strings.Replace(data, `"a"`, `"b"`, 1)
			}
			return data
		}), want: ngbak.ErrChecksum},
		"not an old archive": {archive: []byte("plain text"), want: ngbak.ErrCorrupt},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			opts, dir := storageOpts(t)
			_, _, err := Convert(ctx, bytes.NewReader(c.archive), opts, ConvertOptions{Sidecar: c.sidecar, KV: KVJSON})
			if err == nil || (c.want != nil && !errors.Is(err, c.want)) || (c.text != "" && !strings.Contains(err.Error(), c.text)) {
				t.Fatalf("Convert: %v, want %v %q", err, c.want, c.text)
			}
			if entries, _ := os.ReadDir(dir); len(entries) != 0 {
				t.Fatalf("a refused conversion left %d entries in storage", len(entries))
			}
			if entries, _ := os.ReadDir(opts.TempDir); len(entries) != 0 {
				t.Fatalf("a refused conversion left %d entries in the temp dir", len(entries))
			}
		})
	}
	// With AcceptUnverified, a mismatch converts, and says so.
	opts, _ := storageOpts(t)
	man, res, err := Convert(ctx, bytes.NewReader(editManifest(t, arc)), opts, ConvertOptions{Sidecar: []byte(sum), AcceptUnverified: true, KV: KVJSON})
	if err != nil {
		t.Fatal(err)
	}
	if res.ManifestOK || res.SidecarOK || man.Labels["legacy.verified"] != "false" || man.Labels["legacy.checks"] != "" {
		t.Fatalf("an unverified conversion: %+v, labels %v", res, man.Labels)
	}
}

func mustOld(t *testing.T, files map[string]string) []byte {
	a, _ := oldArchive(t, files)
	return a
}

// editManifest changes a statistic after the checksum was computed.
func editManifest(t *testing.T, arc []byte) []byte {
	return tamper(t, arc, func(name, data string) string {
		if name == "manifest.json" {
			return strings.Replace(data, `"entities": 2`, `"entities": 3`, 1)
		}
		return data
	})
}

// tamper rebuilds an old archive with fn applied to every file, the
// manifest's checksum field left as it was.
func tamper(t *testing.T, arc []byte, fn func(name, data string) string) []byte {
	a, err := open(context.Background(), bytes.NewReader(arc), nil, t.TempDir(), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.close()
	ms := []member{{name: "./", dir: true}}
	for _, name := range a.Files {
		var data string
		if name == "manifest.json" {
			data = string(a.Manifest)
		} else {
			b, _ := io.ReadAll(io.NewSectionReader(a.files[name], 0, a.files[name].Size()))
			data = string(b)
		}
		ms = append(ms, member{name: "./" + name, data: fn(name, data)})
	}
	return build(t, ms)
}
