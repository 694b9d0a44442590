package neo4jexp

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/neo4j/neo4j-go-driver/v5/neo4j"
	"github.com/ngbak/ngbak"
)

// schemaEntry is one index or constraint, by the fields of SHOW INDEXES
// and SHOW CONSTRAINTS that every version has.
type schemaEntry struct {
	Kind, Name, Type, EntityType string
	LabelsOrTypes, Properties    []string
	Config                       string // indexConfig as a literal
}

// versionSpecific are the index settings one version has and the other
// names differently: 5.26's vector.quantization.enabled, 2026's
// vector.quantization.type and vector.default_search_expansion_factor.
var versionSpecific = []string{"vector.quantization.enabled", "vector.quantization.type", "vector.default_search_expansion_factor"}

func readSchema(t *testing.T, d neo4j.DriverWithContext, portable bool) []schemaEntry {
	t.Helper()
	strs := func(v any) []string {
		var out []string
		for _, e := range v.([]any) {
			out = append(out, e.(string))
		}
		return out
	}
	var out []schemaEntry
	for _, r := range run(t, d, "SHOW INDEXES YIELD name, type, entityType, labelsOrTypes, properties, options, owningConstraint WHERE type <> 'LOOKUP' RETURN name, type, entityType, labelsOrTypes, properties, options.indexConfig, owningConstraint", nil) {
		config, _ := r.Values[5].(map[string]any)
		if portable {
			for _, k := range versionSpecific {
				delete(config, k)
			}
		}
		lit, err := appendMap(nil, config)
		if err != nil {
			t.Fatal(err)
		}
		kind := "index"
		if r.Values[6] != nil {
			kind = "constraint's index"
		}
		out = append(out, schemaEntry{kind, r.Values[0].(string), r.Values[1].(string), r.Values[2].(string), strs(r.Values[3]), strs(r.Values[4]), string(lit)})
	}
	for _, r := range run(t, d, "SHOW CONSTRAINTS YIELD name, type, entityType, labelsOrTypes, properties", nil) {
		// 2026 names 5.26's UNIQUENESS NODE_PROPERTY_UNIQUENESS.
		typ := strings.TrimSuffix(strings.TrimSuffix(r.Values[1].(string), "UNIQUENESS"), "PROPERTY_")
		typ = strings.TrimPrefix(strings.TrimPrefix(typ, "NODE_"), "RELATIONSHIP_") + "UNIQUENESS"
		out = append(out, schemaEntry{"constraint", r.Values[0].(string), typ, r.Values[2].(string), strs(r.Values[3]), strs(r.Values[4]), ""})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Kind+out[i].Name < out[j].Kind+out[j].Name })
	return out
}

