// Quickstart backs up a nano-graphrag working directory, damages it,
// restores it, proves the data came back byte for byte, and shows a
// tampered archive being refused. It needs no server and no arguments:
//
//	go run ./examples/quickstart
//
// The sample data is built in: documents, chunks, community reports, an
// entity graph in GraphML and an entity vector store, in the files
// nano-graphrag writes. Everything happens in a temporary folder, removed at
// the end unless -keep is given.
package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/ngbak/ngbak"
	"github.com/ngbak/ngbak/jsonexp"
)

func main() {
	keep := flag.Bool("keep", false, "keep the temporary folder and print its path")
	flag.Parse()
	if err := run(*keep); err != nil {
		fmt.Fprintln(os.Stderr, "quickstart:", err)
		os.Exit(1)
	}
}

func run(keep bool) error {
	ctx := context.Background()
	tmp, err := os.MkdirTemp("", "ngbak-quickstart-")
	if err != nil {
		return err
	}
	if keep {
		fmt.Println("working in", tmp)
	} else {
		defer os.RemoveAll(tmp)
	}
	workdir := filepath.Join(tmp, "graphrag")
	if err := writeSample(workdir); err != nil {
		return err
	}
	original, err := fingerprint(workdir)
	if err != nil {
		return err
	}

	m, err := ngbak.New(ngbak.Options{Storage: ngbak.Dir(filepath.Join(tmp, "backups")), App: &ngbak.App{Name: "quickstart"}})
	if err != nil {
		return err
	}
	files, err := jsonexp.New(jsonexp.Options{Dir: workdir})
	if err != nil {
		return err
	}
	if err := m.Register(files); err != nil {
		return err
	}

	man, err := m.Create(ctx, nil)
	if err != nil {
		return err
	}
	b := man.Backends[0]
	fmt.Printf("1. created backup %s: %d files, %d bytes of store data\n", man.ID, b.Stats["files"], b.Stats["bytes"])

	list, err := m.List(ctx)
	if err != nil {
		return err
	}
	for _, bk := range list {
		fmt.Printf("2. listed %s (%d bytes compressed, created %s)\n", bk.Manifest.ID, bk.Size, bk.Manifest.CreatedAt.Format("15:04:05"))
	}

	if err := m.Verify(ctx, man.ID); err != nil {
		return err
	}
	fmt.Println("3. verified: every file matches its SHA-256, and the archive its sidecar")

	if err := damage(workdir); err != nil {
		return err
	}
	fmt.Println("4. damaged the working dir: deleted the vector store, truncated the graph, added a stray store")

	res, err := m.Restore(ctx, man.ID, nil)
	if err != nil {
		return err
	}
	restored, err := fingerprint(workdir)
	if err != nil {
		return err
	}
	if restored != original {
		return errors.New("the restored working dir differs from the original")
	}
	fmt.Printf("5. restored: the working dir is byte for byte the original again (safety backup %s kept)\n", res.SafetyID)

	// Flip one byte in the middle of the archive.
	archive := filepath.Join(tmp, "backups", man.ID+".ngbak")
	data, err := os.ReadFile(archive)
	if err != nil {
		return err
	}
	data[len(data)/2] ^= 0x01
	if err := os.WriteFile(archive, data, 0o644); err != nil {
		return err
	}
	_, refused := m.Restore(ctx, man.ID, nil)
	if !errors.Is(refused, ngbak.ErrChecksum) {
		return fmt.Errorf("a tampered archive was not refused with ErrChecksum: %v", refused)
	}
	after, err := fingerprint(workdir)
	if err != nil {
		return err
	}
	if after != original {
		return errors.New("the refused restore changed the working dir")
	}
	fmt.Printf("6. flipped one byte of the archive: restore refused, working dir untouched:\n   %v\n", refused)
	return nil
}

// fingerprint hashes every file name and content of dir.
func fingerprint(dir string) (string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return "", err
		}
		fmt.Fprintf(h, "%s %d\n", e.Name(), len(data))
		h.Write(data)
	}
	return fmt.Sprintf("%x", h.Sum(nil)), nil
}

func damage(dir string) error {
	if err := os.Remove(filepath.Join(dir, "vdb_entities.json")); err != nil {
		return err
	}
	if err := os.Truncate(filepath.Join(dir, "graph_chunk_entity_relation.graphml"), 100); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "kv_store_stray.json"), []byte(`{"oops": true}`), 0o644)
}

var documents = []string{
	"Marie Curie was a physicist and chemist who conducted pioneering research on radioactivity. She was the first woman to win a Nobel Prize, and the only person to win Nobel Prizes in two scientific fields.",
	"Pierre Curie, her husband, shared the 1903 Nobel Prize in Physics with her and Henri Becquerel. Their work on radioactivity laid the foundation of nuclear physics.",
	"The Curie Institute in Paris, founded by Marie Curie in 1920, remains a leading centre for cancer research and treatment.",
}

type entity struct{ name, kind, desc string }

