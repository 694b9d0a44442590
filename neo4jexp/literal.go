package neo4jexp

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/neo4j/neo4j-go-driver/v5/neo4j/dbtype"
)

// appendLiteral writes v, a property value as the driver returns it, as a
// Cypher expression that evaluates to exactly v: strings escaped, floats
// bit for bit (NaN, ±Inf and -0.0 included), temporal values through their
// functions with nanoseconds and zones, points with their SRID.
//
// Byte arrays have no Cypher literal: they are an error, which the caller
// names with the node or relationship and property.
func appendLiteral(b []byte, v any) ([]byte, error) {
	switch v := v.(type) {
	case nil:
		return append(b, "null"...), nil
	case bool:
		return strconv.AppendBool(b, v), nil
	case int64:
		if v == math.MinInt64 {
			// The literal 9223372036854775808 overflows before it is negated.
			return append(b, "(-9223372036854775807 - 1)"...), nil
		}
		return strconv.AppendInt(b, v, 10), nil
	case float64:
		return appendFloat(b, v), nil
	case string:
		return appendString(b, v), nil
	case []any:
		b = append(b, '[')
		for i, e := range v {
			if i > 0 {
				b = append(b, ", "...)
			}
			var err error
			if b, err = appendLiteral(b, e); err != nil {
				return nil, err
			}
		}
		return append(b, ']'), nil
	case map[string]any:
		return appendMap(b, v)
	case dbtype.Date:
		t := time.Time(v)
		if farYear(t) {
			// Go writes year 10000 as "10000", where Neo4j's text needs a
			// sign: the fields say it without one.
			return fmt.Appendf(b, "date({year: %d, month: %d, day: %d})", t.Year(), t.Month(), t.Day()), nil
		}
		return fmt.Appendf(b, "date('%s')", t.Format("2006-01-02")), nil
	case dbtype.LocalTime:
		return fmt.Appendf(b, "localtime('%s')", time.Time(v).Format("15:04:05.000000000")), nil
	case dbtype.Time:
		t := time.Time(v)
		return fmt.Appendf(b, "time({hour: %d, minute: %d, second: %d, nanosecond: %d, timezone: '%s'})",
			t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), offset(t)), nil
	case dbtype.LocalDateTime:
		t := time.Time(v)
		if farYear(t) {
			return fmt.Appendf(b, "localdatetime({year: %d, month: %d, day: %d, hour: %d, minute: %d, second: %d, nanosecond: %d})",
				t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond()), nil
		}
		return fmt.Appendf(b, "localdatetime('%s')", t.Format("2006-01-02T15:04:05.000000000")), nil
	case time.Time:
		// The instant and the zone, which also covers offsets with seconds
		// (historical zones) and the hour a DST change repeats, where
		// datetime('...') text cannot say which is meant. The driver names
		// fixed offsets "Offset"; any other name is a zone id.
		zone := v.Location().String()
		if zone == "Offset" {
			zone = offset(v)
		}
		return fmt.Appendf(b, "datetime({epochSeconds: %d, nanosecond: %d, timezone: '%s'})", v.Unix(), v.Nanosecond(), zone), nil
	case dbtype.Duration:
		return fmt.Appendf(b, "duration({months: %d, days: %d, seconds: %d, nanoseconds: %d})", v.Months, v.Days, v.Seconds, v.Nanos), nil
	case dbtype.Point2D:
		b = fmt.Appendf(b, "point({srid: %d, x: ", v.SpatialRefId)
		b = appendFloat(b, v.X)
		b = append(b, ", y: "...)
		b = appendFloat(b, v.Y)
		return append(b, "})"...), nil
	case dbtype.Point3D:
		b = fmt.Appendf(b, "point({srid: %d, x: ", v.SpatialRefId)
		b = appendFloat(b, v.X)
		b = append(b, ", y: "...)
		b = appendFloat(b, v.Y)
		b = append(b, ", z: "...)
		b = appendFloat(b, v.Z)
		return append(b, "})"...), nil
	case []byte:
		return nil, fmt.Errorf("a byte array, which Cypher has no literal for")
	}
	return nil, fmt.Errorf("a value of type %T, which this exporter cannot write", v)
}

// farYear tells whether t's year is one that Go's "2006" does not write as
// the four digits Neo4j parses.
func farYear(t time.Time) bool { return t.Year() < 0 || t.Year() > 9999 }

// offset returns t's offset as +HH:MM, or +HH:MM:SS when it has seconds.
func offset(t time.Time) string {
	if _, off := t.Zone(); off%60 != 0 {
		return t.Format("-07:00:00")
	}
	return t.Format("-07:00")
}

func appendMap(b []byte, m map[string]any) ([]byte, error) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	b = append(b, '{')
	for i, k := range keys {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = appendName(b, k)
		b = append(b, ": "...)
		var err error
		if b, err = appendLiteral(b, m[k]); err != nil {
			return nil, fmt.Errorf("property %q: %w", k, err)
		}
	}
	return append(b, '}'), nil
}

// appendFloat writes the shortest decimal that parses back to f, always
// with a point or an exponent so that Cypher reads a float.
func appendFloat(b []byte, f float64) []byte {
	switch {
	case math.IsNaN(f):
		return append(b, "(0.0 / 0.0)"...)
	case math.IsInf(f, 1):
		return append(b, "(1.0 / 0.0)"...)
	case math.IsInf(f, -1):
		return append(b, "(-1.0 / 0.0)"...)
	}
	s := strconv.FormatFloat(f, 'g', -1, 64)
	if !strings.ContainsAny(s, ".eEn") {
		s += ".0"
	}
	// Cypher's exponent takes no '+'.
	return append(b, strings.Replace(s, "e+", "e", 1)...)
}

// appendString writes a Cypher string literal.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			// Neo4j strings are valid Unicode; keep a stray byte as U+FFFD.
			b = append(b, `\uFFFD`...)
			i++
			continue
		}
		switch r {
		case '"':
			b = append(b, `\"`...)
		case '\\':
			b = append(b, `\\`...)
		case '\n':
			b = append(b, `\n`...)
		case '\r':
			b = append(b, `\r`...)
		case '\t':
			b = append(b, `\t`...)
		default:
			if r < 0x20 || r == 0x7f {
				b = fmt.Appendf(b, `\u%04X`, r)
			} else {
				b = append(b, s[i:i+size]...)
			}
		}
		i += size
	}
	return append(b, '"')
}

// appendName writes a label, type or property key in backticks, which
// makes any name, keywords included, an identifier.
func appendName(b []byte, name string) []byte {
	b = append(b, '`')
	b = append(b, strings.ReplaceAll(name, "`", "``")...)
	return append(b, '`')
}
