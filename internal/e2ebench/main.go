// Command e2ebench measures ngbak end to end on one GraphRAG held by four
// real stores (a JSON working folder, Redis, Neo4j, Qdrant), beside what
// each store's own plain tools cost in the same run, and prints one table
// (the one in README.md). It needs the servers of make services:
//
//	set -a; . ./.services.env; set +a
//	go run ./internal/e2ebench -size small   # or large, or small,large
//
// The small GraphRAG is 30k Redis entries, 20k Neo4j entities with 40k
// relationships, 20k Qdrant points of 1536 dimensions and a working folder
// of about 10 MB; the large one is ten times it. Each step runs -runs times
// and the table shows the median. The Neo4j database is replaced (the
// program takes the machine-wide lock of the tests that do so); in Redis
// only keys under "ngbak-e2e:" and in Qdrant only the collection
// ngbak_e2e are touched.
//
// Peak RSS is the process's VmHWM, reset (clear_refs) before each step
// after returning freed memory to the system; peak heap is internal/heap's.
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"mime/multipart"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/neo4j/neo4j-go-driver/v5/neo4j"
	"github.com/redis/go-redis/v9"

	"github.com/ngbak/ngbak"
	"github.com/ngbak/ngbak/internal/graphrag"
	"github.com/ngbak/ngbak/internal/heap"
	"github.com/ngbak/ngbak/jsonexp"
	"github.com/ngbak/ngbak/neo4jexp"
	"github.com/ngbak/ngbak/qdrantexp"
	"github.com/ngbak/ngbak/redisexp"
)

const (
	redisPrefix = "ngbak-e2e:"
	collection  = "ngbak_e2e"
	dim         = 1536
)

type scale struct {
	name string
	graphrag.Scale
}

var scales = map[string]scale{"small": {"small", graphrag.Small}, "large": {"large", graphrag.Small.Times(10)}}

var trace bool

type env struct {
	*graphrag.Stores
	tmp   string
	qcfg  qdrantexp.Config
	level int
	runs  int
}

func main() {
	sizes := flag.String("size", "small", "small, large or small,large")
	runs := flag.Int("runs", 1, "runs of each step; the table shows the median")
	level := flag.Int("level", 0, "zstd level of the Manager (0: its default)")
	flag.BoolVar(&trace, "trace", false, "log each backend's start as the Managers report it")
	flag.Parse()
	log.SetFlags(log.Ltime)
	e, err := connect(*level)
	if err != nil {
		log.Fatal(err)
	}
	e.runs = max(*runs, 1)
	defer os.RemoveAll(e.tmp)
	unlock, err := lock("neo4j")
	if err != nil {
		log.Fatal(err)
	}
	defer unlock()
	var rows []row
	for _, s := range strings.Split(*sizes, ",") {
		sc, ok := scales[s]
		if !ok {
			log.Fatalf("unknown size %q", s)
		}
		r, err := e.measure(sc)
		if err != nil {
			log.Fatalf("%s: %v", s, err)
		}
		rows = append(rows, r...)
	}
	printTable(os.Stdout, rows)
}

func connect(level int) (*env, error) {
	st, err := graphrag.Connect(context.Background(), -1)
	if err != nil {
		return nil, err
	}
	st.RedisPrefix, st.Collection, st.Dim = redisPrefix, collection, dim
	e := &env{Stores: st, level: level, qcfg: qdrantexp.Config{URL: st.QdrantURL, GRPC: st.QdrantGRPC}}
	if e.tmp, err = os.MkdirTemp("", "ngbak-e2e-"); err != nil {
		return nil, err
	}
	e.JSONDir = filepath.Join(e.tmp, "workdir")
	return e, nil
}

// lock takes the machine-wide lock internal/testlock's tests take.
func lock(name string) (func(), error) {
	log.Printf("waiting for the %s lock", name)
	return graphrag.Lock(name)
}

// A row is one step of the table.
type row struct {
	size, step string
	d          time.Duration
	heap, rss  uint64
	archive    int64
	note       string
}

// measured is what one step cost.
type measured struct {
	d         time.Duration
	heap, rss uint64
}

// A step is one thing measured; before, if set, prepares it untimed.
type step struct {
	name        string
	before, run func() error
}

