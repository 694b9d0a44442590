package neo4jexp

import (
	"context"
	"math"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/neo4j/neo4j-go-driver/v5/neo4j"
	"github.com/ngbak/ngbak"
)

// A NaN comes back with the bits the server's own 0.0 / 0.0 has
// (0x7ff8000000000000, Java's canonical NaN), not with those of Go's
// math.NaN() (0x7ff8000000000001), which the restore sent as a parameter.
func TestNaNBits(t *testing.T) { eachServer(t, testNaNBits) }

func testNaNBits(t *testing.T, d neo4j.DriverWithContext) {
	ctx := context.Background()
	wipe(t, d)
	t.Cleanup(func() { wipe(t, d) })
	run(t, d, "CREATE (:N {key: 'nan', nan: 0.0 / 0.0, list: [1.0, 0.0 / 0.0]})", nil)
	bits := func() []uint64 {
		r := run(t, d, "MATCH (n:N) RETURN n.nan, n.list", nil)[0]
		out := []uint64{math.Float64bits(r.Values[0].(float64))}
		for _, f := range r.Values[1].([]any) {
			out = append(out, math.Float64bits(f.(float64)))
		}
		return out
	}
	want := []uint64{0x7ff8000000000000, math.Float64bits(1), 0x7ff8000000000000}
	if diff := cmp.Diff(want, bits()); diff != "" {
		t.Fatalf("the server's NaN (-want +got):\n%s", diff)
	}
	exp, _ := New(d, Options{})
	m := newManager(t, exp)
	man, err := m.Create(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Restore(ctx, man.ID, &ngbak.RestoreOptions{NoSafetyBackup: true}); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, bits()); diff != "" {
		t.Fatalf("after restore, float bits (-want +got):\n%s", diff)
	}
}
