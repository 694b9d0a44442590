package convert_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/neo4j/neo4j-go-driver/v5/neo4j"
	"github.com/ngbak/ngbak"
	"github.com/ngbak/ngbak/convert"
	"github.com/ngbak/ngbak/jsonexp"
	"github.com/ngbak/ngbak/neo4jexp"
)

const graphFile = "graph_chunk_entity_relation.graphml"

// graphEnv: a working dir of file stores ("json"), a Neo4j label that
// converts from them ("graph"), and a second working dir that converts
// from Neo4j ("files", the graph file alone).
type graphEnv struct {
	m             *ngbak.Manager
	work, staging string
	label         string
	d             neo4j.DriverWithContext
	graph         *neo4jexp.Exporter
}

func newGraphEnv(t *testing.T, d neo4j.DriverWithContext, graphml []byte) *graphEnv {
	t.Helper()
	g := &graphEnv{d: d, work: t.TempDir(), staging: t.TempDir(), label: fmt.Sprintf("GraphRAG_back_%d", time.Now().UnixNano())}
	t.Cleanup(func() { dropLabel(d, g.label) })
	if graphml != nil {
		if err := os.WriteFile(filepath.Join(g.work, graphFile), graphml, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	files, _ := jsonexp.New(jsonexp.Options{Dir: g.work})
	var err error
	if g.graph, err = neo4jexp.New(d, neo4jexp.Options{Label: g.label}); err != nil {
		t.Fatal(err)
	}
	toNeo4j, err := convert.New(g.graph, convert.Options{Partial: true, TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	stagingExp, _ := jsonexp.New(jsonexp.Options{Dir: g.staging, Name: "files", Patterns: []string{graphFile}})
	toFiles, err := convert.New(stagingExp, convert.Options{TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	g.m, _ = ngbak.New(ngbak.Options{Storage: ngbak.Dir(t.TempDir()), TempDir: t.TempDir()})
	if err := g.m.Register(files, toNeo4j, toFiles); err != nil {
		t.Fatal(err)
	}
	return g
}

// toFiles backs the stores up and restores the Neo4j label's backup into
// the staging working dir.
func (g *graphEnv) toFiles(t *testing.T) error {
	t.Helper()
	man, err := g.m.Create(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = g.m.Restore(context.Background(), man.ID, &ngbak.RestoreOptions{Into: map[string]string{"graph": "files"}})
	return err
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestNeo4jToFiles moves nano-graphrag's GraphML into Neo4j and back into
// a working dir, where the file is byte for byte what networkx writes for
// the graph Neo4jStorage holds (graph_back.graphml, by Python: the
// original but for the edges whose weight or relation_type Neo4jStorage
// sets); that file, moved the same way, comes back byte for byte. The
// working dir's other files stay.
func TestNeo4jToFiles(t *testing.T) { eachNeo4j(t, testNeo4jToFiles) }

func testNeo4jToFiles(t *testing.T, d neo4j.DriverWithContext) {
	ctx := context.Background()
	back := readFile(t, "testdata/graph_back.graphml")
	for _, src := range []string{"testdata/nano/graph_chunk_entity_relation.graphml", "testdata/graph_back.graphml"} {
		t.Run(filepath.Base(src), func(t *testing.T) {
			g := newGraphEnv(t, d, []byte(readFile(t, src)))
			os.WriteFile(filepath.Join(g.staging, graphFile), []byte("<graphml/>"), 0o644)
			os.WriteFile(filepath.Join(g.staging, "keep.txt"), []byte("not ngbak's"), 0o644)
			man, err := g.m.Create(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := g.m.Restore(ctx, man.ID, &ngbak.RestoreOptions{Into: map[string]string{"json": "graph"}}); err != nil {
				t.Fatal(err)
			}
			if err := g.toFiles(t); err != nil {
				t.Fatal(err)
			}
			want := map[string]string{graphFile: back, "keep.txt": "not ngbak's"}
			if diff := cmp.Diff(want, readDir(t, g.staging)); diff != "" {
				t.Errorf("working dir after Neo4j (-networkx +got):\n%s", diff)
			}
		})
	}
}

// TestNeo4jToFilesShapes: elements without attributes, an edge stored
// the other way and a self-loop, and an empty graph, against what networkx
// 3.6 writes (testdata/small.graphml: nx.Graph() with nodes a, b (flag=True,
// x=1.5), c, d and edges b-c, c-d (n=-3), d-d, added in that order).
func TestNeo4jToFilesShapes(t *testing.T) { eachNeo4j(t, testNeo4jToFilesShapes) }

func testNeo4jToFilesShapes(t *testing.T, d neo4j.DriverWithContext) {
	empty := "<?xml version='1.0' encoding='utf-8'?>\n<graphml xmlns=\"http://graphml.graphdrawing.org/xmlns\" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xsi:schemaLocation=\"http://graphml.graphdrawing.org/xmlns http://graphml.graphdrawing.org/xmlns/1.0/graphml.xsd\">\n  <graph edgedefault=\"undirected\" />\n</graphml>\n"
	for _, c := range []struct{ name, cypher, want string }{
		{"small", "CREATE (:L:UNKNOWN {id: 'a'}), (b:L:UNKNOWN {id: 'b', x: 1.5, flag: true})-[:RELATED]->(c:L:UNKNOWN {id: 'c'}), (d:L:UNKNOWN {id: 'd'})-[:RELATED {n: -3}]->(c), (d)-[:RELATED]->(d)", readFile(t, "testdata/small.graphml")},
		{"empty", "", empty},
	} {
		t.Run(c.name, func(t *testing.T) {
			g := newGraphEnv(t, d, nil)
			if c.cypher != "" {
				query(t, d, strings.ReplaceAll(c.cypher, ":L", ":`"+g.label+"`"), nil)
			}
			if err := g.toFiles(t); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(c.want, readFile(t, filepath.Join(g.staging, graphFile))); diff != "" {
				t.Errorf("(-networkx +got):\n%s", diff)
			}
		})
	}
}

// TestNeo4jToFilesRefused: what NetworkX's GraphML cannot hold exactly is
// an error, and the working dir is as it was.
func TestNeo4jToFilesRefused(t *testing.T) { eachNeo4j(t, testNeo4jToFilesRefused) }

func testNeo4jToFilesRefused(t *testing.T, d neo4j.DriverWithContext) {
	for _, c := range []struct{ name, cypher, want string }{
		{"list", "CREATE (:L:PERSON {id: 'a', entity_type: 'PERSON', communityIds: [1, 2]})", `property "communityIds": a []interface {}, which GraphML has no type for`},
		{"temporal", "CREATE (:L:UNKNOWN {id: 'a', at: date('2024-01-02')})", `property "at": a dbtype.Date`},
		{"label", "CREATE (:L:PERSON:Extra {id: 'a', entity_type: 'PERSON'})", `node "a" has labels`},
		{"type label", "CREATE (:L:GEO {id: 'a', entity_type: 'PERSON'})", `node "a" has labels`},
		{"id", "CREATE (:L:UNKNOWN {id: 7})", "its id is int64"},
		{"no id", "CREATE (:L:UNKNOWN {name: 'a'})", "its id is <nil>"},
		{"type", "CREATE (a:L:UNKNOWN {id: 'a'})-[:KNOWS]->(:L:UNKNOWN {id: 'b'})", "is of type KNOWS"},
		{"both ways", "CREATE (a:L:UNKNOWN {id: 'a'})-[:RELATED]->(b:L:UNKNOWN {id: 'b'})-[:RELATED]->(a)", `two relationships between nodes "a" and "b"`},
		{"empty", "CREATE (:L:UNKNOWN {id: 'a', description: ''})", "an empty string"},
		{"CR", "CREATE (:L:UNKNOWN {id: 'a', description: 'x\\ry'})", "a carriage return"},
		{"control", "CREATE (:L:UNKNOWN {id: 'a\\u0001'})", "character U+0001"},
		{"schema", "CREATE INDEX FOR (n:L) ON (n.description)", "other than Neo4jStorage's"},
	} {
		t.Run(c.name, func(t *testing.T) {
			g := newGraphEnv(t, d, nil)
			q := strings.ReplaceAll(c.cypher, ":L", ":`"+g.label+"`")
			if c.name == "schema" {
				q = strings.ReplaceAll(c.cypher, "n:L", "n:`"+g.label+"`")
			}
			query(t, d, q, nil)
			os.WriteFile(filepath.Join(g.staging, graphFile), []byte("<graphml/>"), 0o644)
			before := readDir(t, g.staging)
			err := g.toFiles(t)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want an error with %q", err, c.want)
			}
			if diff := cmp.Diff(before, readDir(t, g.staging)); diff != "" {
				t.Errorf("a refused conversion changed the working dir:\n%s", diff)
			}
		})
	}
}
