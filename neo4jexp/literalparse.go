package neo4jexp

import (
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/neo4j/neo4j-go-driver/v5/neo4j/dbtype"
)

// Neo4j 5.26 takes about 4 ms per row to parse a statement whose rows are
// a literal list (1000 rows: 4.5 s), and 70 ms for the same rows sent as a
// parameter. So before it sends "UNWIND [...] AS row ...", the restore
// parses the list itself and sends "UNWIND $rows AS row ..." with the rows
// as a parameter; likewise a :param value. The parser takes the literals
// appendLiteral writes and the plain ones APOC writes; for anything else it
// gives up and the statement goes to the server as it is, which is slow but
// exact.

// unwindLiteral matches the head of an UNWIND over a literal list.
var unwindLiteral = regexp.MustCompile(`(?i)^UNWIND\s+\[`)

// rowsParam is the parameter the rows of a rewritten UNWIND travel in.
const rowsParam = "ngbak_rows"

// parameterize rewrites "UNWIND [literal] AS ..." to "UNWIND $ngbak_rows AS
// ..." and returns the rows, or ok false to leave the statement alone.
func parameterize(stmt string) (rewritten string, rows []any, ok bool) {
	loc := unwindLiteral.FindStringIndex(stmt)
	if loc == nil {
		return "", nil, false
	}
	p := &literalParser{s: stmt, i: loc[1] - 1}
	v, ok := p.value()
	if !ok {
		return "", nil, false
	}
	rest := stmt[p.i:]
	if len(rest) == 0 || !strings.ContainsRune(" \t\r\n", rune(rest[0])) {
		return "", nil, false
	}
	return "UNWIND $" + rowsParam + rest, v.([]any), true
}

// parseLiteral parses a whole expression that is one literal.
func parseLiteral(s string) (any, bool) {
	p := &literalParser{s: s}
	v, ok := p.value()
	p.ws()
	return v, ok && p.i == len(s)
}

type literalParser struct {
	s string
	i int
}

func (p *literalParser) ws() {
	for p.i < len(p.s) && strings.IndexByte(space, p.s[p.i]) >= 0 {
		p.i++
	}
}

func (p *literalParser) eat(c byte) bool {
	p.ws()
	if p.i < len(p.s) && p.s[p.i] == c {
		p.i++
		return true
	}
	return false
}

// The expressions appendLiteral writes for values without a plain literal.
// NaN is the one the server's 0.0 / 0.0 gives (Java's canonical NaN), not
// Go's math.NaN(), whose payload differs: the restore sends it as a
// parameter, bits and all.
var special = map[string]any{
	"(0.0 / 0.0)":                math.Float64frombits(0x7ff8000000000000),
	"(1.0 / 0.0)":                math.Inf(1),
	"(-1.0 / 0.0)":               math.Inf(-1),
	"(-9223372036854775807 - 1)": int64(math.MinInt64),
}

func (p *literalParser) value() (any, bool) {
	p.ws()
	if p.i >= len(p.s) {
		return nil, false
	}
	switch c := p.s[p.i]; {
	case c == '[':
		p.i++
		list := []any{}
		if p.eat(']') {
			return list, true
		}
		for {
			v, ok := p.value()
			if !ok {
				return nil, false
			}
			list = append(list, v)
			if p.eat(']') {
				return list, true
			}
			if !p.eat(',') {
				return nil, false
			}
		}
	case c == '{':
		return p.mapLiteral()
	case c == '"' || c == '\'':
		return p.str()
	case c == '(':
		for lit, v := range special {
			if strings.HasPrefix(p.s[p.i:], lit) {
				p.i += len(lit)
				return v, true
			}
		}
		return nil, false
	case c == '-' || c == '.' || '0' <= c && c <= '9':
		return p.number()
	}
	name := p.identifier()
	switch strings.ToLower(name) {
	case "null":
		return nil, true
	case "true":
		return true, true
	case "false":
		return false, true
	case "":
		return nil, false
	}
	if !p.eat('(') {
		return nil, false
	}
	arg, ok := p.value()
	if !ok || !p.eat(')') {
		return nil, false
	}
	return temporal(strings.ToLower(name), arg)
}

