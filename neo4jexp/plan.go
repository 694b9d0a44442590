package neo4jexp

import (
	"context"
	"fmt"

	"github.com/neo4j/neo4j-go-driver/v5/neo4j"
	"github.com/ngbak/ngbak"
)

// PlanRestore implements ngbak.Planner: the nodes and relationships in
// scope now, and, in a label scope, the relationships that leave it, which
// a restore deletes with their nodes and no backup of the scope holds
// (CheckRestore refuses them unless Options.DeleteCrossing).
func (e *Exporter) PlanRestore(ctx context.Context, b *ngbak.Backend) (_ ngbak.ScopePlan, err error) {
	defer withContext(ctx, &err)
	sess := e.session(ctx, neo4j.AccessModeRead)
	defer sess.Close(ctx)
	q := "CALL { MATCH " + e.scope("n") + " RETURN count(n) AS nodes } CALL { MATCH " + e.scope("a") + "-[r]->" + e.scope("b") + " RETURN count(r) AS rels } "
	if e.opts.Label != "" {
		label := string(appendName(nil, e.opts.Label))
		q += "CALL { MATCH (n:" + label + ")-[r]-(m) WHERE NOT m:" + label + " RETURN count(r) AS crossing } RETURN nodes, rels, crossing"
	} else {
		q += "RETURN nodes, rels, 0 AS crossing"
	}
	res, err := sess.Run(ctx, q, nil)
	if err != nil {
		return ngbak.ScopePlan{}, fmt.Errorf("neo4jexp: counting the scope: %w", err)
	}
	rec, err := res.Single(ctx)
	if err != nil {
		return ngbak.ScopePlan{}, fmt.Errorf("neo4jexp: counting the scope: %w", err)
	}
	nodes, _ := rec.Values[0].(int64)
	rels, _ := rec.Values[1].(int64)
	crossing, _ := rec.Values[2].(int64)
	p := ngbak.ScopePlan{Current: map[string]int64{"nodes": nodes, "relationships": rels}}
	if crossing > 0 {
		p.Deletes = append(p.Deletes, fmt.Sprintf("%d relationships between nodes labelled %s and nodes outside the label", crossing, e.opts.Label))
	}
	return p, nil
}
