package convert

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/ngbak/ngbak"
	"github.com/ngbak/ngbak/internal/pyjson"
	"github.com/ngbak/ngbak/jsonexp"
	"github.com/ngbak/ngbak/redisexp"
)

// kvFile is nano-graphrag's JsonKVStorage file of namespace ns.
func kvFile(ns string) string { return "kv_store_" + ns + ".json" }

func kvNamespace(file string) (string, bool) {
	ns, ok := strings.CutPrefix(file, "kv_store_")
	if !ok || !strings.HasSuffix(ns, ".json") || strings.Contains(ns, "/") {
		return "", false
	}
	ns = strings.TrimSuffix(ns, ".json")
	return ns, ns != ""
}

func isKV(name string) bool { _, ok := kvNamespace(name); return ok }

func relPath(b *ngbak.Backend, f ngbak.File) string { return strings.TrimPrefix(f.Path, b.Name+"/") }

func (e *Exporter) checkFilesToRedis(b *ngbak.Backend) error {
	if b.Kind != jsonexp.Kind || b.Format != jsonexp.Format {
		return fmt.Errorf("a Redis KV store converts jsonexp backends (%s), not %s %s", jsonexp.Format, b.Kind, b.Format)
	}
	return e.only(b, kvNamespace, "a Redis KV store", "kv_store_<namespace>.json")
}

// filesToRedis hands the Redis exporter one part per namespace, each made
// from its kv_store_<ns>.json when the exporter asks for it.
func (e *Exporter) filesToRedis(ctx context.Context, r *ngbak.Reader) error {
	src := r.Backend()
	b := &ngbak.Backend{Name: e.Name(), Kind: redisexp.KVKind, Format: redisexp.KVFormat}
	for _, f := range src.Files {
		if ns, ok := kvNamespace(relPath(src, f)); ok {
			b.Files = append(b.Files, ngbak.File{Path: b.Name + "/" + ns + "/000001.jsonl"})
		}
	}
	var sp spool
	defer sp.remove()
	next := func() (string, int64, io.Reader, error) {
		sp.remove()
		name, _, err := r.Next()
		for err == nil && !isKV(name) {
			name, _, err = r.Next() // Options.Partial, checked before
		}
		if err != nil {
			return "", 0, nil, err
		}
		ns, _ := kvNamespace(name)
		w, err := sp.create(e.opts.TempDir)
		if err != nil {
			return "", 0, nil, err
		}
		var value, rec []byte
		err = pyjson.EachMember(r, func(id string, raw json.RawMessage) error {
			if err := ctx.Err(); err != nil {
				return err
			}
			if value, err = pyjson.Dumps.Append(value[:0], raw, 0); err != nil {
				return fmt.Errorf("value of %q: %w", id, err)
			}
			rec = redisexp.AppendRecord(rec[:0], []byte(id), value)
			_, err := w.Write(rec)
			return err
		})
		if err != nil {
			return "", 0, nil, fmt.Errorf("%s: %w", name, err)
		}
		size, body, err := sp.finish()
		return ns + "/000001.jsonl", size, body, err
	}
	return e.Exporter.Restore(ctx, ngbak.NewReader(b, next))
}

// nonKV are the files of nano-graphrag's other file stores.
var nonKV = []string{"graph_chunk_entity_relation.graphml", "vdb_entities.json", "vdb_chunks.json", "entities_hnsw.index", "entities_hnsw_metadata.pkl"}

func checkRedisToFiles(t *jsonexp.Exporter, b *ngbak.Backend) error {
	if b.Kind != redisexp.KVKind || b.Format != redisexp.KVFormat {
		return fmt.Errorf("a JSON working dir converts redisexp KV backends (%s), not %s %s", redisexp.KVFormat, b.Kind, b.Format)
	}
	for _, n := range nonKV {
		if t.Covers(n) {
			return fmt.Errorf("exporter %q also covers %s, which a KV backup does not hold, so the restore would remove it: give it Patterns [kv_store_*.json]", t.Name(), n)
		}
	}
	for _, ns := range kvNamespaces(b) {
		if !t.Covers(kvFile(ns)) {
			return fmt.Errorf("exporter %q does not cover %s", t.Name(), kvFile(ns))
		}
	}
	return nil
}

func kvNamespaces(b *ngbak.Backend) []string {
	var nss []string
	for _, f := range b.Files {
		ns, _, _ := strings.Cut(relPath(b, f), "/")
		if !slices.Contains(nss, ns) {
			nss = append(nss, ns)
		}
	}
	return nss
}

// entry is where one value, already encoded, is in the spool of values.
type entry struct {
	id     string
	off, n int64
}

