// Command dedupbench measures the deduplicating layout (ngbak.Options.Dedup)
// against the goals of issue 16 on a generated nano-graphrag working dir:
// full documents and text chunks (KV JSON), a vector store (NanoVectorDB's
// vdb_*.json, base64 float32 rows) and a GraphML graph. In one run it
// times a plain Create, Verify and Restore of the dataset beside the same
// on the layout (with the peak heap); it measures the bytes a second
// backup adds after 1% new documents (with their chunks, vectors and
// nodes) and a third after 0.1% of the records were updated at random,
// for each chunk size given; and it times deleting a backup (Prune's step).
//
//	go run ./internal/dedupbench -size 256 -avg 64,256,512
package main

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/binary"
	"flag"
	"fmt"
	"io/fs"
	"log"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/ngbak/ngbak"
	"github.com/ngbak/ngbak/internal/heap"
	"github.com/ngbak/ngbak/jsonexp"
)

var words = strings.Fields("graph entity relation community chunk vector embedding node edge summary document keyword source target weight report claim description degree cluster level title rank")

// dataset describes the generated working dir: docs documents, each of
// four text chunks, each chunk with a vector and a graph node.
type dataset struct {
	docs    int
	updated map[int]bool // records (chunk index) updated to version 1
	dim     int
}

func text(rng *rand.Rand, n int) string {
	var b strings.Builder
	for b.Len() < n {
		b.WriteString(words[rng.IntN(len(words))])
		b.WriteByte(' ')
		b.WriteString(strconv.Itoa(rng.IntN(100000)))
		b.WriteByte(' ')
	}
	return b.String()[:n]
}

func recRand(i, version int) *rand.Rand { return rand.New(rand.NewPCG(uint64(i), uint64(version)+1)) }

func (d *dataset) version(i int) int {
	if d.updated[i] {
		return 1
	}
	return 0
}

// write writes the working dir as nano-graphrag does: json.dump of each
// store, keys in insertion order (new documents at the end).
func (d *dataset) write(dir string) error {
	chunks := d.docs * 4
	if err := writeFile(filepath.Join(dir, "kv_store_full_docs.json"), func(w *bufio.Writer) {
		w.WriteString("{")
		for i := range d.docs {
			if i > 0 {
				w.WriteString(", ")
			}
			fmt.Fprintf(w, `"doc-%08d": {"content": "%s"}`, i, text(recRand(i, 100), 3000))
		}
		w.WriteString("}")
	}); err != nil {
		return err
	}
	if err := writeFile(filepath.Join(dir, "kv_store_text_chunks.json"), func(w *bufio.Writer) {
		w.WriteString("{")
		for c := range chunks {
			if c > 0 {
				w.WriteString(", ")
			}
			fmt.Fprintf(w, `"chunk-%08d": {"tokens": 250, "content": "%s", "chunk_order_index": %d, "full_doc_id": "doc-%08d"}`, c, text(recRand(c, d.version(c)), 900), c%4, c/4)
		}
		w.WriteString("}")
	}); err != nil {
		return err
	}
	if err := writeFile(filepath.Join(dir, "vdb_chunks.json"), func(w *bufio.Writer) {
		fmt.Fprintf(w, `{"embedding_dim": %d, "data": [`, d.dim)
		for c := range chunks {
			if c > 0 {
				w.WriteString(", ")
			}
			fmt.Fprintf(w, `{"__id__": "chunk-%08d", "__created_at__": %d}`, c, 1760000000+c)
		}
		w.WriteString(`], "matrix": "`)
		// base64 of the float32 matrix, streamed in rows of a multiple of
		// three bytes' worth of groups.
		enc := base64.NewEncoder(base64.StdEncoding, w)
		row := make([]byte, 4*d.dim)
		for c := range chunks {
			rng := recRand(c, 1000+d.version(c))
			for j := range d.dim {
				binary.LittleEndian.PutUint32(row[4*j:], math.Float32bits(float32(rng.NormFloat64())))
			}
			enc.Write(row)
		}
		enc.Close()
		w.WriteString(`"}`)
	}); err != nil {
		return err
	}
	return writeFile(filepath.Join(dir, "graph_chunk_entity_relation.graphml"), func(w *bufio.Writer) {
		w.WriteString(`<?xml version='1.0' encoding='utf-8'?>` + "\n" + `<graphml xmlns="http://graphml.graphdrawing.org/xmlns"><graph edgedefault="undirected">` + "\n")
		for c := range chunks {
			rng := recRand(c, 2000+d.version(c))
			fmt.Fprintf(w, `<node id="&quot;ENTITY %08d&quot;"><data key="d0">&quot;CONCEPT&quot;</data><data key="d1">%s</data><data key="d2">chunk-%08d</data></node>`+"\n", c, text(rng, 300), c)
		}
		for c := 1; c < chunks; c++ {
			fmt.Fprintf(w, `<edge source="&quot;ENTITY %08d&quot;" target="&quot;ENTITY %08d&quot;"><data key="d3">1.0</data></edge>`+"\n", c-1, c)
		}
		w.WriteString("</graph></graphml>\n")
	})
}