// runSteps runs the steps in turn, e.runs rounds of all of them, so that a
// drift of the servers over time (a store that slows as it is rewritten)
// falls on every step alike; it returns each step's median duration and
// highest peaks.
func (e *env) runSteps(steps []step) (map[string]measured, error) {
	ds := map[string][]time.Duration{}
	out := map[string]measured{}
	for round := range e.runs {
		for _, st := range steps {
			if st.before != nil {
				if err := st.before(); err != nil {
					return nil, fmt.Errorf("%s: preparing: %w", st.name, err)
				}
			}
			debug.FreeOSMemory()
			resetHWM()
			var err error
			start := time.Now()
			h := heap.Peak(func() { err = st.run() })
			d := time.Since(start)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", st.name, err)
			}
			rss := vmHWM()
			log.Printf("%d %-34s %8.2fs heap %6.1f MiB rss %6.1f MiB", round+1, st.name, d.Seconds(), mib(h), mib(rss))
			ds[st.name] = append(ds[st.name], d)
			m := out[st.name]
			m.heap, m.rss = max(m.heap, h), max(m.rss, rss)
			out[st.name] = m
		}
	}
	for name, d := range ds {
		slices.Sort(d)
		m := out[name]
		m.d = d[len(d)/2]
		out[name] = m
	}
	return out, nil
}

func resetHWM() { os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) }

// vmHWM is the process's peak resident set since the last reset.
func vmHWM() uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			kb, _ := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

func mib(n uint64) float64 { return float64(n) / (1 << 20) }

func (e *env) manager(level, parallelism int, exps ...ngbak.Exporter) (*ngbak.Manager, error) {
	dir, err := os.MkdirTemp(e.tmp, "backups-")
	if err != nil {
		return nil, err
	}
	opts := ngbak.Options{Storage: ngbak.Dir(dir), TempDir: e.tmp, CompressionLevel: level, Parallelism: parallelism}
	if trace {
		last := map[string]string{}
		opts.Progress = func(ev ngbak.Event) {
			if k := ev.Op + "/" + ev.Phase; last[ev.Backend] != k {
				last[ev.Backend] = k
				log.Printf("  %s %s %s", ev.Op, ev.Phase, ev.Backend)
			}
		}
	}
	m, err := ngbak.New(opts)
	if err != nil {
		return nil, err
	}
	return m, m.Register(exps...)
}

