// Package neo4jexp backs up a Neo4j graph over Bolt as cypher-shell scripts,
// and restores them with a real cypher-shell parser.
//
// Export needs no APOC and no shared volume: it reads the graph with the
// driver and writes, into the archive,
//
//	schema.cypher                the constraints and indexes in scope, and a temporary import constraint
//	nodes/000001.cypher ...      nodes in UNWIND batches, with a temporary import label and id
//	relationships/000001.cypher  relationships in UNWIND batches, matched by the import ids
//	cleanup.cypher               removal of the import constraint, label and id
//
// in the format APOC's cypher-shell export writes, so `cypher-shell -f` can
// replay them in that order too. Parts are cut at about 2 MiB so that each
// streams into the archive: memory holds one part, the batches of all label
// sets within one budget of 8 MiB, and 8 bytes a node for the check below,
// whatever the size of the graph otherwise.
//
// The scope is the whole database, or the nodes carrying Options.Label and
// the relationships among them (GraphRAG keeps its graph under one label).
// Relationships between a node in scope and one outside it are not backed
// up; a restore would delete them with the node, so it refuses while any
// exist, before anything changes, unless Options.DeleteCrossing says so.
//
// The schema is written as statements built from the fields of SHOW
// INDEXES and SHOW CONSTRAINTS, not the server's createStatement, and
// RunScript adapts schema statements to the server that runs them (index
// providers dropped, 5.x's vector procedure as CREATE VECTOR INDEX, 2026's
// vector settings in 5.x's terms), so that a backup restores into Neo4j
// 5.26 and the calendar versions (Cypher 25) alike, and APOC scripts of
// older 5.x too. The tests run on 5.26 and 2026.08.
//
// A label scope's backup records its label (ngbak.Info.Details, see
// BackupLabel), and restores only into that label, or, for a staging clone
// beside the source on the same server, into another by Options.RestoreAs,
// which rewrites the scripts' label outside literals. ReadGraph reads a
// backup's graph without a server, for a conversion into another kind of
// store.
//
// Restore first clears the scope (batched DETACH DELETE; in whole-database
// mode also every constraint and index; and what an interrupted APOC
// script left), then runs the scripts: statements between :begin and
// :commit in one explicit transaction, others each in its own, :param
// evaluated by the server, except that the import batches of a script,
// whose rows are independent, are gathered into statements of up to 10k
// rows, one transaction each: in batches of 1000, Neo4j takes about twice
// as long a row (see RunScript). Memory holds the gathered rows, within 8
// MiB of script text, and the statement the server is running. The first
// failure stops it with the file, the line and the server's message. Last
// it counts the nodes and relationships in scope against the backup's
// stats: a difference is an error, and the Manager rolls back. RunScript
// runs any cypher-shell script the same way, APOC's exports included.
//
// Reads are read-committed: Neo4j has no online snapshot in Community
// Edition. A relationship to a node written after the node pass, which the
// relationship pass would see and the restore could not create, fails the
// export; pause writers with ngbak.Options.BeforeCreate.
package neo4jexp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"slices"
	"sort"
	"strings"

	"github.com/neo4j/neo4j-go-driver/v5/neo4j"
	"github.com/ngbak/ngbak"
)

// Options configure an Exporter.
type Options struct {
	// Name is the exporter's folder in the archive; empty means "graph".
	Name string
	// Database is the database to back up; empty means the default one.
	Database string
	// Label limits the scope to the nodes with this label and the
	// relationships among them; empty means the whole database.
	Label string
	// DeleteCrossing lets a restore in a label scope delete the
	// relationships between nodes in scope and nodes outside it, which no
	// backup of the scope holds. Without it, a restore refuses while any
	// exist (CheckRestore).
	DeleteCrossing bool
	// Batch is how many rows one UNWIND statement carries; 0 means 1000.
	Batch int
	// RestoreAs restores backups of other labels' scopes under Label,
	// backup's label -> Label, for a copy beside the source: a staging
	// clone of production on the same server. The source label is never
	// touched; the constraints and indexes are created on Label, named
	// with the source label replaced by Label where their name holds it,
	// else unnamed, so that the server names them as it names
	// Neo4jStorage's (a name is unique in the database, and the source's
	// keep theirs). Without it, a backup of another label is refused.
	RestoreAs map[string]string
}

