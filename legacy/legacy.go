// Package legacy reads the archives of the Python system ngbak replaces
// (nano-graphrag's NGRAF-023 backups, see ../shared/reference/python-ngbak.md),
// verifies them with that system's own checksum, and converts them into
// ngbak/1 backups (Convert) that are then listed, verified and restored like
// any other.
//
// An old archive, <backup_id>.ngbak, is a tar.gz whose members carry a "./"
// prefix, with directory entries: manifest.json, config/graphrag_config.json,
// graph/neo4j.dump (an APOC cypher-shell script), qdrant/<collection>.snapshot
// and kv/<namespace>.json. Its checksum is one SHA-256 over every regular
// file in Python's sorted(Path.rglob("*")) order (component by component:
// "a/b" sorts before "a.json"), feeding for each the UTF-8 relative path and
// then the bytes, with no separator, the manifest in its form without the
// "checksum" key as Python's json.dumps(indent=2) writes it.
//
// Verify and Convert read an archive as a stream with the same care as
// ngbak's own reader (no path escapes, regular files and directories only,
// no duplicates, bounded sizes); they hold in memory only the manifest and
// the list of files, and spool the files' contents to a temporary file,
// since the checksum's order is known only once every name has been seen.
// A mismatch is an error unless the caller accepts an unverified
// conversion, and the new backup's labels record which checks passed.
package legacy

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"sort"
	"strconv"
	"strings"
	"unicode/utf16"

	"github.com/ngbak/ngbak"
)

// Result tells which checks an old archive passed.
type Result struct {
	// BackupID is the manifest's backup_id.
	BackupID string
	// Manifest is the old manifest, fields in file order.
	Manifest json.RawMessage
	// Files are the archive's regular files, in checksum order.
	Files []string
	// Checksum is what the old algorithm computes ("sha256:<hex>").
	Checksum string
	// ManifestChecksum is the manifest's own "checksum" field.
	ManifestChecksum string
	// ManifestOK: Checksum equals ManifestChecksum.
	ManifestOK bool
	// SidecarChecked and SidecarOK: the <id>.checksum file was given, and
	// matches.
	SidecarChecked, SidecarOK bool
	sidecar                   string
}

// Limits bound what reading an old archive may cost.
type Limits struct {
	MaxEntries   int   // default 100000
	MaxEntrySize int64 // default 1 TiB
	MaxTotalSize int64 // default 4 TiB
}

// Verify reads an old archive from r and computes its checksum. The file
// contents are spooled to a temporary file in tempDir (empty: the system's)
// so that they can be hashed in the old order, then removed. sidecar, if
// not nil, is the content of <id>.checksum. A mismatch is an error wrapping
// ngbak.ErrChecksum, with the Result telling what passed.
func Verify(ctx context.Context, r io.Reader, sidecar []byte, tempDir string, limits Limits) (*Result, error) {
	a, err := open(ctx, r, sidecar, tempDir, limits)
	if err != nil {
		return nil, err
	}
	if err := a.close(); err != nil {
		return &a.Result, err
	}
	return &a.Result, a.mismatch()
}

// archive is an old archive read and hashed, its files kept in a spool
// file until close.
type archive struct {
	Result
	spool *os.File
	files map[string]*io.SectionReader
}

// close removes the spool file; a failure is reported, since it leaves a
// copy of the archive's contents behind.
func (a *archive) close() error {
	a.spool.Close()
	if err := os.Remove(a.spool.Name()); err != nil {
		return fmt.Errorf("legacy: removing the spool file: %w", err)
	}
	return nil
}

// mismatch is the error for the checks that failed, or nil.
func (a *archive) mismatch() error {
	res := &a.Result
	switch {
	case !res.ManifestOK:
		return fmt.Errorf("%w: legacy archive %s: computed %s, manifest says %q", ngbak.ErrChecksum, res.BackupID, res.Checksum, res.ManifestChecksum)
	case res.SidecarChecked && !res.SidecarOK:
		return fmt.Errorf("%w: legacy archive %s: computed %s, the .checksum file says %q", ngbak.ErrChecksum, res.BackupID, res.Checksum, res.sidecar)
	}
	return nil
}