func (e *env) measure(sc scale) ([]row, error) {
	log.Printf("%s: seeding", sc.name)
	if err := e.Seed(sc.Scale); err != nil {
		return nil, fmt.Errorf("seeding: %w", err)
	}
	jexp, err := jsonexp.New(jsonexp.Options{Dir: e.JSONDir})
	if err != nil {
		return nil, err
	}
	rexp := redisexp.NewRaw(e.Redis, redisexp.RawOptions{Pattern: redisPrefix + "*"})
	nexp, err := neo4jexp.New(e.Neo4j, neo4jexp.Options{})
	if err != nil {
		return nil, err
	}
	qexp, err := qdrantexp.New(e.qcfg, qdrantexp.Options{Collections: []string{collection}})
	if err != nil {
		return nil, err
	}
	defer qexp.Close()
	stores := []struct {
		name string
		exp  ngbak.Exporter
	}{{"files", jexp}, {"redis", rexp}, {"neo4j", nexp}, {"qdrant", qexp}}
	var exps []ngbak.Exporter
	for _, s := range stores {
		if trace {
			exps = append(exps, timed{s.exp})
		} else {
			exps = append(exps, s.exp)
		}
	}
	all, err := e.manager(e.level, 0, exps...)
	if err != nil {
		return nil, err
	}
	seq, err := e.manager(e.level, 1, exps...)
	if err != nil {
		return nil, err
	}
	own := map[string]*ngbak.Manager{}
	for _, s := range stores {
		if own[s.name], err = e.manager(e.level, 0, s.exp); err != nil {
			return nil, err
		}
	}
	deleteAll := func(m *ngbak.Manager) func() error {
		return func() error {
			bs, err := m.List(e.Ctx)
			for _, b := range bs {
				if err == nil {
					err = m.Delete(e.Ctx, b.Manifest.ID)
				}
			}
			return err
		}
	}
	create := func(m *ngbak.Manager) func() error {
		return func() error { _, err := m.Create(e.Ctx, nil); return err }
	}
	newest := func(m *ngbak.Manager) (*ngbak.Backup, error) {
		bs, err := m.List(e.Ctx)
		if err != nil || len(bs) == 0 {
			return nil, fmt.Errorf("no backup: %v", err)
		}
		return &bs[0], nil
	}
	noSafety := &ngbak.RestoreOptions{NoSafetyBackup: true}
	// restore restores the backup Create made last, not a safety backup
	// a restore made since.
	restore := func(m *ngbak.Manager, opts *ngbak.RestoreOptions) func() error {
		var id string
		return func() error {
			if id == "" {
				b, err := newest(m)
				if err != nil {
					return err
				}
				id = b.Manifest.ID
			}
			_, err := m.Restore(e.Ctx, id, opts)
			return err
		}
	}
	plainCreate := map[string]func() error{
		"files":  func() error { return e.plainTar(filepath.Join(e.tmp, "plain.tar.zst")) },
		"redis":  func() error { return e.plainRedisScan(filepath.Join(e.tmp, "plain.redis")) },
		"neo4j":  func() error { return e.plainAPOC(filepath.Join(e.tmp, "plain.cypher")) },
		"qdrant": func() error { return e.plainSnapshot(filepath.Join(e.tmp, "plain.snapshot")) },
	}
	plainRestore := map[string]step{
		"files":  {before: func() error { return os.RemoveAll(e.JSONDir) }, run: func() error { return e.plainUntar(filepath.Join(e.tmp, "plain.tar.zst")) }},
		"redis":  {before: e.DeleteRedis, run: func() error { return e.plainRedisSet(filepath.Join(e.tmp, "plain.redis")) }},
		"neo4j":  {before: e.WipeNeo4j, run: func() error { return e.LoadNeo4j(graphrag.Scale{}, sc.Scale) }},
		"qdrant": {run: func() error { return e.plainUpload(filepath.Join(e.tmp, "plain.snapshot")) }},
	}
	var creates, restores []step
	for _, s := range stores {
		creates = append(creates,
			step{name: "Create, plain " + s.name, run: plainCreate[s.name]},
			step{name: "Create, ngbak " + s.name + " alone", before: deleteAll(own[s.name]), run: create(own[s.name])})
		p := plainRestore[s.name]
		p.name = "Restore, plain " + s.name
		restores = append(restores, p, step{name: "Restore, ngbak " + s.name + " alone", run: restore(own[s.name], noSafety)})
		if s.name == "neo4j" {
			// Restore replaces the graph: it deletes the one there first,
			// which the driver-only load does not; this is the same work.
			restores = append(restores, step{name: "Restore, ngbak neo4j into an empty database", before: e.WipeNeo4j, run: restore(own[s.name], noSafety)})
		}
	}
	creates = append(creates,
		step{name: "Create, ngbak all, Parallelism 1", before: deleteAll(seq), run: create(seq)},
		step{name: "Create, ngbak all, parallel", before: deleteAll(all), run: create(all)})
	verify := []step{{name: "Verify, ngbak all", run: func() error {
		b, err := newest(all)
		if err == nil {
			err = all.Verify(e.Ctx, b.Manifest.ID)
		}
		return err
	}}}
	restores = append(restores,
		step{name: "Restore, ngbak all, Parallelism 1", run: restore(seq, noSafety)},
		step{name: "Restore, ngbak all, parallel", run: restore(all, noSafety)},
		step{name: "Restore, ngbak all, with safety backup", run: restore(all, nil)})

	var rows []row
	for _, phase := range [][]step{creates, verify, restores} {
		got, err := e.runSteps(phase)
		if err != nil {
			return nil, err
		}
		var plainSum, plainMax, ownSum, ownMax time.Duration
		for _, st := range phase {
			m := got[st.name]
			r := row{size: sc.name, step: st.name, d: m.d, heap: m.heap, rss: m.rss}
			op, what, _ := strings.Cut(st.name, ", ")
			store, isPlain := strings.CutPrefix(what, "plain ")
			switch {
			case isPlain:
				plainSum, plainMax = plainSum+m.d, max(plainMax, m.d)
				r.note = notes[op+" "+store] + rate(store, sc, m.d)
			case strings.HasSuffix(what, " alone"):
				ownSum, ownMax = ownSum+m.d, max(ownMax, m.d)
				r.note = strings.TrimPrefix(rate(strings.TrimSuffix(strings.TrimPrefix(what, "ngbak "), " alone"), sc, m.d), "; ")
			case strings.HasPrefix(what, "ngbak all") && op != "Verify":
				r.note = ratios(m.d, ownMax, ownSum)
			case what == "ngbak neo4j into an empty database":
				r.note = fmt.Sprintf("%.2fx the driver-only load", m.d.Seconds()/got["Restore, plain neo4j"].d.Seconds()) + rate("neo4j", sc, m.d)
			}
			if op == "Create" {
				switch {
				case strings.HasSuffix(what, " alone"):
					r.archive = archiveSize(e.Ctx, own[strings.TrimSuffix(strings.TrimPrefix(what, "ngbak "), " alone")])
				case strings.HasPrefix(what, "ngbak all"):
					r.archive = archiveSize(e.Ctx, all)
				}
			}
			rows = append(rows, r)
		}
		if op, _, _ := strings.Cut(phase[0].name, ", "); op != "Verify" {
			rows = append(rows,
				row{size: sc.name, step: op + ", plain: sum (max)", d: plainSum, note: fmt.Sprintf("max %.2f s", plainMax.Seconds())},
				row{size: sc.name, step: op + ", ngbak alone: sum (max)", d: ownSum, note: fmt.Sprintf("max %.2f s", ownMax.Seconds())})
		}
	}
	return rows, nil
}

