package ngbak_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"testing"

	"github.com/ngbak/ngbak"
	"github.com/ngbak/ngbak/jsonexp"
)

// memExporter keeps records in memory and writes them as JSON lines through
// Writer.Create, the path for output of unknown size. Its faults are set by
// the tests.
type memExporter struct {
	name, kind string

	mu   sync.Mutex
	data map[string]string

	exportErr error
	// restoreErr, if set, is returned after half the records were restored,
	// leaving the store partly replaced as a real failure would.
	restoreErr error
	// restoreStarted, if set, is closed when Restore starts; Restore then
	// waits for restoreGo.
	restoreStarted, restoreGo chan struct{}
	restores                  int
}

func newMem(name string, data map[string]string) *memExporter {
	if data == nil {
		data = map[string]string{}
	}
	return &memExporter{name: name, kind: "mem", data: data}
}

func (e *memExporter) Name() string { return e.name }
func (e *memExporter) Kind() string { return e.kind }

func (e *memExporter) snapshot() map[string]string {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := map[string]string{}
	for k, v := range e.data {
		out[k] = v
	}
	return out
}

func (e *memExporter) set(k, v string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.data[k] = v
}

func (e *memExporter) Export(ctx context.Context, w *ngbak.Writer) (ngbak.Info, error) {
	if e.exportErr != nil {
		return ngbak.Info{}, e.exportErr
	}
	data := e.snapshot()
	keys := make([]string, 0, len(data))
	for k := range data {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	f, err := w.Create("records.jsonl")
	if err != nil {
		return ngbak.Info{}, err
	}
	enc := json.NewEncoder(f)
	for _, k := range keys {
		if err := enc.Encode([2]string{k, data[k]}); err != nil {
			f.Close()
			return ngbak.Info{}, err
		}
	}
	if err := f.Close(); err != nil {
		return ngbak.Info{}, err
	}
	return ngbak.Info{Format: "mem/1", ServerVersion: "memory", Stats: map[string]int64{"records": int64(len(keys))}}, nil
}

func (e *memExporter) Restore(ctx context.Context, r *ngbak.Reader) error {
	e.mu.Lock()
	e.restores++
	started, goOn := e.restoreStarted, e.restoreGo
	e.mu.Unlock()
	if started != nil {
		close(started)
		<-goOn
	}
	if _, _, err := r.Next(); err != nil {
		return err
	}
	var records [][2]string
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 64<<20)
	for sc.Scan() {
		var rec [2]string
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			return err
		}
		records = append(records, rec)
	}
	if err := sc.Err(); err != nil {
		return err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.data = map[string]string{}
	for i, rec := range records {
		if e.restoreErr != nil && i >= len(records)/2 {
			return e.restoreErr
		}
		e.data[rec[0]] = rec[1]
	}
	if e.restoreErr != nil {
		return e.restoreErr
	}
	return nil
}

// workdir is a small nano-graphrag working dir.
func workdir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{
		"kv_store_full_docs.json":             `{"doc-1": {"content": "GraphRAG keeps a graph."}}`,
		"kv_store_text_chunks.json":           `{"chunk-1": {"content": "GraphRAG keeps", "full_doc_id": "doc-1"}}`,
		"graph_chunk_entity_relation.graphml": `<?xml version="1.0"?><graphml><graph edgedefault="undirected"><node id="GRAPHRAG"/></graph></graphml>`,
		"vdb_entities.json":                   `{"embedding_dim": 2, "data": [{"__id__": "ent-1"}], "matrix": "AACAPwAAAEA="}`,
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func newJSON(t *testing.T, dir string) *jsonexp.Exporter {
	t.Helper()
	e, err := jsonexp.New(jsonexp.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

type testEnv struct {
	m       *ngbak.Manager
	dir     string // storage folder
	tempDir string
}

func newEnv(t *testing.T, opts ngbak.Options, exps ...ngbak.Exporter) *testEnv {
	t.Helper()
	e := &testEnv{dir: filepath.Join(t.TempDir(), "backups"), tempDir: t.TempDir()}
	if opts.Storage == nil {
		opts.Storage = ngbak.Dir(e.dir)
	}
	opts.TempDir = e.tempDir
	m, err := ngbak.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Register(exps...); err != nil {
		t.Fatal(err)
	}
	e.m = m
	return e
}

func (e *testEnv) create(t *testing.T) *ngbak.Manifest {
	t.Helper()
	man, err := e.m.Create(context.Background(), nil)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	return man
}

func (e *testEnv) archivePath(id string) string { return filepath.Join(e.dir, id+".ngbak") }

// files lists every file below dir (none if it does not exist).
func files(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		if !d.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func readTree(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, name := range files(t, dir) {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		out[name] = string(data)
	}
	return out
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// zeroReader yields n zero bytes.
type zeroReader struct{ n int64 }

func (z *zeroReader) Read(p []byte) (int, error) {
	if z.n <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > z.n {
		p = p[:z.n]
	}
	clear(p)
	z.n -= int64(len(p))
	return len(p), nil
}

// jsonGen yields n bytes of JSON-lines text shaped like GraphRAG chunks:
// ids, numbers and prose from a vocabulary, compressing about as well as the
// real thing (about 4:1 with zstd -3).
type jsonGen struct {
	left  int64
	rng   *rand.Rand
	line  []byte
	seq   int
	vocab []string
}

func newJSONGen(n int64) *jsonGen {
	rng := rand.New(rand.NewPCG(uint64(n), 42))
	vocab := make([]string, 4096)
	for i := range vocab {
		b := make([]byte, 2+rng.IntN(9))
		for j := range b {
			b[j] = byte('a' + rng.IntN(26))
		}
		vocab[i] = string(b)
	}
	return &jsonGen{left: n, rng: rng, vocab: vocab}
}

func (g *jsonGen) Read(p []byte) (int, error) {
	if g.left <= 0 {
		return 0, io.EOF
	}
	n := 0
	for n < len(p) && g.left > 0 {
		if len(g.line) == 0 {
			g.seq++
			b := fmt.Appendf(nil, `{"id": "chunk-%08d", "full_doc_id": "doc-%06d", "tokens": %d, "content": "`, g.seq, g.seq/17, 100+g.rng.IntN(1100))
			for range 20 + g.rng.IntN(120) {
				b = append(b, g.vocab[int(g.rng.ExpFloat64()*400)%len(g.vocab)]...)
				b = append(b, ' ')
			}
			g.line = append(b, "\"}\n"...)
		}
		k := copy(p[n:], g.line)
		if int64(k) > g.left {
			k = int(g.left)
		}
		g.line = g.line[k:]
		n += k
		g.left -= int64(k)
	}
	return n, nil
}
