package qdrantexp_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/ngbak/ngbak"
	"github.com/ngbak/ngbak/internal/qdrantemu"
	"github.com/ngbak/ngbak/qdrantexp"
)

// Back up a nano-graphrag application's two collections by snapshot, and
// restore them. Here the server is the repository's emulator, so the
// example runs anywhere; a service passes its server's addresses and key
// instead, e.g. Config{URL: "http://localhost:6333", GRPC:
// "localhost:6334", APIKey: key}. Name the collections: with Collections
// nil, a restore deletes every collection on the server that the backup
// does not hold.
func Example() {
	ctx := context.Background()
	emu, err := qdrantemu.Start(qdrantemu.Options{APIKey: "example-key"})
	if err != nil {
		log.Fatal(err)
	}
	defer emu.Close()

	vectors, err := qdrantexp.New(qdrantexp.Config{URL: emu.URL, GRPC: emu.GRPCAddr, APIKey: "example-key"},
		qdrantexp.Options{
			// nano-graphrag's QdrantVectorStorage: <prefix>_entities and
			// <prefix>_chunks, the prefix being QDRANT_NAMESPACE_PREFIX or
			// the working directory's basename.
			Collections: []string{"workdir_entities", "workdir_chunks"},
			Mode:        qdrantexp.Snapshot, // or Logical, to move between Qdrant versions
		})
	if err != nil {
		log.Fatal(err)
	}
	defer vectors.Close()

	dir, _ := os.MkdirTemp("", "qdrantexp-example-")
	defer os.RemoveAll(dir)
	m, _ := ngbak.New(ngbak.Options{Storage: ngbak.Dir(filepath.Join(dir, "backups"))})
	if err := m.Register(vectors); err != nil {
		log.Fatal(err)
	}
	man, err := m.Create(ctx, nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("backed up", man.Backends[0].Stats["collections"], "collections from", man.Backends[0].ServerVersion)
	if _, err := m.Restore(ctx, man.ID, nil); err != nil {
		log.Fatal(err)
	}
	fmt.Println("restored")
	// Output:
	// backed up 0 collections from 1.19.0-emulator
	// restored
}