func archiveSize(ctx context.Context, m *ngbak.Manager) int64 {
	bs, _ := m.List(ctx)
	if len(bs) == 0 {
		return 0
	}
	return bs[0].Size
}

var notes = map[string]string{
	"Create files":   "tar --zstd -cf",
	"Create redis":   "SCAN + pipelined DUMP to a file",
	"Create neo4j":   "apoc.export.cypher.all, streamed to a file",
	"Create qdrant":  "snapshot + plain download + fsync",
	"Restore files":  "tar --zstd -xf",
	"Restore redis":  "pipelined RESTORE",
	"Restore neo4j":  "driver only: UNWIND $rows CREATE, 10k a batch",
	"Restore qdrant": "plain snapshot upload",
}

func ratios(d, slowest, sum time.Duration) string {
	return fmt.Sprintf("%.2fx slowest alone, %.2fx sum", d.Seconds()/slowest.Seconds(), d.Seconds()/sum.Seconds())
}

func rate(store string, sc scale, d time.Duration) string {
	if store != "neo4j" {
		return ""
	}
	return fmt.Sprintf("; %.0f nodes/s, %.0f rels/s", float64(sc.Entities)/d.Seconds(), float64(sc.Rels)/d.Seconds())
}

func printTable(w io.Writer, rows []row) {
	fmt.Fprintln(w, "| size | step | time | peak heap | peak RSS | archive | note |")
	fmt.Fprintln(w, "|---|---|---:|---:|---:|---:|---|")
	for _, r := range rows {
		h, rss, a := "", "", ""
		if r.heap > 0 {
			h = fmt.Sprintf("%.0f MiB", mib(r.heap))
		}
		if r.rss > 0 {
			rss = fmt.Sprintf("%.0f MiB", mib(r.rss))
		}
		if r.archive > 0 {
			a = fmt.Sprintf("%.1f MiB", mib(uint64(r.archive)))
		}
		fmt.Fprintf(w, "| %s | %s | %.2f s | %s | %s | %s | %s |\n", r.size, r.step, r.d.Seconds(), h, rss, a, r.note)
	}
}

// The plain baselines.

func (e *env) plainTar(out string) error {
	cmd := exec.Command("tar", "--zstd", "-cf", out, "-C", e.JSONDir, ".")
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("tar: %v: %s", err, b)
	}
	return syncFile(out)
}

func (e *env) plainUntar(in string) error {
	if err := os.MkdirAll(e.JSONDir, 0o755); err != nil {
		return err
	}
	if b, err := exec.Command("tar", "--zstd", "-xf", in, "-C", e.JSONDir).CombinedOutput(); err != nil {
		return fmt.Errorf("tar: %v: %s", err, b)
	}
	return nil
}

func syncFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

// plainRedisScan is one SCAN of the keys, each batch DUMPed in one
// pipeline, written as length-prefixed records.
func (e *env) plainRedisScan(out string) error {
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	defer f.Close()
	var cursor uint64
	var hdr [4]byte
	for {
		keys, next, err := e.Redis.Scan(e.Ctx, cursor, redisPrefix+"*", 1000).Result()
		if err != nil {
			return err
		}
		pipe := e.Redis.Pipeline()
		cmds := make([]*redis.StringCmd, len(keys))
		for i, k := range keys {
			cmds[i] = pipe.Dump(e.Ctx, k)
		}
		if _, err := pipe.Exec(e.Ctx); err != nil && len(keys) > 0 {
			return err
		}
		for i, k := range keys {
			for _, s := range []string{k, cmds[i].Val()} {
				hdr = [4]byte{byte(len(s) >> 24), byte(len(s) >> 16), byte(len(s) >> 8), byte(len(s))}
				f.Write(hdr[:])
				if _, err := io.WriteString(f, s); err != nil {
					return err
				}
			}
		}
		if cursor = next; cursor == 0 {
			break
		}
	}
	return f.Sync()
}

