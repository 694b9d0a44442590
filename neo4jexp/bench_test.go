package neo4jexp

import (
	"context"
	"crypto/sha256"
	"fmt"
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
//	BenchmarkAPOCReplay                      (APOC's script run statement by statement, each in its own
//	                                          transaction: what the old system amounted to)
//
// BenchmarkRestore measures the restore of a GraphRAG-shaped graph at two
// sizes against the limit: the same rows loaded by the driver alone.
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

// A GraphRAG as nano-graphrag keeps it: entities labelled with the
// namespace and the type an LLM chose, under a unique key, and RELATED
// relationships with a weight, a description and the source chunks; two
// relationships an entity.
type graphragRows struct {
	nodes map[string][]any // property maps by label set
	rels  []any            // {start, end, properties}
}

var graphragTypes = []string{"PERSON", "ORGANIZATION", "EVENT", "GEO"}

func newGraphRAG(entities int) graphragRows {
	g := graphragRows{nodes: map[string][]any{}}
	for i := range entities {
		typ := graphragTypes[i%len(graphragTypes)]
		g.nodes[typ] = append(g.nodes[typ], map[string]any{
			"key":         fmt.Sprintf("ENTITY %d", i),
			"entity_type": typ,
			"description": fmt.Sprintf("Entity %d is a %s that the corpus mentions in passing, with a description of about the length an LLM writes for one.", i, strings.ToLower(typ)),
			"source_id":   fmt.Sprintf("chunk-%08x<SEP>chunk-%08x", i*2654435761%(1<<32), (i+1)*2654435761%(1<<32)),
		})
	}
	for i := range entities {
		for k, step := range []int{7, 13} {
			g.rels = append(g.rels, map[string]any{
				"start": fmt.Sprintf("ENTITY %d", i),
				"end":   fmt.Sprintf("ENTITY %d", (i*step+k+1)%entities),
				"properties": map[string]any{
					"weight":      float64(i%10) + 0.5,
					"description": fmt.Sprintf("Entity %d relates to the other through the events of chunk %d.", i, i/3),
					"keywords":    "relation, context",
					"source_id":   fmt.Sprintf("chunk-%08x", i*2654435761%(1<<32)),
					"order":       int64(k + 1),
				},
			})
		}
	}
	return g
}

// driverLoad is the limit a restore is measured against: the Go driver
// alone, UNWIND $rows ... CREATE with the rows as a parameter, batches of
// 10k, each in its own transaction, into an empty database, with the
// unique key that the relationships are matched by created first.
func driverLoad(ctx context.Context, d neo4j.DriverWithContext, g graphragRows) error {
	const batch = 10_000
	sess := d.NewSession(ctx, neo4j.SessionConfig{})
	defer sess.Close(ctx)
	write := func(q string, rows []any) error {
		for len(rows) > 0 {
			n := min(batch, len(rows))
			if _, err := sess.ExecuteWrite(ctx, func(tx neo4j.ManagedTransaction) (any, error) {
				res, err := tx.Run(ctx, q, map[string]any{"rows": rows[:n]})
				if err != nil {
					return nil, err
				}
				return res.Consume(ctx)
			}); err != nil {
				return err
			}
			rows = rows[n:]
		}
		return nil
	}
	if err := write("CREATE CONSTRAINT graphrag_key FOR (n:Entity) REQUIRE n.key IS UNIQUE", []any{nil}); err != nil {
		return err
	}
	for _, typ := range graphragTypes {
		if err := write("UNWIND $rows AS row CREATE (n:Entity:"+typ+") SET n = row", g.nodes[typ]); err != nil {
			return err
		}
	}
	return write("UNWIND $rows AS row MATCH (a:Entity {key: row.start}) MATCH (b:Entity {key: row.end}) CREATE (a)-[r:RELATED]->(b) SET r = row.properties", g.rels)
}

// BenchmarkRestore restores a GraphRAG of 20k entities and 40k
// relationships, and ten times it, with ngbak (a whole Manager.Restore,
// replacing the graph the backup was made of; ngbak-empty: into an empty
// database) and with driverLoad, side by side in the same run:
//
//	go test -run '^$' -bench BenchmarkRestore -benchtime 3x ./neo4jexp
func BenchmarkRestore(b *testing.B) {
	// The graph's state is compared by its digest, which does not hold it.
	stateSum := func(b *testing.B, d neo4j.DriverWithContext) [32]byte {
		st := graphState(b, d)
		h := sha256.New()
		for _, k := range []string{"nodes", "relationships", "schema"} {
			for _, line := range st[k] {
				fmt.Fprintf(h, "%s %d %s\n", k, len(line), line)
			}
		}
		return [32]byte(h.Sum(nil))
	}
	for _, entities := range []int{20_000, 200_000} {
		b.Run(fmt.Sprintf("entities=%dk", entities/1000), func(b *testing.B) {
			ctx := context.Background()
			d := server(b)
			wipe(b, d)
			b.Cleanup(func() { wipe(b, d) })
			// The rows and the graph to compare with are not kept while
			// ngbak restores: held, they would let the GC grow the heap
			// by their size, and the peak above them would say so.
			rels := 2 * entities
			if err := driverLoad(ctx, d, newGraphRAG(entities)); err != nil {
				b.Fatal(err)
			}
			want := stateSum(b, d)
			m := benchManager(b, d)
			man, err := m.Create(ctx, nil)
			if err != nil {
				b.Fatal(err)
			}
			report := func(b *testing.B, elapsed time.Duration) {
				s := elapsed.Seconds() / float64(b.N)
				b.ReportMetric(float64(entities)/s, "nodes/s")
				b.ReportMetric(float64(rels)/s, "rels/s")
			}
			check := func(b *testing.B) {
				if got := stateSum(b, d); got != want {
					b.Fatal("the graph differs from the one backed up")
				}
			}
			b.Run("ngbak", func(b *testing.B) {
				var peak uint64
				start := time.Now()
				for b.Loop() {
					peak = max(peak, heap.Peak(func() {
						if _, err := m.Restore(ctx, man.ID, &ngbak.RestoreOptions{NoSafetyBackup: true}); err != nil {
							b.Fatal(err)
						}
					}))
				}
				report(b, time.Since(start))
				b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
				check(b)
			})
			// The same restore into an empty database: the work the
			// driver-only load does, without the deletion of the graph.
			b.Run("ngbak-empty", func(b *testing.B) {
				var elapsed time.Duration
				for b.Loop() {
					b.StopTimer()
					wipe(b, d)
					b.StartTimer()
					start := time.Now()
					if _, err := m.Restore(ctx, man.ID, &ngbak.RestoreOptions{NoSafetyBackup: true}); err != nil {
						b.Fatal(err)
					}
					elapsed += time.Since(start)
				}
				report(b, elapsed)
				check(b)
			})
			b.Run("driver", func(b *testing.B) {
				g := newGraphRAG(entities)
				var elapsed time.Duration
				for b.Loop() {
					b.StopTimer()
					wipe(b, d)
					b.StartTimer()
					start := time.Now()
					if err := driverLoad(ctx, d, g); err != nil {
						b.Fatal(err)
					}
					elapsed += time.Since(start)
				}
				report(b, elapsed)
				check(b)
			})
		})
	}
}
