package neo4jexp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"

	"github.com/neo4j/neo4j-go-driver/v5/neo4j"
)

// RunScript runs a cypher-shell script read from r against the database
// (empty: the default one). file names the script in errors. Statements
// between :begin and :commit run in one explicit transaction, which
// :rollback abandons; other statements each run in their own. :param sets a
// parameter, in either form (":param name => expression" and ":param {name:
// expression, ...}"), by asking the server to evaluate the expression. Any
// other command is an error. A schema statement in a transaction that has
// already changed data is an error: Neo4j cannot mix them. The first
// failure stops the script with the file, the line and the server's
// message; the open transaction is rolled back.
//
// The batches ngbak's and APOC's exports write, each alone between :begin
// and :commit (nodes created from the rows, relationships between nodes
// matched by the rows), are gathered by statement into transactions of up
// to 10k rows, within 8 MiB of script text held; anything else first runs
// what was gathered before it. A gathered transaction that fails names the
// line of its first batch.
func RunScript(ctx context.Context, driver neo4j.DriverWithContext, database, file string, r io.Reader) (err error) {
	return runScript(ctx, driver, database, file, r, nil)
}

// runScript is RunScript with each statement's text passed through rename,
// when not nil, after its rows are taken out of it (Options.RestoreAs).
func runScript(ctx context.Context, driver neo4j.DriverWithContext, database, file string, r io.Reader, rename func(string) string) (err error) {
	sess := driver.NewSession(ctx, neo4j.SessionConfig{DatabaseName: database, AccessMode: neo4j.AccessModeWrite})
	defer sess.Close(ctx)
	s := &scriptRun{ctx: ctx, driver: driver, database: database, sess: sess, params: map[string]any{}, rename: rename}
	defer func() {
		// A gathered statement still running has the session; its error,
		// after the first, is joined to it.
		if werr := s.waitGathered(); werr != nil {
			err = errors.Join(err, s.lineError(file, 0, werr))
		}
		if s.tx != nil {
			s.tx.Rollback(context.WithoutCancel(ctx))
		}
	}()
	p := NewParser(r)
	for {
		it, err := p.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("neo4jexp: %s: %w", file, err)
		}
		if err := s.item(it); err != nil {
			return s.lineError(file, it.Line, err)
		}
	}
	if s.inTx {
		return fmt.Errorf("neo4jexp: %s: the script ends inside a transaction (:begin without :commit)", file)
	}
	if err := s.flushGathered(); err != nil {
		return s.lineError(file, 0, err)
	}
	return nil
}

// lineError names the line where err happened: that of the item, or of the
// gathered batches that failed.
func (s *scriptRun) lineError(file string, line int, err error) error {
	var be *batchError
	if errors.As(err, &be) {
		line = be.first
	}
	return fmt.Errorf("neo4jexp: %s:%d: %w", file, line, err)
}

type scriptRun struct {
	ctx      context.Context
	driver   neo4j.DriverWithContext
	database string
	major    int // the server's major version, once a schema statement asked
	sess     neo4j.SessionWithContext
	inTx     bool                      // between :begin and :commit
	tx       neo4j.ExplicitTransaction // begun at its first statement that is not gathered
	pending  *pendingBatch             // the first statement of the transaction, if it may be gathered
	wrote    bool                      // the open transaction has run a data statement
	schema   bool                      // ... or a schema statement
	params   map[string]any
	rename   func(string) string
	gathered gathered
	// inflight receives the outcome of the gathered statement running,
	// of inflightRows batches and rows.
	inflight     chan error
	inflightRows [2]int
}

// pendingBatch is a statement that may be gathered (merge.go), held until
// its transaction shows whether it holds only that statement.
type pendingBatch struct {
	kind       byte
	stmt       string
	rows       []any
	size, line int
}

var (
	schemaStmt = regexp.MustCompile(`(?is)^\s*(CREATE|DROP)\s+(OR\s+REPLACE\s+)?((RANGE|TEXT|POINT|LOOKUP|FULLTEXT|VECTOR|BTREE)\s+)?(CONSTRAINT|INDEX)\b`)
	paramArrow = regexp.MustCompile(`(?s)^([A-Za-z_][A-Za-z0-9_]*|` + "`[^`]+`" + `)\s*=>\s*(.*)$`)
)

