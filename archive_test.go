package ngbak_test

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/ngbak/ngbak"
)

// An archive built by hand, well formed until a test changes it.
type spec struct {
	entries []entry // the payload
	sums    []byte  // nil: computed from entries
	man     *ngbak.Manifest
	manJSON []byte  // nil: man, marshalled
	after   []entry // entries after the manifest
	tarTail []byte  // bytes after the tar end, inside the zstd stream
	rawTail []byte  // bytes after the zstd stream
	noEnd   bool    // leave out SHA256SUMS and the manifest
}

type entry struct {
	hdr  tar.Header
	body io.Reader
	data []byte // the body when small
}

func file(name string, data string) entry {
	return entry{hdr: tar.Header{Typeflag: tar.TypeReg, Name: name, Size: int64(len(data)), Mode: 0o644}, data: []byte(data)}
}

func hexSum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// goodSpec returns a well-formed archive of one backend, "mem", with two files.
func goodSpec() *spec {
	s := &spec{entries: []entry{file("mem/records.jsonl", `["a","1"]`+"\n"), file("mem/other", "second file")}}
	var files []ngbak.File
	for _, e := range s.entries {
		files = append(files, ngbak.File{Path: e.hdr.Name, Size: e.hdr.Size, SHA256: hexSum(e.data)})
	}
	s.man = &ngbak.Manifest{
		Format: ngbak.Format, ID: "20261121T120000.000Z-abcdef", CreatedAt: time.Unix(1e9, 0).UTC(), CompletedAt: time.Unix(1e9, 0).UTC(),
		Library: ngbak.Version, Compression: "zstd",
		Backends: []ngbak.Backend{{Name: "mem", Kind: "mem", Format: "mem/1", Files: files}},
	}
	return s
}

func sumsOf(files []ngbak.File) []byte {
	sorted := append([]ngbak.File(nil), files...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Path < sorted[j].Path })
	var b bytes.Buffer
	for _, f := range sorted {
		fmt.Fprintf(&b, "%s  %s\n", f.SHA256, f.Path)
	}
	return b.Bytes()
}

func (s *spec) build(t testing.TB) []byte {
	t.Helper()
	var out bytes.Buffer
	zw, err := zstd.NewWriter(&out)
	if err != nil {
		t.Fatal(err)
	}
	tw := tar.NewWriter(zw)
	write := func(e entry) {
		hdr := e.hdr
		if err := tw.WriteHeader(&hdr); err != nil {
			t.Fatal(err)
		}
		body := e.body
		if body == nil {
			body = bytes.NewReader(e.data)
		}
		if _, err := io.Copy(tw, body); err != nil {
			t.Fatal(err)
		}
	}
	for _, e := range s.entries {
		write(e)
	}
	if !s.noEnd {
		var files []ngbak.File
		for _, b := range s.man.Backends {
			files = append(files, b.Files...)
		}
		sums := s.sums
		if sums == nil {
			sums = sumsOf(files)
		}
		if s.man.PayloadSHA256 == "" {
			s.man.PayloadSHA256 = hexSum(sumsOf(files))
		}
		manJSON := s.manJSON
		if manJSON == nil {
			if manJSON, err = json.MarshalIndent(s.man, "", "  "); err != nil {
				t.Fatal(err)
			}
		}
		write(file("SHA256SUMS", string(sums)))
		write(file("manifest.json", string(manJSON)))
	}
	for _, e := range s.after {
		write(e)
	}
	// Close writes the end marker; Flush would not.
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	zw.Write(s.tarTail)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return append(out.Bytes(), s.rawTail...)
}

func TestGoodSpecImports(t *testing.T) {
	env := newEnv(t, ngbak.Options{}, newMem("mem", nil))
	man, err := env.m.Import(context.Background(), bytes.NewReader(goodSpec().build(t)))
	if err != nil {
		t.Fatalf("the well-formed hand-built archive is refused: %v", err)
	}
	if err := env.m.Verify(context.Background(), man.ID); err != nil {
		t.Fatal(err)
	}
}

