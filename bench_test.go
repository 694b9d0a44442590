package ngbak_test

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/ngbak/ngbak"
	"github.com/ngbak/ngbak/internal/heap"
	"github.com/ngbak/ngbak/jsonexp"
)

// The benchmarks run on a generated nano-graphrag working dir of 1 GiB
// (override the size with NGBAK_BENCH_MIB), kept between runs in
// NGBAK_BENCH_DIR or the system temp dir. Each ngbak benchmark has a
// baseline beside it, run on the same data in the same process:
//
//	BenchmarkCreate  vs BenchmarkBaselineTarZstd     (tar -I 'zstd -3' -cf)
//	BenchmarkVerify  vs BenchmarkBaselineZstdSha256  (zstd -dc | sha256sum)
//	BenchmarkRestore vs BenchmarkBaselineTarExtract  (tar -I zstd -xf)
//
// make bench runs them all; compare medians with benchstat.

var bench struct {
	once    sync.Once
	dir     string // the working dir
	size    int64
	store   string // storage with one backup of it
	id      string
	archive string
	err     error
}

func benchSetup(b *testing.B) {
	b.Helper()
	bench.once.Do(func() { bench.err = makeBenchData() })
	if bench.err != nil {
		b.Fatal(bench.err)
	}
}

func makeBenchData() error {
	mib := int64(1024)
	if s := os.Getenv("NGBAK_BENCH_MIB"); s != "" {
		if _, err := fmt.Sscan(s, &mib); err != nil {
			return err
		}
	}
	root := os.Getenv("NGBAK_BENCH_DIR")
	if root == "" {
		root = filepath.Join(os.TempDir(), "ngbak-bench")
	}
	bench.dir = filepath.Join(root, fmt.Sprintf("workdir-%dMiB", mib))
	if _, err := os.Stat(filepath.Join(bench.dir, ".complete")); err != nil {
		if err := generateWorkdir(bench.dir, mib<<20); err != nil {
			return err
		}
	}
	exp, err := jsonexp.New(jsonexp.Options{Dir: bench.dir})
	if err != nil {
		return err
	}
	names, err := filepath.Glob(filepath.Join(bench.dir, "*.json*"))
	if err != nil {
		return err
	}
	bench.size = 0
	for _, n := range names {
		fi, err := os.Stat(n)
		if err != nil {
			return err
		}
		bench.size += fi.Size()
	}
	bench.store = filepath.Join(root, "backups")
	os.RemoveAll(bench.store)
	m, err := ngbak.New(ngbak.Options{Storage: ngbak.Dir(bench.store)})
	if err != nil {
		return err
	}
	m.Register(exp)
	man, err := m.Create(context.Background(), nil)
	if err != nil {
		return err
	}
	bench.id = man.ID
	bench.archive = filepath.Join(bench.store, man.ID+".ngbak")
	return nil
}

// generateWorkdir writes size bytes in nano-graphrag's files: chunks and
// documents as JSON text (most of it), the LLM cache, and an entity vector
// store whose base64 float32 matrix compresses poorly, as real ones do.
func generateWorkdir(dir string, size int64) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	parts := []struct {
		name  string
		share int64
		gen   func(n int64) io.Reader
	}{
		{"kv_store_text_chunks.json", 40, func(n int64) io.Reader { return newJSONGen(n) }},
		{"kv_store_full_docs.json", 25, func(n int64) io.Reader { return newJSONGen(n + 1) }},
		{"kv_store_llm_response_cache.json", 15, func(n int64) io.Reader { return newJSONGen(n + 2) }},
		{"kv_store_community_reports.json", 5, func(n int64) io.Reader { return newJSONGen(n + 3) }},
		{"vdb_entities.json", 15, func(n int64) io.Reader { return newVectorGen(n) }},
	}
	for _, p := range parts {
		f, err := os.Create(filepath.Join(dir, p.name))
		if err != nil {
			return err
		}
		_, err = io.Copy(f, p.gen(size*p.share/100))
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
	}
	return os.WriteFile(filepath.Join(dir, ".complete"), nil, 0o644)
}