var entities = []entity{
	{"MARIE CURIE", "PERSON", "Physicist and chemist, pioneer of research on radioactivity."},
	{"PIERRE CURIE", "PERSON", "Physicist, husband of Marie Curie, Nobel laureate in 1903."},
	{"HENRI BECQUEREL", "PERSON", "Physicist who shared the 1903 Nobel Prize in Physics."},
	{"NOBEL PRIZE", "AWARD", "International award for achievements in science and letters."},
	{"CURIE INSTITUTE", "ORGANIZATION", "Research centre in Paris founded in 1920."},
	{"RADIOACTIVITY", "CONCEPT", "Emission of radiation by unstable atomic nuclei."},
}

var relations = [][3]string{
	{"MARIE CURIE", "PIERRE CURIE", "Married; shared research on radioactivity."},
	{"MARIE CURIE", "NOBEL PRIZE", "Won it twice, in physics and in chemistry."},
	{"PIERRE CURIE", "HENRI BECQUEREL", "Shared the 1903 Nobel Prize in Physics."},
	{"MARIE CURIE", "CURIE INSTITUTE", "Founded it in 1920."},
	{"MARIE CURIE", "RADIOACTIVITY", "Coined the term and studied it."},
}

// writeSample writes a working dir in nano-graphrag's layout.
func writeSample(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	docs, chunks := map[string]any{}, map[string]any{}
	for _, d := range documents {
		docID := fmt.Sprintf("doc-%x", sha256.Sum256([]byte(d)))[:36]
		docs[docID] = map[string]any{"content": d}
		for j, part := range strings.SplitAfter(d, ". ") {
			chunkID := fmt.Sprintf("chunk-%x", sha256.Sum256([]byte(part)))[:38]
			chunks[chunkID] = map[string]any{"tokens": len(strings.Fields(part)), "content": part, "full_doc_id": docID, "chunk_order_index": j}
		}
	}
	reports := map[string]any{"0": map[string]any{
		"report_string": "# The Curie family and radioactivity\n\nMarie and Pierre Curie founded the study of radioactivity...",
		"report_json":   map[string]any{"title": "The Curie family and radioactivity", "rating": 8.5, "findings": []any{map[string]any{"summary": "Two Nobel Prizes", "explanation": "Marie Curie won in physics (1903) and chemistry (1911)."}}},
		"level":         0, "title": "Cluster 0", "edges": [][2]string{{"MARIE CURIE", "PIERRE CURIE"}}, "nodes": []string{"MARIE CURIE", "PIERRE CURIE"},
	}}
	cache := map[string]any{"default": map[string]any{"9f8e": map[string]any{"return": "(\"entity\"<|>\"MARIE CURIE\"<|>\"PERSON\")", "model": "gpt-4o-mini"}}}
	for name, v := range map[string]any{
		"kv_store_full_docs.json":          docs,
		"kv_store_text_chunks.json":        chunks,
		"kv_store_community_reports.json":  reports,
		"kv_store_llm_response_cache.json": cache,
		"vdb_entities.json":                vectors(),
	} {
		data, err := json.MarshalIndent(v, "", "    ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			return err
		}
	}
	return os.WriteFile(filepath.Join(dir, "graph_chunk_entity_relation.graphml"), graphml(), 0o644)
}

func graphml() []byte {
	var b bytes.Buffer
	b.WriteString(`<?xml version='1.0' encoding='utf-8'?>
<graphml xmlns="http://graphml.graphdrawing.org/xmlns" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:schemaLocation="http://graphml.graphdrawing.org/xmlns http://graphml.graphdrawing.org/xmlns/1.0/graphml.xsd">
  <key id="d0" for="node" attr.name="entity_type" attr.type="string" />
  <key id="d1" for="node" attr.name="description" attr.type="string" />
  <key id="d2" for="edge" attr.name="weight" attr.type="double" />
  <key id="d3" for="edge" attr.name="description" attr.type="string" />
  <graph edgedefault="undirected">
`)
	for _, e := range entities {
		fmt.Fprintf(&b, "    <node id=\"&quot;%s&quot;\">\n      <data key=\"d0\">\"%s\"</data>\n      <data key=\"d1\">\"%s\"</data>\n    </node>\n", e.name, e.kind, e.desc)
	}
	for _, r := range relations {
		fmt.Fprintf(&b, "    <edge source=\"&quot;%s&quot;\" target=\"&quot;%s&quot;\">\n      <data key=\"d2\">1.0</data>\n      <data key=\"d3\">\"%s\"</data>\n    </edge>\n", r[0], r[1], r[2])
	}
	b.WriteString("  </graph>\n</graphml>\n")
	return b.Bytes()
}

// vectors is a nano-vectordb file: the entities' metadata and their
// embeddings as one base64 float32 matrix.
func vectors() map[string]any {
	const dim = 16
	var data []map[string]any
	matrix := make([]byte, 0, len(entities)*dim*4)
	for i, e := range entities {
		data = append(data, map[string]any{"__id__": fmt.Sprintf("ent-%x", sha256.Sum256([]byte(e.name)))[:36], "entity_name": e.name})
		for j := range dim {
			matrix = binary.LittleEndian.AppendUint32(matrix, math.Float32bits(float32(math.Sin(float64(i*dim+j)))))
		}
	}
	sort.Slice(data, func(i, j int) bool { return data[i]["__id__"].(string) < data[j]["__id__"].(string) })
	return map[string]any{"embedding_dim": dim, "data": data, "matrix": base64.StdEncoding.EncodeToString(matrix)}
}
