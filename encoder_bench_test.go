package ngbak

import (
	"io"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/klauspost/compress/zstd"

	"github.com/ngbak/ngbak/internal/heap"
)

// BenchmarkEncoder compresses 128 MiB, half JSON-like text and half random
// bytes (as float vectors are), with the options Create uses and, beside
// them, with the concurrent blocks Create used before, reporting the peak
// heap of each:
//
//	go test -run '^$' -bench BenchmarkEncoder -benchtime 1x -count 5 .
func BenchmarkEncoder(b *testing.B) {
	data := make([]byte, 128<<20)
	rng := rand.New(rand.NewPCG(1, 2))
	words := []string{"graph ", "entity ", "relation ", `{"content": `, "0.12345, ", "community "}
	for i := 0; i < len(data)/2; {
		i += copy(data[i:len(data)/2], words[rng.IntN(len(words))])
	}
	for i := len(data) / 2; i+8 <= len(data); i += 8 {
		v := rng.Uint64()
		for j := range 8 {
			data[i+j] = byte(v >> (8 * j))
		}
	}
	concurrentBlocks := []zstd.EOption{
		zstd.WithEncoderLevel(zstd.EncoderLevelFromZstd(3)),
		zstd.WithEncoderConcurrency(min(runtime.GOMAXPROCS(0), 4)),
		zstd.WithConcurrentBlocks(true),
		zstd.WithWindowSize(1 << 20),
	}
	for _, v := range []struct {
		name string
		opts []zstd.EOption
	}{{"Create", encoderOptions(3)}, {"ConcurrentBlocks", concurrentBlocks}} {
		b.Run(v.name, func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			var peak uint64
			for b.Loop() {
				peak = max(peak, heap.Peak(func() {
					zw, err := zstd.NewWriter(io.Discard, v.opts...)
					if err != nil {
						b.Fatal(err)
					}
					for off := 0; off < len(data); off += 256 << 10 {
						if _, err := zw.Write(data[off : off+256<<10]); err != nil {
							b.Fatal(err)
						}
					}
					if err := zw.Close(); err != nil {
						b.Fatal(err)
					}
				}))
			}
			b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
		})
	}
}
