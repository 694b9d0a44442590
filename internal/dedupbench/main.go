// Command dedupbench measures the deduplicating layout (ngbak.Options.Dedup)
// against the goals of issue 16 on one GraphRAG held by the four stores of
// the test servers (internal/graphrag's dataset: a nano-graphrag working
// folder, Redis, Neo4j, and Qdrant backed up twice, in logical and in
// snapshot mode). In one run it measures, for each chunk size given and
// each store in a repository of its own (so that one sees which store
// deduplicates badly):
//
//   - a full backup's bytes in storage;
//   - what a second backup of unchanged data adds (the exporters' order is
//     stable when it adds next to nothing);
//   - what a backup adds after 1% new records (keys, entities and
//     relationships, points, documents), and the time of that Create;
//   - what one adds after 0.1% of the records were updated at random;
//   - the time of Delete of a backup (Prune's step).
//
// Then it times Create, Verify and Restore of all the stores in one
// Manager, plain and deduplicated alternately, -runs rounds, and prints the
// medians and peak heaps.
//
//	set -a; . ./.services.env; set +a
//	go run ./internal/dedupbench -size 1024 -avg 64,256,512
//
// -size is the approximate size of a full backup's tar stream in MiB
// (Qdrant's points count twice, once per mode); -size 64 takes a few
// minutes. The Neo4j database is replaced (the program takes the
// machine-wide lock of the tests that do so); in Redis only keys under
// "ngbak-dedup:" of database -redis-db, and in Qdrant only the collection
// ngbak_dedup are touched.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io/fs"
	"log"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ngbak/ngbak"
	"github.com/ngbak/ngbak/internal/graphrag"
	"github.com/ngbak/ngbak/internal/heap"
	"github.com/ngbak/ngbak/jsonexp"
	"github.com/ngbak/ngbak/neo4jexp"
	"github.com/ngbak/ngbak/qdrantexp"
	"github.com/ngbak/ngbak/redisexp"
)

// smallMiB is the tar stream of graphrag.Small with both Qdrant modes, as
// measured, to scale -size by.
const smallMiB = 311

