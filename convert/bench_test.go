package convert_test

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ngbak/ngbak"
	"github.com/ngbak/ngbak/convert"
	"github.com/ngbak/ngbak/internal/heap"
	"github.com/ngbak/ngbak/jsonexp"
	"github.com/ngbak/ngbak/neo4jexp"
	"github.com/ngbak/ngbak/qdrantexp"
	"github.com/ngbak/ngbak/redisexp"
)

func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil {
		return n
	}
	return def
}

// writeKV writes kv_store_full_docs.json of n entries of about 1 KiB.
func writeKV(b *testing.B, dir string, n int) {
	f, err := os.Create(filepath.Join(dir, "kv_store_full_docs.json"))
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriter(f)
	w.WriteString("{")
	body := strings.Repeat("GraphRAG Ölfeld 北京 <SEP> ", 40)
	for i := range n {
		if i > 0 {
			w.WriteString(",")
		}
		fmt.Fprintf(w, "\n  \"doc-%08d\": {\n    \"content\": \"%s %d\"\n  }", i, body, i)
	}
	w.WriteString("\n}")
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	f.Close()
}

// writeVDB writes vdb_<ns>.json of n random unit vectors of dim 1536.
func writeVDB(b *testing.B, dir, ns string, n int) {
	const dim = 1536
	f, err := os.Create(filepath.Join(dir, "vdb_"+ns+".json"))
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	fmt.Fprintf(w, `{"embedding_dim": %d, "data": [`, dim)
	for i := range n {
		if i > 0 {
			w.WriteString(", ")
		}
		fmt.Fprintf(w, `{"__id__": "ent-%08d", "entity_name": "\"E%d\"", "entity_type": "\"PERSON\""}`, i, i)
	}
	w.WriteString(`], "matrix": "`)
	enc := base64.NewEncoder(base64.StdEncoding, w)
	rnd := rand.New(rand.NewPCG(1, 2))
	row := make([]byte, 4*dim)
	vec := make([]float64, dim)
	for range n {
		var norm float64
		for j := range vec {
			vec[j] = rnd.NormFloat64()
			norm += vec[j] * vec[j]
		}
		norm = math.Sqrt(norm)
		for j := range vec {
			binary.LittleEndian.PutUint32(row[4*j:], math.Float32bits(float32(vec[j]/norm)))
		}
		enc.Write(row)
	}
	enc.Close()
	w.WriteString(`"}`)
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	f.Close()
}

// writeGraphML writes graph_chunk_entity_relation.graphml as NetworkX does,
// of n entities and m relationships.
func writeGraphML(b *testing.B, dir string, n, m int) {
	f, err := os.Create(filepath.Join(dir, "graph_chunk_entity_relation.graphml"))
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	w.WriteString(`<?xml version='1.0' encoding='utf-8'?>
<graphml xmlns="http://graphml.graphdrawing.org/xmlns">
  <key id="d5" for="edge" attr.name="source_id" attr.type="string" />
  <key id="d4" for="edge" attr.name="description" attr.type="string" />
  <key id="d3" for="edge" attr.name="weight" attr.type="double" />
  <key id="d2" for="node" attr.name="source_id" attr.type="string" />
  <key id="d1" for="node" attr.name="description" attr.type="string" />
  <key id="d0" for="node" attr.name="entity_type" attr.type="string" />
  <graph edgedefault="undirected">
`)
	types := []string{"PERSON", "ORGANIZATION", "GEO", "EVENT"}
	for i := range n {
		fmt.Fprintf(w, "    <node id=\"&quot;E%d&quot;\">\n      <data key=\"d0\">&quot;%s&quot;</data>\n      <data key=\"d1\">Entity %d of the graph, Ölfeld 北京 &lt;SEP&gt; a second description</data>\n      <data key=\"d2\">chunk-%d&lt;SEP&gt;chunk-%d</data>\n    </node>\n", i, types[i%len(types)], i, i, i+1)
	}
	for i := range m {
		fmt.Fprintf(w, "    <edge source=\"&quot;E%d&quot;\" target=\"&quot;E%d&quot;\">\n      <data key=\"d3\">%d.0</data>\n      <data key=\"d4\">relation %d</data>\n      <data key=\"d5\">chunk-%d</data>\n    </edge>\n", i%n, (i*7+1+i/n)%n, i%9+1, i, i)
	}
	w.WriteString("  </graph>\n</graphml>")
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	f.Close()
}

