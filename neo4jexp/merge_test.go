package neo4jexp

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/neo4j/neo4j-go-driver/v5/neo4j"
)

func TestMergeKind(t *testing.T) {
	rows := "UNWIND $" + rowsParam + " AS row\n"
	for _, c := range []struct {
		stmt string
		kind byte
	}{
		{"CREATE (n:`NGBAK IMPORT`{`ngbak import id`: row._id}) SET n += row.properties", 'n'},
		{"CREATE (n:`NGBAK IMPORT`{`ngbak import id`: row._id}) SET n += row.properties SET n:`A`:`B ``c`", 'n'},
		{"CREATE (n:`UNIQUE IMPORT LABEL`{`UNIQUE IMPORT ID`: row._id}) SET n += row.properties SET n:Thing:Other", 'n'},
		{"CREATE (n:Entity{key: row.key}) SET n += row.properties SET n:Thing", 'n'},
		{"MATCH (start:`NGBAK IMPORT`{`ngbak import id`: row.start})\nMATCH (end:`NGBAK IMPORT`{`ngbak import id`: row.end})\nCREATE (start)-[r:`RELATED`]->(end) SET r += row.properties", 'r'},
		{"MATCH (start:`UNIQUE IMPORT LABEL`{`UNIQUE IMPORT ID`: row.start._id})\nMATCH (end:`UNIQUE IMPORT LABEL`{`UNIQUE IMPORT ID`: row.end._id})\nCREATE (start)-[r:RELATED]->(end) SET r += row.properties", 'r'},
		{"MATCH (start:Entity{key: row.start.key, k2: row.start.k2})\nMATCH (end:Entity{key: row.end.key})\nCREATE (start)-[r:RELATED]->(end) SET r += row.properties", 'r'},
		// Rows that aggregate, return, merge, or read what other rows
		// write are not gathered.
		{"WITH count(row) AS c CREATE (:Count {c: c})", 0},
		{"CREATE (n:Entity{key: row.key}) SET n += row.properties RETURN n", 0},
		{"CREATE (n:Entity{key: row.key}) SET n += row.properties WITH n MATCH (m:Entity) SET n.count = m.count + 1", 0},
		{"MERGE (n:Entity{key: row.key}) SET n += row.properties", 0},
		{"MATCH (m:Entity{key: row.key}) CREATE (n:Entity{key: row.key}) SET n += row.properties", 0},
		{"MATCH (start:Entity{key: row.start})\nMATCH (end:Entity{key: row.end})\nCREATE (start)-[r:RELATED]->(end) SET r += row.properties SET start.n = end.n + 1", 0},
		{"MATCH (start:Entity{key: row.start})\nMATCH (end:Entity{key: row.end})\nCREATE (start)-[r:RELATED]->(end) SET r += row.properties CREATE (:Entity{key: row.end})", 0},
		{"MATCH (start:Entity{key: row.start})\nMATCH (end:Entity{key: end.key})\nCREATE (start)-[r:RELATED]->(end) SET r += row.properties", 0},
	} {
		if got := mergeKind(rows + c.stmt); got != c.kind {
			t.Errorf("mergeKind(%q) = %q, want %q", c.stmt, got, c.kind)
		}
	}
	if got := mergeKind("UNWIND $rows AS row CREATE (n:Entity{key: row.key}) SET n += row.properties"); got != 0 {
		t.Errorf("a statement of the script's own parameter was gathered (%q)", got)
	}
}

// nodeBatch writes a node batch as the export does, ids from..to-1.
func nodeBatch(labels string, from, to int) string {
	var b strings.Builder
	b.WriteString(":begin\nUNWIND [")
	for i := from; i < to; i++ {
		if i > from {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "{_id: \"n%d\", properties: {key: \"k%d\", i: %d}}", i, i, i)
	}
	b.WriteString("] AS row\nCREATE (n:" + importLabel + "{" + importID + ": row._id}) SET n += row.properties SET n" + labels + ";\n:commit\n")
	return b.String()
}

func relBatch(from, to int) string {
	var b strings.Builder
	b.WriteString(":begin\nUNWIND [")
	for i := from; i < to; i++ {
		if i > from {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "{start: \"n%d\", end: \"n%d\", properties: {i: %d}}", i, i+1, i)
	}
	b.WriteString("] AS row\nMATCH (start:" + importLabel + "{" + importID + ": row.start})\nMATCH (end:" + importLabel + "{" + importID + ": row.end})\nCREATE (start)-[r:`NEXT`]->(end) SET r += row.properties;\n:commit\n")
	return b.String()
}

