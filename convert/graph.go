package convert

import (
	"bufio"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/ngbak/ngbak"
	"github.com/ngbak/ngbak/jsonexp"
	"github.com/ngbak/ngbak/neo4jexp"
)

// isGraphML: NetworkXStorage's file, <namespace>.graphml
// (graph_chunk_entity_relation.graphml).
func isGraphML(name string) (string, bool) {
	ns, ok := strings.CutSuffix(name, ".graphml")
	return ns, ok && ns != "" && !strings.Contains(ns, "/")
}

func (e *Exporter) checkFilesToNeo4j(ctx context.Context, t *neo4jexp.Exporter, b *ngbak.Backend) error {
	if b.Kind != jsonexp.Kind || b.Format != jsonexp.Format {
		return fmt.Errorf("the Neo4j exporter converts jsonexp backends (%s), not %s %s", jsonexp.Format, b.Kind, b.Format)
	}
	if t.Label() == "" {
		return fmt.Errorf("exporter %q covers the whole database: give it Options.Label, the label Neo4jStorage uses (GraphRAG_chunk_entity_relation by default)", t.Name())
	}
	if err := e.only(b, isGraphML, "a Neo4j graph", "<namespace>.graphml"); err != nil {
		return err
	}
	n := 0
	for _, f := range b.Files {
		if _, ok := isGraphML(relPath(b, f)); ok {
			n++
		}
	}
	if n > 1 {
		return fmt.Errorf("the backup holds %d GraphML files, and one Neo4j label holds one graph", n)
	}
	// The target's own check: relationships that cross its label.
	return t.CheckRestore(ctx, &ngbak.Backend{Name: t.Name(), Kind: neo4jexp.Kind, Format: neo4jexp.Format})
}

// filesToNeo4j converts the GraphML file into cypher-shell scripts that
// write the graph as Neo4jStorage does, spooled, then hands them to the
// Neo4j exporter, which clears its label, runs them and counts.
func (e *Exporter) filesToNeo4j(ctx context.Context, t *neo4jexp.Exporter, r *ngbak.Reader) error {
	var schema, script spool
	defer schema.remove()
	defer script.remove()
	var stats map[string]int64
	for {
		name, _, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		if _, ok := isGraphML(name); !ok {
			continue // Options.Partial, checked before
		}
		w, err := script.create(e.opts.TempDir)
		if err != nil {
			return err
		}
		g := &graphWriter{label: t.Label(), w: w, ids: map[string]bool{}}
		if err := g.convert(ctx, r); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		stats = map[string]int64{"nodes": g.nodes, "relationships": g.rels}
	}
	sw, err := schema.create(e.opts.TempDir)
	if err != nil {
		return err
	}
	// Neo4jStorage._ensure_constraints, statement for statement.
	l := quoteName(t.Label())
	fmt.Fprintf(sw, "CREATE CONSTRAINT IF NOT EXISTS FOR (n:%s) REQUIRE n.id IS UNIQUE;\n", l)
	for _, p := range []string{"entity_type", "communityIds", "source_id"} {
		fmt.Fprintf(sw, "CREATE INDEX IF NOT EXISTS FOR (n:%s) ON (n.%s);\n", l, p)
	}
	b := &ngbak.Backend{Name: e.Name(), Kind: neo4jexp.Kind, Format: neo4jexp.Format, Stats: stats,
		Files: []ngbak.File{{Path: e.Name() + "/schema.cypher"}, {Path: e.Name() + "/graph.cypher"}}}
	files := []*spool{&schema, &script}
	names := []string{"schema.cypher", "graph.cypher"}
	i := 0
	next := func() (string, int64, io.Reader, error) {
		if i == len(files) || files[i].f == nil {
			return "", 0, nil, io.EOF
		}
		size, body, err := files[i].finish()
		i++
		return names[i-1], size, body, err
	}
	return e.Exporter.Restore(ctx, ngbak.NewReader(b, next))
}

// graphWriter turns NetworkX's GraphML into UNWIND statements of up to
// batchRows nodes or relationships: the nodes as
// Neo4jStorage._process_nodes_chunk merges them (the label, the entity
// type's label, id, the attributes), then the edges as upsert_edges_batch
// does (RELATED, the attributes, weight a float, relation_type sanitized).
type graphWriter struct {
	label       string
	w           io.Writer
	keys        map[string]graphKey
	ids         map[string]bool
	nodes, rels int64
	batch       map[string][]string // label -> rows
	rows        int
	edgeRows    []string
}

type graphKey struct{ name, typ, domain string }

const batchRows = 500

