package legacy

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ngbak/ngbak"
)

// fixtureChecksum is what the old Python code (compute_directory_checksum,
// with the manifest hashed without its checksum key) computes for the
// fixture, run once on the fixture's files to make this test vector.
const fixtureChecksum = "sha256:6f14d7b18903f2e154980cca64456d83117f149bd02982da7c815e6f74f162fa"

type member struct {
	name string
	data string
	dir  bool
	typ  byte
}

// fixtureMembers is an old archive: the old layout, names whose order
// differs between component-wise and flat sorting (qdrant/ and
// qdrant-notes.txt), unicode names and text, binary data.
func fixtureMembers(checksum string) []member {
	manifest := `{
  "backup_id": "snapshot_2025-10-06T14-30-12Z",
  "created_at": "2025-10-06 14:30:12.953826+00:00",
  "nano_graphrag_version": "0.0.8",
  "storage_backends": {
    "graph": "neo4j",
    "vector": "qdrant",
    "kv": "redis"
  },
  "statistics": {
    "entities": 12,
    "relationships": 30,
    "communities": 3,
    "entities_vectors": 12,
    "entities_dimensions": 1536,
    "documents": 2,
    "chunks": 7,
    "reports": 3,
    "note": "caf\u00e9 \u6587\u6863 \ud83e\udde0"
  }`
	if checksum != "" {
		manifest += `,
  "checksum": "` + checksum + `"`
	}
	manifest += "\n}"
	return []member{
		{name: "./", dir: true},
		{name: "./manifest.json", data: manifest},
		{name: "./config/", dir: true},
		{name: "./config/graphrag_config.json", data: `{"neo4j_password": "hunter2"}`},
		{name: "./graph/", dir: true},
		{name: "./graph/neo4j.dump", data: ":begin\nCREATE (:A {x: 'a;b'});\n:commit\n"},
		{name: "./qdrant/", dir: true},
		{name: "./qdrant/nano_entities.snapshot", data: "\x00\x01\x02binary\xff"},
		{name: "./qdrant-notes.txt", data: "sorts after qdrant/ component-wise, before it flat"},
		{name: "./kv/", dir: true},
		{name: "./kv/full_docs.json", data: `{"doc-1": {"content": "text"}}`},
		{name: "./kv/文档.json", data: `{}`},
	}
}

func build(t testing.TB, members []member) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, m := range members {
		hdr := &tar.Header{Name: m.name, Mode: 0o644, ModTime: time.Unix(1759761012, 0), Typeflag: tar.TypeReg, Size: int64(len(m.data))}
		if m.dir {
			hdr.Typeflag, hdr.Size, hdr.Mode = tar.TypeDir, 0, 0o755
		}
		if m.typ != 0 {
			hdr.Typeflag, hdr.Size, hdr.Linkname = m.typ, 0, "/etc/passwd"
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(m.data))
	}
	tw.Close()
	zw.Close()
	return buf.Bytes()
}

