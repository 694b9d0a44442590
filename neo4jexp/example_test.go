package neo4jexp_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"strings"

	"github.com/neo4j/neo4j-go-driver/v5/neo4j"
	"github.com/ngbak/ngbak"
	"github.com/ngbak/ngbak/neo4jexp"
)

// Back up the GraphRAG graph kept under one label.
func Example() {
	ctx := context.Background()
	driver, err := neo4j.NewDriverWithContext("bolt://localhost:7687", neo4j.BasicAuth("neo4j", "secret", ""))
	if err != nil {
		log.Fatal(err)
	}
	defer driver.Close(ctx)
	graph, _ := neo4jexp.New(driver, neo4jexp.Options{Label: "Entity"})
	m, _ := ngbak.New(ngbak.Options{Storage: ngbak.Dir("backups")})
	m.Register(graph)
	man, err := m.Create(ctx, nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(man.Backends[0].Stats)
}

// The parser reads cypher-shell scripts as cypher-shell does.
func ExampleParser() {
	script := `:begin
CREATE (:Doc {text: 'one; two', note: "// not a comment"});  // a comment
:commit
:param rows => [{id: 1}]
UNWIND $rows AS row
CREATE (:Row {id: row.id});`
	p := neo4jexp.NewParser(strings.NewReader(script))
	for {
		it, err := p.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			log.Fatal(err)
		}
		if it.Command != "" {
			fmt.Println(strings.TrimSpace(fmt.Sprintf("%d: :%s %s", it.Line, it.Command, it.Text)))
		} else {
			fmt.Printf("%d: %q\n", it.Line, it.Text)
		}
	}
	// Output:
	// 1: :begin
	// 2: "CREATE (:Doc {text: 'one; two', note: \"// not a comment\"})"
	// 3: :commit
	// 4: :param rows => [{id: 1}]
	// 5: "UNWIND $rows AS row\nCREATE (:Row {id: row.id})"
}