// Exporter backs up a Neo4j database or one label of it. It implements
// ngbak.Exporter.
type Exporter struct {
	driver neo4j.DriverWithContext
	opts   Options
}

// Kind and Format are what the exporter records in the manifest; a backup
// written elsewhere in this format (one or more cypher-shell scripts, run in
// archive order) is restored by this package, as legacy's conversion does.
const (
	Kind   = "neo4j"
	Format = "neo4j-cypher-shell/1"
)

// The temporary import label, id property and constraint, as APOC's are,
// under names of ngbak's own.
const (
	importLabel      = "`NGBAK IMPORT`"
	importID         = "`ngbak import id`"
	importConstraint = "ngbak_import_id"
)

// APOC's import label and id, which its scripts remove at their end.
const (
	apocImportLabelName = "UNIQUE IMPORT LABEL"
	apocImportLabel     = "`UNIQUE IMPORT LABEL`"
	apocImportID        = "`UNIQUE IMPORT ID`"
)

// New returns an Exporter over driver.
func New(driver neo4j.DriverWithContext, opts Options) (*Exporter, error) {
	if driver == nil {
		return nil, errors.New("neo4jexp: nil driver")
	}
	if opts.Name == "" {
		opts.Name = "graph"
	}
	if opts.Batch <= 0 {
		opts.Batch = 1000
	}
	for from, to := range opts.RestoreAs {
		if to != opts.Label || to == "" || from == "" || from == to {
			return nil, fmt.Errorf("neo4jexp: Options.RestoreAs restores label %q as %q; it restores other labels under Options.Label (%q), the scope a restore replaces", from, to, opts.Label)
		}
	}
	return &Exporter{driver: driver, opts: opts}, nil
}

// Name implements ngbak.Exporter.
func (e *Exporter) Name() string { return e.opts.Name }

// Kind implements ngbak.Exporter.
func (e *Exporter) Kind() string { return Kind }

func (e *Exporter) session(ctx context.Context, mode neo4j.AccessMode) neo4j.SessionWithContext {
	return e.driver.NewSession(ctx, neo4j.SessionConfig{DatabaseName: e.opts.Database, AccessMode: mode, FetchSize: 1000})
}

// scope returns the node pattern of the scope: "(n)" or "(n:`Label`)".
func (e *Exporter) scope(v string) string {
	if e.opts.Label == "" {
		return "(" + v + ")"
	}
	return "(" + v + ":" + string(appendName(nil, e.opts.Label)) + ")"
}

// withContext makes an error that the driver reports for a cancelled
// context wrap the context's error, as callers test with errors.Is.
func withContext(ctx context.Context, err *error) {
	if *err != nil && ctx.Err() != nil && !errors.Is(*err, ctx.Err()) {
		*err = fmt.Errorf("%w: %v", ctx.Err(), *err)
	}
}

