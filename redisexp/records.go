package redisexp

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"
	"unicode/utf16"
	"unicode/utf8"
)

// The archive files of both exporters hold JSON lines, one per entry:
//
//	{"id":"doc-1","value":"{\"content\":\"...\"}","ttl_ms":3600000,"expires_at_ms":1795000000000}
//	{"id":"doc-2","value":"{}","persistent":true}
//	{"id":"doc-3","value":"{}"}
//
// Ids (keys in raw mode) and values that are valid UTF-8 are JSON strings,
// anything else is base64 in id_b64 and value_b64 (DUMP payloads always
// are), so every byte survives.
//
// A record says one of three things about its entry's time to live:
//   - ttl_ms and expires_at_ms: it expires; ttl_ms is the time it had left
//     when it was read, expires_at_ms that expiry in Unix milliseconds,
//     counted from when the entry's batch was read.
//   - "persistent":true: it never expires, and a restore writes it without
//     a TTL whatever the store's policy says.
//   - neither: nothing is known (a Store whose Get reports no TTLs, a
//     legacy conversion through AppendRecord, and every record of the
//     formats redis-kv/1 and redis-dump/1, which wrote no field for a key
//     without a TTL); a KV restore leaves the expiry to the Store's policy
//     (KVStore: its TTLPolicy), a raw restore, which has no policy, writes
//     the key without a TTL.
//
// A namespace's lines are cut into parts of about 2 MiB, files
// <namespace>/000001.jsonl, 000002.jsonl ...: each streams into the archive
// and is compressed while the next is read from Redis. An empty namespace
// has one empty part. In redis-kv/2 the parts of different namespaces may
// alternate in the archive (a backup reads every namespace in one SCAN);
// each namespace's parts are in order.

// line is one decoded line of an archive file.
type line struct {
	id, value []byte
	// ttlMillis is the time to live left at backup time; 0: none recorded.
	ttlMillis int64
	// expiresAt is the expiry in Unix milliseconds; 0: none recorded.
	expiresAt int64
	// persistent says the entry never expires.
	persistent bool
}

// expiry is what a record says about an entry's time to live.
type expiry struct {
	// ttl, when positive, is the time the entry had left at readAt.
	ttl    time.Duration
	readAt time.Time
	// persistent says the entry never expires; with neither it nor a
	// ttl, nothing is known.
	persistent bool
}

// AppendRecord appends the line of an entry with no time to live
// information, as the KV format holds it in <namespace>/NNNNNN.jsonl parts,
// for converters that write this format from sources that do not know
// expiries: a restore through KVStore gives such entries the namespace's
// policy.
func AppendRecord(dst, id, value []byte) []byte {
	return appendRecord(dst, id, value, false, expiry{})
}

// appendRecord appends the line of one entry. It writes the JSON by hand:
// encoding/json spends most of an export's time on this.
func appendRecord(dst, id, value []byte, binaryValue bool, exp expiry) []byte {
	dst = append(dst, '{')
	dst = appendBytesField(dst, "id", id, false)
	dst = append(dst, ',')
	dst = appendBytesField(dst, "value", value, binaryValue)
	switch {
	case exp.ttl > 0:
		dst = append(dst, `,"ttl_ms":`...)
		dst = strconv.AppendInt(dst, max(exp.ttl.Milliseconds(), 1), 10)
		dst = append(dst, `,"expires_at_ms":`...)
		dst = strconv.AppendInt(dst, exp.readAt.Add(exp.ttl).UnixMilli(), 10)
	case exp.persistent:
		dst = append(dst, `,"persistent":true`...)
	}
	return append(dst, "}\n"...)
}

func appendBytesField(dst []byte, name string, b []byte, binary bool) []byte {
	if binary || !utf8.Valid(b) {
		dst = append(dst, '"')
		dst = append(dst, name...)
		dst = append(dst, `_b64":"`...)
		dst = base64.StdEncoding.AppendEncode(dst, b)
		return append(dst, '"')
	}
	dst = append(dst, '"')
	dst = append(dst, name...)
	dst = append(dst, `":`...)
	return appendJSONString(dst, b)
}

const hexDigits = "0123456789abcdef"