// Guarantee 7: reading an archive from outside is safe. Every case must
// fail with a clear error, and leave no backup and no temporary file.
func TestHostileArchives(t *testing.T) {
	one := func(name string, typ byte, mutate func(*tar.Header)) func(*spec) {
		return func(s *spec) {
			e := file(name, "x")
			e.hdr.Typeflag = typ
			if mutate != nil {
				mutate(&e.hdr)
			}
			if typ != tar.TypeReg {
				e.hdr.Size, e.data = 0, nil
			}
			s.entries = append([]entry{e}, s.entries...)
		}
	}
	manifest := func(f func(m *ngbak.Manifest)) func(*spec) { return func(s *spec) { f(s.man) } }
	cases := []struct {
		name   string
		mutate func(*spec)
		limits ngbak.Limits
		want   error
	}{
		{"path traversal", one("../evil", tar.TypeReg, nil), ngbak.Limits{}, ngbak.ErrCorrupt},
		{"path traversal inside", one("mem/../../evil", tar.TypeReg, nil), ngbak.Limits{}, ngbak.ErrCorrupt},
		{"absolute path", one("/etc/cron.d/evil", tar.TypeReg, nil), ngbak.Limits{}, ngbak.ErrCorrupt},
		{"backslash path", one(`mem\..\evil`, tar.TypeReg, nil), ngbak.Limits{}, ngbak.ErrCorrupt},
		{"symlink", one("mem/link", tar.TypeSymlink, func(h *tar.Header) { h.Linkname = "/etc/passwd" }), ngbak.Limits{}, ngbak.ErrCorrupt},
		{"hard link", one("mem/link", tar.TypeLink, func(h *tar.Header) { h.Linkname = "mem/other" }), ngbak.Limits{}, ngbak.ErrCorrupt},
		{"char device", one("mem/dev", tar.TypeChar, func(h *tar.Header) { h.Devmajor, h.Devminor = 1, 3 }), ngbak.Limits{}, ngbak.ErrCorrupt},
		{"block device", one("mem/dev", tar.TypeBlock, nil), ngbak.Limits{}, ngbak.ErrCorrupt},
		{"fifo", one("mem/fifo", tar.TypeFifo, nil), ngbak.Limits{}, ngbak.ErrCorrupt},
		{"directory", one("mem/dir", tar.TypeDir, nil), ngbak.Limits{}, ngbak.ErrCorrupt},
		{"duplicate entry", func(s *spec) { s.entries = append(s.entries, s.entries[0]) }, ngbak.Limits{}, ngbak.ErrCorrupt},
		{"oversize entry", func(s *spec) {
			s.entries = append(s.entries, entry{hdr: tar.Header{Typeflag: tar.TypeReg, Name: "mem/big", Size: 2 << 20, Mode: 0o644}, body: &zeroReader{2 << 20}})
		}, ngbak.Limits{MaxEntrySize: 1 << 20}, ngbak.ErrCorrupt},
		{"zstd bomb", func(s *spec) {
			for i := range 8 {
				s.entries = append(s.entries, entry{hdr: tar.Header{Typeflag: tar.TypeReg, Name: fmt.Sprintf("mem/zeros%d", i), Size: 4 << 20, Mode: 0o644}, body: &zeroReader{4 << 20}})
			}
		}, ngbak.Limits{MaxTotalSize: 16 << 20}, ngbak.ErrCorrupt},
		{"too many entries", func(s *spec) {
			for i := range 20 {
				s.entries = append(s.entries, file(fmt.Sprintf("mem/f%d", i), "x"))
			}
		}, ngbak.Limits{MaxEntries: 10}, ngbak.ErrCorrupt},
		{"no manifest", func(s *spec) { s.noEnd = true }, ngbak.Limits{}, ngbak.ErrCorrupt},
		{"entries after the manifest", func(s *spec) { s.after = []entry{file("mem/late", "late")} }, ngbak.Limits{}, ngbak.ErrCorrupt},
		{"data after the tar end", func(s *spec) { s.tarTail = []byte("hidden") }, ngbak.Limits{}, ngbak.ErrCorrupt},
		{"data after the zstd stream", func(s *spec) { s.rawTail = []byte("garbage") }, ngbak.Limits{}, ngbak.ErrCorrupt},
		{"file outside its backend folder", func(s *spec) {
			s.entries[1].hdr.Name = "other/other"
			s.man.Backends[0].Files[1].Path = "other/other"
		}, ngbak.Limits{}, ngbak.ErrCorrupt},
		{"manifest lies about a size", manifest(func(m *ngbak.Manifest) { m.Backends[0].Files[0].Size++ }), ngbak.Limits{}, ngbak.ErrChecksum},
		{"manifest lies about a hash", manifest(func(m *ngbak.Manifest) { m.Backends[0].Files[0].SHA256 = strings.Repeat("0", 64) }), ngbak.Limits{}, ngbak.ErrChecksum},
		{"manifest omits a file", manifest(func(m *ngbak.Manifest) { m.Backends[0].Files = m.Backends[0].Files[:1] }), ngbak.Limits{}, ngbak.ErrChecksum},
		{"manifest lists a missing file", manifest(func(m *ngbak.Manifest) {
			m.Backends[0].Files = append(m.Backends[0].Files, ngbak.File{Path: "mem/ghost", Size: 1, SHA256: strings.Repeat("a", 64)})
		}), ngbak.Limits{}, ngbak.ErrChecksum},
		{"manifest lies about the payload", manifest(func(m *ngbak.Manifest) { m.PayloadSHA256 = strings.Repeat("b", 64) }), ngbak.Limits{}, ngbak.ErrChecksum},
		{"SHA256SUMS lies", func(s *spec) { s.sums = []byte(strings.Repeat("c", 64) + "  mem/other\n") }, ngbak.Limits{}, ngbak.ErrChecksum},
		{"manifest id is a path", manifest(func(m *ngbak.Manifest) { m.ID = "../../etc/passwd" }), ngbak.Limits{}, ngbak.ErrCorrupt},
		{"manifest of a future format", manifest(func(m *ngbak.Manifest) { m.Format = "ngbak/2" }), ngbak.Limits{}, ngbak.ErrIncompatible},
		{"manifest not JSON", func(s *spec) { s.manJSON = []byte("{\"format\": \"ngbak/1\", ") }, ngbak.Limits{}, ngbak.ErrCorrupt},
		{"manifest with unknown fields", func(s *spec) {
			b, _ := json.Marshal(s.man)
			s.manJSON = append(b[:len(b)-1], `,"surprise":1}`...)
		}, ngbak.Limits{}, ngbak.ErrCorrupt},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := goodSpec()
			c.mutate(s)
			env := newEnv(t, ngbak.Options{Limits: c.limits}, newMem("mem", nil))
			_, err := env.m.Import(context.Background(), bytes.NewReader(s.build(t)))
			if !errors.Is(err, c.want) {
				t.Fatalf("Import = %v, want %v", err, c.want)
			}
			if got := files(t, env.dir); len(got) != 0 {
				t.Errorf("a refused import left %v in storage", got)
			}
			if got := files(t, env.tempDir); len(got) != 0 {
				t.Errorf("a refused import left temp files %v", got)
			}
		})
	}
}