func (p *literalParser) identifier() string {
	start := p.i
	for p.i < len(p.s) {
		c := p.s[p.i]
		if c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || p.i > start && '0' <= c && c <= '9' {
			p.i++
			continue
		}
		break
	}
	return p.s[start:p.i]
}

func (p *literalParser) mapLiteral() (any, bool) {
	p.i++ // {
	m := map[string]any{}
	if p.eat('}') {
		return m, true
	}
	for {
		p.ws()
		var key string
		if p.i < len(p.s) && p.s[p.i] == '`' {
			end := p.i + 1
			var b strings.Builder
			for {
				j := strings.IndexByte(p.s[end:], '`')
				if j < 0 {
					return nil, false
				}
				b.WriteString(p.s[end : end+j])
				end += j + 1
				if end < len(p.s) && p.s[end] == '`' {
					b.WriteByte('`')
					end++
					continue
				}
				break
			}
			key, p.i = b.String(), end
		} else if key = p.identifier(); key == "" {
			return nil, false
		}
		if _, dup := m[key]; dup || !p.eat(':') {
			return nil, false
		}
		v, ok := p.value()
		if !ok {
			return nil, false
		}
		m[key] = v
		if p.eat('}') {
			return m, true
		}
		if !p.eat(',') {
			return nil, false
		}
	}
}

func (p *literalParser) str() (any, bool) {
	q := p.s[p.i]
	p.i++
	var b strings.Builder
	for p.i < len(p.s) {
		c := p.s[p.i]
		switch {
		case c == q:
			p.i++
			return b.String(), utf8.ValidString(b.String())
		case c != '\\':
			b.WriteByte(c)
			p.i++
			continue
		}
		if p.i+1 >= len(p.s) {
			return nil, false
		}
		e := p.s[p.i+1]
		p.i += 2
		switch e {
		case '\\', '\'', '"':
			b.WriteByte(e)
		case 'b':
			b.WriteByte('\b')
		case 'f':
			b.WriteByte('\f')
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 't':
			b.WriteByte('\t')
		case 'u', 'U':
			n := 4
			if e == 'U' {
				n = 8
			}
			if p.i+n > len(p.s) {
				return nil, false
			}
			r, err := strconv.ParseUint(p.s[p.i:p.i+n], 16, 32)
			if err != nil || !utf8.ValidRune(rune(r)) {
				return nil, false
			}
			b.WriteRune(rune(r))
			p.i += n
		default:
			return nil, false
		}
	}
	return nil, false
}

func (p *literalParser) number() (any, bool) {
	start := p.i
	if p.s[p.i] == '-' {
		p.i++
	}
	isFloat := false
	for p.i < len(p.s) {
		c := p.s[p.i]
		switch {
		case '0' <= c && c <= '9':
		case c == '.' || c == 'e' || c == 'E':
			isFloat = true
		case (c == '-' || c == '+') && (p.s[p.i-1] == 'e' || p.s[p.i-1] == 'E'):
		default:
			goto done
		}
		p.i++
	}
done:
	tok := p.s[start:p.i]
	if isFloat {
		f, err := strconv.ParseFloat(tok, 64)
		return f, err == nil
	}
	if len(tok) > 1 && tok[0] == '0' || len(tok) > 2 && tok[:2] == "-0" {
		return nil, false // octal or odd forms: the server knows
	}
	n, err := strconv.ParseInt(tok, 10, 64)
	return n, err == nil
}

