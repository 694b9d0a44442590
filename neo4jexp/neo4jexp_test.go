package neo4jexp

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"
	mrand "math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/neo4j/neo4j-go-driver/v5/neo4j"
	"github.com/neo4j/neo4j-go-driver/v5/neo4j/dbtype"
	"github.com/ngbak/ngbak"
	"github.com/ngbak/ngbak/exportertest"
	"github.com/ngbak/ngbak/internal/testlock"
)

// The tests run against the two servers make services starts, each test
// once per server as a subtest: Neo4j 5.26 LTS (NGBAK_NEO4J_URI) and the
// newest Neo4j, Cypher 25 by default (NGBAK_NEO4J_NEXT_URI). A server whose
// variable is unset is skipped, unless NGBAK_REQUIRE_SERVERS is set, as in
// CI, where that fails.
type testServer struct {
	name, env string
	lock      string // the machine-wide lock of tests that replace its database
}

var testServers = []testServer{
	{"5.26", "NGBAK_NEO4J_URI", "neo4j"},
	{"next", "NGBAK_NEO4J_NEXT_URI", "neo4j-next"},
}

// eachServer runs f in a subtest per server.
func eachServer(t *testing.T, f func(t *testing.T, d neo4j.DriverWithContext)) {
	t.Helper()
	for _, s := range testServers {
		t.Run(s.name, func(t *testing.T) { f(t, s.connect(t)) })
	}
}

// server connects to Neo4j 5.26, where the benchmarks run.
func server(t testing.TB) neo4j.DriverWithContext { return testServers[0].connect(t) }

func (s testServer) connect(t testing.TB) neo4j.DriverWithContext {
	t.Helper()
	uri := os.Getenv(s.env)
	if uri == "" {
		if os.Getenv("NGBAK_REQUIRE_SERVERS") != "" {
			t.Fatalf("%s is not set and NGBAK_REQUIRE_SERVERS is: run make services", s.env)
		}
		t.Skipf("%s is not set: run make services, then source .services.env", s.env)
	}
	auth := neo4j.NoAuth()
	if u := os.Getenv("NGBAK_NEO4J_USER"); u != "" {
		auth = neo4j.BasicAuth(u, os.Getenv("NGBAK_NEO4J_PASSWORD"), "")
	}
	// These tests replace the whole database: one at a time, machine-wide.
	testlock.Lock(t, s.lock)
	d, err := neo4j.NewDriverWithContext(uri, auth)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close(context.Background()) })
	if err := d.VerifyConnectivity(context.Background()); err != nil {
		t.Fatalf("%s=%s: %v", s.env, uri, err)
	}
	return d
}

func run(t testing.TB, d neo4j.DriverWithContext, q string, params map[string]any) []*neo4j.Record {
	t.Helper()
	res, err := neo4j.ExecuteQuery(context.Background(), d, q, params, neo4j.EagerResultTransformer)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return res.Records
}

