package pyjson

import (
	"bytes"
	"encoding/json"
	"testing"
)

// FuzzEachMember holds the member reader to encoding/json: whatever it accepts
// is a JSON object whose entries it reports exactly.
func FuzzEachMember(f *testing.F) {
	for _, s := range []string{`{}`, `{"a": 1}`, `{"a": {"b": [1, "x", null]}, "c": "\u00e9"}`, `[1]`, `{"a": 1} x`, `{"a"}`, `{"a": 1, "a": 2}`, ` {"k": "v"} `} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		got := map[string]string{}
		dups := false
		err := EachMember(bytes.NewReader(data), func(k string, v json.RawMessage) error {
			if _, ok := got[k]; ok {
				dups = true
			}
			got[k] = string(v)
			return nil
		})
		var want map[string]json.RawMessage
		werr := json.Unmarshal(data, &want)
		if err != nil {
			return // refusing more than encoding/json is allowed (e.g. a null object)
		}
		if werr != nil {
			t.Fatalf("EachMember accepted %q, encoding/json says %v", data, werr)
		}
		if dups {
			return
		}
		for k, v := range want {
			if got[k] != string(v) {
				t.Fatalf("key %q: got %s, encoding/json %s", k, got[k], v)
			}
		}
		if len(got) != len(want) {
			t.Fatalf("%d entries, encoding/json %d", len(got), len(want))
		}
	})
}