// BenchmarkConvert restores a backup of nano-graphrag's file stores into
// Redis and Qdrant ("convert") beside a plain restore of the same data
// from a backup of those stores ("plain"), and reports the peak heap.
// NGBAK_CONVERT_BENCH_KV and NGBAK_CONVERT_BENCH_VECTORS set the sizes
// and NGBAK_CONVERT_BENCH_NODES (relationships twice as many) set the sizes
// (default 10000 entries, 2000 vectors of 1536 dimensions, 2000 nodes):
//
//	NGBAK_CONVERT_BENCH_KV=100000 NGBAK_CONVERT_BENCH_VECTORS=100000 NGBAK_CONVERT_BENCH_NODES=100000 \
//		go test -run '^$' -bench Convert -benchtime 1x -timeout 30m ./convert
func BenchmarkConvert(b *testing.B) {
	for _, kind := range []string{"kv", "vectors", "graph"} {
		b.Run(kind, func(b *testing.B) {
			ctx := context.Background()
			work := b.TempDir()
			var target ngbak.Exporter
			switch kind {
			case "kv":
				writeKV(b, work, envInt("NGBAK_CONVERT_BENCH_KV", 10000))
				c := redisClient(b)
				p := fmt.Sprintf("ngbak-convert-bench-%d:", time.Now().UnixNano())
				b.Cleanup(func() {
					for {
						keys, _, err := c.Scan(context.Background(), 0, p+"*", 10000).Result()
						if err != nil || len(keys) == 0 {
							return
						}
						c.Del(context.Background(), keys...)
					}
				})
				target, _ = redisexp.New(redisexp.NewKVStore(c, redisexp.KVStoreOptions{Prefix: p}), redisexp.Options{Name: "target"})
			case "graph":
				d := neo4jDriver(b)
				label := fmt.Sprintf("GraphRAG_convert_bench_%d", time.Now().UnixNano())
				b.Cleanup(func() { dropLabel(d, label) })
				n := envInt("NGBAK_CONVERT_BENCH_NODES", 2000)
				writeGraphML(b, work, n, 2*n)
				g, err := neo4jexp.New(d, neo4jexp.Options{Name: "target", Label: label})
				if err != nil {
					b.Fatal(err)
				}
				target = g
			case "vectors":
				cfg, client := qdrantEnv(b)
				ns := fmt.Sprintf("ngbak_convert_bench_%d_entities", time.Now().UnixNano())
				b.Cleanup(func() { client.DeleteCollection(context.Background(), ns) })
				writeVDB(b, work, ns, envInt("NGBAK_CONVERT_BENCH_VECTORS", 2000))
				q, err := qdrantexp.New(cfg, qdrantexp.Options{Name: "target", Collections: []string{ns}, Mode: qdrantexp.Logical})
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() { q.Close() })
				target = q
			}
			conv, err := convert.New(target, convert.Options{TempDir: b.TempDir()})
			if err != nil {
				b.Fatal(err)
			}
			files, _ := jsonexp.New(jsonexp.Options{Dir: work})
			storage := ngbak.Dir(b.TempDir())
			m, _ := ngbak.New(ngbak.Options{Storage: storage, TempDir: b.TempDir()})
			m.Register(files, conv)
			src, err := m.Create(ctx, nil)
			if err != nil {
				b.Fatal(err)
			}
			restore := func(b *testing.B, id string, ro *ngbak.RestoreOptions) {
				var peak uint64
				b.ResetTimer()
				for range b.N {
					peak = max(peak, heap.Peak(func() {
						if _, err := m.Restore(ctx, id, ro); err != nil {
							b.Fatal(err)
						}
					}))
				}
				b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
			}
			b.Run("convert", func(b *testing.B) {
				restore(b, src.ID, &ngbak.RestoreOptions{Into: map[string]string{"json": "target"}, NoSafetyBackup: true})
			})
			plain, err := m.Create(ctx, nil)
			if err != nil {
				b.Fatal(err)
			}
			b.Run("plain", func(b *testing.B) {
				restore(b, plain.ID, &ngbak.RestoreOptions{Backends: []string{"target"}, NoSafetyBackup: true})
			})
		})
	}
}