func writeFile(path string, fn func(*bufio.Writer)) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	fn(w)
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func dirSize(dir string) (n int, size int64) {
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if info, err := d.Info(); err == nil {
				n++
				size += info.Size()
			}
		}
		return nil
	})
	return n, size
}

func manager(store, tmp, work string, dedup *ngbak.DedupOptions) *ngbak.Manager {
	m, err := ngbak.New(ngbak.Options{Storage: ngbak.Dir(store), TempDir: tmp, Dedup: dedup})
	if err != nil {
		log.Fatal(err)
	}
	exp, err := jsonexp.New(jsonexp.Options{Dir: work})
	if err != nil {
		log.Fatal(err)
	}
	m.Register(exp)
	return m
}

// timed runs fn and returns its duration and the peak heap above the start.
func timed(fn func() error) (time.Duration, uint64) {
	var err error
	start := time.Now()
	peak := heap.Peak(func() { err = fn() })
	if err != nil {
		log.Fatal(err)
	}
	return time.Since(start), peak
}

func mib(n int64) float64 { return float64(n) / (1 << 20) }

func main() {
	sizeMiB := flag.Int("size", 256, "approximate dataset size in MiB")
	avgs := flag.String("avg", "64,256,512", "average chunk sizes to try, in KiB")
	root := flag.String("dir", "", "work folder (default: a temporary one, removed after)")
	runs := flag.Int("runs", 3, "runs of each timed operation (the median is shown)")
	flag.Parse()
	ctx := context.Background()
	if *root == "" {
		d, err := os.MkdirTemp("", "dedupbench-")
		if err != nil {
			log.Fatal(err)
		}
		defer os.RemoveAll(d)
		*root = d
	}
	work, tmp := filepath.Join(*root, "work"), filepath.Join(*root, "tmp")
	os.MkdirAll(work, 0o755)
	os.MkdirAll(tmp, 0o755)
	// A document with its four chunks, vectors and nodes is about 11 KiB.
	ds := &dataset{docs: *sizeMiB << 20 / (11 << 10), updated: map[int]bool{}, dim: 384}
	if err := ds.write(work); err != nil {
		log.Fatal(err)
	}
	_, dataBytes := dirSize(work)
	fmt.Printf("dataset: %d documents, %d records, %.0f MiB in %s\n", ds.docs, ds.docs*4, mib(dataBytes), work)

	// Plain and deduplicated Create, Verify and Restore of the same state,
	// alternated, medians of runs.
	type op struct{ create, verify, restore []time.Duration }
	var plainT, dedupT op
	var plainPeak, dedupPeak uint64
	var plainSize int64
	for r := range *runs {
		for _, dedup := range []bool{false, true} {
			store := filepath.Join(*root, fmt.Sprintf("store-%v-%d", dedup, r))
			var opts *ngbak.DedupOptions
			if dedup {
				opts = &ngbak.DedupOptions{}
			}
			m := manager(store, tmp, work, opts)
			var man *ngbak.Manifest
			tc, pc := timed(func() (err error) { man, err = m.Create(ctx, nil); return err })
			tv, pv := timed(func() error { return m.Verify(ctx, man.ID) })
			tr, pr := timed(func() error {
				_, err := m.Restore(ctx, man.ID, &ngbak.RestoreOptions{NoSafetyBackup: true})
				return err
			})
			t := &plainT
			peak := &plainPeak
			if dedup {
				t, peak = &dedupT, &dedupPeak
			} else {
				_, plainSize = dirSize(store)
			}
			t.create, t.verify, t.restore = append(t.create, tc), append(t.verify, tv), append(t.restore, tr)
			*peak = max(*peak, pc, pv, pr)
			os.RemoveAll(store)
		}
	}
	fmt.Printf("\nfull backup, median of %d (plain | dedup | ratio):\n", *runs)
	for _, row := range []struct {
		name string
		p, d []time.Duration
	}{{"Create", plainT.create, dedupT.create}, {"Verify", plainT.verify, dedupT.verify}, {"Restore", plainT.restore, dedupT.restore}} {
		p, d := median(row.p), median(row.d)
		fmt.Printf("  %-8s %8s | %8s | %.2fx\n", row.name, p.Round(time.Millisecond), d.Round(time.Millisecond), float64(d)/float64(p))
	}
	fmt.Printf("  peak heap: plain %.1f MiB, dedup %.1f MiB; plain archive %.1f MiB\n", mib(int64(plainPeak)), mib(int64(dedupPeak)), mib(plainSize))

	fmt.Printf("\nincremental (bytes added to storage, as %% of a plain full archive of %.1f MiB):\n", mib(plainSize))
	fmt.Printf("  %-9s %-10s %-12s %-14s %-14s %-12s %s\n", "avg", "full", "chunks", "+1% appended", "+0.1% updated", "Create+1%", "Delete")
	for _, a := range strings.Split(*avgs, ",") {
		kib, err := strconv.Atoi(a)
		if err != nil {
			log.Fatal(err)
		}
		ds.docs, ds.updated = *sizeMiB<<20/(11<<10), map[int]bool{}
		if err := ds.write(work); err != nil {
			log.Fatal(err)
		}
		store := filepath.Join(*root, "store-avg-"+a)
		m := manager(store, tmp, work, &ngbak.DedupOptions{AverageChunkSize: kib << 10})
		if _, err := m.Create(ctx, nil); err != nil {
			log.Fatal(err)
		}
		n0, s0 := dirSize(store)
		// 1% new documents, at the end of every store.
		ds.docs += ds.docs / 100
		if err := ds.write(work); err != nil {
			log.Fatal(err)
		}
		var b *ngbak.Manifest
		tc, _ := timed(func() (err error) { b, err = m.Create(ctx, nil); return err })
		_, s1 := dirSize(store)
		// 0.1% of the records updated, scattered.
		rng := rand.New(rand.NewPCG(42, 0))
		for range ds.docs * 4 / 1000 {
			ds.updated[rng.IntN(ds.docs*4)] = true
		}
		if err := ds.write(work); err != nil {
			log.Fatal(err)
		}
		if _, err := m.Create(ctx, nil); err != nil {
			log.Fatal(err)
		}
		_, s2 := dirSize(store)
		td, _ := timed(func() error { return m.Delete(ctx, b.ID) })
		rep, err := m.CheckRepository(ctx, ngbak.CheckOptions{})
		if err != nil || len(rep.Unused) > 0 {
			log.Fatalf("check: %v %+v", err, rep)
		}
		pct := func(n int64) string {
			return fmt.Sprintf("%.1f MiB %.2f%%", mib(n), 100*float64(n)/float64(plainSize))
		}
		fmt.Printf("  %-9s %-10s %-12d %-14s %-14s %-12s %s\n", a+" KiB", fmt.Sprintf("%.1f MiB", mib(s0)), n0, pct(s1-s0), pct(s2-s1), tc.Round(time.Millisecond), td.Round(time.Millisecond))
		os.RemoveAll(store)
	}
}

func median(d []time.Duration) time.Duration {
	s := append([]time.Duration(nil), d...)
	for i := range s {
		for j := i + 1; j < len(s); j++ {
			if s[j] < s[i] {
				s[i], s[j] = s[j], s[i]
			}
		}
	}
	return s[len(s)/2]
}
