// Package pyjson re-encodes a JSON value byte for byte as Python's json
// module writes the value json.load made of it: nano-graphrag's
// RedisKVStorage stores json.dumps(value) (separators ", " and ": ", ASCII
// escapes) and its JsonKVStorage writes json.dump(data, indent=2,
// ensure_ascii=False). A value carried from one store to the other must
// have the bytes the application itself would write, or a byte-level diff,
// a checksum or a cache key sees a change where there is none.
//
//	out, err := pyjson.Dumps.Append(nil, []byte(`{"a":1.50,"b":"é"}`), 0)
//	// out is {"a": 1.5, "b": "\u00e9"}
//
// What Python reads differently from how it writes is reproduced: floats
// in repr's shortest form (1e-05, 100000.0, Infinity for an overflow),
// integers as written (-0 as 0), a duplicated key at its first place with
// its last value. What Python could not have read from a UTF-8 file
// (invalid UTF-8, a lone surrogate escape) is an error, never replaced.
//
// EachMember reads the other way: the members of a JSON object as large as
// a kv_store file, one value in memory at a time.
package pyjson

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// Style is one way Python's json module writes.
type Style struct {
	// Indent is json.dumps' indent: negative for None.
	Indent int
	// ASCII is ensure_ascii.
	ASCII bool
}

var (
	// Dumps is json.dumps(v): what RedisKVStorage stores.
	Dumps = Style{Indent: -1, ASCII: true}
	// File is json.dump(v, f, indent=2, ensure_ascii=False): what
	// JsonKVStorage writes.
	File = Style{Indent: 2, ASCII: false}
)

// Append appends src, one JSON value, encoded in style s as it would be at
// nesting depth level (which only the indented style uses), to dst.
func (s Style) Append(dst, src []byte, level int) ([]byte, error) {
	p := &parser{s: s, src: src}
	p.skip()
	out, err := p.value(dst, level)
	if err != nil {
		return dst, err
	}
	p.skip()
	if p.i != len(p.src) {
		return dst, p.errf("data after the value")
	}
	return out, nil
}

// maxDepth bounds nesting, as Python's recursion limit does.
const maxDepth = 1000

type parser struct {
	s   Style
	src []byte
	i   int
}

func (p *parser) errf(format string, args ...any) error {
	return fmt.Errorf("pyjson: offset %d: %s", p.i, fmt.Sprintf(format, args...))
}

