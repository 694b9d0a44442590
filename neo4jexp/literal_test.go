package neo4jexp

import (
	"math"
	mrand "math/rand/v2"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/neo4j/neo4j-go-driver/v5/neo4j/dbtype"
)

// What appendLiteral writes, parseLiteral reads back to the same value.
func TestLiteralRoundTrip(t *testing.T) {
	r := mrand.New(mrand.NewPCG(1, 1))
	for i := range 2000 {
		v := randomValue(r)
		b, err := appendLiteral(nil, map[string]any{"v": v, "odd `key`": []any{v}})
		if err != nil {
			t.Fatal(err)
		}
		got, ok := parseLiteral(string(b))
		if !ok {
			t.Fatalf("%d: %s does not parse", i, b)
		}
		again, err := appendLiteral(nil, got)
		if err != nil {
			t.Fatal(err)
		}
		if string(again) != string(b) {
			t.Fatalf("%d: %s reads back as %s", i, b, again)
		}
	}
}

func TestParameterize(t *testing.T) {
	stmt := "UNWIND [{_id: \"a\", properties: {`k`: 1, f: -0.0, s: 'x\\'y', d: date('2024-01-02')}}, {_id: 'b', properties: {}}] AS row\nCREATE (n)"
	got, rows, ok := parameterize(stmt)
	if !ok || got != "UNWIND $ngbak_rows AS row\nCREATE (n)" {
		t.Fatalf("parameterize = %q, %v", got, ok)
	}
	want := []any{
		map[string]any{"_id": "a", "properties": map[string]any{"k": int64(1), "f": math.Copysign(0, -1), "s": "x'y", "d": dbtype.Date(time.Date(2024, 1, 2, 0, 0, 0, 0, time.UTC))}},
		map[string]any{"_id": "b", "properties": map[string]any{}},
	}
	w, _ := appendLiteral(nil, want)
	g, _ := appendLiteral(nil, rows)
	if diff := cmp.Diff(string(w), string(g)); diff != "" {
		t.Fatalf("(-want +got):\n%s", diff)
	}
	for _, keep := range []string{"UNWIND [1, row.x] AS y RETURN y", "UNWIND range(1, 3) AS x RETURN x", "UNWIND [1, 2]AS x RETURN x", "UNWIND [0x1F] AS x RETURN x"} {
		if _, _, ok := parameterize(keep); ok {
			t.Errorf("%q was rewritten", keep)
		}
	}
}

// FuzzParseLiteral: the literal parser never panics, and what it accepts
// it writes back as a literal that reads back the same.
func FuzzParseLiteral(f *testing.F) {
	for _, s := range []string{"[1, -2.5e-3, 'a\\u00e9', {`x`: null}]", "datetime({epochSeconds: 1, nanosecond: 2, timezone: 'Europe/Paris'})", "(0.0 / 0.0)", "point({srid: 4326, x: 1.0, y: 2.0})", "[date('2024-13-01')]"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, ok := parseLiteral(s)
		if !ok {
			return
		}
		b, err := appendLiteral(nil, v)
		if err != nil {
			return // e.g. a map at the top: not a property value
		}
		v2, ok := parseLiteral(string(b))
		if !ok {
			t.Fatalf("%q -> %s does not parse", s, b)
		}
		b2, _ := appendLiteral(nil, v2)
		if string(b2) != string(b) {
			t.Fatalf("%q -> %s -> %s", s, b, b2)
		}
	})
}
