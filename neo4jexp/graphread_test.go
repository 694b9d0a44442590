package neo4jexp

import (
	"strings"
	"testing"
)

// A batch of the export whose values the parser leaves to the server (here
// APOC's datetime text) is an error for ReadGraph, not skipped as the
// import scaffolding it names.
func TestReadGraphRefusesUnparsedBatch(t *testing.T) {
	var got []Node
	g := GraphReader{Node: func(n Node) error { got = append(got, n); return nil }}
	for _, text := range []string{
		"UNWIND [{_id:1, properties:{at:datetime('2020-01-01T00:00:00Z')}}] AS row CREATE (n:`UNIQUE IMPORT LABEL`{`UNIQUE IMPORT ID`: row._id}) SET n += row.properties SET n:Entity",
		"UNWIND [{_id:1, properties:{at:datetime('2020-01-01T00:00:00Z')}}] AS row CREATE (n:`NGBAK IMPORT`{ngbak_import_id: row._id}) SET n += row.properties SET n:Entity",
	} {
		err := g.item(Item{Text: text})
		if err == nil || !strings.Contains(err.Error(), "leaves to the server") {
			t.Errorf("%.60s...: %v, %d nodes", text, err, len(got))
		}
	}
}
