package neo4jexp

import (
	"io"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func parseAll(t testing.TB, script string) ([]Item, error) {
	t.Helper()
	p := NewParser(strings.NewReader(script))
	var items []Item
	for {
		it, err := p.Next()
		if err == io.EOF {
			return items, nil
		}
		if err != nil {
			return items, err
		}
		items = append(items, it)
	}
}

func TestParser(t *testing.T) {
	script := `// a comment; with a semicolon
:begin
CREATE (n:` + "`odd;label``x`" + ` {s: 'it''s; "not" the end', t: "a\"b;\nc", u: '// no comment', v: '/* nor this */'});
:commit
/* a block
   comment; */
:param rows => [{a: 1}, {a: ';'}]
:param {x: 1, y: 'two'}
UNWIND $rows AS row
// inside a statement
CREATE (m {a: row.a}) /* inline */ RETURN m;
MATCH (n) WHERE n.s = ':begin
:commit' RETURN n;
RETURN 1`
	items, err := parseAll(t, script)
	if err != nil {
		t.Fatal(err)
	}
	want := []Item{
		{Line: 2, Command: "begin"},
		{Line: 3, Text: "CREATE (n:`odd;label``x` {s: 'it''s; \"not\" the end', t: \"a\\\"b;\\nc\", u: '// no comment', v: '/* nor this */'})"},
		{Line: 4, Command: "commit"},
		{Line: 7, Command: "param", Text: "rows => [{a: 1}, {a: ';'}]"},
		{Line: 8, Command: "param", Text: "{x: 1, y: 'two'}"},
		{Line: 9, Text: "UNWIND $rows AS row\n\nCREATE (m {a: row.a})   RETURN m"},
		{Line: 12, Text: "MATCH (n) WHERE n.s = ':begin\n:commit' RETURN n"},
		{Line: 14, Text: "RETURN 1"},
	}
	if diff := cmp.Diff(want, items); diff != "" {
		t.Fatalf("(-want +got):\n%s", diff)
	}
	for _, bad := range []string{"CREATE (n {s: 'open", "/* open", "MATCH (`open", ":\n"} {
		if _, err := parseAll(t, bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

// FuzzParser: the parser never panics, and a statement it returns, written
// back with a semicolon, parses to the same statement.
func FuzzParser(f *testing.F) {
	for _, s := range []string{
		":begin\nCREATE (n {s: 'a;b'});\n:commit\n",
		"MATCH (n) // c\nRETURN n;",
		"RETURN \"\\\"\", '\\'', `a``b`;",
		"/* x */ :param a => 1\n",
		"RETURN 1 /* unterminated",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, script string) {
		items, err := parseAll(t, script)
		if err != nil {
			return
		}
		for _, it := range items {
			if it.Command != "" || it.Text == "" {
				continue
			}
			again, err := parseAll(t, it.Text+";\n")
			if err != nil {
				t.Fatalf("statement %q does not parse again: %v", it.Text, err)
			}
			if len(again) != 1 || again[0].Text != it.Text {
				t.Fatalf("statement %q parses again as %+v", it.Text, again)
			}
		}
	})
}