func TestVerifyGood(t *testing.T) {
	arc := build(t, fixtureMembers(fixtureChecksum))
	res, err := Verify(context.Background(), bytes.NewReader(arc), []byte(fixtureChecksum), t.TempDir(), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if !res.ManifestOK || !res.SidecarChecked || !res.SidecarOK || res.BackupID != "snapshot_2025-10-06T14-30-12Z" {
		t.Fatalf("%+v", res)
	}
	want := "config/graphrag_config.json graph/neo4j.dump kv/full_docs.json kv/文档.json manifest.json qdrant/nano_entities.snapshot qdrant-notes.txt"
	if got := strings.Join(res.Files, " "); got != want {
		t.Fatalf("checksum order:\n got %s\nwant %s", got, want)
	}
	// Without a sidecar: checked against the manifest only.
	if res, err := Verify(context.Background(), bytes.NewReader(arc), nil, t.TempDir(), Limits{}); err != nil || res.SidecarChecked {
		t.Fatalf("%+v, %v", res, err)
	}
}

func TestVerifyRefuses(t *testing.T) {
	cases := map[string]func([]member) []member{
		"flipped byte": func(ms []member) []member { ms[7].data = "\x00\x01\x03binary\xff"; return ms },
		"manifest edited after hashing": func(ms []member) []member {
			ms[1].data = strings.Replace(ms[1].data, `"entities": 12`, `"entities": 13`, 1)
			return ms
		},
		"file renamed": func(ms []member) []member { ms[8].name = "./qdrant-notes2.txt"; return ms },
	}
	for name, mutate := range cases {
		arc := build(t, mutate(fixtureMembers(fixtureChecksum)))
		res, err := Verify(context.Background(), bytes.NewReader(arc), nil, t.TempDir(), Limits{})
		if !errors.Is(err, ngbak.ErrChecksum) || res == nil || res.ManifestOK {
			t.Errorf("%s: %+v, %v", name, res, err)
		}
	}
	// A wrong sidecar.
	arc := build(t, fixtureMembers(fixtureChecksum))
	if res, err := Verify(context.Background(), bytes.NewReader(arc), []byte("sha256:00"), t.TempDir(), Limits{}); !errors.Is(err, ngbak.ErrChecksum) || !res.ManifestOK || res.SidecarOK {
		t.Errorf("wrong sidecar: %+v, %v", res, err)
	}
	hostile := map[string][]member{
		"traversal":    {{name: "./../evil", data: "x"}},
		"absolute":     {{name: "/etc/evil", data: "x"}},
		"symlink":      {{name: "./link", typ: tar.TypeSymlink}},
		"duplicate":    {{name: "./a", data: "x"}, {name: "./a", data: "y"}},
		"no manifest":  {{name: "./kv/x.json", data: "{}"}},
		"bad manifest": {{name: "./manifest.json", data: "[1, 2"}},
	}
	for name, ms := range hostile {
		if _, err := Verify(context.Background(), bytes.NewReader(build(t, ms)), nil, t.TempDir(), Limits{}); !errors.Is(err, ngbak.ErrCorrupt) {
			t.Errorf("%s: %v", name, err)
		}
	}
	arc = build(t, fixtureMembers(fixtureChecksum))
	if _, err := Verify(context.Background(), bytes.NewReader(arc[:len(arc)/2]), nil, t.TempDir(), Limits{}); !errors.Is(err, ngbak.ErrCorrupt) {
		t.Errorf("truncated: %v", err)
	}
	if _, err := Verify(context.Background(), bytes.NewReader(arc), nil, t.TempDir(), Limits{MaxEntrySize: 10}); !errors.Is(err, ngbak.ErrCorrupt) {
		t.Errorf("oversize: %v", err)
	}
}

func TestPythonPathOrder(t *testing.T) {
	// Component-wise: "a/b" < "a.json" (a < a.json); flat it is the reverse.
	if !pythonPathLess("a/b", "a.json") || pythonPathLess("a.json", "a/b") {
		t.Fatal("component-wise order wrong")
	}
	if !pythonPathLess("kv", "kv/x") {
		t.Fatal("a directory's name sorts before its files")
	}
}

// FuzzVerify: the legacy reader never panics, and accepts only an archive
// whose checksum it computed.
func FuzzVerify(f *testing.F) {
	f.Add(build(f, fixtureMembers(fixtureChecksum)))
	f.Add(build(f, []member{{name: "./manifest.json", data: `{"checksum": "x"}`}}))
	// Nested past maxNesting: refused, never followed down the stack.
	f.Add(build(f, []member{{name: "./manifest.json", data: `{"checksum": ` + strings.Repeat("[", 2*maxNesting) + strings.Repeat("]", 2*maxNesting) + `}`}}))
	f.Fuzz(func(t *testing.T, data []byte) {
		res, err := Verify(context.Background(), bytes.NewReader(data), nil, t.TempDir(), Limits{MaxEntries: 64, MaxEntrySize: 1 << 20, MaxTotalSize: 4 << 20})
		if err == nil && (res == nil || !res.ManifestOK || res.Checksum != res.ManifestChecksum) {
			t.Fatalf("accepted without a matching checksum: %+v", res)
		}
	})
}
