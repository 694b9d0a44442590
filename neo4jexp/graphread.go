package neo4jexp

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"

	"github.com/ngbak/ngbak"
)

// Node is a node of a backup as ReadGraph reads it: Key is what the
// backup's relationships name it by (the node's element id at export),
// Labels its labels without the import label, Props its properties as the
// restore would send them (string, int64, float64, bool, lists, temporal
// and spatial values of dbtype).
type Node struct {
	Key    string
	Labels []string
	Props  map[string]any
}

// Relationship is a relationship of a backup as ReadGraph reads it,
// between the nodes of keys Start and End.
type Relationship struct {
	Start, End, Type string
	Props            map[string]any
}

// GraphReader receives what ReadGraph reads, in the backup's order: the
// schema statements (constraints and indexes, without the import
// scaffolding), the nodes, then the relationships.
type GraphReader struct {
	Schema       func(stmt string) error
	Node         func(Node) error
	Relationship func(Relationship) error
}

// ReadGraph reads the graph a backup of this format holds, without a
// server: the batches ngbak's and APOC's exports write, parsed as the
// restore parses them, one batch in memory at a time. A statement that is
// none of those (one that would compute or change something else) is an
// error naming its file and line, as is a value the parser leaves to the
// server: a converter needs every value exactly.
func ReadGraph(r *ngbak.Reader, g GraphReader) error {
	if f := r.Backend().Format; f != Format {
		return fmt.Errorf("neo4jexp: unknown format %q", f)
	}
	for {
		name, _, err := r.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		p := NewParser(r)
		for {
			it, err := p.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return fmt.Errorf("neo4jexp: %s: %w", name, err)
			}
			if err := g.item(it); err != nil {
				return fmt.Errorf("neo4jexp: %s:%d: %w", name, it.Line, err)
			}
		}
	}
}

var (
	// The row paths of a node's import id and a relationship's ends:
	// row._id, row.start, row.start._id.
	createPath = regexp.MustCompile(`CREATE \(n` + mergeLabels + `\{` + mergeName + `: row\.(` + mergeName + `)\}\)`)
	endPath    = regexp.MustCompile(`MATCH \((start|end)` + mergeLabels + `\{` + mergeName + `: row\.(` + mergeName + `(?:\.` + mergeName + `)?)\}\)`)
	setLabels  = regexp.MustCompile(` SET n(` + mergeLabels + `)`)
	oneName    = regexp.MustCompile(mergeName)
	relType    = regexp.MustCompile(`\[r:(` + mergeName + `)\]`)
	// scaffolding mentions the import label or constraint of ngbak or APOC.
	scaffolding = regexp.MustCompile("(?i)`?(NGBAK IMPORT|ngbak_import_id|UNIQUE IMPORT LABEL|UNIQUE_IMPORT_NAME|UNIQUE IMPORT ID)`?|^CALL db\\.awaitIndexes")
)

func (g GraphReader) item(it Item) error {
	switch it.Command {
	case "begin", "commit":
		return nil
	case "":
	default:
		return fmt.Errorf(":%s, which a reader without a server cannot follow", it.Command)
	}
	stmt, rows, ok := parameterize(it.Text)
	kind := byte(0)
	if ok {
		kind = mergeKind(stmt)
	}
	switch {
	case kind == 'n':
		return g.nodes(stmt, rows)
	case kind == 'r':
		return g.relationships(stmt, rows)
	case schemaStmt.MatchString(it.Text) || isVectorProcedure(it.Text):
		if scaffolding.MatchString(it.Text) || g.Schema == nil {
			return nil
		}
		return g.Schema(it.Text)
	case unwindLiteral.MatchString(it.Text):
		// Before the scaffolding test: every batch names the import
		// label, and one the parser cannot read must not pass for the
		// label's removal and be skipped.
		return errors.New("a batch whose values the parser leaves to the server")
	case scaffolding.MatchString(it.Text):
		return nil // the import label's removal
	}
	return fmt.Errorf("a statement that is no batch of an export: %.80q", it.Text)
}

func (g GraphReader) nodes(stmt string, rows []any) error {
	m := createPath.FindStringSubmatch(stmt)
	if m == nil {
		return errors.New("a node batch without an import id")
	}
	path := unquoteName(m[1])
	var labels []string
	for _, l := range setLabels.FindAllStringSubmatch(stmt, -1) {
		for _, n := range oneName.FindAllString(l[1], -1) {
			labels = append(labels, unquoteName(n))
		}
	}
	for _, row := range rows {
		rm, _ := row.(map[string]any)
		key, err := rowKey(rm, path)
		if err != nil {
			return err
		}
		props, _ := rm["properties"].(map[string]any)
		if g.Node != nil {
			if err := g.Node(Node{Key: key, Labels: labels, Props: props}); err != nil {
				return err
			}
		}
	}
	return nil
}

func (g GraphReader) relationships(stmt string, rows []any) error {
	paths := map[string]string{}
	for _, m := range endPath.FindAllStringSubmatch(stmt, -1) {
		paths[m[1]] = m[2]
	}
	t := relType.FindStringSubmatch(stmt)
	if len(paths) != 2 || t == nil {
		return errors.New("a relationship batch the reader does not know")
	}
	typ := unquoteName(t[1])
	for _, row := range rows {
		rm, _ := row.(map[string]any)
		start, err := rowKey(rm, paths["start"])
		if err != nil {
			return err
		}
		end, err := rowKey(rm, paths["end"])
		if err != nil {
			return err
		}
		props, _ := rm["properties"].(map[string]any)
		if g.Relationship != nil {
			if err := g.Relationship(Relationship{Start: start, End: end, Type: typ, Props: props}); err != nil {
				return err
			}
		}
	}
	return nil
}

// rowKey is the value at path (a.b) in row, as a string that names one
// node: ngbak's element ids as they are, APOC's integer ids in JSON.
func rowKey(row map[string]any, path string) (string, error) {
	var v any = row
	for _, p := range strings.Split(path, ".") {
		m, ok := v.(map[string]any)
		if !ok {
			return "", fmt.Errorf("a row without %s", path)
		}
		v = m[unquoteName(p)]
	}
	switch k := v.(type) {
	case string:
		return k, nil
	case int64:
		b, _ := json.Marshal(k)
		return string(b), nil
	}
	return "", fmt.Errorf("a row whose %s is %T, not an id", path, v)
}

func unquoteName(s string) string {
	if len(s) >= 2 && s[0] == '`' {
		return strings.ReplaceAll(s[1:len(s)-1], "``", "`")
	}
	return s
}
