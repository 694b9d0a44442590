package qdrantexp_test

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/ngbak/ngbak/qdrantexp"
	"github.com/qdrant/go-client/qdrant"
)

// The plan names the collections a restore deletes: with no list, every
// collection the backup lacks (a plan only here: TestAllCollections shows
// the restore deleting it, and other tests' collections share the server);
// with a list, the listed ones recorded absent, which the restore then
// deletes. Collections the backup holds are never named.
func TestPlanCollections(t *testing.T) {
	ctx := context.Background()
	tg := newTarget(t)
	a := tg.newCollection(t, ctx)
	tg.fill(t, a, 5)
	ghost := "ngbak_test_" + randomHex(6)
	t.Cleanup(func() { tg.client.DeleteCollection(context.Background(), ghost) })
	all, _ := newManager(t, tg.exporter(t, qdrantexp.Options{Mode: qdrantexp.Logical}))
	listed, _ := newManager(t, tg.exporter(t, qdrantexp.Options{Collections: []string{a, ghost}}))
	manAll, err := all.Create(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	manListed, err := listed.Create(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	later := tg.newCollection(t, ctx)
	tg.fill(t, later, 3)
	if err := tg.client.CreateCollection(ctx, &qdrant.CreateCollection{CollectionName: ghost}); err != nil {
		t.Fatal(err)
	}

	p, err := all.Plan(ctx, manAll.ID, nil)
	if err != nil {
		t.Fatal(err)
	}
	del := p.Backends[0].Deletes
	if !slices.Contains(del, fmt.Sprintf("collection %s (3 points)", later)) || !slices.Contains(del, fmt.Sprintf("collection %s (0 points)", ghost)) {
		t.Errorf("plan of every collection deletes %q; want %s and %s among them", del, later, ghost)
	}
	for _, d := range del {
		if d == fmt.Sprintf("collection %s (5 points)", a) {
			t.Errorf("plan deletes %s, which the backup holds", a)
		}
	}

	p, err = listed.Plan(ctx, manListed.ID, nil)
	if err != nil {
		t.Fatal(err)
	}
	bp := p.Backends[0]
	if diff := cmp.Diff([]string{fmt.Sprintf("collection %s (0 points)", ghost)}, bp.Deletes); diff != "" {
		t.Errorf("plan of a list (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]int64{"collections": 2, "points": 5}, bp.Current); diff != "" {
		t.Errorf("current counts (-want +got):\n%s", diff)
	}
	if _, err := listed.Restore(ctx, manListed.ID, nil); err != nil {
		t.Fatal(err)
	}
	if s := mustState(t, tg, ghost); s.Exists {
		t.Fatal("the plan named a collection the restore kept")
	}
	if s := mustState(t, tg, later); !s.Exists {
		t.Fatal("a restore of a list deleted a collection outside it")
	}
}