// open reads an old archive into a spool file and computes its checksum; a
// mismatch is recorded in the Result, not returned.
func open(ctx context.Context, r io.Reader, sidecar []byte, tempDir string, limits Limits) (_ *archive, err error) {
	if limits.MaxEntries <= 0 {
		limits.MaxEntries = 100000
	}
	if limits.MaxEntrySize <= 0 {
		limits.MaxEntrySize = 1 << 40
	}
	if limits.MaxTotalSize <= 0 {
		limits.MaxTotalSize = 4 << 40
	}
	zr, err := gzip.NewReader(r)
	if err != nil {
		return nil, fmt.Errorf("%w: legacy archive: %v", ngbak.ErrCorrupt, err)
	}
	spool, err := os.CreateTemp(tempDir, "ngbak-legacy-*")
	if err != nil {
		return nil, err
	}
	a := &archive{spool: spool, files: map[string]*io.SectionReader{}}
	defer func() {
		if err != nil {
			err = errors.Join(err, a.close())
		}
	}()
	type entry struct {
		name      string
		off, size int64
	}
	var entries []entry
	seen := map[string]bool{}
	var manifest []byte
	var total int64
	tr := tar.NewReader(zr)
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%w: legacy archive: %v", ngbak.ErrCorrupt, err)
		}
		name := strings.TrimPrefix(hdr.Name, "./")
		name = strings.TrimSuffix(name, "/")
		if name == "" || name == "." {
			continue // the root directory entry
		}
		if name != path.Clean(name) || strings.HasPrefix(name, "/") || strings.HasPrefix(name, "../") || name == ".." || strings.ContainsAny(name, "\\\x00") {
			return nil, fmt.Errorf("%w: legacy archive: unsafe member name %q", ngbak.ErrCorrupt, hdr.Name)
		}
		if seen[name] {
			return nil, fmt.Errorf("%w: legacy archive: member %q appears twice", ngbak.ErrCorrupt, name)
		}
		seen[name] = true
		if len(seen) > limits.MaxEntries {
			return nil, fmt.Errorf("%w: legacy archive: more than %d members", ngbak.ErrCorrupt, limits.MaxEntries)
		}
		switch hdr.Typeflag {
		case tar.TypeDir:
			continue
		case tar.TypeReg:
		default:
			return nil, fmt.Errorf("%w: legacy archive: member %q is not a regular file or directory", ngbak.ErrCorrupt, name)
		}
		if hdr.Size < 0 || hdr.Size > limits.MaxEntrySize {
			return nil, fmt.Errorf("%w: legacy archive: member %q is %d bytes", ngbak.ErrCorrupt, name, hdr.Size)
		}
		if total += hdr.Size; total > limits.MaxTotalSize {
			return nil, fmt.Errorf("%w: legacy archive: more than %d bytes", ngbak.ErrCorrupt, limits.MaxTotalSize)
		}
		if name == "manifest.json" {
			if hdr.Size > 64<<20 {
				return nil, fmt.Errorf("%w: legacy archive: manifest of %d bytes", ngbak.ErrCorrupt, hdr.Size)
			}
			if manifest, err = io.ReadAll(tr); err != nil {
				return nil, fmt.Errorf("%w: legacy archive: %v", ngbak.ErrCorrupt, err)
			}
			entries = append(entries, entry{name: name, off: -1})
			continue
		}
		off, _ := spool.Seek(0, io.SeekCurrent)
		n, err := io.Copy(spool, tr)
		if err != nil {
			return nil, fmt.Errorf("%w: legacy archive: %s: %v", ngbak.ErrCorrupt, name, err)
		}
		entries = append(entries, entry{name: name, off: off, size: n})
	}
	if manifest == nil {
		return nil, fmt.Errorf("%w: legacy archive: no manifest.json", ngbak.ErrCorrupt)
	}
	fields, err := decodeOrdered(manifest)
	if err != nil {
		return nil, fmt.Errorf("%w: legacy archive: manifest.json: %v", ngbak.ErrCorrupt, err)
	}
	res := &a.Result
	res.Manifest = manifest
	var hashed []byte // the manifest as the old code hashed it
	obj := fields.(*object)
	for i, k := range obj.keys {
		switch k {
		case "checksum":
			res.ManifestChecksum, _ = obj.values[i].(string)
		case "backup_id":
			res.BackupID, _ = obj.values[i].(string)
		}
	}
	hashed = pythonDumps(obj.without("checksum"))

	sort.Slice(entries, func(i, j int) bool { return pythonPathLess(entries[i].name, entries[j].name) })
	h := sha256.New()
	for _, e := range entries {
		res.Files = append(res.Files, e.name)
		h.Write([]byte(e.name))
		if e.off < 0 {
			h.Write(hashed)
			continue
		}
		a.files[e.name] = io.NewSectionReader(spool, e.off, e.size)
		if _, err := io.Copy(h, io.NewSectionReader(spool, e.off, e.size)); err != nil {
			return nil, err
		}
	}
	res.Checksum = "sha256:" + hex.EncodeToString(h.Sum(nil))
	res.ManifestOK = res.Checksum == res.ManifestChecksum
	if sidecar != nil {
		res.SidecarChecked = true
		res.sidecar = strings.TrimSpace(string(sidecar))
		res.SidecarOK = res.sidecar == res.Checksum
	}
	return a, nil
}

