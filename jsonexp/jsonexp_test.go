package jsonexp_test

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/ngbak/ngbak"
	"github.com/ngbak/ngbak/exportertest"
	"github.com/ngbak/ngbak/jsonexp"
)

// harness keeps the suite's records the way nano-graphrag's JsonKVStorage
// does, as one JSON object in kv_store_<namespace>.json, beside files the
// exporter must leave alone.
type harness struct {
	dir string
	exp *jsonexp.Exporter
}

const kvFile = "kv_store_records.json"

func newHarness(ctx context.Context, t *testing.T) exportertest.Harness {
	dir := t.TempDir()
	// Out of scope: a file that matches no pattern, and a matching name in
	// a subfolder.
	for name, data := range map[string]string{"notes.txt": "not a store", "sub/kv_store_nested.json": "{}"} {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	exp, err := jsonexp.New(jsonexp.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	return &harness{dir: dir, exp: exp}
}

func (h *harness) Exporter() ngbak.Exporter { return h.exp }

func (h *harness) load() (map[string]string, error) {
	data, err := os.ReadFile(filepath.Join(h.dir, kvFile))
	if errors.Is(err, fs.ErrNotExist) {
		return map[string]string{}, nil
	}
	if err != nil {
		return nil, err
	}
	records := map[string]string{}
	return records, json.Unmarshal(data, &records)
}

func (h *harness) save(records map[string]string) error {
	data, err := json.MarshalIndent(records, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(h.dir, kvFile), data, 0o644)
}

func (h *harness) Put(ctx context.Context, records map[string]string) error {
	all, err := h.load()
	if err != nil {
		return err
	}
	for k, v := range records {
		all[k] = v
	}
	return h.save(all)
}

func (h *harness) Delete(ctx context.Context, keys ...string) error {
	all, err := h.load()
	if err != nil {
		return err
	}
	for _, k := range keys {
		delete(all, k)
	}
	return h.save(all)
}

// State is every file below the folder, in scope or not, byte for byte.
func (h *harness) State(ctx context.Context) (any, error) {
	return readTree(h.dir)
}

func readTree(dir string) (map[string]string, error) {
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		rel, _ := filepath.Rel(dir, p)
		out[filepath.ToSlash(rel)] = string(data)
		return err
	})
	return out, err
}

func TestConformance(t *testing.T) {
	exportertest.RunConformanceTests(t, newHarness, exportertest.Options{})
}

func TestConformanceDedup(t *testing.T) {
	exportertest.RunConformanceTests(t, newHarness, exportertest.Options{Dedup: true})
}

// TestDefaultPatterns backs up a nano-graphrag working dir and checks which
// files the backup holds and that a restore brings back exactly those.
func TestDefaultPatterns(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	files := map[string]string{
		"kv_store_full_docs.json":             `{"doc-1": {"content": "a"}}`,
		"kv_store_text_chunks.json":           `{}`,
		"graph_chunk_entity_relation.graphml": `<graphml/>`,
		"vdb_entities.json":                   `{"embedding_dim": 4, "data": [], "matrix": ""}`,
		"entities_hnsw.index":                 "hnswlib's index (HNSWVectorStorage)",
		"entities_hnsw_metadata.pkl":          "its metadata, pickled",
		"config.yaml":                         "not backed up",
		"kv_store_full_docs.json.bak":         "no match: not backed up",
		".ngbak-restore-123":                  "a leftover temp file: never backed up",
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	exp, err := jsonexp.New(jsonexp.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	m, err := ngbak.New(ngbak.Options{Storage: ngbak.Dir(t.TempDir())})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Register(exp); err != nil {
		t.Fatal(err)
	}
	man, err := m.Create(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range man.Backends[0].Files {
		got = append(got, f.Path)
	}
	want := []string{"json/entities_hnsw.index", "json/entities_hnsw_metadata.pkl", "json/graph_chunk_entity_relation.graphml",
		"json/kv_store_full_docs.json", "json/kv_store_text_chunks.json", "json/vdb_entities.json"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("files in the backup (-want +got):\n%s", diff)
	}
	if got, want := man.Backends[0].Stats["files"], int64(6); got != want {
		t.Errorf("stats files = %d, want %d", got, want)
	}
	before, err := readTree(dir)
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(dir, "vdb_entities.json"))
	os.WriteFile(filepath.Join(dir, "kv_store_full_docs.json"), []byte("damaged"), 0o644)
	os.WriteFile(filepath.Join(dir, "vdb_new.json"), []byte("{}"), 0o644)
	// An index built after the backup, for other KV files: it must not
	// survive a restore of the files it does not match.
	os.WriteFile(filepath.Join(dir, "chunks_hnsw.index"), []byte("newer"), 0o644)
	os.WriteFile(filepath.Join(dir, "entities_hnsw.index"), []byte("rebuilt since"), 0o644)
	if _, err := m.Restore(ctx, man.ID, nil); err != nil {
		t.Fatal(err)
	}
	after, err := readTree(dir)
	if err != nil {
		t.Fatal(err)
	}
	// A dead restore's temporary file is not backed up, and the next
	// restore removes it.
	delete(before, ".ngbak-restore-123")
	if diff := cmp.Diff(before, after); diff != "" {
		t.Fatalf("working dir after restore (-want +got):\n%s", diff)
	}
}

// TestNotRegularFile: a matching name that is not a regular file fails the
// backup instead of being skipped.
func TestNotRegularFile(t *testing.T) {
	dir := t.TempDir()
	if err := os.Symlink("/etc/hostname", filepath.Join(dir, "kv_store_link.json")); err != nil {
		t.Fatal(err)
	}
	exp, err := jsonexp.New(jsonexp.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	m, err := ngbak.New(ngbak.Options{Storage: ngbak.Dir(t.TempDir())})
	if err != nil {
		t.Fatal(err)
	}
	m.Register(exp)
	if _, err := m.Create(context.Background(), nil); err == nil {
		t.Fatal("Create succeeded over a symlink matching the patterns")
	}
}

func TestInvalidOptions(t *testing.T) {
	for _, opts := range []jsonexp.Options{{}, {Dir: "x", Patterns: []string{"a/b*"}}, {Dir: "x", Patterns: []string{"[z-a"}}} {
		if _, err := jsonexp.New(opts); err == nil {
			t.Errorf("New(%+v) succeeded", opts)
		}
	}
}