// temporal builds the value of a temporal or spatial function call.
func temporal(fn string, arg any) (any, bool) {
	if s, ok := arg.(string); ok {
		layout := map[string]string{"date": "2006-01-02", "localtime": "15:04:05.999999999", "localdatetime": "2006-01-02T15:04:05.999999999"}[fn]
		if layout == "" {
			return nil, false
		}
		t, err := time.ParseInLocation(layout, s, time.UTC)
		if err != nil {
			return nil, false
		}
		switch fn {
		case "date":
			return dbtype.Date(t), true
		case "localtime":
			return dbtype.LocalTime(t), true
		}
		return dbtype.LocalDateTime(t), true
	}
	m, ok := arg.(map[string]any)
	if !ok {
		return nil, false
	}
	ints := func(keys ...string) ([]int64, bool) {
		if len(m) < len(keys) {
			return nil, false
		}
		out := make([]int64, len(keys))
		for i, k := range keys {
			v, ok := m[k].(int64)
			if !ok {
				return nil, false
			}
			out[i] = v
		}
		return out, true
	}
	switch fn {
	case "date", "localdatetime":
		keys := []string{"year", "month", "day"}
		if fn == "localdatetime" {
			keys = append(keys, "hour", "minute", "second", "nanosecond")
		}
		v, ok := ints(keys...)
		if !ok || len(m) != len(keys) {
			return nil, false
		}
		v = append(v, make([]int64, 7-len(v))...)
		// Neo4j's range; and fields that time.Date would carry over (month
		// 13, second 60) are the server's to refuse.
		if v[0] < -999_999_999 || v[0] > 999_999_999 {
			return nil, false
		}
		t := time.Date(int(v[0]), time.Month(v[1]), int(v[2]), int(v[3]), int(v[4]), int(v[5]), int(v[6]), time.UTC)
		if int64(t.Year()) != v[0] || int64(t.Month()) != v[1] || int64(t.Day()) != v[2] || int64(t.Hour()) != v[3] ||
			int64(t.Minute()) != v[4] || int64(t.Second()) != v[5] || int64(t.Nanosecond()) != v[6] {
			return nil, false
		}
		if fn == "date" {
			return dbtype.Date(t), true
		}
		return dbtype.LocalDateTime(t), true
	case "datetime", "time":
		zone, _ := m["timezone"].(string)
		loc, ok := location(zone)
		if !ok {
			return nil, false
		}
		if fn == "datetime" {
			v, ok := ints("epochSeconds", "nanosecond")
			if !ok || len(m) != 3 {
				return nil, false
			}
			return time.Unix(v[0], v[1]).In(loc), true
		}
		v, ok := ints("hour", "minute", "second", "nanosecond")
		if !ok || len(m) != 5 {
			return nil, false
		}
		return dbtype.Time(time.Date(0, 1, 1, int(v[0]), int(v[1]), int(v[2]), int(v[3]), loc)), true
	case "duration":
		v, ok := ints("months", "days", "seconds", "nanoseconds")
		if !ok || len(m) != 4 {
			return nil, false
		}
		return dbtype.Duration{Months: v[0], Days: v[1], Seconds: v[2], Nanos: int(v[3])}, true
	case "point":
		srid, ok := m["srid"].(int64)
		x, okx := m["x"].(float64)
		y, oky := m["y"].(float64)
		if !ok || !okx || !oky {
			return nil, false
		}
		if z, okz := m["z"].(float64); okz && len(m) == 4 {
			return dbtype.Point3D{X: x, Y: y, Z: z, SpatialRefId: uint32(srid)}, true
		}
		if len(m) != 3 {
			return nil, false
		}
		return dbtype.Point2D{X: x, Y: y, SpatialRefId: uint32(srid)}, true
	}
	return nil, false
}

// location turns a timezone argument into the location the driver expects:
// a fixed offset named "Offset", or a zone.
func location(zone string) (*time.Location, bool) {
	if zone == "" {
		return nil, false
	}
	if zone[0] == '+' || zone[0] == '-' {
		for _, layout := range []string{"-07:00", "-07:00:00"} {
			if t, err := time.Parse(layout, zone); err == nil {
				_, off := t.Zone()
				return time.FixedZone("Offset", off), true
			}
		}
		return nil, false
	}
	loc, err := time.LoadLocation(zone)
	return loc, err == nil
}