// autoRun runs q in an implicit transaction, as CALL ... IN TRANSACTIONS
// needs.
func autoRun(t testing.TB, d neo4j.DriverWithContext, q string, params map[string]any) {
	t.Helper()
	ctx := context.Background()
	sess := d.NewSession(ctx, neo4j.SessionConfig{})
	defer sess.Close(ctx)
	res, err := sess.Run(ctx, q, params)
	if err == nil {
		_, err = res.Consume(ctx)
	}
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

// wipe empties the database: nodes, constraints, indexes.
func wipe(t testing.TB, d neo4j.DriverWithContext) {
	t.Helper()
	autoRun(t, d, "MATCH (n) CALL { WITH n DETACH DELETE n } IN TRANSACTIONS OF 10000 ROWS", nil)
	for _, r := range run(t, d, "SHOW CONSTRAINTS YIELD name", nil) {
		run(t, d, "DROP CONSTRAINT "+string(appendName(nil, r.Values[0].(string))), nil)
	}
	for _, r := range run(t, d, "SHOW INDEXES YIELD name, type WHERE type <> 'LOOKUP'", nil) {
		run(t, d, "DROP INDEX "+string(appendName(nil, r.Values[0].(string)))+" IF EXISTS", nil)
	}
}

// graphState is the whole database: every node with its labels and
// properties, every relationship with its ends, type and properties, and
// the schema. Properties are compared as the Cypher literals that encode
// them exactly (floats to the bit, temporal values to the nanosecond and
// zone). Relationships name their ends by the "key" property.
func graphState(t testing.TB, d neo4j.DriverWithContext) map[string][]string {
	t.Helper()
	st, err := readGraph(context.Background(), d)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func readGraph(ctx context.Context, d neo4j.DriverWithContext) (map[string][]string, error) {
	query := func(q string) ([]*neo4j.Record, error) {
		res, err := neo4j.ExecuteQuery(ctx, d, q, nil, neo4j.EagerResultTransformer)
		if err != nil {
			return nil, err
		}
		return res.Records, nil
	}
	lit := func(v any) (string, error) {
		m, _ := v.(map[string]any)
		b, err := appendMap(nil, m)
		return string(b), err
	}
	st := map[string][]string{}
	recs, err := query("MATCH (n) RETURN labels(n), properties(n)")
	if err != nil {
		return nil, err
	}
	for _, r := range recs {
		p, err := lit(r.Values[1])
		if err != nil {
			return nil, err
		}
		st["nodes"] = append(st["nodes"], fmt.Sprint(sortedStrings(r.Values[0]))+" "+p)
	}
	if recs, err = query("MATCH (a)-[r]->(b) RETURN a.key, type(r), b.key, properties(r)"); err != nil {
		return nil, err
	}
	for _, r := range recs {
		p, err := lit(r.Values[3])
		if err != nil {
			return nil, err
		}
		st["relationships"] = append(st["relationships"], fmt.Sprintf("(%v)-[%v %s]->(%v)", r.Values[0], r.Values[1], p, r.Values[2]))
	}
	for _, q := range []string{
		"SHOW CONSTRAINTS YIELD createStatement",
		"SHOW INDEXES YIELD type, owningConstraint, createStatement WHERE owningConstraint IS NULL AND type <> 'LOOKUP' RETURN createStatement",
	} {
		if recs, err = query(q); err != nil {
			return nil, err
		}
		for _, r := range recs {
			st["schema"] = append(st["schema"], r.Values[0].(string))
		}
	}
	for _, v := range st {
		sort.Strings(v)
	}
	return st, nil
}

func sortedStrings(v any) []string {
	var out []string
	for _, e := range v.([]any) {
		out = append(out, e.(string))
	}
	sort.Strings(out)
	return out
}

// harness keeps the suite's records as nodes (:Label {key, value}) linked
// in a chain, under a unique constraint on key. In label scope, a node of
// another label sits beside them, linked to none, and must survive every
// restore untouched; in whole-database scope the database holds only them.
type harness struct {
	d     neo4j.DriverWithContext
	label string
	exp   *Exporter
}

func newHarness(s testServer, wholeDB bool) exportertest.HarnessMaker {
	return func(ctx context.Context, t *testing.T) exportertest.Harness {
		d := s.connect(t)
		wipe(t, d)
		var b [4]byte
		rand.Read(b[:])
		h := &harness{d: d, label: "Test_" + hex.EncodeToString(b[:])}
		opts := Options{Batch: 7}
		if !wholeDB {
			opts.Label = h.label
			run(t, d, "CREATE (:Outside {key: 'neighbour', note: 'not in scope'})", nil)
		}
		// A constraint, so that the schema is part of every round trip; on
		// a short id, since keys may be larger than an index takes.
		run(t, d, "CREATE CONSTRAINT FOR (n:"+string(appendName(nil, h.label))+") REQUIRE n.id IS UNIQUE", nil)
		h.exp, _ = New(d, opts)
		t.Cleanup(func() { wipe(t, d) })
		return h
	}
}

func (h *harness) Exporter() ngbak.Exporter { return h.exp }

func (h *harness) Put(ctx context.Context, records map[string]string) error {
	rows := []any{}
	for k, v := range records {
		sum := sha256.Sum256([]byte(k))
		rows = append(rows, map[string]any{"key": k, "value": v, "id": hex.EncodeToString(sum[:8])})
	}
	l := string(appendName(nil, h.label))
	_, err := neo4j.ExecuteQuery(ctx, h.d, "UNWIND $rows AS row MERGE (n:"+l+" {key: row.key}) SET n.value = row.value, n.id = row.id", map[string]any{"rows": rows}, neo4j.EagerResultTransformer)
	if err != nil {
		return err
	}
	// Relationships among the records: each to the next by key.
	_, err = neo4j.ExecuteQuery(ctx, h.d, "MATCH (n:"+l+")-[r:NEXT]->() DELETE r WITH count(*) AS c "+
		"MATCH (n:"+l+") WITH n ORDER BY n.key WITH collect(n) AS ns "+
		"UNWIND range(0, size(ns) - 2) AS i WITH ns[i] AS a, ns[i+1] AS b CREATE (a)-[:NEXT {i: 1}]->(b)", nil, neo4j.EagerResultTransformer)
	return err
}

func (h *harness) Delete(ctx context.Context, keys ...string) error {
	_, err := neo4j.ExecuteQuery(ctx, h.d, "MATCH (n:"+string(appendName(nil, h.label))+") WHERE n.key IN $keys DETACH DELETE n", map[string]any{"keys": keys}, neo4j.EagerResultTransformer)
	return err
}

func (h *harness) State(ctx context.Context) (any, error) {
	return readGraph(ctx, h.d)
}

func TestConformance(t *testing.T) {
	for i, s := range testServers {
		t.Run(s.name, func(t *testing.T) {
			t.Run("Label", func(t *testing.T) {
				exportertest.RunConformanceTests(t, newHarness(s, false), exportertest.Options{})
			})
			t.Run("WholeDatabase", func(t *testing.T) {
				exportertest.RunConformanceTests(t, newHarness(s, true), exportertest.Options{})
			})
			// The deduplicating layout is the Manager's, below the
			// exporter: one server shows the exporter works on it.
			if i == 0 {
				t.Run("LabelDedup", func(t *testing.T) {
					exportertest.RunConformanceTests(t, newHarness(s, false), exportertest.Options{Dedup: true})
				})
			}
		})
	}
}

func newManager(t *testing.T, e ngbak.Exporter) *ngbak.Manager {
	m, err := ngbak.New(ngbak.Options{Storage: ngbak.Dir(t.TempDir()), TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Register(e); err != nil {
		t.Fatal(err)
	}
	return m
}

// Every property type round-trips exactly, with labels, types and keys
// that need backticks.
func TestPropertyTypes(t *testing.T) { eachServer(t, testPropertyTypes) }

func testPropertyTypes(t *testing.T, d neo4j.DriverWithContext) {
	ctx := context.Background()
	wipe(t, d)
	t.Cleanup(func() { wipe(t, d) })
	paris, _ := time.LoadLocation("Europe/Paris")
	props := map[string]any{
		"key":          "types",
		"s":            "quotes \" ' ` backslash \\ newline \n ; // :begin\n:commit /* */ 日本語 🧠 \x00 \u2028",
		"max":          int64(math.MaxInt64),
		"min":          int64(math.MinInt64),
		"nan":          math.NaN(),
		"inf":          math.Inf(1),
		"ninf":         math.Inf(-1),
		"negzero":      math.Copysign(0, -1),
		"tiny":         5e-324,
		"big":          1.7976931348623157e308,
		"third":        1.0 / 3,
		"t":            true,
		"ints":         []any{int64(1), int64(-2), int64(math.MaxInt64)},
		"floats":       []any{1.5, math.Inf(-1)},
		"strings":      []any{"a", "", "c;d"},
		"bools":        []any{true, false},
		"date":         neo4j.DateOf(time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC)),
		"localtime":    neo4j.LocalTimeOf(time.Date(0, 1, 1, 23, 59, 58, 123456789, time.UTC)),
		"time":         neo4j.OffsetTimeOf(time.Date(0, 1, 1, 12, 0, 1, 5, time.FixedZone("Offset", -(5*3600+30*60)))),
		"localdt":      neo4j.LocalDateTimeOf(time.Date(1999, 12, 31, 23, 59, 59, 999999999, time.UTC)),
		"dt_offset":    time.Date(2024, 6, 1, 10, 20, 30, 123, time.FixedZone("Offset", 3600)),
		"dt_zone":      time.Date(2024, 6, 1, 10, 20, 30, 456, paris),
		"duration":     dbtype.Duration{Months: 14, Days: -3, Seconds: 3723, Nanos: 4},
		"cartesian":    dbtype.Point2D{X: 1.5, Y: -2, SpatialRefId: 7203},
		"cartesian3d":  dbtype.Point3D{X: 1, Y: 2, Z: 3.25, SpatialRefId: 9157},
		"wgs84":        dbtype.Point2D{X: 2.35, Y: 48.85, SpatialRefId: 4326},
		"wgs84_3d":     dbtype.Point3D{X: 2.35, Y: 48.85, Z: 35, SpatialRefId: 4979},
		"weird `key`":  "backticks in the key",
		"with space":   1.0,
		"dates":        []any{neo4j.DateOf(time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC))},
		"emptystrings": []any{},
	}
	run(t, d, "CREATE (n:`Weird Label`:`back`` tick`:Plain) SET n = $props", map[string]any{"props": props})
	run(t, d, "CREATE (b:Plain {key: 'b'}) WITH b MATCH (n {key: 'types'}) CREATE (n)-[:`REL TYPE` {since: date('2020-01-01'), w: -0.0}]->(b)", nil)
	want := graphState(t, d)
	if !strings.Contains(fmt.Sprint(want["nodes"]), "`max`: 9223372036854775807") {
		t.Fatalf("setup did not store the properties: %v", want["nodes"])
	}
	exp, _ := New(d, Options{})
	m := newManager(t, exp)
	man, err := m.Create(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	run(t, d, "MATCH (n {key: 'types'}) SET n.s = 'changed', n.extra = 1", nil)
	if _, err := m.Restore(ctx, man.ID, nil); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, graphState(t, d)); diff != "" {
		t.Fatalf("after restore (-want +got):\n%s", diff)
	}
	if man.Backends[0].Stats["nodes"] != 2 || man.Backends[0].Stats["relationships"] != 1 || !strings.Contains(man.Backends[0].ServerVersion, run(t, d, "CALL dbms.components() YIELD name, versions WHERE name = 'Neo4j Kernel' RETURN versions[0]", nil)[0].Values[0].(string)) {
		t.Errorf("manifest: %+v", man.Backends[0])
	}
}

// A byte array has no Cypher literal: the export fails naming the node
// and the property.
func TestByteArrayIsAnError(t *testing.T) { eachServer(t, testByteArrayIsAnError) }

func testByteArrayIsAnError(t *testing.T, d neo4j.DriverWithContext) {
	wipe(t, d)
	t.Cleanup(func() { wipe(t, d) })
	run(t, d, "CREATE (:N {key: 'k', blob: $b})", map[string]any{"b": []byte{1, 2, 3}})
	exp, _ := New(d, Options{})
	_, err := newManager(t, exp).Create(context.Background(), nil)
	if err == nil || !strings.Contains(err.Error(), `property "blob"`) || !strings.Contains(err.Error(), "node ") || !strings.Contains(err.Error(), "byte array") {
		t.Fatalf("Create = %v", err)
	}
}

// Scripts that APOC writes in the cypher-shell format restore into an
// emptied database, with the default UNWIND_BATCH and with
// UNWIND_BATCH_PARAMS (":param rows => [...]").
func TestAPOCScripts(t *testing.T) { eachServer(t, testAPOCScripts) }

func testAPOCScripts(t *testing.T, d neo4j.DriverWithContext) {
	ctx := context.Background()
	for _, opt := range []string{"UNWIND_BATCH", "UNWIND_BATCH_PARAMS"} {
		t.Run(opt, func(t *testing.T) {
			wipe(t, d)
			t.Cleanup(func() { wipe(t, d) })
			run(t, d, "CREATE CONSTRAINT FOR (n:Entity) REQUIRE n.key IS UNIQUE", nil)
			run(t, d, `UNWIND range(1, 45) AS i CREATE (:Entity:Thing {key: 'e' + i, name: 'line;' + i + '\n:commit // x', n: i, f: i / 7.0})`, nil)
			run(t, d, `MATCH (a:Entity), (b:Entity) WHERE a.n + 1 = b.n CREATE (a)-[:RELATED {weight: a.n * 0.5, note: "it's"}]->(b)`, nil)
			run(t, d, "CREATE (:Lonely)", nil)
			want := graphState(t, d)
			recs := run(t, d, "CALL apoc.export.cypher.all(null, {format: 'cypher-shell', stream: true, useOptimizations: {type: $opt, unwindBatchSize: 20}}) YIELD cypherStatements RETURN cypherStatements", map[string]any{"opt": opt})
			var script strings.Builder
			for _, r := range recs {
				script.WriteString(r.Values[0].(string))
			}
			if opt == "UNWIND_BATCH_PARAMS" && !strings.Contains(script.String(), ":param rows =>") {
				t.Fatalf("APOC wrote no :param rows:\n%.500s", script.String())
			}
			wipe(t, d)
			if err := RunScript(ctx, d, "", "apoc.cypher", strings.NewReader(script.String())); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, graphState(t, d)); diff != "" {
				t.Fatalf("after replaying APOC's script (-want +got):\n%s", diff)
			}
		})
	}
}

// A failing statement stops the script with its file, line and the
// server's message, and leaves nothing of its transaction.
func TestFailingStatementReportsLine(t *testing.T) { eachServer(t, testFailingStatementReportsLine) }

func testFailingStatementReportsLine(t *testing.T, d neo4j.DriverWithContext) {
	ctx := context.Background()
	wipe(t, d)
	t.Cleanup(func() { wipe(t, d) })
	script := "// header\n:begin\nCREATE (:A {key: 1});\nCREATE (:A {key:\n  2}) RETURN nosuchvariable;\n:commit\n"
	err := RunScript(ctx, d, "", "graph/bad.cypher", strings.NewReader(script))
	if err == nil || !strings.Contains(err.Error(), "graph/bad.cypher:4:") || !strings.Contains(err.Error(), "nosuchvariable") {
		t.Fatalf("RunScript = %v", err)
	}
	if n := run(t, d, "MATCH (n:A) RETURN count(n)", nil)[0].Values[0]; n != int64(0) {
		t.Fatalf("%v nodes left by a rolled-back transaction", n)
	}
	for _, bad := range []string{":connect bolt://x\n", ":begin\nCREATE (:A);\n", ":commit\n", "CREATE INDEX FOR (n:A) ON (n.x);\n:begin\nCREATE (:A);\nCREATE INDEX FOR (n:A) ON (n.y);\n:commit\n"} {
		if err := RunScript(ctx, d, "", "x", strings.NewReader(bad)); err == nil {
			t.Errorf("RunScript(%q) succeeded", bad)
		}
	}
}

// The label scope never touches nodes outside it.
func TestLabelScopeLeavesOthers(t *testing.T) { eachServer(t, testLabelScopeLeavesOthers) }

func testLabelScopeLeavesOthers(t *testing.T, d neo4j.DriverWithContext) {
	ctx := context.Background()
	wipe(t, d)
	t.Cleanup(func() { wipe(t, d) })
	run(t, d, "CREATE (:Graph {key: 'g1'})-[:R]->(:Graph {key: 'g2'}), (:Other {key: 'o1'})-[:R]->(:Other {key: 'o2'})", nil)
	exp, _ := New(d, Options{Label: "Graph"})
	m := newManager(t, exp)
	man, err := m.Create(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	run(t, d, "CREATE (:Graph {key: 'g3'}), (:Other {key: 'o3'})", nil)
	want := graphState(t, d)
	if _, err := m.Restore(ctx, man.ID, nil); err != nil {
		t.Fatal(err)
	}
	got := graphState(t, d)
	if strings.Contains(fmt.Sprint(got["nodes"]), "g3") || !strings.Contains(fmt.Sprint(got["nodes"]), "o3") {
		t.Fatalf("after restore: %v (before: %v)", got["nodes"], want["nodes"])
	}
}

// Relationships across the label scope's border are in no backup of the
// scope, so a restore that would delete them refuses before anything
// changes (no safety backup either), unless Options.DeleteCrossing.
func TestCrossingRelationships(t *testing.T) { eachServer(t, testCrossingRelationships) }

func testCrossingRelationships(t *testing.T, d neo4j.DriverWithContext) {
	ctx := context.Background()
	manager, man, before := crossingFixture(t, d)
	m := manager(Options{Label: "Graph"})
	_, err := m.Restore(ctx, man.ID, nil)
	if err == nil || !strings.Contains(err.Error(), "nothing was changed") || !strings.Contains(err.Error(), "1 relationships connect nodes labelled Graph to nodes outside the label") {
		t.Fatalf("Restore with a relationship across the scope: %v", err)
	}
	if diff := cmp.Diff(before, graphState(t, d)); diff != "" {
		t.Fatalf("a refused restore changed the graph (-want +got):\n%s", diff)
	}
	if list, _ := m.List(ctx); len(list) != 1 {
		t.Fatalf("%d backups: the refused restore took a safety backup", len(list))
	}
	if _, err := manager(Options{Label: "Graph", DeleteCrossing: true}).Restore(ctx, man.ID, nil); err != nil {
		t.Fatal(err)
	}
	after := fmt.Sprint(graphState(t, d))
	if strings.Contains(after, "g3") || strings.Contains(after, "CITES") || !strings.Contains(after, "o1") || !strings.Contains(after, "g2") {
		t.Fatalf("after a restore allowed to delete the crossing relationship: %s", after)
	}
}

// crossingFixture makes a graph with one relationship leaving the label
// Graph, a backup of the label, and a node added since; it returns a
// Manager maker on the backup's storage, the backup and the graph now.
func crossingFixture(t *testing.T, d neo4j.DriverWithContext) (manager func(Options) *ngbak.Manager, man *ngbak.Manifest, now map[string][]string) {
	ctx := context.Background()
	wipe(t, d)
	t.Cleanup(func() { wipe(t, d) })
	run(t, d, "CREATE (g1:Graph {key: 'g1'})-[:R]->(:Graph {key: 'g2'}), (g1)-[:CITES]->(:Other {key: 'o1'})", nil)
	storage := ngbak.Dir(t.TempDir())
	manager = func(opts Options) *ngbak.Manager {
		exp, err := New(d, opts)
		if err != nil {
			t.Fatal(err)
		}
		m, _ := ngbak.New(ngbak.Options{Storage: storage, TempDir: t.TempDir()})
		if err := m.Register(exp); err != nil {
			t.Fatal(err)
		}
		return m
	}
	man, err := manager(Options{Label: "Graph"}).Create(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	run(t, d, "CREATE (:Graph {key: 'g3'})", nil)
	return manager, man, graphState(t, d)
}

// randomValue returns a property value of a random type.
func randomValue(r *mrand.Rand) any {
	paris, _ := time.LoadLocation("Asia/Kolkata")
	str := func() string {
		const alphabet = "ab;'\"\\`/*\n:{}[]() é漢🙂\t"
		runes := []rune(alphabet)
		var b strings.Builder
		for range r.IntN(12) {
			b.WriteRune(runes[r.IntN(len(runes))])
		}
		return b.String()
	}
	float := func() float64 {
		switch r.IntN(6) {
		case 0:
			return math.NaN()
		case 1:
			return math.Inf(1 - 2*r.IntN(2))
		case 2:
			return math.Copysign(0, -1)
		}
		return math.Float64frombits(r.Uint64()&^(0x7ff<<52) | uint64(r.IntN(0x7fe)+1)<<52)
	}
	t0 := time.Unix(r.Int64N(1<<34)-1<<33, r.Int64N(1e9)).UTC()
	if r.IntN(4) == 0 {
		// Years Neo4j has that four digits do not: -999999999 to 999999999.
		// (short of the ends, where a zone's offset would cross them).
		t0 = t0.AddDate(int(r.Int64N(1_999_990_000))-999_995_000, 0, 0)
	}
	switch r.IntN(14) {
	case 0:
		return str()
	case 1:
		return r.Int64() - r.Int64()
	case 2:
		return float()
	case 3:
		return r.IntN(2) == 0
	case 4:
		return []any{str(), str()}
	case 5:
		return []any{r.Int64(), int64(math.MinInt64)}
	case 6:
		return []any{float(), float(), float()}
	case 7:
		return neo4j.DateOf(t0)
	case 8:
		return neo4j.LocalDateTimeOf(t0)
	case 9:
		return t0.In(time.FixedZone("Offset", (r.IntN(28)-14)*1800))
	case 10:
		return t0.In(paris)
	case 11:
		return dbtype.Duration{Months: r.Int64N(1000) - 500, Days: r.Int64N(1000) - 500, Seconds: r.Int64N(1e9) - 5e8, Nanos: r.IntN(1e9)}
	case 12:
		return dbtype.Point2D{X: r.NormFloat64() * 1e6, Y: math.Copysign(0, -1), SpatialRefId: 7203}
	}
	return dbtype.Point3D{X: r.Float64()*360 - 180, Y: r.Float64()*180 - 90, Z: r.Float64(), SpatialRefId: 4979}
}

// Random graphs with every property type, seeded: each round trip must
// give back exactly the graph that was backed up.
func TestRandomGraphs(t *testing.T) { eachServer(t, testRandomGraphs) }

func testRandomGraphs(t *testing.T, d neo4j.DriverWithContext) {
	ctx := context.Background()
	t.Cleanup(func() { wipe(t, d) })
	iterations := 12
	if testing.Short() {
		iterations = 3
	}
	for seed := range iterations {
		r := mrand.New(mrand.NewPCG(uint64(seed), 99))
		wipe(t, d)
		labels := []string{"Entity", "Chunk", "odd label", "x`y"}
		var nodes []any
		for i := range 20 + r.IntN(60) {
			props := map[string]any{"key": fmt.Sprintf("n%d", i)}
			for range r.IntN(6) {
				props[fmt.Sprintf("p%d %s", r.IntN(8), []string{"", ";", "`"}[r.IntN(3)])] = randomValue(r)
			}
			nodes = append(nodes, map[string]any{"props": props, "labels": []any{labels[r.IntN(len(labels))], labels[r.IntN(len(labels))]}})
		}
		run(t, d, "UNWIND $nodes AS row CREATE (n) SET n = row.props WITH n, row CALL apoc.create.addLabels(n, row.labels) YIELD node RETURN count(node)", map[string]any{"nodes": nodes})
		var rels []any
		for range r.IntN(100) {
			rels = append(rels, map[string]any{"a": fmt.Sprintf("n%d", r.IntN(len(nodes))), "b": fmt.Sprintf("n%d", r.IntN(len(nodes))), "type": []string{"RELATED", "IN CHUNK", "x`y"}[r.IntN(3)], "w": randomValue(r)})
		}
		run(t, d, "UNWIND $rels AS row MATCH (a {key: row.a}), (b {key: row.b}) CALL apoc.create.relationship(a, row.type, {w: row.w}, b) YIELD rel RETURN count(rel)", map[string]any{"rels": rels})
		want := graphState(t, d)
		exp, _ := New(d, Options{Batch: 1 + r.IntN(30)})
		m := newManager(t, exp)
		man, err := m.Create(ctx, nil)
		if err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		run(t, d, "MATCH (n) WITH n LIMIT 5 DETACH DELETE n", nil)
		run(t, d, "CREATE (:Entity {key: 'added'})", nil)
		if _, err := m.Restore(ctx, man.ID, &ngbak.RestoreOptions{NoSafetyBackup: true}); err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		if diff := cmp.Diff(want, graphState(t, d)); diff != "" {
			t.Fatalf("seed %d (-want +got):\n%s", seed, diff)
		}
	}
}

// A server that dies in the middle of an export makes Create fail and
// leaves no backup. It needs a Neo4j of its own: one like each test
// server, of internal/testserver as make services builds them.
func TestServerDiesMidExport(t *testing.T) {
	for _, s := range testServers {
		t.Run(s.name, func(t *testing.T) {
			s.connect(t) // skips or fails like the others without the server
			testServerDiesMidExport(t, s)
		})
	}
}

// java21 returns a java of version 21 or later, as the second server
// needs: NGBAK_JAVA21, or one of /usr/lib/jvm, as scripts/services.sh
// finds it.
func java21(t *testing.T) string {
	if j := os.Getenv("NGBAK_JAVA21"); j != "" {
		return j
	}
	releases, _ := filepath.Glob("/usr/lib/jvm/*/release")
	sort.Strings(releases)
	for _, r := range releases {
		b, err := os.ReadFile(r)
		if err != nil {
			continue
		}
		var v int
		if i := strings.Index(string(b), "JAVA_VERSION=\""); i >= 0 {
			fmt.Sscanf(string(b[i+len("JAVA_VERSION=\""):]), "%d", &v)
		}
		java := filepath.Join(filepath.Dir(r), "bin/java")
		if _, err := os.Stat(java); err == nil && v >= 21 {
			return java
		}
	}
	t.Fatal("no Java 21 or later in /usr/lib/jvm: set NGBAK_JAVA21")
	return ""
}

func testServerDiesMidExport(t *testing.T, s testServer) {
	ts, _ := filepath.Abs("../internal/testserver")
	dir, java, plugins := ts+"/neo4j/target", "java", ts+"/neo4j/target/plugins"
	var conf []string
	if s.name == "next" {
		dir, java, conf = ts+"/neo4j-next/target", java21(t), []string{ts + "/neo4j-next/neo4j.conf"}
	}
	if _, err := os.Stat(filepath.Join(dir, "lib")); err != nil {
		t.Fatalf("the Neo4j test server is not built (make services builds it): %v", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cmd := exec.Command(java, append([]string{"-Xmx512m", "-cp", dir + "/classes:" + dir + "/lib/*:" + plugins + "/*", "ngbak.TestServer", fmt.Sprint(port), t.TempDir(), plugins}, conf...)...)
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if sc.Text() == "ready" {
				ready <- true
			}
		}
		ready <- false
	}()
	select {
	case ok := <-ready:
		if !ok {
			t.Fatal("the Neo4j test server exited")
		}
	case <-time.After(90 * time.Second):
		t.Fatal("the Neo4j test server did not start")
	}
	ctx := context.Background()
	d, err := neo4j.NewDriverWithContext(fmt.Sprintf("bolt://127.0.0.1:%d", port), neo4j.NoAuth())
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close(ctx)
	run(t, d, "UNWIND range(1, 20000) AS i CREATE (:N {i: i, text: reduce(s = '', x IN range(1, 100) | s + 'abcdefghij')})", nil)
	exp, _ := New(d, Options{})
	storage := t.TempDir()
	var killed bool
	m, _ := ngbak.New(ngbak.Options{Storage: ngbak.Dir(storage), TempDir: t.TempDir(), Progress: func(e ngbak.Event) {
		if e.Phase == "export" && e.Bytes > 0 && !killed {
			killed = true
			cmd.Process.Kill()
		}
	}})
	m.Register(exp)
	_, err = m.Create(ctx, nil)
	if !killed {
		t.Fatal("the export ended before the server could be killed")
	}
	if err == nil {
		t.Fatal("Create succeeded although the server died")
	}
	t.Logf("Create: %v", err)
	if entries, _ := os.ReadDir(storage); len(entries) != 0 {
		t.Fatalf("a failed Create left %d files", len(entries))
	}
}

// Both forms of :param, inside and outside a transaction.
func TestParams(t *testing.T) { eachServer(t, testParams) }

func testParams(t *testing.T, d neo4j.DriverWithContext) {
	ctx := context.Background()
	wipe(t, d)
	t.Cleanup(func() { wipe(t, d) })
	script := ":param {a: 1, b: 'two;'}\n:param rows => [{k: 'x'}, {k: 'y'}]\n:param `odd name` => date('2024-01-01')\n" +
		":begin\n:param n => 3\nUNWIND $rows AS row CREATE (:P {k: row.k, a: $a, b: $b, n: $n, d: $`odd name`});\n:commit\n"
	if err := RunScript(ctx, d, "", "params.cypher", strings.NewReader(script)); err != nil {
		t.Fatal(err)
	}
	got := graphState(t, d)["nodes"]
	want := []string{
		"[P] {`a`: 1, `b`: \"two;\", `d`: date('2024-01-01'), `k`: \"x\", `n`: 3}",
		"[P] {`a`: 1, `b`: \"two;\", `d`: date('2024-01-01'), `k`: \"y\", `n`: 3}",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("(-want +got):\n%s", diff)
	}
}
