package neo4jexp

import (
	"context"
	"fmt"
	"regexp"
	"strings"

	"github.com/neo4j/neo4j-go-driver/v5/neo4j"
)

// The schema is written as statements built from the fields of SHOW
// INDEXES and SHOW CONSTRAINTS rather than their createStatement, whose
// form changes between versions (older 5.x name the index provider, which
// Cypher 25 refuses), so that a backup restores into an older or newer
// Neo4j; only what the fields cannot say (Enterprise constraint types)
// keeps the server's own statement.

// schemaQueries read the constraints, then the indexes that are not a
// constraint's own, each row a map of these fields.
var schemaQueries = []struct{ kind, query string }{
	{"constraint", "SHOW CONSTRAINTS YIELD name, type, entityType, labelsOrTypes, properties, createStatement RETURN name, type, entityType, labelsOrTypes, properties, createStatement ORDER BY name"},
	{"index", "SHOW INDEXES YIELD name, type, entityType, labelsOrTypes, properties, options, owningConstraint, createStatement WHERE owningConstraint IS NULL AND type <> 'LOOKUP' RETURN name, type, entityType, labelsOrTypes, properties, options, createStatement ORDER BY name"},
}

// schemaStatement builds the statement that creates the index or
// constraint whose SHOW fields f holds.
func schemaStatement(kind string, f map[string]any) (string, error) {
	name, _ := f["name"].(string)
	typ, _ := f["type"].(string)
	entity, _ := f["entityType"].(string)
	tokens := strs(f["labelsOrTypes"])
	props := strs(f["properties"])
	stmt, ok := "", false
	if len(tokens) > 0 && len(props) > 0 && (entity == "NODE" || entity == "RELATIONSHIP") {
		if kind == "constraint" {
			stmt, ok = constraintStatement(name, typ, entity, tokens, props)
		} else {
			var err error
			if stmt, ok, err = indexStatement(name, typ, entity, tokens, props, f["options"]); err != nil {
				return "", fmt.Errorf("%s %s: %w", kind, name, err)
			}
		}
	}
	if ok {
		return stmt, nil
	}
	stmt, _ = f["createStatement"].(string)
	if strings.TrimSpace(stmt) == "" {
		// Written as it was, ";" is an empty statement the parser skips:
		// the backup would lack it without a word.
		return "", fmt.Errorf("%s %s of type %s: its fields do not describe it, and the server gave no createStatement", kind, name, typ)
	}
	return stmt, nil
}

