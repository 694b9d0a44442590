package pyjson

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
)

// TestGolden compares with what Python 3.11's json module writes
// (testdata/gen.py made testdata/golden.json).
func TestGolden(t *testing.T) {
	b, err := os.ReadFile("testdata/golden.json")
	if err != nil {
		t.Fatal(err)
	}
	var cases []struct{ In, Dumps, File string }
	if err := json.Unmarshal(b, &cases); err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		for _, st := range []struct {
			s    Style
			want string
		}{{Dumps, c.Dumps}, {File, c.File}} {
			got, err := st.s.Append(nil, []byte(c.In), 0)
			if err != nil {
				t.Errorf("%.60q: %v", c.In, err)
				continue
			}
			if diff := cmp.Diff(st.want, string(got)); diff != "" {
				t.Errorf("%.60q in %+v (-python +go):\n%s", c.In, st.s, diff)
			}
		}
	}
}

// TestRefused: what Python could not have read from a UTF-8 file, or
// would not have written from it, is an error rather than replaced.
func TestRefused(t *testing.T) {
	for _, in := range []string{`"\ud800"`, `"\udc00x"`, "\"\xff\"", `[1,]`, `{"a" 1}`, `01`, `1.`, `NaN`, `"a`, "\"\x01\"", `1 2`, strings.Repeat("[", 1002) + strings.Repeat("]", 1002)} {
		if out, err := Dumps.Append(nil, []byte(in), 0); err == nil {
			t.Errorf("%.40q: no error, gave %q", in, out)
		}
	}
}

// FuzzAppend: whatever encoding/json accepts, Append accepts or refuses
// for a reason listed in TestRefused; its output means the same value,
// is ASCII in the Dumps style, and is its own encoding.
func FuzzAppend(f *testing.F) {
	for _, s := range []string{`{"a":[1,2.5,"é"],"b":{"c":null}}`, `"\ud83d\ude00"`, `1e400`, `{"a":1,"a":2}`, `-0`, `[[],{}]`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		var want any
		if json.Unmarshal([]byte(in), &want) != nil {
			return
		}
		for _, s := range []Style{Dumps, File} {
			out, err := s.Append(nil, []byte(in), 0)
			if err != nil {
				if !strings.Contains(err.Error(), "surrogate") && !strings.Contains(err.Error(), "UTF-8") && !strings.Contains(err.Error(), "nested") {
					t.Fatalf("%q: %v", in, err)
				}
				return
			}
			if s.ASCII {
				for _, c := range out {
					if c >= utf8.RuneSelf {
						t.Fatalf("%q: non-ASCII output %q", in, out)
					}
				}
			}
			again, err := s.Append(nil, out, 0)
			if err == nil && string(again) != string(out) {
				t.Fatalf("%q: not stable: %q then %q", in, out, again)
			}
			if strings.Contains(string(out), "Infinity") {
				continue
			}
			var got any
			if err := json.Unmarshal(out, &got); err != nil {
				t.Fatalf("%q: output %q is not JSON: %v", in, out, err)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Fatalf("%q -> %q changes the value:\n%s", in, out, diff)
			}
		}
	})
}
