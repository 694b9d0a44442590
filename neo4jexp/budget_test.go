package neo4jexp

import (
	"context"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/neo4j/neo4j-go-driver/v5/neo4j"
	"github.com/ngbak/ngbak"
	"github.com/ngbak/ngbak/internal/heap"
)

// nano-graphrag labels nodes by the entity types an LLM chose: hundreds of
// label sets. The export's batches, one a label set, share one byte
// budget, rather than each holding up to maxStatementBytes.
func TestManyLabelSets(t *testing.T) { eachServer(t, testManyLabelSets) }

func testManyLabelSets(t *testing.T, d neo4j.DriverWithContext) {
	ctx := context.Background()
	wipe(t, d)
	t.Cleanup(func() { wipe(t, d) })
	const sets, perSet = 400, 2
	text := strings.Repeat("0123456789abcdefghijklmnopqrstuvwxyz;'\"", 500) // 19.5 KB
	autoRun(t, d, "UNWIND range(0, $n - 1) AS i CALL { WITH i CREATE (n:Entity {i: i, text: $text}) WITH n, i CALL apoc.create.addLabels(n, ['TYPE_' + (i % $sets)]) YIELD node RETURN count(node) AS c } IN TRANSACTIONS OF 200 ROWS RETURN sum(c)",
		map[string]any{"n": sets * perSet, "sets": sets, "text": text})
	var peakHeld int
	batcherDone = func(peak int) { peakHeld = max(peakHeld, peak) }
	t.Cleanup(func() { batcherDone = nil })
	exp, _ := New(d, Options{})
	m := newManager(t, exp)
	var man *ngbak.Manifest
	var err error
	peakHeap := heap.Peak(func() { man, err = m.Create(ctx, nil) })
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d label sets of %d nodes of %d bytes: batches held at most %d bytes, heap peak %.1f MiB", sets, perSet, len(text), peakHeld, float64(peakHeap)/(1<<20))
	if n := man.Backends[0].Stats["nodes"]; n != sets*perSet {
		t.Fatalf("%d nodes exported", n)
	}
	if limit := maxBufferedBytes + 2*len(text); peakHeld > limit {
		t.Fatalf("the batches held %d bytes at once, more than the budget of %d (and a row)", peakHeld, maxBufferedBytes)
	}

	// The restore gathers the batches of the label sets within its own
	// budget, and restores them all.
	want := graphState(t, d)
	var peakGathered int
	gatheredHeld = func(held int) { peakGathered = max(peakGathered, held) }
	t.Cleanup(func() { gatheredHeld = nil })
	peakHeap = heap.Peak(func() { _, err = m.Restore(ctx, man.ID, &ngbak.RestoreOptions{NoSafetyBackup: true}) })
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("restore: gathered batches held at most %d bytes of script, heap peak %.1f MiB", peakGathered, float64(peakHeap)/(1<<20))
	if limit := mergeBytes + 3*len(text); peakGathered > limit {
		t.Fatalf("the restore held %d bytes of batches at once, more than the budget of %d (and a batch)", peakGathered, mergeBytes)
	}
	if diff := cmp.Diff(want, graphState(t, d)); diff != "" {
		t.Fatalf("after the restore (-want +got):\n%.3000s", diff)
	}
}
