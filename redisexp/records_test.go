package redisexp

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// parseRecordStd is parseRecord by encoding/json: the reference that
// FuzzParseRecord holds the fast parser to.
func parseRecordStd(line []byte) (*record, error) {
	var rec record
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&rec); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, errTrailing
	}
	return &rec, nil
}

var errTrailing = jsonError("data after the entry")

type jsonError string

func (e jsonError) Error() string { return string(e) }

// FuzzParseRecord: whatever the fast parser accepts, encoding/json accepts
// too and decodes to the same record; whatever encoding/json refuses, the
// fast parser refuses. It never panics.
func FuzzParseRecord(f *testing.F) {
	now := time.UnixMilli(1_800_000_000_000)
	for _, line := range [][]byte{
		appendRecord(nil, []byte("doc-1"), []byte(`{"content": "a \"quoted\" line\nand more"}`), false, time.Hour, now),
		appendRecord(nil, []byte{0xff, 0}, []byte{1, 2, 3}, true, 0, now),
		appendRecord(nil, []byte("日本語 🧠"), []byte("\u2028\x00\x1f"), false, time.Millisecond, now),
		[]byte(`{"id":"\ud83d\ude00","value":"\u00e9\/\b\f","ttl_ms":0}`),
		[]byte(`{"id":"a","value":"b","ttl_ms":1e3}`),
		[]byte(`{"id":"a","value":"b","id":"c"}`),
		[]byte(`{"id":null,"value":"b"}`),
		[]byte(`{"id":"\ud800","value":"b"}`),
		[]byte(`{"id_b64":"AAE=","value_b64":"AA\r\nE="}`),
		[]byte(` { "id" : "x" , "value" : "" } ` + "\n"),
		[]byte(`{"id":"x","value":"y","extra":1}`),
		[]byte(`{"id":"x","value":"y"} {}`),
		[]byte(`{"id":"x","value":"y","ttl_ms":-0,"expires_at_ms":9223372036854775807}`),
		[]byte(`{"id":"x","value":"y","ttl_ms":01}`),
	} {
		f.Add(line)
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		p := recordParser{b: line}
		fast, err := p.parse()
		std, stdErr := parseRecordStd(line)
		if err != nil {
			return // stricter than encoding/json is allowed
		}
		if stdErr != nil {
			t.Fatalf("fast parser accepted %q, encoding/json refuses: %v", line, stdErr)
		}
		if diff := cmp.Diff(std, fast); diff != "" {
			t.Fatalf("%q decodes differently (-encoding/json +fast):\n%s", line, diff)
		}
	})
}

// FuzzRecordRoundTrip: every id and value, text or binary, comes back from
// its line byte for byte, with its time to live.
func FuzzRecordRoundTrip(f *testing.F) {
	f.Add([]byte("doc-1"), []byte(`{"a":1}`), false, int64(3600_000))
	f.Add([]byte{0xff}, []byte{}, true, int64(0))
	f.Add([]byte("\x00\n\""), []byte("\\u0041 \u2028"), false, int64(1))
	f.Fuzz(func(t *testing.T, id, value []byte, binary bool, ttlMillis int64) {
		if ttlMillis < 0 || ttlMillis > 1<<40 {
			return
		}
		ttl := time.Duration(ttlMillis) * time.Millisecond
		now := time.UnixMilli(1_800_000_000_000)
		line := appendRecord(nil, id, value, binary, ttl, now)
		rec, gotID, gotValue, err := parseRecord(line)
		if err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		if !bytes.Equal(gotID, id) || !bytes.Equal(gotValue, value) {
			t.Fatalf("%q: id %q value %q, want %q %q", line, gotID, gotValue, id, value)
		}
		if got, _ := rec.ttl(TTLRelative, now); got != ttl && !(ttl > 0 && ttl < time.Millisecond) {
			t.Fatalf("ttl %v, want %v", got, ttl)
		}
		if _, err := parseRecordStd(line); err != nil {
			t.Fatalf("encoding/json refuses our own line %q: %v", line, err)
		}
	})
}
