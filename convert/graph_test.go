package convert_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/neo4j/neo4j-go-driver/v5/neo4j"
	"github.com/ngbak/ngbak"
	"github.com/ngbak/ngbak/convert"
	"github.com/ngbak/ngbak/internal/testlock"
	"github.com/ngbak/ngbak/jsonexp"
	"github.com/ngbak/ngbak/neo4jexp"
)

// dropLabel removes what a test wrote under label: nodes, constraints and
// indexes.
func dropLabel(d neo4j.DriverWithContext, label string) {
	ctx := context.Background()
	sess := d.NewSession(ctx, neo4j.SessionConfig{})
	if res, err := sess.Run(ctx, "MATCH (n:`"+label+"`) CALL { WITH n DETACH DELETE n } IN TRANSACTIONS OF 10000 ROWS", nil); err == nil {
		res.Consume(ctx)
	}
	sess.Close(ctx)
	for what, show := range map[string]string{"CONSTRAINT": "SHOW CONSTRAINTS", "INDEX": "SHOW INDEXES"} {
		res, _ := neo4j.ExecuteQuery(ctx, d, show+" YIELD name, labelsOrTypes WHERE $l IN labelsOrTypes RETURN name", map[string]any{"l": label}, neo4j.EagerResultTransformer)
		if res != nil {
			for _, r := range res.Records {
				neo4j.ExecuteQuery(ctx, d, "DROP "+what+" `"+r.Values[0].(string)+"` IF EXISTS", nil, neo4j.EagerResultTransformer)
			}
		}
	}
}

func neo4jDriver(t testing.TB) neo4j.DriverWithContext {
	return neo4jDriverAt(t, "NGBAK_NEO4J_URI", "neo4j")
}

// eachNeo4j runs f on Neo4j 5.26 and on the newest Neo4j, as the neo4jexp
// suite does.
func eachNeo4j(t *testing.T, f func(t *testing.T, d neo4j.DriverWithContext)) {
	for _, s := range []struct{ name, env, lock string }{{"5.26", "NGBAK_NEO4J_URI", "neo4j"}, {"next", "NGBAK_NEO4J_NEXT_URI", "neo4j-next"}} {
		t.Run(s.name, func(t *testing.T) { f(t, neo4jDriverAt(t, s.env, s.lock)) })
	}
}

func neo4jDriverAt(t testing.TB, env, lock string) neo4j.DriverWithContext {
	t.Helper()
	uri := os.Getenv(env)
	if uri == "" {
		if os.Getenv("NGBAK_REQUIRE_SERVERS") != "" {
			t.Fatalf("%s is not set", env)
		}
		t.Skipf("%s is not set: run make services", env)
	}
	auth := neo4j.NoAuth()
	if u := os.Getenv("NGBAK_NEO4J_USER"); u != "" {
		auth = neo4j.BasicAuth(u, os.Getenv("NGBAK_NEO4J_PASSWORD"), "")
	}
	// Other tests replace the whole database: not while this one runs.
	testlock.Lock(t, lock)
	d, err := neo4j.NewDriverWithContext(uri, auth)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close(context.Background()) })
	return d
}

func query(t *testing.T, d neo4j.DriverWithContext, q string, params map[string]any) []*neo4j.Record {
	t.Helper()
	res, err := neo4j.ExecuteQuery(context.Background(), d, q, params, neo4j.EagerResultTransformer)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return res.Records
}