func (s *scriptRun) item(it Item) error {
	switch it.Command {
	case "":
		return s.statement(it.Text, it.Line)
	case "begin":
		if s.inTx {
			return fmt.Errorf(":begin inside a transaction")
		}
		s.inTx, s.wrote, s.schema = true, false, false
		return nil
	case "commit", "rollback":
		if !s.inTx {
			return fmt.Errorf(":%s outside a transaction", it.Command)
		}
		s.inTx = false
		if p := s.pending; p != nil {
			s.pending = nil
			if it.Command == "commit" {
				return s.gather(p.kind, p.stmt, p.rows, p.size, p.line)
			}
			return nil
		}
		tx := s.tx
		s.tx = nil
		if tx == nil {
			return nil // an empty transaction
		}
		if it.Command == "rollback" {
			return tx.Rollback(s.ctx)
		}
		return tx.Commit(s.ctx)
	case "param", "params":
		// The expression may read the graph: what came before it runs first.
		if err := s.flushGathered(); err != nil {
			return err
		}
		if err := s.openTx(); err != nil {
			return err
		}
		return s.param(it.Text)
	}
	return fmt.Errorf("unknown client command :%s", it.Command)
}

func (s *scriptRun) statement(text string, line int) error {
	isSchema := schemaStmt.MatchString(text) || isVectorProcedure(text)
	if isSchema {
		if s.major == 0 {
			var err error
			if s.major, err = serverMajor(s.ctx, s.driver, s.database); err != nil {
				return err
			}
		}
		text = portableSchema(text, s.major)
	}
	params := s.params
	rewritten, rows, ok := parameterize(text)
	if s.rename != nil {
		if ok {
			rewritten = s.rename(rewritten)
		} else {
			text = s.rename(text)
		}
	}
	if ok {
		if kind := mergeKind(rewritten); kind != 0 && s.inTx && s.tx == nil && s.pending == nil && !isSchema {
			s.pending = &pendingBatch{kind: kind, stmt: rewritten, rows: rows, size: len(text), line: line}
			return nil
		}
		text = rewritten
		params = s.withRows(rows)
	}
	// Anything else sees what came before it.
	if err := s.flushGathered(); err != nil {
		return err
	}
	if !s.inTx {
		res, err := s.sess.Run(s.ctx, text, params)
		if err == nil {
			_, err = res.Consume(s.ctx)
		}
		return err
	}
	if err := s.openTx(); err != nil {
		return err
	}
	if isSchema && s.wrote || !isSchema && s.schema {
		return fmt.Errorf("schema and data statements in one transaction, which Neo4j refuses: put them between separate :begin and :commit")
	}
	res, err := s.tx.Run(s.ctx, text, params)
	if err == nil {
		_, err = res.Consume(s.ctx)
	}
	if isSchema {
		s.schema = true
	} else {
		s.wrote = true
	}
	return err
}

// openTx begins the transaction of :begin, if not yet, with the statement
// held in case it could be gathered, which now runs as written.
func (s *scriptRun) openTx() error {
	if !s.inTx || s.tx != nil {
		return nil
	}
	tx, err := s.sess.BeginTransaction(s.ctx)
	if err != nil {
		return err
	}
	s.tx = tx
	if p := s.pending; p != nil {
		s.pending = nil
		res, err := s.tx.Run(s.ctx, p.stmt, s.withRows(p.rows))
		if err == nil {
			_, err = res.Consume(s.ctx)
		}
		s.wrote = true
		if err != nil {
			return &batchError{first: p.line, last: p.line, batches: 1, err: err}
		}
	}
	return nil
}

// withRows returns the script's parameters and rows.
func (s *scriptRun) withRows(rows []any) map[string]any {
	params := make(map[string]any, len(s.params)+1)
	for k, v := range s.params {
		params[k] = v
	}
	params[rowsParam] = rows
	return params
}

// param evaluates ":param name => expr" or ":param {map}" on the server.
func (s *scriptRun) param(text string) error {
	if m := paramArrow.FindStringSubmatch(text); m != nil {
		name := m[1]
		if name[0] == '`' {
			name = name[1 : len(name)-1]
		}
		v, err := s.eval(m[2])
		if err != nil {
			return err
		}
		s.params[name] = v
		return nil
	}
	v, err := s.eval(text)
	if err != nil {
		return err
	}
	m, ok := v.(map[string]any)
	if !ok {
		return fmt.Errorf(":param takes \"name => value\" or a map, not %q", text)
	}
	for k, val := range m {
		s.params[k] = val
	}
	return nil
}

func (s *scriptRun) eval(expr string) (any, error) {
	if v, ok := parseLiteral(expr); ok {
		return v, nil
	}
	q := "RETURN " + expr + " AS value"
	var res neo4j.ResultWithContext
	var err error
	if s.tx != nil {
		res, err = s.tx.Run(s.ctx, q, s.params)
	} else {
		res, err = s.sess.Run(s.ctx, q, s.params)
	}
	if err != nil {
		return nil, err
	}
	rec, err := res.Single(s.ctx)
	if err != nil {
		return nil, err
	}
	return rec.Values[0], nil
}