func (g *graphWriter) convert(ctx context.Context, r io.Reader) error {
	dec := xml.NewDecoder(bufio.NewReaderSize(r, 1<<20))
	g.keys = map[string]graphKey{}
	g.batch = map[string][]string{}
	depth := 0
	inGraph := false
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		switch el := tok.(type) {
		case xml.StartElement:
			depth++
			switch {
			case depth == 1 && el.Name.Local == "graphml":
			case depth == 2 && el.Name.Local == "key":
				k := graphKey{name: attr(el, "attr.name"), typ: attr(el, "attr.type"), domain: attr(el, "for")}
				if k.typ == "" {
					k.typ = "string"
				}
				if k.domain != "node" && k.domain != "edge" {
					return fmt.Errorf("key %q is for %q: Neo4j has no place for attributes of a graph or of everything", k.name, k.domain)
				}
				g.keys[attr(el, "id")] = k
				var body struct {
					Default *string `xml:"default"`
				}
				if err := dec.DecodeElement(&body, &el); err != nil {
					return err
				}
				if body.Default != nil {
					return fmt.Errorf("key %q has a default value, which Neo4j has no place for", k.name)
				}
				depth--
			case depth == 2 && el.Name.Local == "graph":
				inGraph = true
			case depth == 3 && inGraph && el.Name.Local == "node":
				if err := g.node(dec, el); err != nil {
					return err
				}
				depth--
			case depth == 3 && inGraph && el.Name.Local == "edge":
				if err := g.edge(dec, el); err != nil {
					return err
				}
				depth--
			default:
				return fmt.Errorf("element <%s> at depth %d, which the conversion does not know (graph data, hyperedges, ports and nested graphs have no place in Neo4j)", el.Name.Local, depth)
			}
		case xml.EndElement:
			depth--
		}
	}
	if !inGraph {
		return errors.New("no <graph> element")
	}
	if err := g.flushNodes(); err != nil {
		return err
	}
	return g.flushEdges()
}

func attr(el xml.StartElement, name string) string {
	for _, a := range el.Attr {
		if a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}

type graphData struct {
	Data []struct {
		Key   string `xml:"key,attr"`
		Value string `xml:",chardata"`
	} `xml:"data"`
	Other []struct{ XMLName xml.Name } `xml:",any"`
}

// props reads an element's <data> as a Cypher map of typed values, keys
// sorted.
func (g *graphWriter) props(dec *xml.Decoder, el *xml.StartElement, domain string, extra map[string]string) (map[string]string, map[string]string, error) {
	var d graphData
	if err := dec.DecodeElement(&d, el); err != nil {
		return nil, nil, err
	}
	if len(d.Other) > 0 {
		return nil, nil, fmt.Errorf("<%s> in a %s, which Neo4j has no place for", d.Other[0].XMLName.Local, domain)
	}
	lits, raw := map[string]string{}, map[string]string{}
	for _, dt := range d.Data {
		k, ok := g.keys[dt.Key]
		if !ok || k.domain != domain {
			return nil, nil, fmt.Errorf("data of key %q, which is no %s key", dt.Key, domain)
		}
		if _, dup := lits[k.name]; dup {
			return nil, nil, fmt.Errorf("attribute %q twice", k.name)
		}
		lit, err := cypherValue(k.typ, dt.Value)
		if err != nil {
			return nil, nil, fmt.Errorf("attribute %q: %w", k.name, err)
		}
		lits[k.name], raw[k.name] = lit, dt.Value
	}
	for k, v := range extra {
		lits[k] = v
	}
	return lits, raw, nil
}

func (g *graphWriter) node(dec *xml.Decoder, el xml.StartElement) error {
	id := attr(el, "id")
	lits, raw, err := g.props(dec, &el, "node", nil)
	if err != nil {
		return fmt.Errorf("node %q: %w", id, err)
	}
	if _, ok := lits["id"]; ok {
		return fmt.Errorf("node %q: an attribute \"id\", which Neo4jStorage keeps for the node's id", id)
	}
	if g.ids[id] {
		return fmt.Errorf("node %q twice", id)
	}
	g.ids[id] = true
	entityType := "UNKNOWN"
	if v, ok := raw["entity_type"]; ok {
		entityType = v
	}
	typeLabel := sanitizeLabel(strings.Trim(entityType, `"`))
	row := "{id: " + cypherString(id) + ", data: " + cypherMap(lits) + "}"
	g.batch[typeLabel] = append(g.batch[typeLabel], row)
	g.nodes++
	if g.rows++; g.rows >= batchRows {
		return g.flushNodes()
	}
	return nil
}

func (g *graphWriter) flushNodes() error {
	for _, l := range slices.Sorted(mapKeys(g.batch)) {
		if _, err := fmt.Fprintf(g.w, "UNWIND [%s] AS node\nCREATE (n:%s:%s {id: node.id})\nSET n += node.data;\n",
			strings.Join(g.batch[l], ", "), quoteName(g.label), quoteName(l)); err != nil {
			return err
		}
	}
	clear(g.batch)
	g.rows = 0
	return nil
}

func (g *graphWriter) edge(dec *xml.Decoder, el xml.StartElement) error {
	src, dst := attr(el, "source"), attr(el, "target")
	if attr(el, "id") != "" {
		return fmt.Errorf("edge %q-%q has an id (a multigraph's key), which Neo4jStorage has no place for", src, dst)
	}
	lits, raw, err := g.props(dec, &el, "edge", nil)
	if err != nil {
		return fmt.Errorf("edge %q-%q: %w", src, dst, err)
	}
	if !g.ids[src] || !g.ids[dst] {
		return fmt.Errorf("edge %q-%q: an end that is no node before it", src, dst)
	}
	// upsert_edges_batch: weight a float (0.0 when absent or not a
	// number), relation_type sanitized (RELATED when absent).
	w := 0.0
	if v, ok := raw["weight"]; ok {
		if f, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil {
			w = f
		}
	}
	if lits["weight"], err = cypherFloat(w); err != nil {
		return fmt.Errorf("edge %q-%q: weight: %w", src, dst, err)
	}
	rt := "RELATED"
	if v, ok := raw["relation_type"]; ok {
		rt = v
	}
	lits["relation_type"] = cypherString(sanitizeLabel(rt))
	g.edgeRows = append(g.edgeRows, "{s: "+cypherString(src)+", t: "+cypherString(dst)+", data: "+cypherMap(lits)+"}")
	g.rels++
	if len(g.edgeRows) >= batchRows {
		return g.flushEdges()
	}
	return nil
}

func (g *graphWriter) flushEdges() error {
	if len(g.edgeRows) == 0 {
		return nil
	}
	l := quoteName(g.label)
	_, err := fmt.Fprintf(g.w, "UNWIND [%s] AS edge\nMATCH (s:%s {id: edge.s})\nMATCH (t:%s {id: edge.t})\nCREATE (s)-[r:RELATED]->(t)\nSET r += edge.data;\n",
		strings.Join(g.edgeRows, ", "), l, l)
	g.edgeRows = g.edgeRows[:0]
	return err
}

func mapKeys(m map[string][]string) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

var notLabel = regexp.MustCompile(`[^A-Za-z0-9_]`)

// sanitizeLabel is Neo4jStorage._sanitize_label.
func sanitizeLabel(s string) string {
	if s == "" {
		return "UNKNOWN"
	}
	s = notLabel.ReplaceAllString(s, "_")
	if c := s[0]; !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c == '_') {
		s = "_" + s
	}
	return s
}