// pythonPathLess orders relative paths as Python's sorted() orders Path
// objects: by their components, each compared by code point.
func pythonPathLess(a, b string) bool {
	pa, pb := strings.Split(a, "/"), strings.Split(b, "/")
	for i := 0; i < len(pa) && i < len(pb); i++ {
		if pa[i] != pb[i] {
			return lessCodePoints(pa[i], pb[i])
		}
	}
	return len(pa) < len(pb)
}

// lessCodePoints compares by Unicode code point, as Python compares str
// (Go's < on valid UTF-8 gives the same order).
func lessCodePoints(a, b string) bool { return a < b }

// object is a JSON object with its keys in file order.
type object struct {
	keys   []string
	values []any
}

func (o *object) without(key string) *object {
	out := &object{}
	for i, k := range o.keys {
		if k != key {
			out.keys = append(out.keys, k)
			out.values = append(out.values, o.values[i])
		}
	}
	return out
}

// decodeOrdered decodes JSON keeping object key order and number text.
func decodeOrdered(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	v, err := decodeValue(dec, 0)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("data after the manifest")
	}
	if _, ok := v.(*object); !ok {
		return nil, errors.New("not a JSON object")
	}
	return v, nil
}

// maxNesting bounds how deep objects and arrays nest in a manifest. The
// old system's are three deep; Python's own json module gives up near a
// thousand. Without a bound, "[[[[..." takes the decoder down the stack
// until the process dies.
const maxNesting = 100

func decodeValue(dec *json.Decoder, depth int) (any, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch t := tok.(type) {
	case json.Delim:
		if depth >= maxNesting {
			return nil, fmt.Errorf("objects and arrays nested more than %d deep", maxNesting)
		}
		switch t {
		case '{':
			o := &object{}
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return nil, err
				}
				k, _ := kt.(string)
				v, err := decodeValue(dec, depth+1)
				if err != nil {
					return nil, err
				}
				o.keys, o.values = append(o.keys, k), append(o.values, v)
			}
			_, err := dec.Token()
			return o, err
		case '[':
			list := []any{}
			for dec.More() {
				v, err := decodeValue(dec, depth+1)
				if err != nil {
					return nil, err
				}
				list = append(list, v)
			}
			_, err := dec.Token()
			return list, err
		}
	}
	return tok, nil
}

// pythonDumps writes v as Python's json.dumps(v, indent=2) does: ASCII only
// (ensure_ascii), ", " and ": " separators turned into "," + newline and
// ": ", no trailing newline.
func pythonDumps(v any) []byte {
	var b bytes.Buffer
	dump(&b, v, 0)
	return b.Bytes()
}

func dump(b *bytes.Buffer, v any, depth int) {
	indent := func(d int) { b.WriteByte('\n'); b.WriteString(strings.Repeat("  ", d)) }
	switch v := v.(type) {
	case *object:
		if len(v.keys) == 0 {
			b.WriteString("{}")
			return
		}
		b.WriteByte('{')
		for i, k := range v.keys {
			if i > 0 {
				b.WriteByte(',')
			}
			indent(depth + 1)
			pyString(b, k)
			b.WriteString(": ")
			dump(b, v.values[i], depth+1)
		}
		indent(depth)
		b.WriteByte('}')
	case []any:
		if len(v) == 0 {
			b.WriteString("[]")
			return
		}
		b.WriteByte('[')
		for i, e := range v {
			if i > 0 {
				b.WriteByte(',')
			}
			indent(depth + 1)
			dump(b, e, depth+1)
		}
		indent(depth)
		b.WriteByte(']')
	case string:
		pyString(b, v)
	case json.Number:
		b.WriteString(string(v))
	case bool:
		b.WriteString(strconv.FormatBool(v))
	case nil:
		b.WriteString("null")
	}
}

// pyString writes a string as Python's json with ensure_ascii does.
func pyString(b *bytes.Buffer, s string) {
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"':
			b.WriteString(`\"`)
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\b':
			b.WriteString(`\b`)
		case r == '\f':
			b.WriteString(`\f`)
		case r < 0x20 || r > 0x7e && r < 0x10000:
			fmt.Fprintf(b, `\u%04x`, r)
		case r >= 0x10000:
			r1, r2 := utf16.EncodeRune(r)
			fmt.Fprintf(b, `\u%04x\u%04x`, r1, r2)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
}