// The batches of a script are sent in fewer transactions, interleaved
// label sets included, and make the graph they say.
func TestGatheredBatches(t *testing.T) { eachServer(t, testGatheredBatches) }

func testGatheredBatches(t *testing.T, d neo4j.DriverWithContext) {
	ctx := context.Background()
	wipe(t, d)
	t.Cleanup(func() { wipe(t, d) })
	var flushes, batches, rows int
	mergedFlush = func(b, r int) { flushes++; batches += b; rows += r }
	t.Cleanup(func() { mergedFlush = nil })
	var script strings.Builder
	script.WriteString("CREATE CONSTRAINT " + importConstraint + " FOR (n:" + importLabel + ") REQUIRE n." + importID + " IS UNIQUE;\n")
	for i := 0; i < 60; i += 6 {
		script.WriteString(nodeBatch(":`A`", i, i+3))
		script.WriteString(nodeBatch(":`B`:`C`", i+3, i+6))
	}
	for i := 0; i < 59; i += 5 {
		script.WriteString(relBatch(i, min(i+5, 59)))
	}
	script.WriteString(cleanupScript)
	if err := RunScript(ctx, d, "", "graph/nodes.cypher", strings.NewReader(script.String())); err != nil {
		t.Fatal(err)
	}
	if flushes != 3 || batches != 32 || rows != 60+59 {
		t.Errorf("%d batches of %d rows sent in %d transactions, want 32 of %d in 3", batches, rows, flushes, 60+59)
	}
	got := graphState(t, d)
	var want []string
	for i := range 60 {
		l := "[A]"
		if i%6 >= 3 {
			l = "[B C]"
		}
		want = append(want, fmt.Sprintf("%s {`i`: %d, `key`: \"k%d\"}", l, i, i))
	}
	var wantRels []string
	for i := range 59 {
		wantRels = append(wantRels, fmt.Sprintf("(k%d)-[NEXT {`i`: %d}]->(k%d)", i, i, i+1))
	}
	for _, w := range [][]string{want, wantRels} {
		sort.Strings(w)
	}
	if diff := cmp.Diff(map[string][]string{"nodes": want, "relationships": wantRels}, got); diff != "" {
		t.Fatalf("(-want +got):\n%s", diff)
	}
}

// A statement that is not gathered sees every batch before it, and none
// after it, as :param does.
func TestGatheringKeepsOrder(t *testing.T) { eachServer(t, testGatheringKeepsOrder) }

func testGatheringKeepsOrder(t *testing.T, d neo4j.DriverWithContext) {
	ctx := context.Background()
	wipe(t, d)
	t.Cleanup(func() { wipe(t, d) })
	script := nodeBatch(":`A`", 0, 3) + nodeBatch(":`A`", 3, 6) +
		// Parameterized, but it aggregates: not gathered.
		":begin\nUNWIND [1] AS x MATCH (n:`A`) WITH count(n) AS c CREATE (:Count {c: c, at: 'statement'});\n:commit\n" +
		nodeBatch(":`A`", 6, 9) +
		":param seen => COUNT { MATCH (n:`A`) }\n" +
		"CREATE (:Count {c: $seen, at: 'param'});\n" +
		nodeBatch(":`A`", 9, 12) +
		"CREATE (:Count {c: COUNT { MATCH (n:`A`) }, at: 'autocommit'});\n" +
		nodeBatch(":`A`", 12, 14)
	if err := RunScript(ctx, d, "", "order.cypher", strings.NewReader(script)); err != nil {
		t.Fatal(err)
	}
	recs := run(t, d, "MATCH (c:Count) RETURN c.at, c.c ORDER BY c.c", nil)
	var got []string
	for _, r := range recs {
		got = append(got, fmt.Sprintf("%v %v", r.Values[0], r.Values[1]))
	}
	if diff := cmp.Diff([]string{"statement 6", "param 9", "autocommit 12"}, got); diff != "" {
		t.Fatalf("what the statements saw (-want +got):\n%s", diff)
	}
	if n := run(t, d, "MATCH (n:`A`) RETURN count(n)", nil)[0].Values[0]; n != int64(14) {
		t.Fatalf("%v nodes", n)
	}
}

