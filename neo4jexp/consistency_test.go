package neo4jexp

import (
	"context"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/neo4j/neo4j-go-driver/v5/neo4j"
	"github.com/ngbak/ngbak"
)

// A writer that adds a node and a relationship to it between the node pass
// and the relationship pass (read-committed: the relationship pass sees
// both) would have the relationship exported without its end node, and
// the restore's MATCH would create nothing, silently. The export fails
// instead, naming the cause.
func TestConcurrentRelationship(t *testing.T) { eachServer(t, testConcurrentRelationship) }

func testConcurrentRelationship(t *testing.T, d neo4j.DriverWithContext) {
	ctx := context.Background()
	wipe(t, d)
	t.Cleanup(func() { wipe(t, d) })
	run(t, d, "CREATE (:G {key: 'a'})-[:R]->(:G {key: 'b'})", nil)
	afterNodePass = func(ctx context.Context) error {
		_, err := neo4j.ExecuteQuery(ctx, d, "MATCH (a:G {key: 'a'}) CREATE (a)-[:R]->(:G {key: 'late'})", nil, neo4j.EagerResultTransformer)
		return err
	}
	t.Cleanup(func() { afterNodePass = nil })
	exp, _ := New(d, Options{Label: "G"})
	m := newManager(t, exp)
	man, err := m.Create(ctx, nil)
	if err == nil {
		afterNodePass = nil
		run(t, d, "MATCH (n:G {key: 'b'}) SET n.changed = true", nil)
		_, rerr := m.Restore(ctx, man.ID, &ngbak.RestoreOptions{NoSafetyBackup: true})
		t.Fatalf("Create succeeded with a relationship to a node written after the node pass (stats %v); restoring it: %v; after the restore: %v",
			man.Backends[0].Stats, rerr, graphState(t, d))
	}
	if !strings.Contains(err.Error(), "neo4jexp:") || !strings.Contains(err.Error(), "1 relationships end at nodes the node pass did not see") {
		t.Fatalf("Create = %v", err)
	}
	if list, _ := m.List(ctx); len(list) != 0 {
		t.Fatalf("a failed Create left %d backups", len(list))
	}
}

// badGraph writes a backup in neo4jexp's format whose relationship names a
// node that no script creates, as the export wrote before it checked, with
// stats that say what the graph held.
type badGraph struct{}

func (badGraph) Name() string { return "graph" }
func (badGraph) Kind() string { return Kind }
func (badGraph) Restore(context.Context, *ngbak.Reader) error {
	panic("badGraph only writes")
}

func (badGraph) Export(ctx context.Context, w *ngbak.Writer) (ngbak.Info, error) {
	files := []struct{ name, text string }{
		{"schema.cypher", "CREATE CONSTRAINT " + importConstraint + " FOR (n:" + importLabel + ") REQUIRE n." + importID + " IS UNIQUE;\n"},
		{"nodes/000001.cypher", ":begin\nUNWIND [{_id: \"a\", properties: {key: \"a\"}}] AS row\nCREATE (n:" + importLabel + "{" + importID + ": row._id}) SET n += row.properties SET n:`G`;\n:commit\n"},
		{"relationships/000001.cypher", ":begin\nUNWIND [{start: \"a\", end: \"late\", properties: {}}] AS row\n" +
			"MATCH (start:" + importLabel + "{" + importID + ": row.start})\nMATCH (end:" + importLabel + "{" + importID + ": row.end})\n" +
			"CREATE (start)-[r:`R`]->(end) SET r += row.properties;\n:commit\n"},
		{"cleanup.cypher", cleanupScript},
	}
	for _, f := range files {
		if err := w.WriteFile(f.name, int64(len(f.text)), strings.NewReader(f.text)); err != nil {
			return ngbak.Info{}, err
		}
	}
	return ngbak.Info{Format: Format, Stats: map[string]int64{"nodes": 2, "relationships": 1}}, nil
}

// After its scripts ran, a restore counts the nodes and relationships in
// scope against the manifest's stats: a difference fails it, and the
// Manager rolls the graph back from its safety backup.
func TestRestoreCountsAgainstManifest(t *testing.T) { eachServer(t, testRestoreCountsAgainstManifest) }

func testRestoreCountsAgainstManifest(t *testing.T, d neo4j.DriverWithContext) {
	ctx := context.Background()
	wipe(t, d)
	t.Cleanup(func() { wipe(t, d) })
	storage := ngbak.Dir(t.TempDir())
	bad, _ := ngbak.New(ngbak.Options{Storage: storage, TempDir: t.TempDir()})
	if err := bad.Register(badGraph{}); err != nil {
		t.Fatal(err)
	}
	man, err := bad.Create(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	run(t, d, "CREATE (:G {key: 'x'})-[:R]->(:G {key: 'y'})", nil)
	before := graphState(t, d)
	exp, _ := New(d, Options{Label: "G"})
	m, _ := ngbak.New(ngbak.Options{Storage: storage, TempDir: t.TempDir()})
	if err := m.Register(exp); err != nil {
		t.Fatal(err)
	}
	_, err = m.Restore(ctx, man.ID, nil)
	if err == nil || !strings.Contains(err.Error(), "neo4jexp: the restore made 1 nodes and 0 relationships in scope; the backup holds 2 and 1") {
		t.Fatalf("Restore = %v; after it: %v", err, graphState(t, d))
	}
	if diff := cmp.Diff(before, graphState(t, d)); diff != "" {
		t.Fatalf("not rolled back (-want +got):\n%s", diff)
	}
}