func (e *env) plainRedisSet(in string) error {
	data, err := os.ReadFile(in)
	if err != nil {
		return err
	}
	pipe := e.Redis.Pipeline()
	n := 0
	for len(data) > 0 {
		var kv [2]string
		for i := range kv {
			l := int(data[0])<<24 | int(data[1])<<16 | int(data[2])<<8 | int(data[3])
			kv[i], data = string(data[4:4+l]), data[4+l:]
		}
		pipe.RestoreReplace(e.Ctx, kv[0], 0, kv[1])
		if n++; n%1000 == 0 {
			if _, err := pipe.Exec(e.Ctx); err != nil {
				return err
			}
		}
	}
	_, err = pipe.Exec(e.Ctx)
	return err
}

func (e *env) plainAPOC(out string) error {
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	defer f.Close()
	sess := e.Neo4j.NewSession(e.Ctx, neo4j.SessionConfig{})
	defer sess.Close(e.Ctx)
	res, err := sess.Run(e.Ctx, "CALL apoc.export.cypher.all(null, {format: 'cypher-shell', stream: true, batchSize: 10000}) YIELD cypherStatements RETURN cypherStatements", nil)
	if err != nil {
		return err
	}
	for res.Next(e.Ctx) {
		s, _ := res.Record().Values[0].(string)
		if _, err := io.WriteString(f, s); err != nil {
			return err
		}
	}
	if err := res.Err(); err != nil {
		return err
	}
	return f.Sync()
}

func (e *env) plainSnapshot(out string) error {
	desc, err := e.Qdrant.CreateSnapshot(e.Ctx, collection)
	if err != nil {
		return err
	}
	defer e.Qdrant.DeleteSnapshot(e.Ctx, collection, desc.Name)
	req, _ := http.NewRequestWithContext(e.Ctx, "GET", e.qcfg.URL+"/collections/"+collection+"/snapshots/"+desc.Name, nil)
	req.Header.Set("Accept-Encoding", "identity")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("snapshot download: %s", resp.Status)
	}
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := io.Copy(f, resp.Body); err != nil {
		return err
	}
	return f.Sync()
}

func (e *env) plainUpload(in string) error {
	f, err := os.Open(in)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	var head bytes.Buffer
	mw := multipart.NewWriter(&head)
	mw.CreateFormFile("snapshot", "plain.snapshot")
	h := bytes.Clone(head.Bytes())
	head.Reset()
	mw.Close()
	req, _ := http.NewRequestWithContext(e.Ctx, "POST", e.qcfg.URL+"/collections/"+collection+"/snapshots/upload?wait=true&priority=snapshot",
		io.MultiReader(bytes.NewReader(h), f, bytes.NewReader(head.Bytes())))
	req.ContentLength = int64(len(h)) + fi.Size() + int64(head.Len())
	req.Header.Set("Content-Type", mw.FormDataContentType())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("snapshot upload: %s: %s", resp.Status, body)
	}
	return nil
}

// timed logs how long each backend's Export and Restore take (-trace).
type timed struct{ ngbak.Exporter }

func (t timed) Export(ctx context.Context, w *ngbak.Writer) (ngbak.Info, error) {
	start := time.Now()
	defer func() { log.Printf("  export %s took %.2fs", t.Name(), time.Since(start).Seconds()) }()
	return t.Exporter.Export(ctx, w)
}

func (t timed) Restore(ctx context.Context, r *ngbak.Reader) error {
	start := time.Now()
	defer func() { log.Printf("  restore %s took %.2fs", t.Name(), time.Since(start).Seconds()) }()
	return t.Exporter.Restore(ctx, r)
}

func (t timed) CheckRestore(ctx context.Context, b *ngbak.Backend) error {
	if rc, ok := t.Exporter.(ngbak.RestoreChecker); ok {
		return rc.CheckRestore(ctx, b)
	}
	return nil
}
