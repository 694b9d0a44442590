package neo4jexp

import (
	"context"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/neo4j/neo4j-go-driver/v5/neo4j"
	"github.com/ngbak/ngbak"
)

// legacyGraph writes a backup in neo4jexp's format that is one script,
// as legacy's conversion of the old system's APOC exports does.
type legacyGraph struct{ script string }

func (legacyGraph) Name() string { return "graph" }
func (legacyGraph) Kind() string { return Kind }
func (legacyGraph) Restore(context.Context, *ngbak.Reader) error {
	panic("legacyGraph only writes")
}

func (g legacyGraph) Export(ctx context.Context, w *ngbak.Writer) (ngbak.Info, error) {
	if err := w.WriteFile("graph.cypher", int64(len(g.script)), strings.NewReader(g.script)); err != nil {
		return ngbak.Info{}, err
	}
	return ngbak.Info{Format: Format, Stats: map[string]int64{"files": 1}}, nil
}

// An APOC script that stopped before its end leaves APOC's import
// constraint (UNIQUE_IMPORT_NAME on `UNIQUE IMPORT LABEL`), which is in no
// label's scope; the next restore of an APOC script in a label scope
// failed on creating it again. The restore clears it, and APOC's import
// label and id, as it does its own.
func TestAPOCLeftoverConstraint(t *testing.T) { eachServer(t, testAPOCLeftoverConstraint) }

func testAPOCLeftoverConstraint(t *testing.T, d neo4j.DriverWithContext) {
	ctx := context.Background()
	wipe(t, d)
	t.Cleanup(func() { wipe(t, d) })
	run(t, d, "CREATE (:Entity {key: 'a'})-[:RELATED {w: 1.5}]->(:Entity {key: 'b'}), (:Other {key: 'o'})", nil)
	var script strings.Builder
	for _, r := range run(t, d, "CALL apoc.export.cypher.query('MATCH (n:Entity) OPTIONAL MATCH (n)-[r]->(m:Entity) RETURN n, r, m', null, {format: 'cypher-shell', stream: true}) YIELD cypherStatements RETURN cypherStatements", nil) {
		script.WriteString(r.Values[0].(string))
	}
	full := script.String()
	cut := strings.LastIndex(full, ":begin\nDROP CONSTRAINT UNIQUE_IMPORT_NAME")
	if cut < 0 {
		t.Fatalf("APOC's script has no DROP CONSTRAINT UNIQUE_IMPORT_NAME:\n%s", full)
	}
	want := graphState(t, d)
	// The first run stops before the script's last transaction.
	run(t, d, "MATCH (n:Entity) DETACH DELETE n", nil)
	if err := RunScript(ctx, d, "", "first.cypher", strings.NewReader(full[:cut])); err != nil {
		t.Fatal(err)
	}
	if n := run(t, d, "SHOW CONSTRAINTS YIELD name WHERE name = 'UNIQUE_IMPORT_NAME' RETURN count(*)", nil)[0].Values[0]; n != int64(1) {
		t.Fatalf("the cut script left %v import constraints", n)
	}
	storage := ngbak.Dir(t.TempDir())
	legacy, _ := ngbak.New(ngbak.Options{Storage: storage, TempDir: t.TempDir()})
	if err := legacy.Register(legacyGraph{full}); err != nil {
		t.Fatal(err)
	}
	man, err := legacy.Create(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	exp, _ := New(d, Options{Label: "Entity"})
	m, _ := ngbak.New(ngbak.Options{Storage: storage, TempDir: t.TempDir()})
	if err := m.Register(exp); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Restore(ctx, man.ID, &ngbak.RestoreOptions{NoSafetyBackup: true}); err != nil {
		t.Fatalf("the legacy restore after the cut one: %v", err)
	}
	if diff := cmp.Diff(want, graphState(t, d)); diff != "" {
		t.Fatalf("(-want +got):\n%s", diff)
	}
}