// A gathered statement that fails names the line of its first batch and
// the server's message, and leaves nothing of its batches; a statement
// that could be gathered but shares its transaction runs as written, in
// that transaction.
func TestGatheredBatchFails(t *testing.T) { eachServer(t, testGatheredBatchFails) }

func testGatheredBatchFails(t *testing.T, d neo4j.DriverWithContext) {
	ctx := context.Background()
	wipe(t, d)
	t.Cleanup(func() { wipe(t, d) })
	head := "CREATE CONSTRAINT " + importConstraint + " FOR (n:" + importLabel + ") REQUIRE n." + importID + " IS UNIQUE;\n"
	// Lines: 1 the constraint, 2-5 the first batch, 6-9 the second.
	script := head + nodeBatch(":`A`", 0, 3) + nodeBatch(":`A`", 2, 5)
	err := RunScript(ctx, d, "", "graph/nodes/000001.cypher", strings.NewReader(script))
	if err == nil || !strings.Contains(err.Error(), "graph/nodes/000001.cypher:3:") || !strings.Contains(err.Error(), "already exists") || !strings.Contains(err.Error(), "up to line 7") {
		t.Fatalf("RunScript = %v", err)
	}
	if n := run(t, d, "MATCH (n) RETURN count(n)", nil)[0].Values[0]; n != int64(0) {
		t.Fatalf("%v nodes left by a failed transaction", n)
	}

	wipe(t, d)
	one := strings.TrimSuffix(nodeBatch(":`A`", 0, 2), ":commit\n")
	if err := RunScript(ctx, d, "", "x", strings.NewReader(one+"CREATE (:B);\n:commit\n"+one+":rollback\n")); err != nil {
		t.Fatal(err)
	}
	if n := run(t, d, "MATCH (n) RETURN count(n)", nil)[0].Values[0]; n != int64(3) {
		t.Fatalf("%v nodes, want the 2 of the batch and 1 of its transaction", n)
	}
	wipe(t, d)
	if err := RunScript(ctx, d, "", "x", strings.NewReader(one+"CREATE INDEX FOR (n:A) ON (n.x);\n:commit\n")); err == nil || !strings.Contains(err.Error(), "schema and data") {
		t.Fatalf("a batch and a schema statement in one transaction: %v", err)
	}
	if err := RunScript(ctx, d, "", "x", strings.NewReader(one)); err == nil || !strings.Contains(err.Error(), "inside a transaction") {
		t.Fatalf("a script ending after a batch's :begin: %v", err)
	}
	if n := run(t, d, "MATCH (n) RETURN count(n)", nil)[0].Values[0]; n != int64(0) {
		t.Fatalf("%v nodes left by failed scripts", n)
	}
}

// An APOC script is one file, however large: what is gathered from it
// stays within the budget, large rows and many label sets included.
func TestGatheredBudget(t *testing.T) {
	d := server(t)
	ctx := context.Background()
	wipe(t, d)
	t.Cleanup(func() { wipe(t, d) })
	var peak int
	gatheredHeld = func(held int) { peak = max(peak, held) }
	t.Cleanup(func() { gatheredHeld = nil })
	text := strings.Repeat("0123456789abcdefghijklmnopqrstuvwxyz", 500) // 18 KB
	var script strings.Builder
	const sets = 300
	for i := range 2 * sets {
		fmt.Fprintf(&script, ":begin\nUNWIND [{_id: %d, properties: {text: \"%s\"}}, {_id: %d, properties: {text: \"%s\"}}] AS row\n"+
			"CREATE (n:`UNIQUE IMPORT LABEL`{`UNIQUE IMPORT ID`: row._id}) SET n += row.properties SET n:`T%d`;\n:commit\n", 2*i, text, 2*i+1, text, i%sets)
	}
	if script.Len() < 2*mergeBytes {
		t.Fatalf("the script has %d bytes, not twice the budget", script.Len())
	}
	if err := RunScript(ctx, d, "", "apoc.cypher", strings.NewReader(script.String())); err != nil {
		t.Fatal(err)
	}
	if limit := mergeBytes + 3*len(text); peak > limit {
		t.Fatalf("%d bytes of batches held at once, more than the budget of %d (and a batch)", peak, mergeBytes)
	}
	if n := run(t, d, "MATCH (n) RETURN count(n)", nil)[0].Values[0]; n != int64(4*sets) {
		t.Fatalf("%v nodes, want %d", n, 4*sets)
	}
}