// Export implements ngbak.Exporter.
func (e *Exporter) Export(ctx context.Context, w *ngbak.Writer) (_ ngbak.Info, err error) {
	defer withContext(ctx, &err)
	info := ngbak.Info{Format: Format, Stats: map[string]int64{}}
	sess := e.session(ctx, neo4j.AccessModeRead)
	defer sess.Close(ctx)
	tx, err := sess.BeginTransaction(ctx)
	if err != nil {
		return info, fmt.Errorf("neo4jexp: beginning the read transaction: %w", err)
	}
	defer tx.Close(ctx)
	if info.ServerVersion, err = serverVersion(ctx, tx); err != nil {
		return info, err
	}
	schema, err := e.schema(ctx, tx)
	if err != nil {
		return info, err
	}
	if err := w.WriteFile("schema.cypher", int64(len(schema)), bytes.NewReader(schema)); err != nil {
		return info, err
	}
	seen := newNodeSet()
	nodes, err := e.exportNodes(ctx, tx, w, seen)
	if err != nil {
		return info, err
	}
	if afterNodePass != nil {
		if err := afterNodePass(ctx); err != nil {
			return info, err
		}
	}
	rels, err := e.exportRelationships(ctx, tx, w, seen)
	if err != nil {
		return info, err
	}
	if err := w.WriteFile("cleanup.cypher", int64(len(cleanupScript)), strings.NewReader(cleanupScript)); err != nil {
		return info, err
	}
	info.Stats["nodes"], info.Stats["relationships"] = nodes, rels
	if e.opts.Label != "" {
		// A restore under another label (Options.RestoreAs) and a
		// conversion need to know the backup's.
		info.Details, _ = json.Marshal(details{Label: e.opts.Label})
	}
	return info, nil
}

// afterNodePass, when set by a test, runs between the node pass and the
// relationship pass, where a concurrent writer does harm.
var afterNodePass func(context.Context) error

func serverVersion(ctx context.Context, tx neo4j.ExplicitTransaction) (string, error) {
	// Neo4j 2025 and later list the Cypher versions as a second component.
	res, err := tx.Run(ctx, "CALL dbms.components() YIELD name, versions, edition WHERE name = 'Neo4j Kernel' RETURN name, versions[0], edition", nil)
	if err != nil {
		return "", fmt.Errorf("neo4jexp: server version: %w", err)
	}
	rec, err := res.Single(ctx)
	if err != nil {
		return "", fmt.Errorf("neo4jexp: server version: %w", err)
	}
	return fmt.Sprintf("%v %v %v", rec.Values[0], rec.Values[1], rec.Values[2]), nil
}

// schema returns schema.cypher: the constraints and indexes in scope, then
// the import constraint.
func (e *Exporter) schema(ctx context.Context, tx neo4j.ExplicitTransaction) ([]byte, error) {
	var b bytes.Buffer
	b.WriteString("// Constraints and indexes.\n")
	for _, sq := range schemaQueries {
		res, err := tx.Run(ctx, sq.query, nil)
		if err != nil {
			return nil, fmt.Errorf("neo4jexp: reading the schema: %w", err)
		}
		for res.Next(ctx) {
			f := res.Record().AsMap()
			name, _ := f["name"].(string)
			if name == importConstraint || !e.inScope(f["labelsOrTypes"]) {
				continue
			}
			stmt, err := schemaStatement(sq.kind, f)
			if err != nil {
				return nil, fmt.Errorf("neo4jexp: reading the schema: %w", err)
			}
			b.WriteString(stmt)
			b.WriteString(";\n")
		}
		if err := res.Err(); err != nil {
			return nil, fmt.Errorf("neo4jexp: reading the schema: %w", err)
		}
	}
	fmt.Fprintf(&b, "// The temporary import constraint.\nCREATE CONSTRAINT %s FOR (n:%s) REQUIRE n.%s IS UNIQUE;\nCALL db.awaitIndexes(300);\n",
		importConstraint, importLabel, importID)
	return b.Bytes(), nil
}

// inScope tells whether a constraint or index on labelsOrTypes belongs to
// the scope.
func (e *Exporter) inScope(labelsOrTypes any) bool {
	if e.opts.Label == "" {
		return true
	}
	list, _ := labelsOrTypes.([]any)
	return len(list) == 1 && list[0] == e.opts.Label
}

// The constraint goes first: removing the ids under it would update its
// index for every node, which costs about as much as the removal.
const cleanupScript = "// Remove the temporary import constraint, label and id.\n" +
	"DROP CONSTRAINT " + importConstraint + " IF EXISTS;\n" +
	"MATCH (n:" + importLabel + ") CALL { WITH n REMOVE n:" + importLabel + " REMOVE n." + importID + " } IN TRANSACTIONS OF 10000 ROWS;\n"

