package neo4jexp

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/neo4j/neo4j-go-driver/v5/neo4j"
	"github.com/ngbak/ngbak"
)

// Dates, local datetimes and datetimes beyond the four-digit years (and
// before year 1) round-trip: Go writes year 10000 as "10000-01-01", which
// Neo4j does not parse, where it wants "+10000-01-01".
func TestFarYears(t *testing.T) { eachServer(t, testFarYears) }

func testFarYears(t *testing.T, d neo4j.DriverWithContext) {
	ctx := context.Background()
	wipe(t, d)
	t.Cleanup(func() { wipe(t, d) })
	run(t, d, `CREATE (:Far {key: 'far',
		d: date('+10000-01-01'), dmax: date('+999999999-12-31'), dmin: date('-999999999-01-01'), dneg: date('-0005-03-01'), d0: date('0000-01-01'),
		ldt: localdatetime('+10000-01-01T12:34:56.123456789'), ldtneg: localdatetime('-0044-03-15T10:00:00'),
		dt: datetime('+10000-01-01T00:00:00.5Z'), dtzone: datetime({year: 12345, month: 6, day: 7, hour: 8, timezone: 'Europe/Paris'}),
		dtneg: datetime('-0100-01-01T00:00:00+01:00'),
		list: [date('+10000-01-01'), date('2024-01-01')]})`, nil)
	want := graphState(t, d)
	exp, _ := New(d, Options{})
	m := newManager(t, exp)
	man, err := m.Create(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	run(t, d, "MATCH (n:Far) SET n.d = date('2024-01-01')", nil)
	if _, err := m.Restore(ctx, man.ID, &ngbak.RestoreOptions{NoSafetyBackup: true}); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, graphState(t, d)); diff != "" {
		t.Fatalf("after restore (-want +got):\n%s", diff)
	}
}
