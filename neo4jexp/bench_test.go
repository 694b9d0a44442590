package neo4jexp

import (
	"context"
	"io"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/neo4j/neo4j-go-driver/v5/neo4j"
	"github.com/ngbak/ngbak"
	"github.com/ngbak/ngbak/internal/heap"
)

// The benchmarks need NGBAK_NEO4J_URI (make services). They build a graph
// of 100k nodes and 200k relationships (NGBAK_BENCH_NODES sets another node
// count) with a few properties each, and measure side by side:
//
//	BenchmarkExport  vs BenchmarkAPOCExport  (apoc.export.cypher.all, cypher-shell format, default settings)
//	BenchmarkRestore vs BenchmarkAPOCReplay  (APOC's script run statement by statement, each in its own
//	                                          transaction: what the old system amounted to)
//
// Each reports nodes/s, relationships/s and, for ngbak, the peak heap. The
// database is replaced: run them on a throwaway server.

var benchNodes = func() int {
	if n, err := strconv.Atoi(os.Getenv("NGBAK_BENCH_NODES")); err == nil && n > 0 {
		return n
	}
	return 100_000
}()

func benchGraph(b *testing.B) neo4j.DriverWithContext {
	d := server(b)
	wipe(b, d)
	run(b, d, "CREATE CONSTRAINT bench_key FOR (n:Entity) REQUIRE n.key IS UNIQUE", nil)
	autoRun(b, d, "UNWIND range(1, $n) AS i CALL { WITH i CREATE (:Entity {key: 'e' + i, name: 'entity number ' + i, type: ['PERSON', 'ORG', 'EVENT'][i % 3], rank: i % 97}) } IN TRANSACTIONS OF 10000 ROWS", map[string]any{"n": benchNodes})
	autoRun(b, d, "UNWIND range(1, $n) AS i CALL { WITH i MATCH (a:Entity {key: 'e' + i}), (b:Entity {key: 'e' + ((i * 7) % $n + 1)}), (c:Entity {key: 'e' + ((i * 13) % $n + 1)}) "+
		"CREATE (a)-[:RELATED {weight: i / 3.0, description: 'related via ' + i}]->(b), (a)-[:MENTIONS {count: i % 11}]->(c) } IN TRANSACTIONS OF 10000 ROWS", map[string]any{"n": benchNodes})
	b.Cleanup(func() { wipe(b, d) })
	return d
}

func reportGraph(b *testing.B, elapsed time.Duration, peak uint64) {
	s := elapsed.Seconds() / float64(b.N)
	b.ReportMetric(float64(benchNodes)/s, "nodes/s")
	b.ReportMetric(float64(2*benchNodes)/s, "rels/s")
	if peak > 0 {
		b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
	}
}

func benchManager(b *testing.B, d neo4j.DriverWithContext) *ngbak.Manager {
	exp, _ := New(d, Options{})
	m, err := ngbak.New(ngbak.Options{Storage: ngbak.Dir(b.TempDir()), TempDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	m.Register(exp)
	return m
}

func BenchmarkExport(b *testing.B) {
	d := benchGraph(b)
	m := benchManager(b, d)
	var peak uint64
	start := time.Now()
	for b.Loop() {
		peak = max(peak, heap.Peak(func() {
			if _, err := m.Create(context.Background(), nil); err != nil {
				b.Fatal(err)
			}
		}))
	}
	reportGraph(b, time.Since(start), peak)
}

func apocScript(b *testing.B, d neo4j.DriverWithContext) string {
	recs := run(b, d, "CALL apoc.export.cypher.all(null, {format: 'cypher-shell', stream: true}) YIELD cypherStatements RETURN cypherStatements", nil)
	var sb strings.Builder
	for _, r := range recs {
		sb.WriteString(r.Values[0].(string))
	}
	return sb.String()
}

func BenchmarkAPOCExport(b *testing.B) {
	d := benchGraph(b)
	start := time.Now()
	for b.Loop() {
		if len(apocScript(b, d)) == 0 {
			b.Fatal("empty script")
		}
	}
	reportGraph(b, time.Since(start), 0)
}

func BenchmarkRestore(b *testing.B) {
	d := benchGraph(b)
	m := benchManager(b, d)
	man, err := m.Create(context.Background(), nil)
	if err != nil {
		b.Fatal(err)
	}
	var peak uint64
	start := time.Now()
	for b.Loop() {
		peak = max(peak, heap.Peak(func() {
			if _, err := m.Restore(context.Background(), man.ID, &ngbak.RestoreOptions{NoSafetyBackup: true}); err != nil {
				b.Fatal(err)
			}
		}))
	}
	reportGraph(b, time.Since(start), peak)
	if n := run(b, d, "MATCH ()-[r]->() RETURN count(r)", nil)[0].Values[0]; n != int64(2*benchNodes) {
		b.Fatalf("%v relationships after restore", n)
	}
}

func BenchmarkAPOCReplay(b *testing.B) {
	d := benchGraph(b)
	script := apocScript(b, d)
	ctx := context.Background()
	var elapsed time.Duration
	for b.Loop() {
		b.StopTimer()
		wipe(b, d)
		b.StartTimer()
		start := time.Now()
		sess := d.NewSession(ctx, neo4j.SessionConfig{})
		p := NewParser(strings.NewReader(script))
		params := map[string]any{}
		for {
			it, err := p.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			if it.Command != "" {
				continue // each statement in its own transaction
			}
			res, err := sess.Run(ctx, it.Text, params)
			if err == nil {
				_, err = res.Consume(ctx)
			}
			if err != nil {
				b.Fatalf("line %d: %v", it.Line, err)
			}
		}
		sess.Close(ctx)
		elapsed += time.Since(start)
	}
	reportGraph(b, elapsed, 0)
	if n := run(b, d, "MATCH ()-[r]->() RETURN count(r)", nil)[0].Values[0]; n != int64(2*benchNodes) {
		b.Fatalf("%v relationships after the replay", n)
	}
}
