package neo4jexp

import (
	"context"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/neo4j/neo4j-go-driver/v5/neo4j"
)

// The plan of a label scope counts the scope now, names the relationships
// leaving it, which the restore deletes, and carries CheckRestore's refusal
// without them allowed; the graph stays as it was.
func TestPlanCrossing(t *testing.T) { eachServer(t, testPlanCrossing) }

func testPlanCrossing(t *testing.T, d neo4j.DriverWithContext) {
	ctx := context.Background()
	manager, man, before := crossingFixture(t, d)
	m := manager(Options{Label: "Graph"})
	p, err := m.Plan(ctx, man.ID, nil)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(before, graphState(t, d)); diff != "" {
		t.Fatalf("Plan changed the graph (-want +got):\n%s", diff)
	}
	bp := p.Backends[0]
	if diff := cmp.Diff(map[string]int64{"nodes": 3, "relationships": 1}, bp.Current); diff != "" {
		t.Errorf("current counts (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"1 relationships between nodes labelled Graph and nodes outside the label"}, bp.Deletes); diff != "" {
		t.Errorf("deletes (-want +got):\n%s", diff)
	}
	if !strings.Contains(bp.Refused, "1 relationships connect nodes labelled Graph") {
		t.Errorf("refusal %q", bp.Refused)
	}
	allowed := manager(Options{Label: "Graph", DeleteCrossing: true})
	if p, err = allowed.Plan(ctx, man.ID, nil); err != nil || p.Refusal() != "" || len(p.Backends[0].Deletes) != 1 {
		t.Fatalf("plan allowed to delete the crossing relationship: %v, %+v", err, p)
	}
	if _, err := allowed.Restore(ctx, man.ID, nil); err != nil {
		t.Fatal(err)
	}
	if p, err = allowed.Plan(ctx, man.ID, nil); err != nil || len(p.Backends[0].Deletes) != 0 || !cmp.Equal(p.Backends[0].Current, man.Backends[0].Stats) {
		t.Fatalf("plan after the restore: %v, %+v", err, p)
	}
}
