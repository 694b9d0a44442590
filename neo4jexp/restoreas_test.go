package neo4jexp

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/neo4j/neo4j-go-driver/v5/neo4j"
	"github.com/ngbak/ngbak"
)

// generatedName is the shape of the names Neo4j gives unnamed constraints
// and indexes.
var generatedName = regexp.MustCompile(`^(constraint|index)_[0-9a-f]+$`)

// scopeState is a label's scope with the label written SCOPE: its nodes,
// the relationships among them and those leaving it, and its schema, names
// the server generated as "generated".
func scopeState(t *testing.T, d neo4j.DriverWithContext, label string) map[string][]string {
	t.Helper()
	l := string(appendName(nil, label))
	st := map[string][]string{}
	for _, r := range run(t, d, "MATCH (n:"+l+") RETURN labels(n), properties(n)", nil) {
		p, err := appendMap(nil, r.Values[1].(map[string]any))
		if err != nil {
			t.Fatal(err)
		}
		labels := sortedStrings(r.Values[0])
		for i := range labels {
			if labels[i] == label {
				labels[i] = "SCOPE"
			}
		}
		slices.Sort(labels)
		st["nodes"] = append(st["nodes"], fmt.Sprint(labels)+" "+string(p))
	}
	for what, q := range map[string]string{
		"relationships": "MATCH (a:" + l + ")-[r]->(b:" + l + ") RETURN a.key, type(r), b.key, properties(r)",
		"crossing":      "MATCH (a:" + l + ")-[r]-(b) WHERE NOT b:" + l + " RETURN a.key, type(r), b.key, properties(r)",
	} {
		for _, r := range run(t, d, q, nil) {
			p, err := appendMap(nil, r.Values[3].(map[string]any))
			if err != nil {
				t.Fatal(err)
			}
			st[what] = append(st[what], fmt.Sprintf("(%v)-[%v %s]-(%v)", r.Values[0], r.Values[1], p, r.Values[2]))
		}
	}
	for _, q := range []string{
		"SHOW CONSTRAINTS YIELD name, type, labelsOrTypes, properties WHERE labelsOrTypes = [$l] RETURN name, type, properties",
		"SHOW INDEXES YIELD name, type, labelsOrTypes, properties, owningConstraint WHERE labelsOrTypes = [$l] AND owningConstraint IS NULL RETURN name, type, properties",
	} {
		for _, r := range run(t, d, q, map[string]any{"l": label}) {
			name := r.Values[0].(string)
			if generatedName.MatchString(name) {
				name = "generated"
			}
			st["schema"] = append(st["schema"], fmt.Sprintf("%s %v %v", strings.ReplaceAll(name, label, "SCOPE"), r.Values[1], r.Values[2]))
		}
	}
	for _, v := range st {
		slices.Sort(v)
	}
	return st
}

// TestCloneIntoStaging restores a backup of production's label under a
// staging label on the same server: staging holds production's graph and
// Neo4jStorage's schema on its own label, its stale content gone, while
// production, its relationship to a node outside the label and the node
// are as they were. The schema's unnamed constraint and indexes, which a
// name-for-name copy would collide with, are named by the server again; a
// name holding the label holds the staging label. The plan says so before,
// and without RestoreAs the restore is refused.
func TestCloneIntoStaging(t *testing.T) { eachServer(t, testCloneIntoStaging) }