// batcher groups rows by the statement they belong to (a node's labels, a
// relationship's type) and writes a statement when a group is full.
type batcher struct {
	pw     *ngbak.PartWriter
	batch  int
	groups map[string]*group
	open   func(b []byte, key string) []byte // starts a statement
	close  func(b []byte, key string) []byte // ends it
	held   int                               // bytes the groups' buffers hold
	peak   int                               // the most held at once
}

type group struct {
	rows int
	buf  []byte
}

// maxStatementBytes bounds one statement: a batch closes early when its
// rows are large.
const maxStatementBytes = 4 << 20

// maxBufferedBytes bounds the batches of all groups together: there may be
// hundreds (nano-graphrag labels nodes by entity types an LLM chose), so
// the largest is written whenever they hold more.
const maxBufferedBytes = 8 << 20

// batcherDone, when set by a test, receives each batcher's peak.
var batcherDone func(peak int)

func (bt *batcher) add(key string, row []byte) error {
	g := bt.groups[key]
	if g == nil {
		g = &group{}
		bt.groups[key] = g
	}
	before := cap(g.buf)
	if g.rows > 0 {
		g.buf = append(g.buf, ", "...)
	}
	g.buf = append(g.buf, row...)
	g.rows++
	bt.held += cap(g.buf) - before
	bt.peak = max(bt.peak, bt.held)
	if g.rows >= bt.batch || len(g.buf) >= maxStatementBytes {
		if err := bt.flush(key, g); err != nil {
			return err
		}
	}
	// Down to half the budget, so that a scan of the groups is not paid
	// for every row once they are near it.
	for over := bt.held > maxBufferedBytes; over && bt.held > maxBufferedBytes/2; {
		var largest *group
		var lkey string
		for k, g := range bt.groups {
			// Ties go to the smallest key, not to the map's random order:
			// the same graph must give the same stream every time, or a
			// deduplicated backup of an unchanged graph stores it again.
			if g.rows > 0 && (largest == nil || cap(g.buf) > cap(largest.buf) || cap(g.buf) == cap(largest.buf) && k < lkey) {
				largest, lkey = g, k
			}
		}
		if largest == nil {
			break
		}
		if err := bt.flush(lkey, largest); err != nil {
			return err
		}
	}
	return nil
}

func (bt *batcher) flush(key string, g *group) error {
	b := append(bt.pw.Buffer(), ":begin\nUNWIND ["...)
	b = append(b, g.buf...)
	b = append(b, "] AS row\n"...)
	b = bt.close(bt.open(b, key), key)
	b = append(b, ";\n:commit\n"...)
	// The buffer goes, not just its rows: kept for hundreds of groups,
	// buffers grown to a large batch would hold the budget many times over.
	bt.held -= cap(g.buf)
	g.rows, g.buf = 0, nil
	return bt.pw.Append(b)
}

func (bt *batcher) finish() error {
	keys := make([]string, 0, len(bt.groups))
	for k := range bt.groups {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if g := bt.groups[k]; g.rows > 0 {
			if err := bt.flush(k, g); err != nil {
				return err
			}
		}
	}
	if batcherDone != nil {
		batcherDone(bt.peak)
	}
	return bt.pw.Close()
}

// nodeSet holds a 64-bit hash of the id of each node the node pass wrote:
// the read is read-committed, so the relationship pass may see
// relationships to nodes written after the node pass, which a restore would
// silently drop (its MATCH finds no node). Eight bytes a node (1M nodes: 8
// MiB, 16 while growing) is what that check costs; a colliding hash could
// let one such relationship through, and the restore's count against the
// stats catches that too.
type nodeSet struct {
	seed maphash.Seed
	ids  []uint64
}

func newNodeSet() *nodeSet { return &nodeSet{seed: maphash.MakeSeed()} }

func (s *nodeSet) add(id string) { s.ids = append(s.ids, maphash.String(s.seed, id)) }

