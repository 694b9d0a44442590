package convert

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/ngbak/ngbak"
	"github.com/ngbak/ngbak/internal/pyjson"
	"github.com/ngbak/ngbak/jsonexp"
	"github.com/ngbak/ngbak/neo4jexp"
)

// graphFile is NetworkXStorage's file: graph_<namespace>.graphml, and
// nano-graphrag's one graph namespace is chunk_entity_relation, whatever
// label Neo4jStorage puts it under.
const graphFile = "graph_chunk_entity_relation.graphml"

// nonGraph are the files of nano-graphrag's other file stores.
var nonGraph = []string{"kv_store_full_docs.json", "vdb_entities.json", "vdb_chunks.json", "entities_hnsw.index", "entities_hnsw_metadata.pkl"}

func checkNeo4jToFiles(t *jsonexp.Exporter, b *ngbak.Backend) error {
	if b.Format != neo4jexp.Format {
		return fmt.Errorf("a JSON working dir converts neo4jexp backends (%s), not %s %s", neo4jexp.Format, b.Kind, b.Format)
	}
	for _, n := range nonGraph {
		if t.Covers(n) {
			return fmt.Errorf("exporter %q also covers %s, which a Neo4j backup does not hold, so the restore would remove it: give it Patterns [%s]", t.Name(), n, graphFile)
		}
	}
	if !t.Covers(graphFile) {
		return fmt.Errorf("exporter %q does not cover %s", t.Name(), graphFile)
	}
	return nil
}

// A graph's nodes and edges wait in a spool, each record its id or ends
// and its attributes as networkx writes them; memory holds an offset and
// the id of each node, and an offset and two node numbers for each edge.
type spooledNode struct {
	id     string
	off, n int64
}

type spooledEdge struct {
	a, b   int32 // node ranks, a <= b
	off, n int64
}

// graphAttr is one attribute as networkx's GraphML writer writes it: its
// attr.type and str(value).
type graphAttr struct{ name, typ, text string }

// neo4jToFiles writes the graph of a neo4jexp backup as NetworkXStorage's
// GraphML file (networkx.write_graphml by the standard library's writer):
// read and checked whole into a spool before the working dir is touched,
// then nodes sorted by id and edges by their ends, attributes by name, so
// that a file written in that order comes back byte for byte.
func (e *Exporter) neo4jToFiles(ctx context.Context, r *ngbak.Reader) error {
	var recs, body spool
	defer recs.remove()
	defer body.remove()
	rw, err := recs.create(e.opts.TempDir)
	if err != nil {
		return err
	}
	gb := &graphBack{w: rw, nodeOf: map[string]int32{}}
	gb.scope, _ = neo4jexp.BackupLabel(r.Backend())
	err = neo4jexp.ReadGraph(r, neo4jexp.GraphReader{
		Schema: gb.schema,
		Node: func(n neo4jexp.Node) error {
			if err := ctx.Err(); err != nil {
				return err
			}
			return gb.node(n)
		},
		Relationship: gb.relationship,
	})
	if err != nil {
		return err
	}
	// What the reader handed on must be all the backup counted: a batch
	// skipped anywhere would otherwise leave nodes or edges out unseen.
	stats := r.Backend().Stats
	for what, got := range map[string]int{"nodes": len(gb.nodes), "relationships": len(gb.edges)} {
		if want, ok := stats[what]; ok && want != int64(got) {
			return fmt.Errorf("read %d %s from the backup, its manifest counts %d", got, what, want)
		}
	}
	if err := gb.checkSchema(); err != nil {
		return err
	}
	_, rr, err := recs.finish()
	if err != nil {
		return err
	}
	src := rr.(io.ReaderAt)
	bw, err := body.create(e.opts.TempDir)
	if err != nil {
		return err
	}
	keys, err := gb.writeBody(ctx, src, bw)
	if err != nil {
		return err
	}
	size, bodyR, err := body.finish()
	if err != nil {
		return err
	}
	head := []byte("<?xml version='1.0' encoding='utf-8'?>\n<graphml xmlns=\"http://graphml.graphdrawing.org/xmlns\" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xsi:schemaLocation=\"http://graphml.graphdrawing.org/xmlns http://graphml.graphdrawing.org/xmlns/1.0/graphml.xsd\">\n")
	// networkx inserts each key before the others as it makes it.
	for i := len(keys) - 1; i >= 0; i-- {
		k := keys[i]
		head = fmt.Appendf(head, "  <key id=\"d%d\" for=\"%s\" attr.name=\"%s\" attr.type=\"%s\" />\n", i, k.domain, escapeAttr(k.name), k.typ)
	}
	var graph, foot []byte
	if size == 0 {
		graph = []byte("  <graph edgedefault=\"undirected\" />\n")
	} else {
		graph, foot = []byte("  <graph edgedefault=\"undirected\">\n"), []byte("  </graph>\n")
	}
	head = append(head, graph...)
	foot = append(foot, "</graphml>\n"...)
	b := &ngbak.Backend{Name: e.Name(), Kind: jsonexp.Kind, Format: jsonexp.Format,
		Files: []ngbak.File{{Path: e.Name() + "/" + graphFile}}}
	done := false
	next := func() (string, int64, io.Reader, error) {
		if done {
			return "", 0, nil, io.EOF
		}
		done = true
		total := int64(len(head)) + size + int64(len(foot))
		return graphFile, total, io.MultiReader(strings.NewReader(string(head)), bodyR, strings.NewReader(string(foot))), nil
	}
	return e.Exporter.Restore(ctx, ngbak.NewReader(b, next))
}

