package jsonexp_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/ngbak/ngbak"
	"github.com/ngbak/ngbak/jsonexp"
)

// Back up and restore the stores of a nano-graphrag working directory.
func Example() {
	ctx := context.Background()
	tmp, _ := os.MkdirTemp("", "jsonexp-example")
	defer os.RemoveAll(tmp)
	workdir := filepath.Join(tmp, "graphrag")
	os.MkdirAll(workdir, 0o755)
	os.WriteFile(filepath.Join(workdir, "kv_store_full_docs.json"), []byte(`{"doc-1": {"content": "..."}}`), 0o644)
	os.WriteFile(filepath.Join(workdir, "graph_chunk_entity_relation.graphml"), []byte(`<graphml/>`), 0o644)
	os.WriteFile(filepath.Join(workdir, "notes.txt"), []byte("not a store"), 0o644)

	files, err := jsonexp.New(jsonexp.Options{Dir: workdir}) // DefaultPatterns
	if err != nil {
		log.Fatal(err)
	}
	m, _ := ngbak.New(ngbak.Options{Storage: ngbak.Dir(filepath.Join(tmp, "backups"))})
	m.Register(files)
	man, err := m.Create(ctx, nil)
	if err != nil {
		log.Fatal(err)
	}
	for _, f := range man.Backends[0].Files {
		fmt.Println(f.Path, f.Size)
	}

	os.Remove(filepath.Join(workdir, "kv_store_full_docs.json"))
	if _, err := m.Restore(ctx, man.ID, nil); err != nil {
		log.Fatal(err)
	}
	data, _ := os.ReadFile(filepath.Join(workdir, "kv_store_full_docs.json"))
	fmt.Println(string(data))
	// Output:
	// json/graph_chunk_entity_relation.graphml 10
	// json/kv_store_full_docs.json 29
	// {"doc-1": {"content": "..."}}
}