// done sorts the set for has.
func (s *nodeSet) done() { slices.Sort(s.ids) }

func (s *nodeSet) has(id string) bool {
	_, ok := slices.BinarySearch(s.ids, maphash.String(s.seed, id))
	return ok
}

func (e *Exporter) exportNodes(ctx context.Context, tx neo4j.ExplicitTransaction, w *ngbak.Writer, seen *nodeSet) (int64, error) {
	bt := &batcher{pw: w.Parts("nodes", ".cypher"), batch: e.opts.Batch, groups: map[string]*group{},
		open: func(b []byte, _ string) []byte {
			return append(b, "CREATE (n:"+importLabel+"{"+importID+": row._id}) SET n += row.properties"...)
		},
		close: func(b []byte, labels string) []byte {
			if labels != "" {
				b = append(b, " SET n"...)
				b = append(b, labels...)
			}
			return b
		},
	}
	res, err := tx.Run(ctx, "MATCH "+e.scope("n")+" RETURN elementId(n), labels(n), properties(n)", nil)
	if err != nil {
		return 0, fmt.Errorf("neo4jexp: reading nodes: %w", err)
	}
	var n int64
	var row []byte
	for res.Next(ctx) {
		rec := res.Record()
		id, _ := rec.Values[0].(string)
		var labels []byte
		list, _ := rec.Values[1].([]any)
		names := make([]string, 0, len(list))
		for _, l := range list {
			names = append(names, l.(string))
		}
		sort.Strings(names)
		for _, l := range names {
			labels = append(labels, ':')
			labels = appendName(labels, l)
		}
		row = append(row[:0], "{_id: "...)
		row = appendString(row, id)
		row = append(row, ", properties: "...)
		props, _ := rec.Values[2].(map[string]any)
		if row, err = appendMap(row, props); err != nil {
			return n, fmt.Errorf("neo4jexp: node %s: %w", id, err)
		}
		row = append(row, '}')
		if err := bt.add(string(labels), row); err != nil {
			return n, err
		}
		seen.add(id)
		n++
	}
	if err := res.Err(); err != nil {
		return n, fmt.Errorf("neo4jexp: reading nodes: %w", err)
	}
	seen.done()
	return n, bt.finish()
}

func (e *Exporter) exportRelationships(ctx context.Context, tx neo4j.ExplicitTransaction, w *ngbak.Writer, seen *nodeSet) (int64, error) {
	match := func(v string) string {
		return "MATCH (" + v + ":" + importLabel + "{" + importID + ": row." + v + "})\n"
	}
	bt := &batcher{pw: w.Parts("relationships", ".cypher"), batch: e.opts.Batch, groups: map[string]*group{},
		open: func(b []byte, _ string) []byte { return append(b, match("start")+match("end")...) },
		close: func(b []byte, typ string) []byte {
			b = append(b, "CREATE (start)-[r:"...)
			b = append(b, typ...)
			return append(b, "]->(end) SET r += row.properties"...)
		},
	}
	res, err := tx.Run(ctx, "MATCH "+e.scope("a")+"-[r]->"+e.scope("b")+" RETURN elementId(a), elementId(b), type(r), properties(r), elementId(r)", nil)
	if err != nil {
		return 0, fmt.Errorf("neo4jexp: reading relationships: %w", err)
	}
	var n, unseen int64
	var row []byte
	for res.Next(ctx) {
		rec := res.Record()
		start, _ := rec.Values[0].(string)
		end, _ := rec.Values[1].(string)
		typ, _ := rec.Values[2].(string)
		if !seen.has(start) || !seen.has(end) {
			unseen++
			continue
		}
		row = append(row[:0], "{start: "...)
		row = appendString(row, start)
		row = append(row, ", end: "...)
		row = appendString(row, end)
		row = append(row, ", properties: "...)
		props, _ := rec.Values[3].(map[string]any)
		if row, err = appendMap(row, props); err != nil {
			return n, fmt.Errorf("neo4jexp: relationship %v: %w", rec.Values[4], err)
		}
		row = append(row, '}')
		if err := bt.add(string(appendName(nil, typ)), row); err != nil {
			return n, err
		}
		n++
	}
	if err := res.Err(); err != nil {
		return n, fmt.Errorf("neo4jexp: reading relationships: %w", err)
	}
	if unseen > 0 {
		// The parts written so far are useless: the Manager discards the
		// backup. A retry may succeed; a backup that must, pauses writers.
		return n, fmt.Errorf("neo4jexp: %d relationships end at nodes the node pass did not see (written during the export, which reads committed data, not a snapshot): the backup would lose them; retry, or pause writers with ngbak.Options.BeforeCreate", unseen)
	}
	return n, bt.finish()
}