func strs(v any) []string {
	list, _ := v.([]any)
	out := make([]string, 0, len(list))
	for _, e := range list {
		if s, ok := e.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

// pattern writes "(n:`A`)" or "()-[n:`T`]-()", with "|" between several
// labels or types (a full-text index's).
func pattern(entity string, tokens []string) string {
	var b []byte
	for i, t := range tokens {
		if i > 0 {
			b = append(b, '|')
		}
		b = appendName(b, t)
	}
	if entity == "NODE" {
		return "(n:" + string(b) + ")"
	}
	return "()-[n:" + string(b) + "]-()"
}

// propertyList writes "n.`a`, n.`b`".
func propertyList(props []string) string {
	var b []byte
	for i, p := range props {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = append(b, "n."...)
		b = appendName(b, p)
	}
	return string(b)
}

func constraintStatement(name, typ, entity string, tokens, props []string) (string, bool) {
	switch typ {
	case "UNIQUENESS", "NODE_PROPERTY_UNIQUENESS", "RELATIONSHIP_UNIQUENESS", "RELATIONSHIP_PROPERTY_UNIQUENESS":
	default:
		return "", false
	}
	if len(tokens) != 1 {
		return "", false
	}
	return "CREATE CONSTRAINT " + string(appendName(nil, name)) + " FOR " + pattern(entity, tokens) +
		" REQUIRE (" + propertyList(props) + ") IS UNIQUE", true
}

func indexStatement(name, typ, entity string, tokens, props []string, options any) (string, bool, error) {
	on := " ON (" + propertyList(props) + ")"
	switch typ {
	case "RANGE", "TEXT", "POINT":
		if len(tokens) != 1 || typ != "RANGE" && len(props) != 1 {
			return "", false, nil
		}
	case "VECTOR":
		// 2026's vector indexes may carry filter properties (WITH [...]),
		// which the fields do not tell apart: the server's statement.
		if len(tokens) != 1 || len(props) != 1 {
			return "", false, nil
		}
	case "FULLTEXT":
		on = " ON EACH [" + propertyList(props) + "]"
	default:
		return "", false, nil
	}
	stmt := "CREATE " + typ + " INDEX " + string(appendName(nil, name)) + " FOR " + pattern(entity, tokens) + on
	opts, _ := options.(map[string]any)
	if config, _ := opts["indexConfig"].(map[string]any); len(config) > 0 {
		lit, err := appendMap(nil, config)
		if err != nil {
			return "", false, fmt.Errorf("its settings: %w", err)
		}
		stmt += " OPTIONS {indexConfig: " + string(lit) + "}"
	}
	return stmt, true, nil
}

// Rewrites of schema statements for the server that runs them, so that
// scripts from other versions run: what older 5.x wrote (index providers,
// which Cypher 25 refuses; vector indexes by procedure, which it no longer
// has), and, on 5.x, the vector settings of 2026.
var (
	indexProvider   = regexp.MustCompile(`(?i),\s*[` + "`" + `]?indexProvider[` + "`" + `]?\s*:\s*('[^']*'|"[^"]*")|[` + "`" + `]?indexProvider[` + "`" + `]?\s*:\s*('[^']*'|"[^"]*")\s*,?`)
	emptyOptions    = regexp.MustCompile(`(?i)\s*OPTIONS\s*\{\s*\}`)
	vectorProcedure = regexp.MustCompile(`(?is)^CALL\s+db\.index\.vector\.createNodeIndex\s*\((.*)\)$`)
	quantization    = regexp.MustCompile("`vector\\.quantization\\.type`\\s*:\\s*(?:'([^']*)'|\"([^\"]*)\")")
	expansion       = regexp.MustCompile("`vector\\.default_search_expansion_factor`\\s*:\\s*[-+0-9.eE]+\\s*,?\\s*")
	trailingComma   = regexp.MustCompile(`,\s*\}`)
)

// isVectorProcedure tells whether a statement creates a vector index by
// the procedure of 5.x.
func isVectorProcedure(stmt string) bool { return vectorProcedure.MatchString(stmt) }

// portableSchema rewrites a schema statement for a server whose kernel
// version starts with major (5, 2025, 2026, ...).
func portableSchema(stmt string, major int) string {
	if m := vectorProcedure.FindStringSubmatch(stmt); m != nil {
		args, ok := parseLiteral("[" + m[1] + "]")
		list, _ := args.([]any)
		if !ok || len(list) != 5 {
			return stmt // not literals: the server's to judge
		}
		name, ok1 := list[0].(string)
		label, ok2 := list[1].(string)
		prop, ok3 := list[2].(string)
		dims, ok4 := list[3].(int64)
		sim, ok5 := list[4].(string)
		if !ok1 || !ok2 || !ok3 || !ok4 || !ok5 {
			return stmt
		}
		stmt = fmt.Sprintf("CREATE VECTOR INDEX %s FOR (n:%s) ON (n.%s) OPTIONS {indexConfig: {`vector.dimensions`: %d, `vector.similarity_function`: %s}}",
			appendName(nil, name), appendName(nil, label), appendName(nil, prop), dims, appendString(nil, sim))
	}
	stmt = emptyOptions.ReplaceAllString(indexProvider.ReplaceAllString(stmt, ""), "")
	if major == 5 && strings.Contains(stmt, "`vector.") {
		// 5.x knows quantization as on or off, and no search expansion.
		stmt = quantization.ReplaceAllStringFunc(stmt, func(s string) string {
			m := quantization.FindStringSubmatch(s)
			return fmt.Sprintf("`vector.quantization.enabled`: %t", !strings.EqualFold(m[1]+m[2], "NONE"))
		})
		stmt = trailingComma.ReplaceAllString(expansion.ReplaceAllString(stmt, ""), "}")
	}
	return stmt
}

// serverMajor returns the major version of the server's kernel: 5, 2025,
// 2026...
func serverMajor(ctx context.Context, driver neo4j.DriverWithContext, database string) (int, error) {
	res, err := neo4j.ExecuteQuery(ctx, driver, "CALL dbms.components() YIELD name, versions WHERE name = 'Neo4j Kernel' RETURN versions[0]", nil,
		neo4j.EagerResultTransformer, neo4j.ExecuteQueryWithDatabase(database), neo4j.ExecuteQueryWithReadersRouting())
	if err != nil {
		return 0, fmt.Errorf("the server's version: %w", err)
	}
	if len(res.Records) != 1 {
		return 0, fmt.Errorf("the server's version: %d kernels", len(res.Records))
	}
	v, _ := res.Records[0].Values[0].(string)
	var major int
	if _, err := fmt.Sscanf(v, "%d", &major); err != nil {
		return 0, fmt.Errorf("the server's version %q: %w", v, err)
	}
	return major, nil
}