// appendJSONString quotes valid UTF-8 as a JSON string, escaping only what
// JSON requires.
func appendJSONString(dst, s []byte) []byte {
	dst = append(dst, '"')
	start := 0
	for i, c := range s {
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		dst = append(dst, s[start:i]...)
		switch c {
		case '"', '\\':
			dst = append(dst, '\\', c)
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\t':
			dst = append(dst, '\\', 't')
		default:
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		}
		start = i + 1
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// ttl returns the time to live to restore with (0 when the record has
// none), and false if the entry has expired (TTLAbsolute only).
func (l *line) ttl(mode TTLMode, now time.Time) (time.Duration, bool) {
	if l.ttlMillis == 0 {
		return 0, true
	}
	if mode == TTLAbsolute {
		left := time.UnixMilli(l.expiresAt).Sub(now)
		return left, left > 0
	}
	return time.Duration(l.ttlMillis) * time.Millisecond, true
}

// entry returns the line as an Entry to restore, and false if it has
// expired (TTLAbsolute only).
func (l *line) entry(mode TTLMode, now time.Time) (Entry, bool) {
	ttl, live := l.ttl(mode, now)
	return Entry{ID: string(l.id), Value: l.value, TTL: ttl, Persistent: l.persistent}, live
}

// parseRecord decodes one line. It is a small strict JSON parser for the
// record's seven fields, five times faster than encoding/json, which a
// restore spent most of its time in. It accepts a subset of what
// encoding/json accepts and decodes it identically (FuzzParseRecord checks
// both): no unknown or repeated fields, no nulls, no invalid UTF-8 or lone
// surrogates, integers only where integers belong.
func parseRecord(b []byte) (*line, error) {
	p := recordParser{b: b}
	return p.parse()
}

type recordParser struct {
	b []byte
	i int
}

func (p *recordParser) errorf(format string, args ...any) error {
	return fmt.Errorf("offset %d: %s", p.i, fmt.Sprintf(format, args...))
}

func (p *recordParser) ws() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

func (p *recordParser) expect(c byte) error {
	p.ws()
	if p.i >= len(p.b) || p.b[p.i] != c {
		return p.errorf("expected %q", c)
	}
	p.i++
	return nil
}

func (p *recordParser) parse() (*line, error) {
	l := &line{}
	if err := p.expect('{'); err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	p.ws()
	if p.i < len(p.b) && p.b[p.i] == '}' {
		p.i++
	} else {
		for {
			p.ws()
			key, err := p.str()
			if err != nil {
				return nil, err
			}
			if seen[string(key)] {
				return nil, p.errorf("field %q twice", key)
			}
			seen[string(key)] = true
			if err := p.expect(':'); err != nil {
				return nil, err
			}
			p.ws()
			if err := p.field(l, string(key)); err != nil {
				return nil, err
			}
			p.ws()
			if p.i < len(p.b) && p.b[p.i] == ',' {
				p.i++
				continue
			}
			if err := p.expect('}'); err != nil {
				return nil, err
			}
			break
		}
	}
	p.ws()
	if p.i != len(p.b) {
		return nil, p.errorf("data after the entry")
	}
	switch {
	case seen["id"] == seen["id_b64"]:
		return nil, errors.New("needs exactly one of id and id_b64")
	case seen["value"] == seen["value_b64"]:
		return nil, errors.New("needs exactly one of value and value_b64")
	case l.ttlMillis < 0 || l.expiresAt < 0:
		return nil, errors.New("negative time to live")
	case l.persistent && (l.ttlMillis != 0 || l.expiresAt != 0):
		return nil, errors.New("persistent, with a time to live")
	}
	return l, nil
}

func (p *recordParser) field(l *line, key string) error {
	switch key {
	case "id", "value":
		v, err := p.str()
		if err != nil {
			return err
		}
		if key == "id" {
			l.id = v
		} else {
			l.value = v
		}
	case "id_b64", "value_b64":
		v, err := p.str()
		if err != nil {
			return err
		}
		dec := make([]byte, base64.StdEncoding.DecodedLen(len(v)))
		n, err := base64.StdEncoding.Decode(dec, v)
		v = dec
		if err != nil {
			return p.errorf("%s: %v", key, err)
		}
		if key == "id_b64" {
			l.id = v[:n]
		} else {
			l.value = v[:n]
		}
	case "ttl_ms", "expires_at_ms":
		n, err := p.integer()
		if err != nil {
			return err
		}
		if key == "ttl_ms" {
			l.ttlMillis = n
		} else {
			l.expiresAt = n
		}
	case "persistent":
		// Only true: false would be a third way to say nothing is known.
		if !bytes.HasPrefix(p.b[p.i:], []byte("true")) {
			return p.errorf("persistent must be true")
		}
		p.i += len("true")
		l.persistent = true
	default:
		return p.errorf("unknown field %q", key)
	}
	return nil
}

// integer reads a JSON number that is an integer in int64's range.
func (p *recordParser) integer() (int64, error) {
	start := p.i
	if p.i < len(p.b) && p.b[p.i] == '-' {
		p.i++
	}
	digits := p.i
	for p.i < len(p.b) && '0' <= p.b[p.i] && p.b[p.i] <= '9' {
		p.i++
	}
	if p.i == digits || (p.b[digits] == '0' && p.i-digits > 1) {
		return 0, p.errorf("expected an integer")
	}
	n, err := strconv.ParseInt(string(p.b[start:p.i]), 10, 64)
	if err != nil {
		return 0, p.errorf("%v", err)
	}
	return n, nil
}

// str reads a JSON string and returns its content, unescaped, in a new
// slice: the line's buffer is reused.
func (p *recordParser) str() ([]byte, error) {
	if p.i >= len(p.b) || p.b[p.i] != '"' {
		return nil, p.errorf("expected a string")
	}
	p.i++
	start := p.i
	// The common case: no escapes. One search for the closing quote, one for
	// a backslash before it, one check of the text between.
	if end := bytes.IndexByte(p.b[start:], '"'); end >= 0 {
		raw := p.b[start : start+end]
		if bytes.IndexByte(raw, '\\') < 0 {
			if err := checkText(raw); err != nil {
				return nil, p.errorf("%v", err)
			}
			p.i = start + end + 1
			return bytes.Clone(raw), nil
		}
	}
	// With escapes: copy the runs between them.
	out := make([]byte, 0, 2*(len(p.b)-start)/3)
	for {
		rest := p.b[p.i:]
		q := bytes.IndexByte(rest, '"')
		if q < 0 {
			return nil, p.errorf("unterminated string")
		}
		run := rest[:q]
		bs := bytes.IndexByte(run, '\\')
		if bs >= 0 {
			run = run[:bs]
		}
		if err := checkControl(run); err != nil {
			return nil, p.errorf("%v", err)
		}
		out = append(out, run...)
		p.i += len(run) + 1
		if bs < 0 {
			if !utf8.Valid(out) {
				return nil, p.errorf("invalid UTF-8 in a string")
			}
			return out, nil
		}
		if p.i >= len(p.b) {
			return nil, p.errorf("unterminated string")
		}
		e := p.b[p.i]
		p.i++
		switch e {
		case '"', '\\', '/':
			out = append(out, e)
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r, err := p.hex4()
			if err != nil {
				return nil, err
			}
			if utf16.IsSurrogate(r) {
				if p.i+1 >= len(p.b) || p.b[p.i] != '\\' || p.b[p.i+1] != 'u' {
					return nil, p.errorf("lone surrogate")
				}
				p.i += 2
				r2, err := p.hex4()
				if err != nil {
					return nil, err
				}
				if r = utf16.DecodeRune(r, r2); r == utf8.RuneError {
					return nil, p.errorf("invalid surrogate pair")
				}
			}
			out = utf8.AppendRune(out, r)
		default:
			return nil, p.errorf("invalid escape \\%c", e)
		}
	}
}

// checkText refuses what a JSON string may not hold unescaped.
func checkText(b []byte) error {
	if err := checkControl(b); err != nil {
		return err
	}
	if !utf8.Valid(b) {
		return errors.New("invalid UTF-8 in a string")
	}
	return nil
}

func checkControl(b []byte) error {
	for _, c := range b {
		if c < 0x20 {
			return errors.New("control character in a string")
		}
	}
	return nil
}

func (p *recordParser) hex4() (rune, error) {
	if p.i+4 > len(p.b) {
		return 0, p.errorf("short \\u escape")
	}
	n, err := strconv.ParseUint(string(p.b[p.i:p.i+4]), 16, 32)
	if err != nil {
		return 0, p.errorf("invalid \\u escape")
	}
	p.i += 4
	return rune(n), nil
}

// readRecords calls fn for each line of one archive file, read to its end.
// A line that does not decode is an error naming the file and line.
func readRecords(r io.Reader, file string, fn func(l *line) error) error {
	br := bufio.NewReaderSize(r, 256<<10)
	var long []byte
	for n := 1; ; n++ {
		b, err := br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			// A line longer than the buffer: gather it.
			long = append(long[:0], b...)
			for err == bufio.ErrBufferFull {
				b, err = br.ReadSlice('\n')
				long = append(long, b...)
			}
			b = long
		}
		if err == io.EOF && len(b) == 0 {
			return nil
		}
		if err != nil && err != io.EOF {
			return fmt.Errorf("%s: %w", file, err)
		}
		if err == io.EOF {
			return fmt.Errorf("%s: line %d: no newline at the end of the file", file, n)
		}
		l, perr := parseRecord(b)
		if perr != nil {
			return fmt.Errorf("%s: line %d: %w", file, n, perr)
		}
		if err := fn(l); err != nil {
			return err
		}
	}
}