// Restore implements ngbak.Exporter.
func (e *Exporter) Restore(ctx context.Context, r *ngbak.Reader) (err error) {
	defer withContext(ctx, &err)
	if f := r.Backend().Format; f != Format {
		return fmt.Errorf("neo4jexp: unknown format %q", f)
	}
	from, err := e.restoreFrom(r.Backend())
	if err != nil {
		return err
	}
	var rename func(string) string
	if from != "" {
		rename = func(stmt string) string { return relabel(stmt, from, e.opts.Label) }
	}
	if err := e.clear(ctx); err != nil {
		return err
	}
	for {
		name, _, err := r.Next()
		if err == io.EOF {
			return e.checkCounts(ctx, r.Backend().Stats)
		}
		if err != nil {
			return err
		}
		if err := runScript(ctx, e.driver, e.opts.Database, e.opts.Name+"/"+name, r, rename); err != nil {
			return err
		}
	}
}

// checkCounts compares the nodes and relationships in scope with the
// backup's stats, after its scripts ran: a relationship whose MATCH found
// no node, or a script that created less than it said, is otherwise silent.
// A backup without stats (written elsewhere, converted by legacy) has
// nothing to compare.
func (e *Exporter) checkCounts(ctx context.Context, stats map[string]int64) error {
	wantNodes, okNodes := stats["nodes"]
	wantRels, okRels := stats["relationships"]
	if !okNodes || !okRels {
		return nil
	}
	sess := e.session(ctx, neo4j.AccessModeRead)
	defer sess.Close(ctx)
	q := "CALL { MATCH " + e.scope("n") + " RETURN count(n) AS nodes } CALL { MATCH " + e.scope("a") + "-[r]->" + e.scope("b") + " RETURN count(r) AS rels } RETURN nodes, rels"
	res, err := sess.Run(ctx, q, nil)
	if err != nil {
		return fmt.Errorf("neo4jexp: counting the restored graph: %w", err)
	}
	rec, err := res.Single(ctx)
	if err != nil {
		return fmt.Errorf("neo4jexp: counting the restored graph: %w", err)
	}
	nodes, _ := rec.Values[0].(int64)
	rels, _ := rec.Values[1].(int64)
	if nodes != wantNodes || rels != wantRels {
		return fmt.Errorf("neo4jexp: the restore made %d nodes and %d relationships in scope; the backup holds %d and %d", nodes, rels, wantNodes, wantRels)
	}
	return nil
}

