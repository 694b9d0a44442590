package convert

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"strings"
	"testing"

	"github.com/ngbak/ngbak/internal/pyjson"
	"github.com/qdrant/go-client/qdrant"
	"google.golang.org/protobuf/encoding/protodelim"
)

// FuzzVDB feeds arbitrary bytes to the nano-vectordb reader. It must never
// panic, and what it accepts must be as many points as records, each with
// a vector of embedding_dim. The seed corpus is in testdata/fuzz/FuzzVDB.
func FuzzVDB(f *testing.F) {
	f.Add(`{"embedding_dim": 2, "data": [{"__id__": "a", "entity_name": "\"A\""}, {"__id__": "b"}], "matrix": "AACAPwAAAAAAAAAAAACAPw=="}`)
	f.Add(`{"embedding_dim": 1, "data": [], "matrix": ""}`)
	f.Fuzz(func(t *testing.T, in string) {
		e := &Exporter{opts: Options{TempDir: t.TempDir()}}
		var sp spool
		defer sp.remove()
		c, err := e.vdbToPoints(context.Background(), strings.NewReader(in), "c", &sp)
		if err != nil {
			return
		}
		dim := int(c.Info.GetConfig().GetParams().GetVectorsConfig().GetParams().GetSize())
		_, body, err := sp.finish()
		if err != nil {
			t.Fatal(err)
		}
		br := bufio.NewReader(body)
		var n int64
		for {
			p := &qdrant.PointStruct{}
			err := (protodelim.UnmarshalOptions{MaxSize: -1}).UnmarshalFrom(br, p)
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := len(p.GetVectors().GetVector().GetDense().GetData()); got != dim {
				t.Fatalf("a point with %d dimensions of %d", got, dim)
			}
			n++
		}
		if n != c.Points {
			t.Fatalf("%d points written, %d counted", n, c.Points)
		}
	})
}

// FuzzKVFile feeds arbitrary bytes to the kv_store reader: no panic, and
// every value it hands on re-encodes as json.dumps does.
func FuzzKVFile(f *testing.F) {
	f.Add(`{"doc-1": {"content": "Ölfeld"}, "doc-2": [1, 2.50, null]}`)
	f.Add(`{}`)
	f.Fuzz(func(t *testing.T, in string) {
		_ = pyjson.EachMember(strings.NewReader(in), func(id string, raw json.RawMessage) error {
			if !json.Valid(raw) {
				t.Fatalf("%q: an invalid value %q", id, raw)
			}
			_, err := pyjson.Dumps.Append(nil, raw, 0)
			return err
		})
	})
}

// TestVDBRefused: what Qdrant cannot hold as the file has it, or what is
// not nano-vectordb's file, is an error.
func TestVDBRefused(t *testing.T) {
	for in, want := range map[string]string{
		`{"embedding_dim": 1, "data": [{"__id__": "a"}], "matrix": "AAAAQA=="}`:                            "norm", // [2.0]
		`{"embedding_dim": 1, "matrix": "AACAPw==", "data": [{"__id__": "a"}]}`:                            "expected data",
		`{"embedding_dim": 1, "data": [{"__id__": "a"}], "matrix": "AACAPw==", "additional_data": {}}`:     "no place",
		`{"embedding_dim": 1, "data": [{"__id__": "a", "id": "x"}], "matrix": "AACAPw=="}`:                 "\"id\"",
		`{"embedding_dim": 1, "data": [{"__id__": "a", "n": 12345678901234567890}], "matrix": "AACAPw=="}`: "int64",
		`{"embedding_dim": 1, "data": [{"__id__": "a"}, {"__id__": "b"}], "matrix": "AACAPw=="}`:           "row 2",
		`{"embedding_dim": 1, "data": [{"__id__": "a"}], "matrix": "AACAPwAAgD8="}`:                        "after the 1 rows",
		`{"embedding_dim": 1, "data": [{"entity_name": "x"}], "matrix": "AACAPw=="}`:                       "__id__",
	} {
		e := &Exporter{opts: Options{TempDir: t.TempDir()}}
		var sp spool
		_, err := e.vdbToPoints(context.Background(), strings.NewReader(in), "c", &sp)
		sp.remove()
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want an error with %q", in, err, want)
		}
	}
}