// A zstd frame that asks for a window larger than Limits.MaxWindow is
// refused before the decoder allocates it. The frame is made by hand: a
// header with a 1 GiB window and no content size, then the tar stream as
// raw blocks (RFC 8878, sections 3.1.1.1 and 3.1.1.2).
func TestZstdWindowLimit(t *testing.T) {
	zr, err := zstd.NewReader(bytes.NewReader(goodSpec().build(t)))
	if err != nil {
		t.Fatal(err)
	}
	plain, err := io.ReadAll(zr)
	zr.Close()
	if err != nil {
		t.Fatal(err)
	}
	frame := []byte{0x28, 0xb5, 0x2f, 0xfd, 0x00, 20 << 3}
	for len(plain) > 0 {
		n := min(len(plain), 100<<10)
		hdr := uint32(n) << 3 // raw block
		if n == len(plain) {
			hdr |= 1 // last block
		}
		frame = append(frame, byte(hdr), byte(hdr>>8), byte(hdr>>16))
		frame = append(frame, plain[:n]...)
		plain = plain[n:]
	}
	// The hand-made frame is valid: with the default limit it imports.
	env := newEnv(t, ngbak.Options{Limits: ngbak.Limits{MaxWindow: 2 << 30}}, newMem("mem", nil))
	if _, err := env.m.Import(context.Background(), bytes.NewReader(frame)); err != nil {
		t.Fatalf("hand-made frame refused under a 2 GiB window limit: %v", err)
	}
	env = newEnv(t, ngbak.Options{}, newMem("mem", nil))
	if _, err := env.m.Import(context.Background(), bytes.NewReader(frame)); !errors.Is(err, ngbak.ErrCorrupt) {
		t.Fatalf("Import of a 1 GiB-window frame = %v, want ErrCorrupt", err)
	} else {
		t.Logf("refused: %v", err)
	}
}