// typed is a property as neo4j.json writes it: [Python type, repr].
func typed(t *testing.T, tv [2]string) any {
	switch tv[0] {
	case "str":
		return tv[1]
	case "int":
		n, err := strconv.ParseInt(tv[1], 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		return n
	case "float":
		f, err := strconv.ParseFloat(tv[1], 64)
		if err != nil {
			t.Fatal(err)
		}
		return f
	case "bool":
		return tv[1] == "True"
	}
	t.Fatalf("type %q", tv[0])
	return nil
}

type graphState struct {
	Nodes map[string]graphNode
	Rels  []graphRel
}
type graphNode struct {
	Labels []string
	Props  map[string]any
}
type graphRel struct {
	S, T, Type string
	Props      map[string]any
}

// TestFilesToNeo4j moves NetworkX's GraphML into Neo4j as Neo4jStorage
// writes it, node for node and relationship for relationship against
// what Python computed from the same file with the storage's rules, with
// its constraint and indexes.
func TestFilesToNeo4j(t *testing.T) { eachNeo4j(t, testFilesToNeo4j) }

func testFilesToNeo4j(t *testing.T, d neo4j.DriverWithContext) {
	ctx := context.Background()
	label := fmt.Sprintf("GraphRAG_convert_%d", time.Now().UnixNano())
	t.Cleanup(func() { dropLabel(d, label) })
	query(t, d, "CREATE (:`"+label+"` {id: 'stale'})", nil)
	work := copyDir(t, "testdata/nano/graph_chunk_entity_relation.graphml")
	files, _ := jsonexp.New(jsonexp.Options{Dir: work})
	target, err := neo4jexp.New(d, neo4jexp.Options{Label: label})
	if err != nil {
		t.Fatal(err)
	}
	conv, err := convert.New(target, convert.Options{Partial: true, TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	m, _ := ngbak.New(ngbak.Options{Storage: ngbak.Dir(t.TempDir()), TempDir: t.TempDir()})
	m.Register(files, conv)
	man, err := m.Create(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Restore(ctx, man.ID, &ngbak.RestoreOptions{Into: map[string]string{"json": "graph"}}); err != nil {
		t.Fatal(err)
	}

	b, err := os.ReadFile("testdata/neo4j.json")
	if err != nil {
		t.Fatal(err)
	}
	var golden struct {
		Nodes map[string]struct {
			Labels []string
			Props  map[string][2]string
		}
		Relationships []struct {
			S, T  string
			Props map[string][2]string
		}
	}
	if err := json.Unmarshal(b, &golden); err != nil {
		t.Fatal(err)
	}
	want := graphState{Nodes: map[string]graphNode{}}
	for id, n := range golden.Nodes {
		gn := graphNode{Props: map[string]any{}}
		for _, l := range n.Labels {
			gn.Labels = append(gn.Labels, strings.Replace(l, "LABEL", label, 1))
		}
		slices.Sort(gn.Labels)
		for k, v := range n.Props {
			gn.Props[k] = typed(t, v)
		}
		want.Nodes[id] = gn
	}
	for _, r := range golden.Relationships {
		gr := graphRel{S: r.S, T: r.T, Type: "RELATED", Props: map[string]any{}}
		for k, v := range r.Props {
			gr.Props[k] = typed(t, v)
		}
		want.Rels = append(want.Rels, gr)
	}
	got := graphState{Nodes: map[string]graphNode{}}
	for _, rec := range query(t, d, "MATCH (n:`"+label+"`) RETURN n", nil) {
		n := rec.Values[0].(neo4j.Node)
		labels := slices.Clone(n.Labels)
		slices.Sort(labels)
		got.Nodes[n.Props["id"].(string)] = graphNode{labels, n.Props}
	}
	for _, rec := range query(t, d, "MATCH (s:`"+label+"`)-[r]->(t:`"+label+"`) RETURN s.id, t.id, type(r), properties(r) ORDER BY s.id, t.id", nil) {
		got.Rels = append(got.Rels, graphRel{rec.Values[0].(string), rec.Values[1].(string), rec.Values[2].(string), rec.Values[3].(map[string]any)})
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Neo4j (-python +neo4j):\n%s", diff)
	}
	var schema []string
	for _, rec := range query(t, d, "SHOW INDEXES YIELD type, labelsOrTypes, properties, owningConstraint WHERE $l IN labelsOrTypes RETURN type, properties, owningConstraint IS NOT NULL", map[string]any{"l": label}) {
		schema = append(schema, fmt.Sprint(rec.Values...))
	}
	slices.Sort(schema)
	if diff := cmp.Diff([]string{"RANGE[communityIds] false", "RANGE[entity_type] false", "RANGE[id] true", "RANGE[source_id] false"}, schema); diff != "" {
		t.Errorf("indexes:\n%s", diff)
	}
}
