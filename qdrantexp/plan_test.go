package qdrantexp_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
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
	listed, _ := newManager(t, tg.exporter(t, qdrantexp.Options{Collections: []string{a, ghost}}))
	manListed, err := listed.Create(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	later := tg.newCollection(t, ctx)
	tg.fill(t, later, 3)
	if err := tg.client.CreateCollection(ctx, &qdrant.CreateCollection{CollectionName: ghost}); err != nil {
		t.Fatal(err)
	}

	p, err := listed.Plan(ctx, manListed.ID, nil)
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

	// Every collection: only where the server holds no one else's, which
	// a backup of every collection would read (other tests' come and go).
	existing, err := tg.client.ListCollections(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range existing {
		if !strings.HasPrefix(c, "ngbak_test_") {
			t.Skipf("the server holds collection %q, which a backup of every collection would read", c)
		}
	}
	all, _ := newManager(t, tg.exporter(t, qdrantexp.Options{Mode: qdrantexp.Logical}))
	manAll, err := all.Create(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	later2 := tg.newCollection(t, ctx)
	tg.fill(t, later2, 3)
	if err := tg.client.CreateCollection(ctx, &qdrant.CreateCollection{CollectionName: ghost}); err != nil {
		t.Fatal(err)
	}
	p, err = all.Plan(ctx, manAll.ID, nil)
	if err != nil {
		t.Fatal(err)
	}
	del := p.Backends[0].Deletes
	if !slices.Contains(del, fmt.Sprintf("collection %s (3 points)", later2)) || !slices.Contains(del, fmt.Sprintf("collection %s (0 points)", ghost)) {
		t.Errorf("plan of every collection deletes %q; want %s and %s among them", del, later2, ghost)
	}
	for _, d := range del {
		if strings.Contains(d, a) || strings.Contains(d, later+" ") {
			t.Errorf("plan deletes %q, which the backup holds", d)
		}
	}
}