type graphBack struct {
	w            io.Writer
	off          int64
	scope        string // the backup's label, recorded or learnt from its first node
	nodeOf       map[string]int32
	nodes        []spooledNode
	edges        []spooledEdge
	schemaLabels []string
	rec          []byte
	attrs        []graphAttr
}

// The constraint and indexes Neo4jStorage._ensure_constraints creates,
// which the conversion from GraphML creates again; GraphML has no place for
// any other.
var (
	storageConstraint = regexp.MustCompile("^CREATE CONSTRAINT \\S+ FOR \\(n:(`(?:[^`]|``)*`)\\) REQUIRE \\(n\\.`id`\\) IS UNIQUE$")
	storageIndex      = regexp.MustCompile("^CREATE RANGE INDEX \\S+ FOR \\(n:(`(?:[^`]|``)*`)\\) ON \\(n\\.`(?:entity_type|communityIds|source_id)`\\)$")
)

func (g *graphBack) schema(stmt string) error {
	m := storageConstraint.FindStringSubmatch(stmt)
	if m == nil {
		m = storageIndex.FindStringSubmatch(stmt)
	}
	if m == nil {
		return fmt.Errorf("%.120s: a constraint or index other than Neo4jStorage's, which GraphML has no place for", stmt)
	}
	g.schemaLabels = append(g.schemaLabels, strings.ReplaceAll(m[1][1:len(m[1])-1], "``", "`"))
	return nil
}

func (g *graphBack) checkSchema() error {
	for _, l := range g.schemaLabels {
		if l != g.scope {
			return fmt.Errorf("a constraint or index on label %q, outside the graph's label %q", l, g.scope)
		}
	}
	return nil
}

func (g *graphBack) node(n neo4jexp.Node) error {
	id, ok := n.Props["id"].(string)
	if !ok {
		return fmt.Errorf("node %s: its id is %T, not a string as Neo4jStorage writes it", n.Key, n.Props["id"])
	}
	// Neo4jStorage's labels: its own, and the sanitized entity type's.
	et := "UNKNOWN"
	if v, ok := n.Props["entity_type"]; ok {
		if et, ok = v.(string); !ok {
			return fmt.Errorf("node %q: entity_type is %T, not a string", id, v)
		}
	}
	typeLabel := sanitizeLabel(strings.Trim(et, `"`))
	if g.scope == "" {
		for _, l := range n.Labels {
			if l != typeLabel || len(n.Labels) == 1 {
				g.scope = l
				break
			}
		}
	}
	want := []string{g.scope, typeLabel}
	if g.scope == typeLabel {
		want = want[:1]
	}
	got := slices.Clone(n.Labels)
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, slices.Compact(want)) {
		return fmt.Errorf("node %q has labels %v; NetworkX has a place for the graph's label %q and the entity type's %q alone", id, n.Labels, g.scope, typeLabel)
	}
	if _, dup := g.nodeOf[n.Key]; dup {
		return fmt.Errorf("node %q twice", id)
	}
	if len(g.nodes) == math.MaxInt32 {
		return errors.New("more nodes than the conversion counts")
	}
	if err := g.record(id, n.Props, true); err != nil {
		return fmt.Errorf("node %q: %w", id, err)
	}
	g.nodeOf[n.Key] = int32(len(g.nodes))
	g.nodes = append(g.nodes, spooledNode{id: id, off: g.off - int64(len(g.rec)), n: int64(len(g.rec))})
	return nil
}