type store struct {
	name string
	exp  ngbak.Exporter
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

func manager(dir, tmp string, dedup *ngbak.DedupOptions, exps ...ngbak.Exporter) *ngbak.Manager {
	m, err := ngbak.New(ngbak.Options{Storage: ngbak.Dir(dir), TempDir: tmp, Dedup: dedup})
	if err != nil {
		log.Fatal(err)
	}
	if err := m.Register(exps...); err != nil {
		log.Fatal(err)
	}
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

// streamSize is the tar stream of a deduplicated backup: its chunk list's
// end line's total.
func streamSize(dir, id string) int64 {
	f, err := os.Open(filepath.Join(dir, id+".ngbak"))
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	var last string
	for sc := bufio.NewScanner(f); sc.Scan(); {
		last = sc.Text()
	}
	fields := strings.Fields(last)
	n, err := strconv.ParseInt(fields[len(fields)-1], 10, 64)
	if err != nil || fields[0] != "end" {
		log.Fatalf("%s: no end line: %q", id, last)
	}
	return n
}

// repo is one store's deduplicated repository at one chunk size.
type repo struct {
	avg   string
	store store
	dir   string
	m     *ngbak.Manager
	// bytes in storage after each state, the tar stream of the full
	// backup, and chunks after the full backup.
	size        []int64
	stream      int64
	chunks      int
	create, del time.Duration
	appendedID  string
}

func (r *repo) backup(ctx context.Context) *ngbak.Manifest {
	var man *ngbak.Manifest
	r.create, _ = timed(func() (err error) { man, err = r.m.Create(ctx, nil); return err })
	_, s := dirSize(r.dir)
	r.size = append(r.size, s)
	if len(r.size) == 1 {
		r.stream = streamSize(r.dir, man.ID)
		r.chunks, _ = dirSize(filepath.Join(r.dir, "chunks"))
	}
	return man
}

func main() {
	sizeMiB := flag.Int("size", 64, "approximate tar stream of a full backup, in MiB")
	avgs := flag.String("avg", "64,256,512", "average chunk sizes to try, in KiB")
	root := flag.String("dir", "", "work folder (default: a temporary one, removed after)")
	runs := flag.Int("runs", 3, "rounds of the timed Create, Verify and Restore (the median is shown)")
	redisDB := flag.Int("redis-db", 11, "Redis database of the keys (one of its own, so that other keys do not resize its table)")
	only := flag.String("stores", "", "stores to measure, comma-separated (default all: files,redis,neo4j,qdrant-logical,qdrant-snapshot)")
	noTiming := flag.Bool("no-timing", false, "skip the timed plain and deduplicated Create, Verify and Restore")
	flag.Parse()
	log.SetFlags(log.Ltime)
	ctx := context.Background()
	if *root == "" {
		d, err := os.MkdirTemp("", "dedupbench-")
		if err != nil {
			log.Fatal(err)
		}
		defer os.RemoveAll(d)
		*root = d
	}
	tmp := filepath.Join(*root, "tmp")
	os.MkdirAll(tmp, 0o755)

	st, err := graphrag.Connect(ctx, *redisDB)
	if err != nil {
		log.Fatal(err)
	}
	st.RedisPrefix, st.Collection, st.Dim, st.JSONDir = "ngbak-dedup:", "ngbak_dedup", 1536, filepath.Join(*root, "workdir")
	log.Print("waiting for the neo4j lock")
	unlock, err := graphrag.Lock("neo4j")
	if err != nil {
		log.Fatal(err)
	}
	defer unlock()

	jexp, err := jsonexp.New(jsonexp.Options{Dir: st.JSONDir})
	if err != nil {
		log.Fatal(err)
	}
	nexp, err := neo4jexp.New(st.Neo4j, neo4jexp.Options{})
	if err != nil {
		log.Fatal(err)
	}
	qcfg := qdrantexp.Config{URL: st.QdrantURL, GRPC: st.QdrantGRPC}
	qlog, err := qdrantexp.New(qcfg, qdrantexp.Options{Name: "qdrant-logical", Mode: qdrantexp.Logical, Collections: []string{st.Collection}})
	if err != nil {
		log.Fatal(err)
	}
	defer qlog.Close()
	qsnap, err := qdrantexp.New(qcfg, qdrantexp.Options{Name: "qdrant-snapshot", Collections: []string{st.Collection}})
	if err != nil {
		log.Fatal(err)
	}
	defer qsnap.Close()
	stores := []store{{"files", jexp}, {"redis", redisexp.NewRaw(st.Redis, redisexp.RawOptions{Pattern: st.RedisPrefix + "*"})},
		{"neo4j", nexp}, {"qdrant-logical", qlog}, {"qdrant-snapshot", qsnap}}
	if *only != "" {
		want := strings.Split(*only, ",")
		stores = slices.DeleteFunc(stores, func(s store) bool { return !slices.Contains(want, s.name) })
	}

	sc := graphrag.Small.Times(float64(*sizeMiB) / smallMiB)
	log.Printf("seeding %+v", sc)
	if err := st.Seed(sc); err != nil {
		log.Fatal(err)
	}

	var repos []*repo
	for _, a := range strings.Split(*avgs, ",") {
		kib, err := strconv.Atoi(a)
		if err != nil {
			log.Fatal(err)
		}
		for _, s := range stores {
			dir := filepath.Join(*root, "avg-"+a, s.name)
			repos = append(repos, &repo{avg: a, store: s, dir: dir, m: manager(dir, tmp, &ngbak.DedupOptions{AverageChunkSize: kib << 10}, s.exp)})
		}
	}
	// The states, each backed up into every repository: full, unchanged,
	// 1% appended, 0.1% updated.
	grown := sc.Times(1.01)
	states := []struct {
		name   string
		change func() error
	}{
		{"full", nil},
		{"unchanged", nil},
		{"+1% appended", func() error { return st.Append(sc, grown) }},
		{"0.1% updated", func() error { return st.Update(grown, 0.001, 42) }},
	}
	appendCreate := map[*repo]time.Duration{}
	for i, state := range states {
		if state.change != nil {
			if err := state.change(); err != nil {
				log.Fatalf("%s: %v", state.name, err)
			}
		}
		for _, r := range repos {
			man := r.backup(ctx)
			if i == 2 {
				r.appendedID, appendCreate[r] = man.ID, r.create
			}
		}
		log.Printf("state %q backed up", state.name)
	}
	for _, r := range repos {
		r.del, _ = timed(func() error { return r.m.Delete(ctx, r.appendedID) })
		rep, err := r.m.CheckRepository(ctx, ngbak.CheckOptions{})
		if err != nil || len(rep.Unused) > 0 || len(rep.Missing) > 0 {
			log.Fatalf("%s: check: %v %+v", r.dir, err, rep)
		}
	}

	fmt.Printf("\ndataset: %+v\n", sc)
	fmt.Printf("\nbytes a backup adds to storage, as %% of the full backup's in the same repository (one repository per store and chunk size):\n\n")
	fmt.Println("| avg | store | tar stream | full backup | chunks | unchanged | +1% appended | 0.1% updated | Create +1% | Delete |")
	fmt.Println("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
	pct := func(n, of int64) string { return fmt.Sprintf("%.1f MiB %.2f%%", mib(n), 100*float64(n)/float64(of)) }
	var byAvg []string
	sums := map[string][]int64{}
	for _, r := range repos {
		full := r.size[0]
		fmt.Printf("| %s KiB | %s | %.1f MiB | %.1f MiB | %d | %s | %s | %s | %s | %s |\n", r.avg, r.store.name, mib(r.stream), mib(full), r.chunks,
			pct(r.size[1]-r.size[0], full), pct(r.size[2]-r.size[1], full), pct(r.size[3]-r.size[2], full),
			appendCreate[r].Round(time.Millisecond), r.del.Round(time.Millisecond))
		if sums[r.avg] == nil {
			byAvg = append(byAvg, r.avg)
			sums[r.avg] = make([]int64, 5)
		}
		s := sums[r.avg]
		s[0], s[1], s[2], s[3], s[4] = s[0]+r.size[0], s[1]+r.size[1]-r.size[0], s[2]+r.size[2]-r.size[1], s[3]+r.size[3]-r.size[2], s[4]+r.stream
	}
	for _, a := range byAvg {
		s := sums[a]
		fmt.Printf("| %s KiB | **all** | %.1f MiB | %.1f MiB | | %s | %s | %s | | |\n", a, mib(s[4]), mib(s[0]), pct(s[1], s[0]), pct(s[2], s[0]), pct(s[3], s[0]))
	}
	for _, r := range repos {
		os.RemoveAll(r.dir)
	}
	if *noTiming {
		return
	}

	// Plain and deduplicated Create, Verify and Restore of all the stores
	// in one Manager, alternated, medians of runs.
	var exps []ngbak.Exporter
	for _, s := range stores {
		exps = append(exps, s.exp)
	}
	type op struct {
		d    [3][]time.Duration
		peak [3]uint64
	}
	var res [2]op
	var plainSize int64
	for r := range *runs {
		for i, dedup := range []bool{false, true} {
			dir := filepath.Join(*root, fmt.Sprintf("timing-%v-%d", dedup, r))
			var opts *ngbak.DedupOptions
			if dedup {
				opts = &ngbak.DedupOptions{}
			}
			m := manager(dir, tmp, opts, exps...)
			var man *ngbak.Manifest
			steps := []func() error{
				func() (err error) { man, err = m.Create(ctx, nil); return err },
				func() error { return m.Verify(ctx, man.ID) },
				func() error {
					_, err := m.Restore(ctx, man.ID, &ngbak.RestoreOptions{NoSafetyBackup: true})
					return err
				},
			}
			for k, fn := range steps {
				d, p := timed(fn)
				res[i].d[k] = append(res[i].d[k], d)
				res[i].peak[k] = max(res[i].peak[k], p)
				log.Printf("round %d dedup=%v step %d: %s", r+1, dedup, k, d.Round(time.Millisecond))
			}
			if !dedup {
				_, plainSize = dirSize(dir)
			}
			os.RemoveAll(dir)
		}
	}
	fmt.Printf("\nall stores in one Manager, median of %d rounds, plain and deduplicated (512 KiB) alternately; plain archive %.1f MiB:\n\n", *runs, mib(plainSize))
	fmt.Println("| step | plain | dedup | dedup / plain | peak heap plain | peak heap dedup |")
	fmt.Println("|---|---:|---:|---:|---:|---:|")
	for k, name := range []string{"Create", "Verify", "Restore"} {
		p, d := median(res[0].d[k]), median(res[1].d[k])
		fmt.Printf("| %s | %.2f s | %.2f s | %.2fx | %.1f MiB | %.1f MiB |\n", name, p.Seconds(), d.Seconds(), d.Seconds()/p.Seconds(), mib(int64(res[0].peak[k])), mib(int64(res[1].peak[k])))
	}
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}