func (p *parser) skip() {
	for p.i < len(p.src) {
		switch p.src[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

func (p *parser) newline(dst []byte, level int) []byte {
	dst = append(dst, '\n')
	for range p.s.Indent * level {
		dst = append(dst, ' ')
	}
	return dst
}

func (p *parser) value(dst []byte, level int) ([]byte, error) {
	if level > maxDepth {
		return dst, p.errf("nested deeper than %d", maxDepth)
	}
	if p.i >= len(p.src) {
		return dst, p.errf("unexpected end")
	}
	switch c := p.src[p.i]; {
	case c == '{':
		return p.object(dst, level)
	case c == '[':
		return p.array(dst, level)
	case c == '"':
		str, err := p.str()
		if err != nil {
			return dst, err
		}
		return p.s.AppendString(dst, str), nil
	case c == '-' || (c >= '0' && c <= '9'):
		return p.number(dst)
	default:
		for _, lit := range []string{"true", "false", "null"} {
			if strings.HasPrefix(string(p.src[p.i:min(len(p.src), p.i+5)]), lit) {
				p.i += len(lit)
				return append(dst, lit...), nil
			}
		}
		return dst, p.errf("unexpected %q", c)
	}
}

type member struct {
	key string
	val []byte
}

func (p *parser) object(dst []byte, level int) ([]byte, error) {
	p.i++ // {
	var members []member
	at := map[string]int{}
	p.skip()
	if p.i < len(p.src) && p.src[p.i] == '}' {
		p.i++
		return append(dst, "{}"...), nil
	}
	for {
		p.skip()
		if p.i >= len(p.src) || p.src[p.i] != '"' {
			return dst, p.errf("expected a key")
		}
		key, err := p.str()
		if err != nil {
			return dst, err
		}
		p.skip()
		if p.i >= len(p.src) || p.src[p.i] != ':' {
			return dst, p.errf("expected ':'")
		}
		p.i++
		p.skip()
		val, err := p.value(nil, level+1)
		if err != nil {
			return dst, err
		}
		// A dict keeps a key's first place and its last value.
		if j, ok := at[key]; ok {
			members[j].val = val
		} else {
			at[key] = len(members)
			members = append(members, member{key, val})
		}
		p.skip()
		if p.i >= len(p.src) {
			return dst, p.errf("unexpected end in an object")
		}
		if p.src[p.i] == '}' {
			p.i++
			break
		}
		if p.src[p.i] != ',' {
			return dst, p.errf("expected ',' or '}'")
		}
		p.i++
	}
	dst = append(dst, '{')
	for j, m := range members {
		if j > 0 {
			dst = p.sep(dst)
		}
		if p.s.Indent >= 0 {
			dst = p.newline(dst, level+1)
		}
		dst = p.s.AppendString(dst, m.key)
		dst = append(dst, ": "...)
		dst = append(dst, m.val...)
	}
	if p.s.Indent >= 0 {
		dst = p.newline(dst, level)
	}
	return append(dst, '}'), nil
}

func (p *parser) sep(dst []byte) []byte {
	if p.s.Indent >= 0 {
		return append(dst, ',')
	}
	return append(dst, ", "...)
}

func (p *parser) array(dst []byte, level int) ([]byte, error) {
	p.i++ // [
	p.skip()
	if p.i < len(p.src) && p.src[p.i] == ']' {
		p.i++
		return append(dst, "[]"...), nil
	}
	dst = append(dst, '[')
	for n := 0; ; n++ {
		if n > 0 {
			dst = p.sep(dst)
		}
		if p.s.Indent >= 0 {
			dst = p.newline(dst, level+1)
		}
		p.skip()
		var err error
		if dst, err = p.value(dst, level+1); err != nil {
			return dst, err
		}
		p.skip()
		if p.i >= len(p.src) {
			return dst, p.errf("unexpected end in an array")
		}
		if p.src[p.i] == ']' {
			p.i++
			break
		}
		if p.src[p.i] != ',' {
			return dst, p.errf("expected ',' or ']'")
		}
		p.i++
	}
	if p.s.Indent >= 0 {
		dst = p.newline(dst, level)
	}
	return append(dst, ']'), nil
}

// number writes an integer as Python's int does and any other number as
// Python's float repr.
func (p *parser) number(dst []byte) ([]byte, error) {
	start := p.i
	if p.src[p.i] == '-' {
		p.i++
	}
	digits := func() int {
		n := 0
		for p.i < len(p.src) && p.src[p.i] >= '0' && p.src[p.i] <= '9' {
			p.i++
			n++
		}
		return n
	}
	intStart := p.i
	if n := digits(); n == 0 || (n > 1 && p.src[intStart] == '0') {
		return dst, p.errf("malformed number")
	}
	isFloat := false
	if p.i < len(p.src) && p.src[p.i] == '.' {
		p.i++
		isFloat = true
		if digits() == 0 {
			return dst, p.errf("malformed number")
		}
	}
	if p.i < len(p.src) && (p.src[p.i] == 'e' || p.src[p.i] == 'E') {
		p.i++
		isFloat = true
		if p.i < len(p.src) && (p.src[p.i] == '+' || p.src[p.i] == '-') {
			p.i++
		}
		if digits() == 0 {
			return dst, p.errf("malformed number")
		}
	}
	lit := string(p.src[start:p.i])
	if !isFloat {
		if strings.Trim(lit, "-0") == "" {
			return append(dst, '0'), nil
		}
		return append(dst, lit...), nil
	}
	f, err := strconv.ParseFloat(lit, 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		return dst, p.errf("number %s: %v", lit, err)
	}
	return AppendFloat(dst, f), nil
}

// AppendFloat appends f as Python's float.__repr__ writes it, and as its
// json module writes infinities and NaN.
func AppendFloat(dst []byte, f float64) []byte {
	switch {
	case math.IsNaN(f):
		return append(dst, "NaN"...)
	case math.IsInf(f, 1):
		return append(dst, "Infinity"...)
	case math.IsInf(f, -1):
		return append(dst, "-Infinity"...)
	}
	// The shortest digits that read back as f, d.ddd × 10^exp.
	e := strconv.AppendFloat(nil, f, 'e', -1, 64)
	neg := e[0] == '-'
	if neg {
		e = e[1:]
		dst = append(dst, '-')
	}
	mant, expStr, _ := strings.Cut(string(e), "e")
	exp, _ := strconv.Atoi(expStr)
	digits := strings.Replace(mant, ".", "", 1)
	if exp < -4 || exp >= 16 {
		dst = append(dst, digits[0])
		if len(digits) > 1 {
			dst = append(dst, '.')
			dst = append(dst, digits[1:]...)
		}
		dst = append(dst, 'e')
		if exp < 0 {
			dst = append(dst, '-')
			exp = -exp
		} else {
			dst = append(dst, '+')
		}
		if exp < 10 {
			dst = append(dst, '0')
		}
		return strconv.AppendInt(dst, int64(exp), 10)
	}
	if exp < 0 {
		dst = append(dst, "0."...)
		dst = append(dst, strings.Repeat("0", -exp-1)...)
		return append(dst, digits...)
	}
	if len(digits) <= exp+1 {
		dst = append(dst, digits...)
		dst = append(dst, strings.Repeat("0", exp+1-len(digits))...)
		return append(dst, ".0"...)
	}
	dst = append(dst, digits[:exp+1]...)
	dst = append(dst, '.')
	return append(dst, digits[exp+1:]...)
}

// str reads a JSON string, refusing what a UTF-8 file could not hold.
func (p *parser) str() (string, error) {
	p.i++ // "
	var b strings.Builder
	for {
		if p.i >= len(p.src) {
			return "", p.errf("unterminated string")
		}
		c := p.src[p.i]
		switch {
		case c == '"':
			p.i++
			return b.String(), nil
		case c < 0x20:
			return "", p.errf("control character %#x in a string", c)
		case c == '\\':
			if p.i+1 >= len(p.src) {
				return "", p.errf("unterminated string")
			}
			esc := p.src[p.i+1]
			p.i += 2
			switch esc {
			case '"', '\\', '/':
				b.WriteByte(esc)
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
			case 'u':
				r, err := p.hex4()
				if err != nil {
					return "", err
				}
				if utf16.IsSurrogate(r) {
					r2 := rune(-1)
					if r < 0xdc00 && p.i+1 < len(p.src) && p.src[p.i] == '\\' && p.src[p.i+1] == 'u' {
						p.i += 2
						if r2, err = p.hex4(); err != nil {
							return "", err
						}
					}
					if r = utf16.DecodeRune(r, r2); r == utf8.RuneError {
						return "", p.errf("a lone surrogate, which a UTF-8 file cannot hold")
					}
				}
				b.WriteRune(r)
			default:
				return "", p.errf("invalid escape \\%c", esc)
			}
		case c < utf8.RuneSelf:
			b.WriteByte(c)
			p.i++
		default:
			r, n := utf8.DecodeRune(p.src[p.i:])
			if r == utf8.RuneError && n <= 1 {
				return "", p.errf("invalid UTF-8")
			}
			b.Write(p.src[p.i : p.i+n])
			p.i += n
		}
	}
}

func (p *parser) hex4() (rune, error) {
	if p.i+4 > len(p.src) {
		return 0, p.errf("short \\u escape")
	}
	v, err := strconv.ParseUint(string(p.src[p.i:p.i+4]), 16, 16)
	if err != nil {
		return 0, p.errf("invalid \\u escape")
	}
	p.i += 4
	return rune(v), nil
}

const hexDigits = "0123456789abcdef"

// AppendString appends str as json's encoders write it: py_encode_basestring_ascii
// or py_encode_basestring.
func (s Style) AppendString(dst []byte, str string) []byte {
	dst = append(dst, '"')
	for _, r := range str {
		switch r {
		case '"':
			dst = append(dst, `\"`...)
		case '\\':
			dst = append(dst, `\\`...)
		case '\n':
			dst = append(dst, `\n`...)
		case '\r':
			dst = append(dst, `\r`...)
		case '\t':
			dst = append(dst, `\t`...)
		case '\b':
			dst = append(dst, `\b`...)
		case '\f':
			dst = append(dst, `\f`...)
		default:
			switch {
			case r < 0x20 || (s.ASCII && r > 0x7e):
				if r > 0xffff {
					r1, r2 := utf16.EncodeRune(r)
					dst = appendU(appendU(dst, r1), r2)
				} else {
					dst = appendU(dst, r)
				}
			default:
				dst = utf8.AppendRune(dst, r)
			}
		}
	}
	return append(dst, '"')
}

func appendU(dst []byte, r rune) []byte {
	return append(dst, '\\', 'u', hexDigits[r>>12&0xf], hexDigits[r>>8&0xf], hexDigits[r>>4&0xf], hexDigits[r&0xf])
}

// NanoVectorDB is json.dump(v, f, ensure_ascii=False): what nano-vectordb
// saves.
var NanoVectorDB = Style{Indent: -1, ASCII: false}
