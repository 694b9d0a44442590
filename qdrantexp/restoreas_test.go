package qdrantexp_test

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/ngbak/ngbak"
	"github.com/ngbak/ngbak/qdrantexp"
	"github.com/qdrant/go-client/qdrant"
)

// TestCloneIntoStaging restores production's collection under another
// name on the same server: the copy holds the backup's points and
// configuration, production keeps what it has now (a point written after
// the backup, its alias), and a copy that differs from the backup is
// replaced.
func TestCloneIntoStaging(t *testing.T) {
	bothModes(t, func(t *testing.T, mode qdrantexp.Mode) {
		ctx := context.Background()
		tg := newTarget(t)
		prod := tg.newCollection(t, ctx)
		tg.fill(t, prod, 50)
		alias := prod + "_alias"
		if err := tg.client.UpdateAliases(ctx, []*qdrant.AliasOperations{qdrant.NewAliasCreate(alias, prod)}); err != nil {
			t.Fatal(err)
		}
		defer tg.client.UpdateAliases(context.Background(), []*qdrant.AliasOperations{qdrant.NewAliasDelete(alias)})
		staging := tg.newCollection(t, ctx) // stale content, to be replaced
		tg.fill(t, staging, 3)
		backedUp := mustState(t, tg, prod)

		prodExp := tg.exporter(t, qdrantexp.Options{Collections: []string{prod}, Mode: mode})
		stagingExp := tg.exporter(t, qdrantexp.Options{Name: "qdrant-staging", Collections: []string{staging}, Mode: mode,
			RestoreAs: map[string]string{prod: staging}})
		m, _ := newManager(t, prodExp, stagingExp)
		man, err := m.Create(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		wait := true // else the point may land after prodNow is read
		if _, err := tg.client.Upsert(ctx, &qdrant.UpsertPoints{CollectionName: prod, Wait: &wait, Points: []*qdrant.PointStruct{pointFor("after", "written after the backup")}}); err != nil {
			t.Fatal(err)
		}
		prodNow := mustState(t, tg, prod)

		if _, err := m.Restore(ctx, man.ID, &ngbak.RestoreOptions{Into: map[string]string{"qdrant": "qdrant-staging"}}); err != nil {
			t.Fatal(err)
		}
		got := mustState(t, tg, staging)
		want := backedUp
		want.Aliases = nil // the alias stays production's
		got.Config = ""    // its shards and replicas are this server's
		want.Config = ""
		if diff := cmp.Diff(want.Points, got.Points); diff != "" {
			t.Errorf("staging's points (-production at backup +staging):\n%s", diff)
		}
		if len(got.Aliases) != 0 {
			t.Errorf("staging took aliases %v", got.Aliases)
		}
		if diff := cmp.Diff(prodNow, mustState(t, tg, prod)); diff != "" {
			t.Errorf("production changed (-before +after):\n%s", diff)
		}
	})
}

func TestRestoreAsNeedsCollections(t *testing.T) {
	tg := newTarget(t)
	for _, opts := range []qdrantexp.Options{
		{RestoreAs: map[string]string{"a": "b"}},                                       // no scope: would delete every other collection
		{RestoreAs: map[string]string{"a": "b"}, Collections: []string{"c"}},           // b outside the scope
		{RestoreAs: map[string]string{"a": "b", "c": "b"}, Collections: []string{"b"}}, // two into one
	} {
		if _, err := qdrantexp.New(tg.cfg, opts); err == nil {
			t.Errorf("%+v: accepted", opts)
		}
	}
}