func (g *graphBack) relationship(r neo4jexp.Relationship) error {
	a, okA := g.nodeOf[r.Start]
	b, okB := g.nodeOf[r.End]
	if !okA || !okB {
		return fmt.Errorf("a relationship from %s to %s, a node the backup does not hold", r.Start, r.End)
	}
	what := fmt.Sprintf("relationship %q-%q", g.nodes[a].id, g.nodes[b].id)
	if r.Type != "RELATED" {
		return fmt.Errorf("%s is of type %s; Neo4jStorage writes RELATED alone, and GraphML has no place for a type", what, r.Type)
	}
	if err := g.record("", r.Props, false); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	g.edges = append(g.edges, spooledEdge{a: a, b: b, off: g.off - int64(len(g.rec)), n: int64(len(g.rec))})
	return nil
}

// record spools an element's attributes (without a node's id), sorted by
// name, each as networkx writes it.
func (g *graphBack) record(id string, props map[string]any, node bool) error {
	if node {
		if err := xmlSafe(id, true); err != nil {
			return fmt.Errorf("its id: %w", err)
		}
	}
	g.rec = g.rec[:0]
	for _, k := range slices.Sorted(func(yield func(string) bool) {
		for k := range props {
			if !yield(k) {
				return
			}
		}
	}) {
		if node && k == "id" {
			continue
		}
		typ, text, err := graphValue(props[k])
		if err != nil {
			return fmt.Errorf("property %q: %w", k, err)
		}
		if err := xmlSafe(k, true); err != nil {
			return fmt.Errorf("property name %q: %w", k, err)
		}
		for _, s := range []string{k, typ, text} {
			g.rec = binary.AppendUvarint(g.rec, uint64(len(s)))
			g.rec = append(g.rec, s...)
		}
	}
	n, err := g.w.Write(g.rec)
	g.off += int64(n)
	return err
}

// graphValue is a Neo4j property as networkx's GraphML writer writes the
// Python value Neo4jStorage reads it as: attr.type and str(value).
func graphValue(v any) (typ, text string, err error) {
	switch v := v.(type) {
	case string:
		if v == "" {
			// <data key="d0" />, which networkx reads as no attribute.
			return "", "", errors.New("an empty string, which networkx's GraphML reader reads back as no attribute")
		}
		return "string", v, xmlSafe(v, false)
	case int64:
		return "long", strconv.FormatInt(v, 10), nil
	case float64:
		switch {
		case math.IsNaN(v):
			return "double", "nan", nil
		case math.IsInf(v, 1):
			return "double", "inf", nil
		case math.IsInf(v, -1):
			return "double", "-inf", nil
		}
		return "double", string(pyjson.AppendFloat(nil, v)), nil
	case bool:
		if v {
			return "boolean", "True", nil
		}
		return "boolean", "False", nil
	}
	return "", "", fmt.Errorf("a %T, which GraphML has no type for (networkx writes strings, integers, floats and booleans)", v)
}

// xmlSafe refuses what XML 1.0 cannot hold, which networkx would write and
// then fail to read, and a carriage return in text, which an XML parser
// reads as a line feed (an attribute's is written as &#13;).
func xmlSafe(s string, attr bool) error {
	if !utf8.ValidString(s) {
		return errors.New("invalid UTF-8")
	}
	for _, r := range s {
		switch {
		case r == '\r' && !attr:
			return errors.New("a carriage return, which an XML parser reads back as a line feed")
		case r < 0x20 && r != '\t' && r != '\n' && r != '\r', r == 0xFFFE, r == 0xFFFF:
			return fmt.Errorf("character %U, which XML 1.0 cannot hold", r)
		}
	}
	return nil
}

type graphKeyOut struct{ name, typ, domain string }