// cypherValue is a GraphML value of attr.type typ as a Cypher literal of
// the type NetworkX reads it as.
func cypherValue(typ, v string) (string, error) {
	switch typ {
	case "string":
		return cypherString(v), nil
	case "int", "long":
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil {
			return "", fmt.Errorf("integer %q does not fit a Neo4j integer (int64)", v)
		}
		return strconv.FormatInt(n, 10), nil
	case "float", "double":
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil {
			return "", fmt.Errorf("number %q", v)
		}
		return cypherFloat(f)
	case "boolean":
		switch strings.ToLower(strings.TrimSpace(v)) {
		case "true", "1":
			return "true", nil
		case "false", "0":
			return "false", nil
		}
		return "", fmt.Errorf("boolean %q", v)
	}
	return "", fmt.Errorf("attr.type %q, which Neo4j has no property type for", typ)
}

func cypherFloat(f float64) (string, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return "", fmt.Errorf("%v, which a Cypher literal cannot write", f)
	}
	s := strconv.FormatFloat(f, 'f', -1, 64)
	if !strings.Contains(s, ".") {
		s += ".0"
	}
	return s, nil
}

func cypherString(s string) string {
	var b strings.Builder
	b.WriteByte('\'')
	for _, r := range s {
		switch r {
		case '\'':
			b.WriteString(`\'`)
		case '\\':
			b.WriteString(`\\`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		default:
			if r < 0x20 || r == 0x7f {
				fmt.Fprintf(&b, `\u%04x`, r)
			} else {
				b.WriteRune(r)
			}
		}
	}
	b.WriteByte('\'')
	return b.String()
}

func quoteName(s string) string { return "`" + strings.ReplaceAll(s, "`", "``") + "`" }

func cypherMap(m map[string]string) string {
	var b strings.Builder
	b.WriteByte('{')
	for i, k := range slices.Sorted(func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}) {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(quoteName(k))
		b.WriteString(": ")
		b.WriteString(m[k])
	}
	b.WriteByte('}')
	return b.String()
}
