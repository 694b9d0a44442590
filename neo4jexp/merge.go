package neo4jexp

import (
	"fmt"
	"regexp"
	"sort"
)

// A backup's scripts create nodes and relationships in batches of
// Options.Batch rows, each between :begin and :commit, interleaved across
// label sets and types. Neo4j spends most of a small transaction on the
// transaction (1000 rows: about twice the time per row of 10k), so
// RunScript gathers the rows of such batches and sends them as one
// statement of up to mergeRows rows: a script's batches of one statement
// text in one transaction, the texts in the order their first batch came.
//
// Only the statements ngbak and APOC write for the import are gathered,
// and only those whose transaction holds nothing else: a CREATE of nodes
// with properties from the row, and a CREATE of relationships between two
// nodes matched by properties from the row (the import id, or APOC's
// key). Their rows are independent of each other (no row reads
// what another writes, no aggregation), so running them together, in
// another order, makes the same graph. Anything else in the script first
// runs what was gathered, so that it sees what came before it.

// mergeRows is how many rows one gathered statement carries at most: the
// driver-only load that the restore is measured against uses 10k.
const mergeRows = 10_000

// mergeBytes bounds the rows held across statement texts, counted as the
// script text they came from (parsed, they take about twice that): the
// largest is run whenever they hold more.
const mergeBytes = 8 << 20

var (
	mergeName   = "(?:`(?:[^`]|``)*`|[A-Za-z_][A-Za-z0-9_]*)"
	mergeLabels = "(?::" + mergeName + ")+"
	// mergeProps is the map of a node's properties from the row, as the
	// import id ({`ngbak import id`: row._id}) or a key ({key: row.key}),
	// for a node created (v "") or a relationship's end (v "start", "end":
	// row.start, row.start._id, row.start.key).
	mergeProps = func(v string) string {
		p := mergeName + `: row\.` + mergeName
		if v != "" {
			p = mergeName + `: row\.` + v + `(?:\.` + mergeName + `)?`
		}
		return `\{` + p + `(?:, ?` + p + `)*\}`
	}
	// mergeNodes and mergeRels match the statements after parameterize.
	mergeNodes = regexp.MustCompile(`^UNWIND \$` + rowsParam + ` AS row\s+CREATE \(n` + mergeLabels + mergeProps("") + `\) SET n \+= row\.properties(?: SET n` + mergeLabels + `)*$`)
	mergeRels  = regexp.MustCompile(`^UNWIND \$` + rowsParam + ` AS row\s+MATCH \(start` + mergeLabels + mergeProps("start") + `\)\s+MATCH \(end` + mergeLabels + mergeProps("end") + `\)\s+CREATE \(start\)-\[r:` + mergeName + `\]->\(end\) SET r \+= row\.properties$`)
)

// mergeKind tells whether a statement may be gathered: 'n' for nodes, 'r'
// for relationships, 0 for no. Nodes and relationships are never gathered
// together: the relationships match the nodes.
func mergeKind(stmt string) byte {
	switch {
	case mergeNodes.MatchString(stmt):
		return 'n'
	case mergeRels.MatchString(stmt):
		return 'r'
	}
	return 0
}

// gathered holds the rows of the batches not yet sent, by statement text.
type gathered struct {
	kind   byte
	groups map[string]*mergeGroup
	held   int // script bytes of the rows held
}

type mergeGroup struct {
	seq         int // the order of the group's first batch
	rows        []any
	bytes       int
	first, last int // the lines of its first and last batch
	batches     int
}

// gatheredHeld, when set by a test, receives the bytes held after each
// batch, before the budget is enforced: at most a batch over it.
var gatheredHeld func(held int)

// mergedFlush, when set by a test, receives the batches and rows of each
// gathered statement sent.
var mergedFlush func(batches, rows int)

// batchError is a gathered statement's failure, which names the lines of
// the batches in it rather than the line the script had reached.
type batchError struct {
	first, last, batches int
	err                  error
}

