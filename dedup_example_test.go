package ngbak_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strings"

	"github.com/ngbak/ngbak"
	"github.com/ngbak/ngbak/jsonexp"
)

// A deduplicated storage: the second backup of an unchanged store stores
// only the chunk that holds the new manifest.
func ExampleDedupOptions() {
	ctx := context.Background()
	tmp, _ := os.MkdirTemp("", "ngbak-example")
	defer os.RemoveAll(tmp)
	workdir := filepath.Join(tmp, "graphrag")
	os.MkdirAll(workdir, 0o755)
	doc := strings.Repeat("GraphRAG keeps a graph. ", 200000)
	os.WriteFile(filepath.Join(workdir, "kv_store_full_docs.json"), []byte(`{"doc-1": {"content": "`+doc+`"}}`), 0o644)

	m, err := ngbak.New(ngbak.Options{
		Storage: ngbak.Dir(filepath.Join(tmp, "backups")),
		Dedup:   &ngbak.DedupOptions{},
	})
	if err != nil {
		log.Fatal(err)
	}
	files, _ := jsonexp.New(jsonexp.Options{Dir: workdir})
	m.Register(files)
	for range 2 {
		if _, err := m.Create(ctx, nil); err != nil {
			log.Fatal(err)
		}
		rep, err := m.CheckRepository(ctx, ngbak.CheckOptions{ReadData: true})
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%d backups, %d chunks stored\n", rep.Lists, rep.Stored)
	}
	// Output:
	// 1 backups, 3 chunks stored
	// 2 backups, 4 chunks stored
}