// redisToFiles hands the JSON exporter one kv_store_<ns>.json per
// namespace, made from its parts when the exporter asks for it: the values
// go to a spool first, since the ids are written sorted, and only the ids
// and offsets stay in memory.
func (e *Exporter) redisToFiles(ctx context.Context, r *ngbak.Reader) error {
	src := r.Backend()
	b := &ngbak.Backend{Name: e.Name(), Kind: jsonexp.Kind, Format: jsonexp.Format}
	for _, ns := range kvNamespaces(src) {
		b.Files = append(b.Files, ngbak.File{Path: b.Name + "/" + kvFile(ns)})
	}
	var values, out spool
	defer values.remove()
	defer out.remove()
	pending := ""
	next := func() (string, int64, io.Reader, error) {
		out.remove()
		if pending == "" {
			name, _, err := r.Next()
			if err != nil {
				return "", 0, nil, err
			}
			pending = name
		}
		ns, _, _ := strings.Cut(pending, "/")
		vw, err := values.create(e.opts.TempDir)
		if err != nil {
			return "", 0, nil, err
		}
		var index []entry
		var off int64
		var enc []byte
		for {
			err := redisexp.ReadRecords(r, pending, func(id, value []byte, expires bool) error {
				if err := ctx.Err(); err != nil {
					return err
				}
				if expires && !e.opts.DropTTL {
					return fmt.Errorf("entry %q of namespace %s has a time to live, which a file store cannot hold (Options.DropTTL)", id, ns)
				}
				if !utf8.Valid(id) {
					return fmt.Errorf("entry %q of namespace %s: the id is not UTF-8, which a JSON file cannot hold", id, ns)
				}
				var err error
				if enc, err = pyjson.File.Append(enc[:0], value, 1); err != nil {
					return fmt.Errorf("entry %q of namespace %s: the value is not JSON a file store holds: %w", id, ns, err)
				}
				if _, err := vw.Write(enc); err != nil {
					return err
				}
				index = append(index, entry{string(id), off, int64(len(enc))})
				off += int64(len(enc))
				return nil
			})
			if err != nil {
				return "", 0, nil, err
			}
			name, _, err := r.Next()
			if err == io.EOF {
				pending = ""
				break
			}
			if err != nil {
				return "", 0, nil, err
			}
			if pending = name; !strings.HasPrefix(name, ns+"/") {
				break
			}
		}
		if _, _, err := values.finish(); err != nil {
			return "", 0, nil, err
		}
		slices.SortFunc(index, func(a, b entry) int { return strings.Compare(a.id, b.id) })
		w, err := out.create(e.opts.TempDir)
		if err != nil {
			return "", 0, nil, err
		}
		if err := writeFile(w, values.f, index); err != nil {
			return "", 0, nil, err
		}
		values.remove()
		size, body, err := out.finish()
		return kvFile(ns), size, body, err
	}
	return e.Exporter.Restore(ctx, ngbak.NewReader(b, next))
}

// writeFile writes json.dump(data, f, indent=2, ensure_ascii=False) of the
// entries of index, their values read from vals.
func writeFile(w io.Writer, vals io.ReaderAt, index []entry) error {
	if len(index) == 0 {
		_, err := io.WriteString(w, "{}")
		return err
	}
	var buf []byte
	var line bytes.Buffer
	for i, ent := range index {
		line.Reset()
		if i == 0 {
			line.WriteString("{\n  ")
		} else {
			line.WriteString(",\n  ")
		}
		line.Write(pyjson.File.AppendString(nil, ent.id))
		line.WriteString(": ")
		if _, err := line.WriteTo(w); err != nil {
			return err
		}
		buf = slices.Grow(buf[:0], int(ent.n))[:ent.n]
		if _, err := vals.ReadAt(buf, ent.off); err != nil {
			return err
		}
		if _, err := w.Write(buf); err != nil {
			return err
		}
	}
	_, err := io.WriteString(w, "\n}")
	return err
}

// spool is a temporary file written through a buffer, then read back.
type spool struct {
	f  *os.File
	bw *bufio.Writer
}

func (s *spool) create(dir string) (io.Writer, error) {
	f, err := os.CreateTemp(dir, "ngbak-convert-*")
	if err != nil {
		return nil, err
	}
	s.f, s.bw = f, bufio.NewWriterSize(f, 1<<20)
	return s.bw, nil
}

// finish flushes the file and returns its size and a reader from its start.
func (s *spool) finish() (int64, io.Reader, error) {
	if err := s.bw.Flush(); err != nil {
		return 0, nil, err
	}
	size, err := s.f.Seek(0, io.SeekCurrent)
	if err != nil {
		return 0, nil, err
	}
	return size, io.NewSectionReader(s.f, 0, size), nil
}

func (s *spool) remove() {
	if s.f != nil {
		s.f.Close()
		os.Remove(s.f.Name())
		s.f = nil
	}
}
