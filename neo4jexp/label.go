package neo4jexp

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"

	"github.com/ngbak/ngbak"
)

// Label is the label of the exporter's scope (Options.Label); empty for
// the whole database. A converter writing another kind of graph into this
// store puts its nodes under it.
func (e *Exporter) Label() string { return e.opts.Label }

// details is what Export records in the manifest (ngbak.Info.Details).
type details struct {
	// Label is the scope's label; empty for the whole database.
	Label string `json:"label,omitempty"`
}

// BackupLabel returns the label of the scope a backup of this format was
// taken of, and whether the backup records it: a backup of the whole
// database records none, and neither do backups taken before it was
// recorded.
func BackupLabel(b *ngbak.Backend) (string, bool) {
	var d details
	if len(b.Details) == 0 || json.Unmarshal(b.Details, &d) != nil || d.Label == "" {
		return "", false
	}
	return d.Label, true
}

// restoreFrom returns the label whose statements a restore of b rewrites
// to Options.Label (Options.RestoreAs), or "" to run them as they are; a
// backup of another label without RestoreAs is an error, since its scripts
// would write under the other label, outside the scope the restore
// replaces.
func (e *Exporter) restoreFrom(b *ngbak.Backend) (string, error) {
	label, ok := BackupLabel(b)
	switch {
	case !ok && len(e.opts.RestoreAs) > 0:
		return "", fmt.Errorf("neo4jexp: backend %q does not record its label (a whole-database backup, or one taken before ngbak recorded it), so Options.RestoreAs cannot restore it under %q", b.Name, e.opts.Label)
	case !ok || label == e.opts.Label || e.opts.Label == "":
		return "", nil
	case e.opts.RestoreAs[label] == e.opts.Label:
		return label, nil
	}
	return "", fmt.Errorf("neo4jexp: backend %q is a backup of label %s, and exporter %q restores label %s: set Options.RestoreAs {%q: %q} to restore it there", b.Name, label, e.opts.Name, e.opts.Label, label, e.opts.Label)
}

// schemaHead is the head of a statement creating a named constraint or
// index: the keywords, the name, and what follows it.
var schemaHead = regexp.MustCompile("(?is)^(CREATE\\s+(?:OR\\s+REPLACE\\s+)?(?:(?:RANGE|TEXT|POINT|LOOKUP|FULLTEXT|VECTOR|BTREE)\\s+)?(?:CONSTRAINT|INDEX))\\s+(`(?:[^`]|``)*`|[A-Za-z_][A-Za-z0-9_]*)(\\s+(?:IF\\s+NOT\\s+EXISTS\\s+)?FOR\\b)")

// relabel rewrites a statement's label from into to: every name right
// after a colon (a label in a pattern, SET or REMOVE; the scripts write map
// keys' colons with a space) outside literals and comments. A constraint
// or index created on it is renamed: from replaced by to where its name
// holds it, else unnamed, as Options.RestoreAs says.
func relabel(stmt, from, to string) string {
	var b strings.Builder
	changed := false
	// Inside a relationship's brackets, -[r:TYPE]-, a name after a colon
	// is a type, which may be spelt as the label is.
	inRelationship := false
	for i := 0; i < len(stmt); {
		c := stmt[i]
		switch {
		case c == '[' && i > 0 && stmt[i-1] == '-':
			inRelationship = true
			b.WriteByte(c)
			i++
		case c == ']' && inRelationship:
			inRelationship = false
			b.WriteByte(c)
			i++
		case c == '\'' || c == '"':
			j := i + 1
			for j < len(stmt) && stmt[j] != c {
				if stmt[j] == '\\' {
					j++
				}
				j++
			}
			j = min(j+1, len(stmt))
			b.WriteString(stmt[i:j])
			i = j
		case c == '/' && i+1 < len(stmt) && (stmt[i+1] == '/' || stmt[i+1] == '*'):
			end := "\n"
			if stmt[i+1] == '*' {
				end = "*/"
			}
			j := strings.Index(stmt[i+2:], end)
			if j < 0 {
				j = len(stmt)
			} else {
				j += i + 2 + len(end)
			}
			b.WriteString(stmt[i:j])
			i = j
		case c == '`':
			j := i + 1 + nameEnd(stmt[i+1:])
			b.WriteString(stmt[i:j])
			i = j
		case c == ':':
			b.WriteByte(':')
			i++
			var name string
			j := i
			if i < len(stmt) && stmt[i] == '`' {
				j = i + 1 + nameEnd(stmt[i+1:])
				name = unquoteName(stmt[i:j])
			} else {
				for j < len(stmt) && (stmt[j] == '_' || 'a' <= stmt[j] && stmt[j] <= 'z' || 'A' <= stmt[j] && stmt[j] <= 'Z' || j > i && '0' <= stmt[j] && stmt[j] <= '9') {
					j++
				}
				name = stmt[i:j]
			}
			if name == from && j > i && !inRelationship {
				b.Write(appendName(nil, to))
				changed = true
			} else {
				b.WriteString(stmt[i:j])
			}
			i = j
		default:
			b.WriteByte(c)
			i++
		}
	}
	out := b.String()
	if !changed {
		return stmt
	}
	m := schemaHead.FindStringSubmatchIndex(out)
	if m == nil {
		return out
	}
	name := unquoteName(out[m[4]:m[5]])
	keep := ""
	if strings.Contains(name, from) {
		keep = " " + string(appendName(nil, strings.ReplaceAll(name, from, to)))
	}
	return out[:m[3]] + keep + out[m[6]:]
}

// nameEnd is the length of a backtick identifier's rest, closing backtick
// included, after its opening one.
func nameEnd(s string) int {
	for j := 0; j < len(s); j++ {
		if s[j] == '`' {
			if j+1 < len(s) && s[j+1] == '`' {
				j++
				continue
			}
			return j + 1
		}
	}
	return len(s)
}
