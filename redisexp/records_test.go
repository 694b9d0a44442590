package redisexp

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// jsonRecord is a line as encoding/json reads it.
type jsonRecord struct {
	ID        *string `json:"id,omitempty"`
	IDB64     []byte  `json:"id_b64,omitempty"`
	Value     *string `json:"value,omitempty"`
	ValueB64  []byte  `json:"value_b64,omitempty"`
	TTLMillis int64   `json:"ttl_ms,omitempty"`
	ExpiresAt int64   `json:"expires_at_ms,omitempty"`
	// Persistent, false or absent, says the same to encoding/json; the
	// fast parser takes true only.
	Persistent bool `json:"persistent,omitempty"`
}

// parseRecordStd is parseRecord by encoding/json: the reference that
// FuzzParseRecord holds the fast parser to.
func parseRecordStd(b []byte) (*line, error) {
	var rec jsonRecord
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&rec); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, errors.New("data after the entry")
	}
	l := &line{ttlMillis: rec.TTLMillis, expiresAt: rec.ExpiresAt, persistent: rec.Persistent}
	switch {
	case rec.ID != nil && rec.IDB64 == nil:
		l.id = []byte(*rec.ID)
	case rec.ID == nil && rec.IDB64 != nil:
		l.id = rec.IDB64
	default:
		return nil, errors.New("needs exactly one of id and id_b64")
	}
	switch {
	case rec.Value != nil && rec.ValueB64 == nil:
		l.value = []byte(*rec.Value)
	case rec.Value == nil && rec.ValueB64 != nil:
		l.value = rec.ValueB64
	default:
		return nil, errors.New("needs exactly one of value and value_b64")
	}
	if l.ttlMillis < 0 || l.expiresAt < 0 {
		return nil, errors.New("negative time to live")
	}
	if l.persistent && (l.ttlMillis != 0 || l.expiresAt != 0) {
		return nil, errors.New("persistent, with a time to live")
	}
	return l, nil
}