// Damaged bytes and truncation of a real archive.
func TestDamagedArchives(t *testing.T) {
	ctx := context.Background()
	src := newEnv(t, ngbak.Options{}, newJSON(t, workdir(t)), &streamExporter{size: 1 << 20})
	man := src.create(t)
	good := mustRead(t, src.archivePath(man.ID))
	cases := map[string][]byte{
		"empty":            {},
		"not zstd":         []byte("PK\x03\x04 this is a zip file"),
		"truncated header": good[:10],
		"truncated half":   good[:len(good)/2],
		"truncated end":    good[:len(good)-1],
	}
	for i := 0; i < len(good); i += len(good)/7 + 1 {
		cases[fmt.Sprintf("flipped byte %d", i)] = flipped(good, i)
	}
	for name, data := range cases {
		t.Run(name, func(t *testing.T) {
			env := newEnv(t, ngbak.Options{}, newMem("mem", nil))
			_, err := env.m.Import(ctx, bytes.NewReader(data))
			if !errors.Is(err, ngbak.ErrCorrupt) && !errors.Is(err, ngbak.ErrChecksum) {
				t.Fatalf("Import = %v", err)
			}
			if got := files(t, env.dir); len(got) != 0 {
				t.Errorf("left %v", got)
			}
			// The same damage to the stored archive: Verify names the sidecar
			// mismatch.
			if len(data) == 0 {
				return
			}
			if err := os.WriteFile(src.archivePath(man.ID), data, 0o644); err != nil {
				t.Fatal(err)
			}
			defer os.WriteFile(src.archivePath(man.ID), good, 0o644)
			err = src.m.Verify(ctx, man.ID)
			if !errors.Is(err, ngbak.ErrChecksum) || !strings.Contains(err.Error(), ".ngbak.sha256 says") {
				t.Fatalf("Verify = %v, want ErrChecksum naming the sidecar", err)
			}
		})
	}
}

func flipped(b []byte, i int) []byte {
	c := bytes.Clone(b)
	c[i] ^= 0x40
	return c
}

// The stored sidecars are checked too: a manifest edited after the backup,
// and a .sha256 that does not fit.
func TestTamperedSidecars(t *testing.T) {
	ctx := context.Background()
	env := newEnv(t, ngbak.Options{}, newMem("mem", map[string]string{"a": "1"}))
	man := env.create(t)
	mpath := filepath.Join(env.dir, man.ID+".manifest.json")
	spath := filepath.Join(env.dir, man.ID+".ngbak.sha256")
	origM, origS := mustRead(t, mpath), mustRead(t, spath)
	// A sidecar in the older form, with the file list, whose size is edited.
	full, err := json.MarshalIndent(man, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	edits := []struct {
		name string
		path string
		data []byte
		want error
	}{
		{"manifest stats edited", mpath, bytes.Replace(origM, []byte(`"records": 1`), []byte(`"records": 9`), 1), ngbak.ErrCorrupt},
		{"manifest labels added", mpath, bytes.Replace(origM, []byte(`"format": "ngbak/1",`), []byte(`"format": "ngbak/1", "labels": {"x": "y"},`), 1), ngbak.ErrCorrupt},
		{"manifest size edited", mpath, bytes.Replace(append(full, '\n'), []byte(`"size": `), []byte(`"size": 1`), 1), ngbak.ErrCorrupt},
		{"manifest of another backup", mpath, bytes.Replace(origM, []byte(man.ID), []byte("20000101T000000.000Z-000000"), 1), ngbak.ErrCorrupt},
		{"sum edited", spath, []byte(strings.Repeat("0", 64) + "  " + man.ID + ".ngbak\n"), ngbak.ErrChecksum},
		{"sum names another file", spath, bytes.Replace(origS, []byte(man.ID), []byte("other"), 1), ngbak.ErrCorrupt},
		{"sum garbage", spath, []byte("garbage"), ngbak.ErrCorrupt},
	}
	for _, e := range edits {
		t.Run(e.name, func(t *testing.T) {
			if bytes.Equal(e.data, origM) || bytes.Equal(e.data, origS) {
				t.Fatal("the edit changed nothing")
			}
			os.WriteFile(e.path, e.data, 0o644)
			defer func() { os.WriteFile(mpath, origM, 0o644); os.WriteFile(spath, origS, 0o644) }()
			if err := env.m.Verify(ctx, man.ID); !errors.Is(err, e.want) {
				t.Fatalf("Verify = %v, want %v", err, e.want)
			}
			if _, err := env.m.Restore(ctx, man.ID, nil); !errors.Is(err, e.want) {
				t.Fatalf("Restore = %v, want %v", err, e.want)
			}
		})
	}
	if err := env.m.Verify(ctx, man.ID); err != nil {
		t.Fatalf("Verify after repair: %v", err)
	}
}
