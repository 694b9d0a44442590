package ngbak_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/ngbak/ngbak"
	"github.com/ngbak/ngbak/jsonexp"
)

func ExampleManager() {
	ctx := context.Background()
	tmp, _ := os.MkdirTemp("", "ngbak-example")
	defer os.RemoveAll(tmp)
	workdir := filepath.Join(tmp, "graphrag")
	os.MkdirAll(workdir, 0o755)
	os.WriteFile(filepath.Join(workdir, "kv_store_full_docs.json"), []byte(`{"doc-1": {"content": "..."}}`), 0o644)

	m, err := ngbak.New(ngbak.Options{Storage: ngbak.Dir(filepath.Join(tmp, "backups"))})
	if err != nil {
		log.Fatal(err)
	}
	files, err := jsonexp.New(jsonexp.Options{Dir: workdir})
	if err != nil {
		log.Fatal(err)
	}
	if err := m.Register(files); err != nil {
		log.Fatal(err)
	}

	man, err := m.Create(ctx, &ngbak.CreateOptions{Labels: map[string]string{"reason": "before upgrade"}})
	if err != nil {
		log.Fatal(err)
	}
	for _, b := range man.Backends {
		fmt.Printf("backend %s (%s): %d files\n", b.Name, b.Kind, len(b.Files))
	}
	if err := m.Verify(ctx, man.ID); err != nil {
		log.Fatal(err)
	}
	fmt.Println("verified")

	os.WriteFile(filepath.Join(workdir, "kv_store_full_docs.json"), []byte(`{}`), 0o644)
	res, err := m.Restore(ctx, man.ID, nil)
	if err != nil {
		log.Fatal(err)
	}
	data, _ := os.ReadFile(filepath.Join(workdir, "kv_store_full_docs.json"))
	fmt.Printf("restored %v: %s\n", res.Backends, data)
	fmt.Println("safety backup kept:", res.SafetyID != "")
	// Output:
	// backend json (json): 1 files
	// verified
	// restored [json]: {"doc-1": {"content": "..."}}
	// safety backup kept: true
}
