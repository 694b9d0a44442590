package redisexp_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ngbak/ngbak"
	"github.com/ngbak/ngbak/internal/heap"
	"github.com/ngbak/ngbak/redisexp"
	"github.com/redis/go-redis/v9"
)

// The benchmarks need NGBAK_REDIS_URL (make services). They fill one
// namespace with 100k JSON values of about 1 KiB (NGBAK_BENCH_KEYS sets
// another count, to see that the heap does not grow with it) and measure,
// side by side:
//
//	BenchmarkExport  vs BenchmarkOldWayGet  (one GET per key, as the old system did)
//	BenchmarkRestore vs BenchmarkOldWaySet  (one SET per key)
//
// Each reports keys/s, MB/s and the peak heap.

var benchKeys = func() int {
	if n, err := strconv.Atoi(os.Getenv("NGBAK_BENCH_KEYS")); err == nil && n > 0 {
		return n
	}
	return 100_000
}()

var benchData struct {
	once   sync.Once
	prefix string
	bytes  int64
}

func benchSetup(b *testing.B) redis.UniversalClient {
	client := server(b, "NGBAK_REDIS_URL")
	ctx := context.Background()
	benchData.once.Do(func() {
		benchData.prefix = uniquePrefix()
		rng := rand.New(rand.NewPCG(1, 2))
		words := strings.Fields("entity relation graph community report chunk vector retrieval the of and a to in")
		pipe := client.Pipeline()
		for i := range benchKeys {
			var sb strings.Builder
			for sb.Len() < 950 {
				sb.WriteString(words[rng.IntN(len(words))])
				sb.WriteByte(' ')
			}
			v := fmt.Sprintf(`{"content": %q, "tokens": %d, "full_doc_id": "doc-%d"}`, sb.String(), rng.IntN(1200), i/10)
			benchData.bytes += int64(len(v))
			pipe.Set(ctx, fmt.Sprintf("%sfull_docs:chunk-%06d", benchData.prefix, i), v, 0)
			if pipe.Len() == 1000 {
				if _, err := pipe.Exec(ctx); err != nil {
					b.Fatal(err)
				}
			}
		}
		if _, err := pipe.Exec(ctx); err != nil {
			b.Fatal(err)
		}
	})
	return client
}

// TestMain removes the benchmark's keys from the server after the run.
func TestMain(m *testing.M) {
	code := m.Run()
	if benchData.prefix != "" {
		if opts, err := redis.ParseURL(os.Getenv("NGBAK_REDIS_URL")); err == nil {
			client := redis.NewClient(opts)
			cleanup(client, benchData.prefix)
			client.Close()
		}
	}
	os.Exit(code)
}

func report(b *testing.B, elapsed time.Duration, peak uint64) {
	b.ReportMetric(float64(benchKeys)*float64(b.N)/elapsed.Seconds(), "keys/s")
	b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
	b.SetBytes(benchData.bytes)
}

func benchManager(b *testing.B, client redis.UniversalClient) (*ngbak.Manager, *ngbak.Manifest) {
	store := redisexp.NewKVStore(client, redisexp.KVStoreOptions{Prefix: benchData.prefix})
	exp, _ := redisexp.New(store, redisexp.Options{Namespaces: []string{"full_docs"}})
	m, err := ngbak.New(ngbak.Options{Storage: ngbak.Dir(b.TempDir()), TempDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	m.Register(exp)
	man, err := m.Create(context.Background(), nil)
	if err != nil {
		b.Fatal(err)
	}
	return m, man
}

func BenchmarkExport(b *testing.B) {
	client := benchSetup(b)
	m, _ := benchManager(b, client)
	var peak uint64
	start := time.Now()
	for b.Loop() {
		peak = max(peak, heap.Peak(func() {
			man, err := m.Create(context.Background(), nil)
			if err != nil {
				b.Fatal(err)
			}
			if n := man.Backends[0].Stats["keys"]; n != int64(benchKeys) {
				b.Fatalf("exported %d keys", n)
			}
		}))
	}
	report(b, time.Since(start), peak)
}

func BenchmarkOldWayGet(b *testing.B) {
	client := benchSetup(b)
	ctx := context.Background()
	var keys []string
	scanAll(ctx, client, benchData.prefix+"full_docs:*", func(k string) { keys = append(keys, k) })
	start := time.Now()
	for b.Loop() {
		for _, k := range keys {
			if err := client.Get(ctx, k).Err(); err != nil {
				b.Fatal(err)
			}
		}
	}
	report(b, time.Since(start), 0)
}

func BenchmarkRestore(b *testing.B) {
	client := benchSetup(b)
	m, man := benchManager(b, client)
	var peak uint64
	start := time.Now()
	for b.Loop() {
		peak = max(peak, heap.Peak(func() {
			if _, err := m.Restore(context.Background(), man.ID, &ngbak.RestoreOptions{NoSafetyBackup: true}); err != nil {
				b.Fatal(err)
			}
		}))
	}
	report(b, time.Since(start), peak)
}

func BenchmarkOldWaySet(b *testing.B) {
	client := benchSetup(b)
	ctx := context.Background()
	var keys []string
	scanAll(ctx, client, benchData.prefix+"full_docs:*", func(k string) { keys = append(keys, k) })
	values := make([]string, len(keys))
	for i, k := range keys {
		values[i] = client.Get(ctx, k).Val()
	}
	start := time.Now()
	for b.Loop() {
		for i, k := range keys {
			if err := client.Set(ctx, k, values[i], 0).Err(); err != nil {
				b.Fatal(err)
			}
		}
	}
	report(b, time.Since(start), 0)
}

// BenchmarkExportRaw is BenchmarkExport through the RawExporter (DUMP
// payloads), whose records go through one ngbak.PartWriter.
func BenchmarkExportRaw(b *testing.B) {
	client := benchSetup(b)
	exp := redisexp.NewRaw(client, redisexp.RawOptions{Pattern: benchData.prefix + "*"})
	m, err := ngbak.New(ngbak.Options{Storage: ngbak.Dir(b.TempDir()), TempDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	m.Register(exp)
	var peak uint64
	start := time.Now()
	for b.Loop() {
		peak = max(peak, heap.Peak(func() {
			man, err := m.Create(context.Background(), nil)
			if err != nil {
				b.Fatal(err)
			}
			if n := man.Backends[0].Stats["keys"]; n != int64(benchKeys) {
				b.Fatalf("exported %d keys", n)
			}
		}))
	}
	report(b, time.Since(start), peak)
}