// newVectorGen yields n bytes of base64 float32 embeddings.
func newVectorGen(n int64) io.Reader {
	rng := rand.New(rand.NewPCG(7, 7))
	pr, pw := io.Pipe()
	go func() {
		enc := base64.NewEncoder(base64.StdEncoding, pw)
		buf := make([]byte, 0, 3072)
		for {
			buf = buf[:0]
			for range 768 {
				buf = binary.LittleEndian.AppendUint32(buf, math.Float32bits(float32(rng.NormFloat64()*0.05)))
			}
			if _, err := enc.Write(buf); err != nil {
				return
			}
		}
	}()
	return &closingLimit{io.LimitReader(pr, n), pr}
}

type closingLimit struct {
	io.Reader
	pr *io.PipeReader
}

func (c *closingLimit) Read(p []byte) (int, error) {
	n, err := c.Reader.Read(p)
	if err == io.EOF {
		c.pr.Close()
	}
	return n, err
}

func reportHeap(b *testing.B, peak uint64) {
	b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
	b.ReportMetric(benchCPU.Seconds()/float64(b.N), "cpu-s/op")
	benchCPU = 0
}

// benchCPU is the process's CPU time (user and system) in peakCPU's runs:
// on a machine that other work keeps busy it varies less than the time.
var benchCPU time.Duration

// peakCPU is heap.Peak, adding the CPU time fn took to benchCPU.
func peakCPU(fn func()) uint64 {
	before := cpuTime()
	peak := heap.Peak(fn)
	benchCPU += cpuTime() - before
	return peak
}

func BenchmarkCreate(b *testing.B) {
	benchSetup(b)
	exp, _ := jsonexp.New(jsonexp.Options{Dir: bench.dir})
	store := b.TempDir()
	m, _ := ngbak.New(ngbak.Options{Storage: ngbak.Dir(store)})
	m.Register(exp)
	b.SetBytes(bench.size)
	var peak uint64
	for b.Loop() {
		peak = max(peak, peakCPU(func() {
			man, err := m.Create(context.Background(), nil)
			if err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			m.Delete(context.Background(), man.ID)
			b.StartTimer()
		}))
	}
	reportHeap(b, peak)
}

func BenchmarkBaselineTarZstd(b *testing.B) {
	benchSetup(b)
	out := filepath.Join(b.TempDir(), "baseline.tar.zst")
	b.SetBytes(bench.size)
	for b.Loop() {
		sh(b, fmt.Sprintf("tar -I 'zstd -3' -cf %q -C %q --exclude .complete . && sync %q", out, bench.dir, out))
	}
}

func BenchmarkVerify(b *testing.B) {
	benchSetup(b)
	m, _ := ngbak.New(ngbak.Options{Storage: ngbak.Dir(bench.store)})
	b.SetBytes(bench.size)
	var peak uint64
	for b.Loop() {
		peak = max(peak, peakCPU(func() {
			if err := m.Verify(context.Background(), bench.id); err != nil {
				b.Fatal(err)
			}
		}))
	}
	reportHeap(b, peak)
}

func BenchmarkBaselineZstdSha256(b *testing.B) {
	benchSetup(b)
	b.SetBytes(bench.size)
	for b.Loop() {
		sh(b, fmt.Sprintf("zstd -dc %q | sha256sum >/dev/null", bench.archive))
	}
}

func BenchmarkRestore(b *testing.B) {
	benchSetup(b)
	target := b.TempDir()
	exp, _ := jsonexp.New(jsonexp.Options{Dir: target})
	m, _ := ngbak.New(ngbak.Options{Storage: ngbak.Dir(bench.store)})
	m.Register(exp)
	b.SetBytes(bench.size)
	var peak uint64
	for b.Loop() {
		peak = max(peak, peakCPU(func() {
			if _, err := m.Restore(context.Background(), bench.id, &ngbak.RestoreOptions{NoSafetyBackup: true}); err != nil {
				b.Fatal(err)
			}
		}))
	}
	reportHeap(b, peak)
}

func BenchmarkBaselineTarExtract(b *testing.B) {
	benchSetup(b)
	target := b.TempDir()
	b.SetBytes(bench.size)
	for b.Loop() {
		sh(b, fmt.Sprintf("tar -I zstd -xf %q -C %q && sync", bench.archive, target))
	}
}

func sh(b *testing.B, script string) {
	b.Helper()
	if out, err := exec.Command("bash", "-c", "set -o pipefail; "+script).CombinedOutput(); err != nil {
		b.Fatalf("%s: %v\n%s", script, err, out)
	}
}
