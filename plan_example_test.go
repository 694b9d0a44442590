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

func ExampleManager_Plan() {
	ctx := context.Background()
	tmp, _ := os.MkdirTemp("", "ngbak-example")
	defer os.RemoveAll(tmp)
	workdir := filepath.Join(tmp, "graphrag")
	os.MkdirAll(workdir, 0o755)
	os.WriteFile(filepath.Join(workdir, "kv_store_full_docs.json"), []byte(`{"doc-1": {}}`), 0o644)
	m, _ := ngbak.New(ngbak.Options{Storage: ngbak.Dir(filepath.Join(tmp, "backups"))})
	files, _ := jsonexp.New(jsonexp.Options{Dir: workdir})
	m.Register(files)
	man, err := m.Create(ctx, nil)
	if err != nil {
		log.Fatal(err)
	}
	// Written after the backup: a restore would delete it.
	os.WriteFile(filepath.Join(workdir, "kv_store_llm_response_cache.json"), []byte(`{}`), 0o644)

	p, err := m.Plan(ctx, man.ID, nil)
	if err != nil {
		log.Fatal(err)
	}
	for _, b := range p.Backends {
		fmt.Printf("%s: %d files in the backup, %d now\n", b.Name, b.Backup["files"], b.Current["files"])
		for _, d := range b.Deletes {
			fmt.Println("would delete", d)
		}
	}
	fmt.Println("refused:", p.Refusal() != "", "- safety backup bytes:", p.SafetyBytes)
	// Output:
	// json: 1 files in the backup, 2 now
	// would delete file kv_store_llm_response_cache.json (2 bytes)
	// refused: false - safety backup bytes: 15
}