// writeBody writes the <node> and <edge> elements in networkx's order and
// returns the keys in the order networkx makes them (d0, d1, ...): by first
// use, nodes first.
func (g *graphBack) writeBody(ctx context.Context, src io.ReaderAt, w io.Writer) ([]graphKeyOut, error) {
	order := make([]int32, len(g.nodes))
	for i := range order {
		order[i] = int32(i)
	}
	slices.SortFunc(order, func(a, b int32) int { return strings.Compare(g.nodes[a].id, g.nodes[b].id) })
	rank := make([]int32, len(g.nodes))
	for r, i := range order {
		if r > 0 && g.nodes[order[r-1]].id == g.nodes[i].id {
			return nil, fmt.Errorf("two nodes of id %q", g.nodes[i].id)
		}
		rank[i] = int32(r)
	}
	for i := range g.edges {
		e := &g.edges[i]
		e.a, e.b = rank[e.a], rank[e.b]
		if e.a > e.b {
			e.a, e.b = e.b, e.a
		}
	}
	slices.SortFunc(g.edges, func(x, y spooledEdge) int {
		if x.a != y.a {
			return int(x.a - y.a)
		}
		return int(x.b - y.b)
	})
	var keys []graphKeyOut
	keyID := map[graphKeyOut]int{}
	bw := bufio.NewWriterSize(w, 1<<16)
	var buf, out []byte
	element := func(open string, off, n int64, domain string) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		buf = slices.Grow(buf[:0], int(n))[:n]
		// A record may be empty, and ReadAt at the spool's end says EOF.
		if _, err := src.ReadAt(buf, off); err != nil && n > 0 {
			return err
		}
		attrs, err := decodeAttrs(buf, g.attrs[:0])
		if err != nil {
			return err
		}
		g.attrs = attrs
		out = append(out[:0], open...)
		if len(attrs) == 0 {
			out = append(out, " />\n"...)
		} else {
			out = append(out, ">\n"...)
			for _, a := range attrs {
				k := graphKeyOut{a.name, a.typ, domain}
				id, ok := keyID[k]
				if !ok {
					id = len(keys)
					keyID[k] = id
					keys = append(keys, k)
				}
				out = fmt.Appendf(out, "      <data key=\"d%d\">", id)
				out = appendEscaped(out, a.text, false)
				out = append(out, "</data>\n"...)
			}
			out = append(out, "    </"...)
			out = append(out, domain...)
			out = append(out, ">\n"...)
		}
		_, err = bw.Write(out)
		return err
	}
	for _, i := range order {
		n := g.nodes[i]
		if err := element("    <node id=\""+escapeAttr(n.id)+"\"", n.off, n.n, "node"); err != nil {
			return nil, err
		}
	}
	for i, e := range g.edges {
		if i > 0 && g.edges[i-1].a == e.a && g.edges[i-1].b == e.b {
			return nil, fmt.Errorf("two relationships between nodes %q and %q: NetworkX's graph holds one edge between two nodes, whichever way", g.nodes[order[e.a]].id, g.nodes[order[e.b]].id)
		}
		open := "    <edge source=\"" + escapeAttr(g.nodes[order[e.a]].id) + "\" target=\"" + escapeAttr(g.nodes[order[e.b]].id) + "\""
		if err := element(open, e.off, e.n, "edge"); err != nil {
			return nil, err
		}
	}
	return keys, bw.Flush()
}

func decodeAttrs(b []byte, attrs []graphAttr) ([]graphAttr, error) {
	bad := errors.New("a corrupt spool record")
	var s [3]string
	for len(b) > 0 {
		for j := range s {
			l, n := binary.Uvarint(b)
			if n <= 0 || uint64(len(b)-n) < l {
				return nil, bad
			}
			s[j], b = string(b[n:n+int(l)]), b[n+int(l):]
		}
		attrs = append(attrs, graphAttr{s[0], s[1], s[2]})
	}
	return attrs, nil
}

// appendEscaped escapes as xml.etree.ElementTree does: text &, <, >; an
// attribute also ", CR, LF and tab.
func appendEscaped(b []byte, s string, attr bool) []byte {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '&':
			b = append(b, "&amp;"...)
		case c == '<':
			b = append(b, "&lt;"...)
		case c == '>':
			b = append(b, "&gt;"...)
		case attr && c == '"':
			b = append(b, "&quot;"...)
		case attr && c == '\r':
			b = append(b, "&#13;"...)
		case attr && c == '\n':
			b = append(b, "&#10;"...)
		case attr && c == '\t':
			b = append(b, "&#09;"...)
		default:
			b = append(b, c)
		}
	}
	return b
}

func escapeAttr(s string) string { return string(appendEscaped(nil, s, true)) }