func testCloneIntoStaging(t *testing.T, d neo4j.DriverWithContext) {
	ctx := context.Background()
	wipe(t, d)
	t.Cleanup(func() { wipe(t, d) })
	const prod, staging = "GraphRAG_chunk_entity_relation", "Staging_chunk_entity_relation"
	for _, q := range []string{
		"CREATE CONSTRAINT IF NOT EXISTS FOR (n:`" + prod + "`) REQUIRE n.id IS UNIQUE",
		"CREATE INDEX IF NOT EXISTS FOR (n:`" + prod + "`) ON (n.entity_type)",
		"CREATE INDEX `" + prod + "_source` IF NOT EXISTS FOR (n:`" + prod + "`) ON (n.source_id)",
		"CREATE TEXT INDEX custom_text FOR (n:`" + prod + "`) ON (n.description)",
		"CREATE (a:`" + prod + "`:PERSON {key: 'a', id: '\"A\"', entity_type: '\"PERSON\"', description: 'SET n:`" + prod + "` :" + prod + "'})" +
			"-[:RELATED {weight: 1.5, relation_type: 'RELATED'}]->(b:`" + prod + "`:GEO {key: 'b', id: '\"B\"', entity_type: '\"GEO\"'})," +
			" (a)-[:CITES]->(:Other {key: 'o'}), (b)-[:RELATED {weight: 0.0}]->(b)",
		"CREATE (:`" + staging + "`:OLD {key: 'stale', id: 'stale'})",
		"CREATE CONSTRAINT stale_staging FOR (n:`" + staging + "`) REQUIRE n.key IS UNIQUE",
	} {
		run(t, d, q, nil)
	}
	prodExp, err := New(d, Options{Label: prod})
	if err != nil {
		t.Fatal(err)
	}
	stagingExp, err := New(d, Options{Name: "graph-staging", Label: staging, RestoreAs: map[string]string{prod: staging}})
	if err != nil {
		t.Fatal(err)
	}
	storage := ngbak.Dir(t.TempDir())
	m, _ := ngbak.New(ngbak.Options{Storage: storage, TempDir: t.TempDir()})
	if err := m.Register(prodExp, stagingExp); err != nil {
		t.Fatal(err)
	}
	man, err := m.Create(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	prodBefore := scopeState(t, d, prod)
	other := run(t, d, "MATCH (o:Other) RETURN count(o)", nil)[0].Values[0]
	into := &ngbak.RestoreOptions{Into: map[string]string{"graph": "graph-staging"}}
	p, err := m.Plan(ctx, man.ID, into)
	if err != nil {
		t.Fatal(err)
	}
	if bp := p.Backends[0]; p.Refusal() != "" || !cmp.Equal(bp.Current, map[string]int64{"nodes": 1, "relationships": 0}) || len(bp.Deletes) != 0 {
		t.Errorf("plan of the clone: refusal %q, %+v", p.Refusal(), bp)
	}
	if _, err := m.Restore(ctx, man.ID, into); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(prodBefore, scopeState(t, d, prod)); diff != "" {
		t.Errorf("production changed (-before +after):\n%s", diff)
	}
	if n := run(t, d, "MATCH (o:Other) RETURN count(o)", nil)[0].Values[0]; n != other {
		t.Errorf("%v nodes outside the labels, %v before", n, other)
	}
	want := map[string][]string{}
	for k, v := range prodBefore {
		want[k] = slices.Clone(v)
	}
	delete(want, "crossing") // no backup of the scope holds it
	for i, s := range want["schema"] {
		want["schema"][i] = strings.Replace(s, "custom_text ", "generated ", 1)
	}
	slices.Sort(want["schema"])
	if diff := cmp.Diff(want, scopeState(t, d, staging)); diff != "" {
		t.Errorf("staging (-production renamed +staging):\n%s", diff)
	}
	if p, err = m.Plan(ctx, man.ID, into); err != nil || !cmp.Equal(p.Backends[0].Current, man.Backends[0].Stats) {
		t.Errorf("plan after the clone: %v, %+v", err, p)
	}

	// Without RestoreAs: refused, by the plan and the restore, and nothing
	// changes.
	plain, _ := New(d, Options{Name: "graph-plain", Label: staging})
	m2, _ := ngbak.New(ngbak.Options{Storage: storage, TempDir: t.TempDir()})
	m2.Register(prodExp, plain)
	before := graphState(t, d)
	into = &ngbak.RestoreOptions{Into: map[string]string{"graph": "graph-plain"}}
	if p, err := m2.Plan(ctx, man.ID, into); err != nil || !strings.Contains(p.Refusal(), "set Options.RestoreAs") {
		t.Errorf("plan without RestoreAs: %v, refusal %q", err, p.Refusal())
	}
	if _, err := m2.Restore(ctx, man.ID, into); err == nil || !strings.Contains(err.Error(), "set Options.RestoreAs") {
		t.Errorf("restore without RestoreAs: %v", err)
	}
	if diff := cmp.Diff(before, graphState(t, d)); diff != "" {
		t.Errorf("a refused restore changed the graph:\n%s", diff)
	}
}

func TestRestoreAsOptions(t *testing.T) {
	d, _ := neo4j.NewDriverWithContext("bolt://127.0.0.1:1", neo4j.NoAuth())
	for _, o := range []Options{
		{RestoreAs: map[string]string{"a": "b"}},             // no scope
		{Label: "c", RestoreAs: map[string]string{"a": "b"}}, // not into the scope
		{Label: "a", RestoreAs: map[string]string{"a": "a"}}, // onto itself
		{Label: "b", RestoreAs: map[string]string{"": "b"}},  // from no label
	} {
		if _, err := New(d, o); err == nil {
			t.Errorf("New(%+v) accepted", o)
		}
	}
}

func TestRelabel(t *testing.T) {
	for _, c := range [][2]string{
		{"UNWIND $ngbak_rows AS row\nCREATE (n:`NGBAK IMPORT`{`ngbak import id`: row._id}) SET n += row.properties SET n:`A`:`PERSON`",
			"UNWIND $ngbak_rows AS row\nCREATE (n:`NGBAK IMPORT`{`ngbak import id`: row._id}) SET n += row.properties SET n:`B x`:`PERSON`"},
		{"CREATE CONSTRAINT `constraint_3b5ed7a2` FOR (n:`A`) REQUIRE (n.`id`) IS UNIQUE", "CREATE CONSTRAINT FOR (n:`B x`) REQUIRE (n.`id`) IS UNIQUE"},
		{"CREATE RANGE INDEX `A_source` FOR (n:`A`) ON (n.`source_id`)", "CREATE RANGE INDEX `B x_source` FOR (n:`B x`) ON (n.`source_id`)"},
		{"CREATE VECTOR INDEX v FOR (n:A) ON (n.`A`) OPTIONS {indexConfig: {`vector.similarity_function`: ':A'}}", "CREATE VECTOR INDEX FOR (n:`B x`) ON (n.`A`) OPTIONS {indexConfig: {`vector.similarity_function`: ':A'}}"},
		{"CREATE INDEX `ngbak_import_id` FOR (n:`NGBAK IMPORT`) ON (n.x)", "CREATE INDEX `ngbak_import_id` FOR (n:`NGBAK IMPORT`) ON (n.x)"},
		{"MATCH (n:`AB`:`A``B`) // n:`A`\nRETURN n {a: n:A} /* :A */", "MATCH (n:`AB`:`A``B`) // n:`A`\nRETURN n {a: n:`B x`} /* :A */"},
		// A relationship type spelt as the label stays.
		{"UNWIND $ngbak_rows AS row MATCH (start:`NGBAK IMPORT`{`ngbak import id`: row.start}) MATCH (end:A) CREATE (start)-[r:`A`]->(end) SET r += row.properties", "UNWIND $ngbak_rows AS row MATCH (start:`NGBAK IMPORT`{`ngbak import id`: row.start}) MATCH (end:`B x`) CREATE (start)-[r:`A`]->(end) SET r += row.properties"},
		{"MATCH (a:A)<-[:A]-(b:A)", "MATCH (a:`B x`)<-[:A]-(b:`B x`)"},
	} {
		if got := relabel(c[0], "A", "B x"); got != c[1] {
			t.Errorf("relabel(%q):\n got %q\nwant %q", c[0], got, c[1])
		}
	}
}