// FuzzParseRecord: whatever the fast parser accepts, encoding/json accepts
// too and decodes to the same record; whatever encoding/json refuses, the
// fast parser refuses. It never panics.
func FuzzParseRecord(f *testing.F) {
	now := time.UnixMilli(1_800_000_000_000)
	for _, line := range [][]byte{
		appendRecord(nil, []byte("doc-1"), []byte(`{"content": "a \"quoted\" line\nand more"}`), false, expiry{ttl: time.Hour, readAt: now}),
		appendRecord(nil, []byte{0xff, 0}, []byte{1, 2, 3}, true, expiry{}),
		appendRecord(nil, []byte("日本語 🧠"), []byte("\u2028\x00\x1f"), false, expiry{ttl: time.Millisecond, readAt: now}),
		appendRecord(nil, []byte("kept"), []byte(`{}`), false, expiry{persistent: true}),
		appendRecord(nil, []byte{0xfe}, []byte{0, 0x0c, 0}, true, expiry{persistent: true}),
		[]byte(`{"id":"a","value":"b","persistent":false}`),
		[]byte(`{"id":"a","value":"b","persistent":true,"ttl_ms":5,"expires_at_ms":6}`),
		[]byte(`{"id":"a","value":"b","persistent":true,"expires_at_ms":0}`),
		[]byte(`{"id":"a","value":"b","persistent":truex}`),
		[]byte(`{"id":"a","value":"b","persistent":1}`),
		[]byte(`{"persistent" : true , "id":"a","value":"b"}`),
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
	f.Fuzz(func(t *testing.T, b []byte) {
		fast, err := parseRecord(b)
		std, stdErr := parseRecordStd(b)
		if err != nil {
			return // stricter than encoding/json is allowed
		}
		if stdErr != nil {
			t.Fatalf("fast parser accepted %q, encoding/json refuses: %v", b, stdErr)
		}
		if diff := cmp.Diff(std, fast, cmp.AllowUnexported(line{}), cmpopts.EquateEmpty()); diff != "" {
			t.Fatalf("%q decodes differently (-encoding/json +fast):\n%s", b, diff)
		}
	})
}

// FuzzRecordRoundTrip: every id and value, text or binary, comes back from
// its line byte for byte, with its time to live: ttlMillis > 0 expires,
// -1 stands for persistent, 0 for nothing known.
func FuzzRecordRoundTrip(f *testing.F) {
	f.Add([]byte("doc-1"), []byte(`{"a":1}`), false, int64(3600_000))
	f.Add([]byte{0xff}, []byte{}, true, int64(0))
	f.Add([]byte("\x00\n\""), []byte("\\u0041 \u2028"), false, int64(1))
	f.Add([]byte("kept"), []byte(`{}`), false, int64(-1))
	f.Add([]byte{0x80}, []byte{0, 1}, true, int64(-1))
	f.Fuzz(func(t *testing.T, id, value []byte, binary bool, ttlMillis int64) {
		if ttlMillis < -1 || ttlMillis > 1<<40 {
			return
		}
		now := time.UnixMilli(1_800_000_000_000)
		exp := expiry{readAt: now, persistent: ttlMillis == -1}
		if ttlMillis > 0 {
			exp.ttl = time.Duration(ttlMillis) * time.Millisecond
		}
		b := appendRecord(nil, id, value, binary, exp)
		l, err := parseRecord(b)
		if err != nil {
			t.Fatalf("%q: %v", b, err)
		}
		if !bytes.Equal(l.id, id) || !bytes.Equal(l.value, value) {
			t.Fatalf("%q: id %q value %q, want %q %q", b, l.id, l.value, id, value)
		}
		for _, mode := range []TTLMode{TTLRelative, TTLAbsolute} {
			ent, live := l.entry(mode, now)
			want := Entry{ID: string(id), Value: value, TTL: exp.ttl, Persistent: exp.persistent}
			if diff := cmp.Diff(want, ent, cmpopts.EquateEmpty()); diff != "" || !live {
				t.Fatalf("%q, mode %d: live %v, entry (-want +got):\n%s", b, mode, live, diff)
			}
		}
		if _, err := parseRecordStd(b); err != nil {
			t.Fatalf("encoding/json refuses our own line %q: %v", b, err)
		}
	})
}

// TestRecordExpiry: what the three kinds of record mean to a restore, old
// records included.
func TestRecordExpiry(t *testing.T) {
	now := time.UnixMilli(1_800_000_000_000)
	for _, tt := range []struct {
		line string
		want Entry
	}{
		{`{"id":"a","value":"v"}`, Entry{ID: "a", Value: []byte("v")}},
		{`{"id":"a","value":"v","persistent":true}`, Entry{ID: "a", Value: []byte("v"), Persistent: true}},
		{`{"id":"a","value":"v","ttl_ms":5000,"expires_at_ms":1800000003000}`, Entry{ID: "a", Value: []byte("v"), TTL: 5 * time.Second}},
	} {
		l, err := parseRecord([]byte(tt.line))
		if err != nil {
			t.Fatalf("%s: %v", tt.line, err)
		}
		got, _ := l.entry(TTLRelative, now)
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tt.line, diff)
		}
	}
	l, _ := parseRecord([]byte(`{"id":"a","value":"v","ttl_ms":5000,"expires_at_ms":1800000003000}`))
	if got, live := l.entry(TTLAbsolute, now); got.TTL != 3*time.Second || !live {
		t.Errorf("absolute: %v %v", got, live)
	}
	for _, bad := range []string{
		`{"id":"a","value":"v","persistent":true,"ttl_ms":1,"expires_at_ms":2}`,
		`{"id":"a","value":"v","persistent":false}`,
	} {
		if _, err := parseRecord([]byte(bad)); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}