func (e *batchError) Error() string {
	if e.batches == 1 {
		return e.err.Error()
	}
	return fmt.Sprintf("in one transaction with %d batches of the same statement up to line %d: %v", e.batches, e.last, e.err)
}

func (e *batchError) Unwrap() error { return e.err }

// gather adds a batch (its statement after parameterize, its rows, the
// length of its text and its line) and sends what is due.
func (s *scriptRun) gather(kind byte, stmt string, rows []any, size, line int) error {
	g := &s.gathered
	if g.kind != kind && len(g.groups) > 0 {
		if err := s.flushGathered(); err != nil {
			return err
		}
	}
	if g.groups == nil {
		g.groups = map[string]*mergeGroup{}
	}
	g.kind = kind
	m := g.groups[stmt]
	if m == nil {
		m = &mergeGroup{seq: len(g.groups)}
		g.groups[stmt] = m
	}
	// Past mergeRows, what is held goes first, so a statement never
	// carries more.
	if len(m.rows) > 0 && len(m.rows)+len(rows) > mergeRows {
		if err := s.flushGroup(stmt, m); err != nil {
			return err
		}
	}
	if m.batches == 0 {
		m.first = line
	}
	m.rows = append(m.rows, rows...)
	m.bytes += size
	m.last = line
	m.batches++
	g.held += size
	if len(m.rows) >= mergeRows {
		if err := s.flushGroup(stmt, m); err != nil {
			return err
		}
	}
	if gatheredHeld != nil {
		gatheredHeld(g.held)
	}
	for g.held > mergeBytes {
		var largest *mergeGroup
		var lstmt string
		for k, m := range g.groups {
			if m.batches > 0 && (largest == nil || m.bytes > largest.bytes) {
				largest, lstmt = m, k
			}
		}
		if err := s.flushGroup(lstmt, largest); err != nil {
			return err
		}
	}
	return nil
}

// flushGathered sends every group, in the order their first batch came,
// and waits for them.
func (s *scriptRun) flushGathered() error {
	g := &s.gathered
	stmts := make([]string, 0, len(g.groups))
	for k := range g.groups {
		stmts = append(stmts, k)
	}
	sort.Slice(stmts, func(i, j int) bool { return g.groups[stmts[i]].seq < g.groups[stmts[j]].seq })
	for _, k := range stmts {
		if m := g.groups[k]; m.batches > 0 {
			if err := s.flushGroup(k, m); err != nil {
				return err
			}
		}
	}
	g.groups, g.held = nil, 0
	return s.waitGathered()
}

// flushGroup sends a group's rows as one statement in one transaction. It
// runs while the script reads on, which the server would otherwise wait
// for: one at a time, so that the statements run in order, and nothing
// else uses the session before waitGathered.
func (s *scriptRun) flushGroup(stmt string, m *mergeGroup) error {
	if err := s.waitGathered(); err != nil {
		return err
	}
	rows, batches, first, last := m.rows, m.batches, m.first, m.last
	s.gathered.held -= m.bytes
	// The rows go, not just kept for reuse: they hold the parsed values.
	m.rows, m.bytes, m.batches = nil, 0, 0
	done := make(chan error, 1)
	s.inflight, s.inflightRows = done, [2]int{batches, len(rows)}
	go func() {
		err := func() error {
			tx, err := s.sess.BeginTransaction(s.ctx)
			if err != nil {
				return err
			}
			res, err := tx.Run(s.ctx, stmt, map[string]any{rowsParam: rows})
			if err == nil {
				_, err = res.Consume(s.ctx)
			}
			if err != nil {
				tx.Rollback(s.ctx)
				return err
			}
			return tx.Commit(s.ctx)
		}()
		if err != nil {
			err = &batchError{first: first, last: last, batches: batches, err: err}
		}
		done <- err
	}()
	return nil
}

// waitGathered waits for the statement flushGroup sent, if any.
func (s *scriptRun) waitGathered() error {
	if s.inflight == nil {
		return nil
	}
	err := <-s.inflight
	s.inflight = nil
	if err == nil && mergedFlush != nil {
		mergedFlush(s.inflightRows[0], s.inflightRows[1])
	}
	return err
}
