// Package heap measures the peak of the live heap while a function runs,
// for the tests and benchmarks that show memory stays bounded.
package heap

import (
	"runtime"
	"runtime/metrics"
	"sync"
	"time"
)

// inUse is the heap's spans in use (runtime.MemStats.HeapInuse), read
// through runtime/metrics, which unlike ReadMemStats does not stop the
// world: sampling every 5 ms must not slow down what it measures.
var inUse = []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}, {Name: "/memory/classes/heap/unused:bytes"}}

func heapInUse(s []metrics.Sample) uint64 {
	metrics.Read(s)
	return s[0].Value.Uint64() + s[1].Value.Uint64()
}

// Peak samples the heap in use every 5 ms while fn runs and returns the
// peak above what was in use before it (after a GC).
func Peak(fn func()) uint64 {
	runtime.GC()
	base := heapInUse(append([]metrics.Sample(nil), inUse...))
	var peak uint64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		s := append([]metrics.Sample(nil), inUse...)
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			if n := heapInUse(s); n > base {
				peak = max(peak, n-base)
			}
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	})
	fn()
	close(done)
	wg.Wait()
	return peak
}