// A whole-database backup on Neo4j 5.26 with every index type and
// uniqueness constraints restores into the newest Neo4j (Cypher 25), and a
// backup of that restores into 5.26 again: the schema is the same on both,
// and the same as at first on 5.26, settings included.
func TestSchemaAcrossVersions(t *testing.T) {
	old, next := testServers[0].connect(t), testServers[1].connect(t)
	ctx := context.Background()
	for _, d := range []neo4j.DriverWithContext{old, next} {
		wipe(t, d)
		t.Cleanup(func() { wipe(t, d) })
	}
	for _, q := range []string{
		"CREATE INDEX range_node FOR (n:Entity) ON (n.rank)",
		"CREATE INDEX range_composite FOR (n:Entity) ON (n.type, n.rank)",
		"CREATE INDEX range_rel FOR ()-[r:RELATED]-() ON (r.weight)",
		"CREATE TEXT INDEX text_node FOR (n:Entity) ON (n.description)",
		"CREATE TEXT INDEX text_rel FOR ()-[r:RELATED]-() ON (r.description)",
		"CREATE POINT INDEX point_node FOR (n:Place) ON (n.location) OPTIONS {indexConfig: {`spatial.cartesian.min`: [-100.0, -100.0], `spatial.cartesian.max`: [100.0, 100.0]}}",
		"CREATE FULLTEXT INDEX fulltext_node FOR (n:Entity|Chunk) ON EACH [n.name, n.content] OPTIONS {indexConfig: {`fulltext.analyzer`: 'english', `fulltext.eventually_consistent`: true}}",
		"CREATE FULLTEXT INDEX fulltext_rel FOR ()-[r:RELATED|MENTIONS]-() ON EACH [r.description]",
		"CREATE VECTOR INDEX vector_node FOR (n:Chunk) ON (n.embedding) OPTIONS {indexConfig: {`vector.dimensions`: 1536, `vector.similarity_function`: 'cosine'}}",
		"CREATE VECTOR INDEX vector_plain FOR (n:Entity) ON (n.embedding) OPTIONS {indexConfig: {`vector.dimensions`: 8, `vector.similarity_function`: 'euclidean', `vector.quantization.enabled`: false, `vector.hnsw.m`: 32, `vector.hnsw.ef_construction`: 200}}",
		"CREATE CONSTRAINT entity_key FOR (n:Entity) REQUIRE n.key IS UNIQUE",
		"CREATE CONSTRAINT chunk_id FOR (n:Chunk) REQUIRE (n.doc, n.id) IS UNIQUE",
		"CREATE CONSTRAINT rel_id FOR ()-[r:RELATED]-() REQUIRE r.id IS UNIQUE",
	} {
		run(t, old, q, nil)
	}
	run(t, old, "CREATE (:Entity {key: 'a', rank: 1})-[:RELATED {id: 1, weight: 0.5}]->(:Chunk {doc: 'd', id: 1, embedding: [1.0, 2.0]})", nil)
	run(t, old, "CALL db.awaitIndexes(300)", nil)
	first := readSchema(t, old, false)
	if len(first) != 16 {
		t.Fatalf("setup made %d schema entries: %v", len(first), first)
	}
	storage := ngbak.Dir(t.TempDir())
	manager := func(d neo4j.DriverWithContext) *ngbak.Manager {
		exp, _ := New(d, Options{})
		m, _ := ngbak.New(ngbak.Options{Storage: storage, TempDir: t.TempDir()})
		if err := m.Register(exp); err != nil {
			t.Fatal(err)
		}
		return m
	}
	man, err := manager(old).Create(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := manager(next).Restore(ctx, man.ID, &ngbak.RestoreOptions{NoSafetyBackup: true}); err != nil {
		t.Fatalf("5.26's backup into the newest Neo4j: %v", err)
	}
	if diff := cmp.Diff(readSchema(t, old, true), readSchema(t, next, true)); diff != "" {
		t.Fatalf("the newest Neo4j's schema after restoring 5.26's backup (-5.26 +next):\n%s", diff)
	}
	back, err := manager(next).Create(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	wipe(t, old)
	if _, err := manager(old).Restore(ctx, back.ID, &ngbak.RestoreOptions{NoSafetyBackup: true}); err != nil {
		t.Fatalf("the newest Neo4j's backup into 5.26: %v", err)
	}
	if diff := cmp.Diff(first, readSchema(t, old, false)); diff != "" {
		t.Fatalf("5.26's schema after the round trip through the newest Neo4j (-before +after):\n%s", diff)
	}
}

// Scripts from older 5.x name index providers and create vector indexes by
// procedure, which Cypher 25 refuses; they run on both servers.
func TestOldSchemaStatements(t *testing.T) { eachServer(t, testOldSchemaStatements) }

func testOldSchemaStatements(t *testing.T, d neo4j.DriverWithContext) {
	wipe(t, d)
	t.Cleanup(func() { wipe(t, d) })
	script := "CREATE RANGE INDEX old_range FOR (n:`A`) ON (n.`x`) OPTIONS {indexConfig: {}, indexProvider: 'range-1.0'};\n" +
		"CREATE TEXT INDEX old_text FOR (n:`A`) ON (n.`s`) OPTIONS {indexProvider: 'text-2.0', indexConfig: {}};\n" +
		"CREATE CONSTRAINT old_unique FOR (n:`A`) REQUIRE (n.`k`) IS UNIQUE OPTIONS {indexConfig: {}, indexProvider: 'range-1.0'};\n" +
		"CREATE FULLTEXT INDEX old_fulltext FOR (n:`A`) ON EACH [n.`s`] OPTIONS {indexConfig: {`fulltext.analyzer`: 'standard-no-stop-words', `fulltext.eventually_consistent`: false}, indexProvider: 'fulltext-1.0'};\n" +
		"CALL db.index.vector.createNodeIndex('old_vector', 'A', 'emb', 4, 'euclidean');\n" +
		"CALL db.awaitIndexes(300);\n"
	if err := RunScript(context.Background(), d, "", "old.cypher", strings.NewReader(script)); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range readSchema(t, d, true) {
		got = append(got, fmt.Sprintf("%s %s %s %v %v", e.Kind, e.Name, e.Type, e.LabelsOrTypes, e.Properties))
	}
	want := []string{
		"constraint's index old_unique RANGE [A] [k]",
		"constraint old_unique UNIQUENESS [A] [k]",
		"index old_fulltext FULLTEXT [A] [s]",
		"index old_range RANGE [A] [x]",
		"index old_text TEXT [A] [s]",
		"index old_vector VECTOR [A] [emb]",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("(-want +got):\n%s", diff)
	}
	if cfg := readSchema(t, d, true)[5].Config; !strings.Contains(cfg, "`vector.dimensions`: 4") || !strings.Contains(cfg, `"EUCLIDEAN"`) {
		t.Fatalf("old_vector's settings: %s", cfg)
	}
}

// An index or constraint that the fields cannot describe and whose
// createStatement is empty fails the export: written as it was, ";", it
// was an empty statement that the parser skips, and the index was gone
// from the backup without a word.
func TestEmptyCreateStatement(t *testing.T) {
	for _, f := range []map[string]any{
		{"name": "k", "type": "NODE_KEY", "entityType": "NODE", "labelsOrTypes": []any{"A"}, "properties": []any{"x"}, "createStatement": nil},
		{"name": "e", "type": "NODE_PROPERTY_EXISTENCE", "entityType": "NODE", "labelsOrTypes": []any{"A"}, "properties": []any{"x"}, "createStatement": ""},
		{"name": "v", "type": "VECTOR", "entityType": "NODE", "labelsOrTypes": []any{"A"}, "properties": []any{"x", "y"}, "createStatement": "  "},
	} {
		stmt, err := schemaStatement("constraint", f)
		if f["type"] == "VECTOR" {
			stmt, err = schemaStatement("index", f)
		}
		if err == nil || !strings.Contains(err.Error(), "no createStatement") || !strings.Contains(err.Error(), f["name"].(string)) {
			t.Errorf("%v: statement %q, error %v", f, stmt, err)
		}
	}
	// Enterprise's constraint types keep the server's statement.
	stmt, err := schemaStatement("constraint", map[string]any{"name": "k", "type": "NODE_KEY", "entityType": "NODE", "labelsOrTypes": []any{"A"}, "properties": []any{"x"},
		"createStatement": "CREATE CONSTRAINT `k` FOR (n:`A`) REQUIRE (n.`x`) IS NODE KEY"})
	if err != nil || stmt != "CREATE CONSTRAINT `k` FOR (n:`A`) REQUIRE (n.`x`) IS NODE KEY" {
		t.Errorf("NODE_KEY: %q, %v", stmt, err)
	}
}