// CheckRestore implements ngbak.RestoreChecker: in a label scope, it
// refuses while relationships cross the scope's border, unless
// Options.DeleteCrossing, since the restore would delete them and no backup
// of the scope holds them.
func (e *Exporter) CheckRestore(ctx context.Context, b *ngbak.Backend) (err error) {
	defer withContext(ctx, &err)
	if b.Format != Format {
		return fmt.Errorf("neo4jexp: unknown format %q", b.Format)
	}
	if _, err := e.restoreFrom(b); err != nil {
		return err
	}
	if e.opts.Label == "" || e.opts.DeleteCrossing {
		return nil
	}
	sess := e.session(ctx, neo4j.AccessModeRead)
	defer sess.Close(ctx)
	label := string(appendName(nil, e.opts.Label))
	q := "MATCH (n:" + label + ")-[r]-(m) WHERE NOT m:" + label + " RETURN count(r)"
	res, err := sess.Run(ctx, q, nil)
	if err != nil {
		return fmt.Errorf("neo4jexp: counting relationships across the scope: %w", err)
	}
	rec, err := res.Single(ctx)
	if err != nil {
		return fmt.Errorf("neo4jexp: counting relationships across the scope: %w", err)
	}
	if n, _ := rec.Values[0].(int64); n > 0 {
		return fmt.Errorf("neo4jexp: %d relationships connect nodes labelled %s to nodes outside the label; a restore would delete them with their nodes, and the backup does not hold them: remove them first, or set Options.DeleteCrossing", n, e.opts.Label)
	}
	return nil
}

// clear empties the scope: its nodes and relationships, its constraints and
// indexes, and what an interrupted restore may have left.
func (e *Exporter) clear(ctx context.Context) error {
	sess := e.session(ctx, neo4j.AccessModeWrite)
	defer sess.Close(ctx)
	run := func(q string) error {
		res, err := sess.Run(ctx, q, nil)
		if err == nil {
			_, err = res.Consume(ctx)
		}
		if err != nil {
			return fmt.Errorf("neo4jexp: clearing the scope: %s: %w", q, err)
		}
		return nil
	}
	if err := run("MATCH " + e.scope("n") + " CALL { WITH n DETACH DELETE n } IN TRANSACTIONS OF 10000 ROWS"); err != nil {
		return err
	}
	if err := run("DROP CONSTRAINT " + importConstraint + " IF EXISTS"); err != nil {
		return err
	}
	// What an APOC script that stopped short left: its import label and id
	// on nodes outside the scope, and its import constraint, which is in no
	// label's scope and makes the next APOC script fail on creating it.
	if err := run("MATCH (n:" + apocImportLabel + ") CALL { WITH n REMOVE n:" + apocImportLabel + " REMOVE n." + apocImportID + " } IN TRANSACTIONS OF 10000 ROWS"); err != nil {
		return err
	}
	res, err := sess.Run(ctx, "SHOW CONSTRAINTS YIELD name, labelsOrTypes WHERE labelsOrTypes = [$label] RETURN name", map[string]any{"label": apocImportLabelName})
	if err != nil {
		return fmt.Errorf("neo4jexp: clearing the scope: APOC's import constraint: %w", err)
	}
	recs, err := res.Collect(ctx)
	if err != nil {
		return fmt.Errorf("neo4jexp: clearing the scope: APOC's import constraint: %w", err)
	}
	for _, rec := range recs {
		if err := run("DROP CONSTRAINT " + string(appendName(nil, rec.Values[0].(string))) + " IF EXISTS"); err != nil {
			return err
		}
	}
	for _, q := range []string{
		"SHOW CONSTRAINTS YIELD name, labelsOrTypes RETURN name, labelsOrTypes",
		"SHOW INDEXES YIELD name, type, labelsOrTypes, owningConstraint WHERE owningConstraint IS NULL AND type <> 'LOOKUP' RETURN name, labelsOrTypes",
	} {
		res, err := sess.Run(ctx, q, nil)
		if err != nil {
			return fmt.Errorf("neo4jexp: clearing the scope: %s: %w", q, err)
		}
		recs, err := res.Collect(ctx)
		if err != nil {
			return fmt.Errorf("neo4jexp: clearing the scope: %s: %w", q, err)
		}
		kind := "CONSTRAINT"
		if strings.HasPrefix(q, "SHOW INDEXES") {
			kind = "INDEX"
		}
		for _, rec := range recs {
			if !e.inScope(rec.Values[1]) {
				continue
			}
			if err := run("DROP " + kind + " " + string(appendName(nil, rec.Values[0].(string))) + " IF EXISTS"); err != nil {
				return err
			}
		}
	}
	return nil
}
