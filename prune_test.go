package ngbak_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/ngbak/ngbak"
)

// A table of policies against one set of backup times, with the exact
// survivors of each.
func TestRetentionPolicy(t *testing.T) {
	at := func(s string) time.Time {
		tm, err := time.Parse("2006-01-02 15:04", s)
		if err != nil {
			t.Fatal(err)
		}
		return tm
	}
	times := map[string]string{
		"a": "2025-06-01 00:00",
		"b": "2025-12-31 23:00", // ISO week 2026-W01, like h
		"c": "2026-01-01 10:00",
		"d": "2026-01-01 10:30", // same hour as c, newer
		"e": "2026-01-01 11:15",
		"f": "2026-01-02 09:00",
		"g": "2026-01-03 23:59",
		"h": "2026-01-04 00:01",
		"i": "2026-01-10 12:00",
		"j": "2026-02-01 08:00",
		"k": "2026-02-15 08:00",
	}
	var backups []ngbak.Backup
	for id, s := range times { // map order: Apply must not depend on input order
		backups = append(backups, ngbak.Backup{Manifest: &ngbak.Manifest{ID: id, CreatedAt: at(s)}})
	}
	for _, c := range []struct {
		policy ngbak.RetentionPolicy
		keep   string
	}{
		{ngbak.RetentionPolicy{Last: 3}, "kji"},
		{ngbak.RetentionPolicy{Last: 100}, "kjihgfedcba"},
		{ngbak.RetentionPolicy{Hourly: 3}, "kji"},
		{ngbak.RetentionPolicy{Hourly: 9}, "kjihgfedb"},
		{ngbak.RetentionPolicy{Daily: 5}, "kjihg"},
		{ngbak.RetentionPolicy{Daily: 7}, "kjihgfe"},
		{ngbak.RetentionPolicy{Weekly: 4}, "kjih"},
		{ngbak.RetentionPolicy{Weekly: 5}, "kjiha"},
		{ngbak.RetentionPolicy{Monthly: 3}, "kib"},
		{ngbak.RetentionPolicy{Yearly: 2}, "kb"},
		{ngbak.RetentionPolicy{Within: 10 * 24 * time.Hour}, "k"},
		{ngbak.RetentionPolicy{Within: 15 * 24 * time.Hour}, "kj"},
		{ngbak.RetentionPolicy{Last: 2, Monthly: 3, Yearly: 2}, "kjib"},
	} {
		ds, err := c.policy.Apply(backups)
		if err != nil {
			t.Fatal(err)
		}
		var kept, order strings.Builder
		for _, d := range ds {
			order.WriteString(d.Backup.Manifest.ID)
			if d.Keep {
				kept.WriteString(d.Backup.Manifest.ID)
				if len(d.Reasons) == 0 {
					t.Errorf("%+v: %s kept with no reason", c.policy, d.Backup.Manifest.ID)
				}
			}
		}
		if order.String() != "kjihgfedcba" {
			t.Fatalf("decisions not newest first: %s", order.String())
		}
		if kept.String() != c.keep {
			t.Errorf("%+v keeps %q, want %q", c.policy, kept.String(), c.keep)
		}
	}
	if _, err := (ngbak.RetentionPolicy{}).Apply(backups); err == nil {
		t.Error("an empty policy was applied")
	}
}

func TestPrune(t *testing.T) {
	ctx := context.Background()
	env := newEnv(t, ngbak.Options{}, newMem("m", map[string]string{"a": "1"}))
	var ids []string
	for range 4 {
		ids = append(ids, env.create(t).ID)
	}
	ds, err := env.m.Prune(ctx, ngbak.RetentionPolicy{Last: 2}, true)
	if err != nil || len(ds) != 4 {
		t.Fatalf("dry run: %v, %d decisions", err, len(ds))
	}
	if list, _ := env.m.List(ctx); len(list) != 4 {
		t.Fatalf("a dry run deleted: %d left", len(list))
	}
	if _, err := env.m.Prune(ctx, ngbak.RetentionPolicy{Last: 2}, false); err != nil {
		t.Fatal(err)
	}
	list, _ := env.m.List(ctx)
	var got []string
	for _, b := range list {
		got = append(got, b.Manifest.ID)
	}
	if diff := cmp.Diff([]string{ids[3], ids[2]}, got); diff != "" {
		t.Fatalf("survivors (-want +got):\n%s", diff)
	}
	if n := len(files(t, env.dir)); n != 6 {
		t.Fatalf("%d files left, want 3 per backup", n)
	}
}
