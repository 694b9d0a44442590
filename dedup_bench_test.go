package ngbak_test

import (
	"context"
	"testing"

	"github.com/ngbak/ngbak"
	"github.com/ngbak/ngbak/jsonexp"
)

// BenchmarkCreateDedup is BenchmarkCreate on the deduplicating layout, into
// an empty repository each time (every chunk is new: the layout's worst
// case); compare the two side by side with
//
//	go test -run '^$' -bench 'Create(Dedup)?$' -count 5 .
func BenchmarkCreateDedup(b *testing.B) {
	benchSetup(b)
	exp, _ := jsonexp.New(jsonexp.Options{Dir: bench.dir})
	b.SetBytes(bench.size)
	var peak uint64
	for b.Loop() {
		b.StopTimer()
		m, _ := ngbak.New(ngbak.Options{Storage: ngbak.Dir(b.TempDir()), Dedup: &ngbak.DedupOptions{}})
		m.Register(exp)
		b.StartTimer()
		peak = max(peak, peakCPU(func() {
			if _, err := m.Create(context.Background(), nil); err != nil {
				b.Fatal(err)
			}
		}))
	}
	reportHeap(b, peak)
}

// BenchmarkVerifyDedup is BenchmarkVerify on the deduplicating layout.
func BenchmarkVerifyDedup(b *testing.B) {
	benchSetup(b)
	exp, _ := jsonexp.New(jsonexp.Options{Dir: bench.dir})
	m, _ := ngbak.New(ngbak.Options{Storage: ngbak.Dir(b.TempDir()), Dedup: &ngbak.DedupOptions{}})
	m.Register(exp)
	man, err := m.Create(context.Background(), nil)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(bench.size)
	var peak uint64
	for b.Loop() {
		peak = max(peak, peakCPU(func() {
			if err := m.Verify(context.Background(), man.ID); err != nil {
				b.Fatal(err)
			}
		}))
	}
	reportHeap(b, peak)
}

// BenchmarkRestoreDedup is BenchmarkRestore on the deduplicating layout.
func BenchmarkRestoreDedup(b *testing.B) {
	benchSetup(b)
	exp, _ := jsonexp.New(jsonexp.Options{Dir: bench.dir})
	store := b.TempDir()
	m, _ := ngbak.New(ngbak.Options{Storage: ngbak.Dir(store), Dedup: &ngbak.DedupOptions{}})
	m.Register(exp)
	man, err := m.Create(context.Background(), nil)
	if err != nil {
		b.Fatal(err)
	}
	texp, _ := jsonexp.New(jsonexp.Options{Dir: b.TempDir()})
	r, _ := ngbak.New(ngbak.Options{Storage: ngbak.Dir(store), Dedup: &ngbak.DedupOptions{}})
	r.Register(texp)
	b.SetBytes(bench.size)
	var peak uint64
	for b.Loop() {
		peak = max(peak, peakCPU(func() {
			if _, err := r.Restore(context.Background(), man.ID, &ngbak.RestoreOptions{NoSafetyBackup: true}); err != nil {
				b.Fatal(err)
			}
		}))
	}
	reportHeap(b, peak)
}
