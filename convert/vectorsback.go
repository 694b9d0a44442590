package convert

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"strings"

	"github.com/cespare/xxhash/v2"
	"github.com/ngbak/ngbak"
	"github.com/ngbak/ngbak/internal/pyjson"
	"github.com/ngbak/ngbak/jsonexp"
	"github.com/ngbak/ngbak/qdrantexp"
	"github.com/qdrant/go-client/qdrant"
)

// nonVDB are the files of nano-graphrag's other file stores.
var nonVDB = []string{"kv_store_full_docs.json", "graph_chunk_entity_relation.graphml", "entities_hnsw.index", "entities_hnsw_metadata.pkl"}

// checkQdrantToFiles: only collections in QdrantVectorStorage's layout
// convert, and the working dir's exporter must cover nothing else.
func checkQdrantToFiles(t *jsonexp.Exporter, b *ngbak.Backend) error {
	colls, err := qdrantexp.LogicalCollections(b)
	if err != nil {
		return fmt.Errorf("%w (a snapshot-format backup does not convert: back Qdrant up in logical mode)", err)
	}
	for _, n := range nonVDB {
		if t.Covers(n) {
			return fmt.Errorf("exporter %q also covers %s, which a Qdrant backup does not hold, so the restore would remove it: give it Patterns [vdb_*.json]", t.Name(), n)
		}
	}
	for _, c := range colls {
		if _, err := vdbDim(c); err != nil {
			return fmt.Errorf("collection %q: %w", c.Name, err)
		}
		if !t.Covers("vdb_" + c.Name + ".json") {
			return fmt.Errorf("exporter %q does not cover vdb_%s.json", t.Name(), c.Name)
		}
	}
	return nil
}

// vdbDim is the dimension of a collection nano-vectordb can hold: one
// unnamed dense Cosine vector, no sparse vectors, no payload indexes.
func vdbDim(c qdrantexp.LogicalCollection) (int, error) {
	p := c.Info.GetConfig().GetParams()
	v := p.GetVectorsConfig().GetParams()
	switch {
	case v == nil:
		return 0, fmt.Errorf("named vectors (hybrid search?), which nano-vectordb has no place for")
	case v.GetDistance() != qdrant.Distance_Cosine:
		return 0, fmt.Errorf("distance %v; nano-vectordb holds Cosine only", v.GetDistance())
	case v.GetMultivectorConfig() != nil || v.GetDatatype() != qdrant.Datatype_Default && v.GetDatatype() != qdrant.Datatype_Float32:
		return 0, fmt.Errorf("vectors other than float32 dense, which nano-vectordb has no place for")
	case len(p.GetSparseVectorsConfig().GetMap()) > 0:
		return 0, fmt.Errorf("sparse vectors, which nano-vectordb has no place for")
	case len(c.Info.GetPayloadSchema()) > 0:
		return 0, fmt.Errorf("payload indexes, which nano-vectordb has no place for")
	}
	return int(v.GetSize()), nil
}

type vdbEntry struct {
	id          string
	off, n, row int64
}

// qdrantToFiles writes each collection as the vdb_<name>.json that
// NanoVectorDBStorage saves, records sorted by id: the records and the
// vectors go to spools, and only ids and offsets stay in memory.
func (e *Exporter) qdrantToFiles(ctx context.Context, r *ngbak.Reader) error {
	colls, err := qdrantexp.LogicalCollections(r.Backend())
	if err != nil {
		return err
	}
	b := &ngbak.Backend{Name: e.Name(), Kind: jsonexp.Kind, Format: jsonexp.Format}
	for _, c := range colls {
		b.Files = append(b.Files, ngbak.File{Path: b.Name + "/vdb_" + c.Name + ".json"})
	}
	var recs, vecs, out spool
	defer recs.remove()
	defer vecs.remove()
	defer out.remove()
	pending := ""
	i := 0
	next := func() (string, int64, io.Reader, error) {
		out.remove()
		if i == len(colls) {
			if _, _, err := r.Next(); err != io.EOF {
				return "", 0, nil, fmt.Errorf("a file beyond the collections of the manifest (%v)", err)
			}
			return "", 0, nil, io.EOF
		}
		c := colls[i]
		i++
		dim, err := vdbDim(c)
		if err != nil {
			return "", 0, nil, err
		}
		rw, err := recs.create(e.opts.TempDir)
		if err != nil {
			return "", 0, nil, err
		}
		vw, err := vecs.create(e.opts.TempDir)
		if err != nil {
			return "", 0, nil, err
		}
		var index []vdbEntry
		var off int64
		var rec []byte
		row := make([]byte, 4*dim)
		for {
			if pending == "" {
				name, _, err := r.Next()
				if err == io.EOF {
					break
				}
				if err != nil {
					return "", 0, nil, err
				}
				pending = name
			}
			if !strings.HasPrefix(pending, c.Name+"/points/") {
				break
			}
			err := qdrantexp.ReadPoints(r, pending, func(p *qdrant.PointStruct) error {
				if err := ctx.Err(); err != nil {
					return err
				}
				id, err := pointRecord(p, dim, &rec, row)
				if err != nil {
					return fmt.Errorf("collection %q: %w", c.Name, err)
				}
				if _, err := rw.Write(rec); err != nil {
					return err
				}
				if _, err := vw.Write(row); err != nil {
					return err
				}
				index = append(index, vdbEntry{id, off, int64(len(rec)), int64(len(index))})
				off += int64(len(rec))
				return nil
			})
			if err != nil {
				return "", 0, nil, err
			}
			pending = ""
		}
		if int64(len(index)) != c.Points && c.Points >= 0 {
			return "", 0, nil, fmt.Errorf("collection %q: %d points read, the manifest says %d", c.Name, len(index), c.Points)
		}
		if _, _, err := recs.finish(); err != nil {
			return "", 0, nil, err
		}
		if _, _, err := vecs.finish(); err != nil {
			return "", 0, nil, err
		}
		slices.SortFunc(index, func(a, b vdbEntry) int { return strings.Compare(a.id, b.id) })
		w, err := out.create(e.opts.TempDir)
		if err != nil {
			return "", 0, nil, err
		}
		if err := writeVDB(w, dim, index, recs.f, vecs.f); err != nil {
			return "", 0, nil, err
		}
		size, body, err := out.finish()
		return "vdb_" + c.Name + ".json", size, body, err
	}
	return e.Exporter.Restore(ctx, ngbak.NewReader(b, next))
}

// pointRecord checks that p is in QdrantVectorStorage's layout and makes
// its nano-vectordb record (into *rec) and matrix row (into row).
func pointRecord(p *qdrant.PointStruct, dim int, rec *[]byte, row []byte) (string, error) {
	id := p.GetPayload()["id"].GetStringValue()
	if id == "" {
		return "", fmt.Errorf("point %v has no string payload id, the record's id in QdrantVectorStorage's layout", p.GetId())
	}
	if p.GetId().GetNum() != xxhash.Sum64String(id) || p.GetId().GetUuid() != "" {
		return "", fmt.Errorf("point %v is not xxh64 of its payload id %q: not QdrantVectorStorage's layout", p.GetId(), id)
	}
	v := p.GetVectors().GetVector()
	data := v.GetDense().GetData()
	if data == nil && v.GetSparse() == nil && v.GetMultiDense() == nil {
		data = legacyData(v)
	}
	if len(data) != dim {
		return "", fmt.Errorf("point %q: not one dense vector of %d dimensions", id, dim)
	}
	for j, f := range data {
		binary.LittleEndian.PutUint32(row[4*j:], math.Float32bits(f))
	}
	b := append((*rec)[:0], `{"__id__": `...)
	b = pyjson.NanoVectorDB.AppendString(b, id)
	for _, k := range slices.Sorted(maps.Keys(p.GetPayload())) {
		val := p.GetPayload()[k]
		if k == "id" || (k == "content" && val.GetStringValue() == id) {
			continue // what QdrantVectorStorage adds to a record
		}
		b = append(b, ", "...)
		b = pyjson.NanoVectorDB.AppendString(b, k)
		b = append(b, ": "...)
		var err error
		if b, err = appendValue(b, val); err != nil {
			return "", fmt.Errorf("point %q: field %q: %w", id, k, err)
		}
	}
	*rec = append(b, '}')
	return id, nil
}

// legacyData is the vector of a backup from a server before v1.12, which
// answered with the deprecated fields only; with indices it is sparse.
func legacyData(v *qdrant.Vector) []float32 {
	//lint:ignore SA1019 servers before v1.12 answer with the deprecated fields only
	if v.GetIndices() != nil {
		return nil
	}
	//lint:ignore SA1019 as above
	return v.GetData()
}

// appendValue writes a payload value as Python's json.dump does.
func appendValue(b []byte, v *qdrant.Value) ([]byte, error) {
	switch k := v.GetKind().(type) {
	case *qdrant.Value_NullValue, nil:
		return append(b, "null"...), nil
	case *qdrant.Value_BoolValue:
		if k.BoolValue {
			return append(b, "true"...), nil
		}
		return append(b, "false"...), nil
	case *qdrant.Value_IntegerValue:
		return fmt.Appendf(b, "%d", k.IntegerValue), nil
	case *qdrant.Value_DoubleValue:
		return pyjson.AppendFloat(b, k.DoubleValue), nil
	case *qdrant.Value_StringValue:
		return pyjson.NanoVectorDB.AppendString(b, k.StringValue), nil
	case *qdrant.Value_ListValue:
		b = append(b, '[')
		for i, e := range k.ListValue.GetValues() {
			if i > 0 {
				b = append(b, ", "...)
			}
			var err error
			if b, err = appendValue(b, e); err != nil {
				return b, err
			}
		}
		return append(b, ']'), nil
	case *qdrant.Value_StructValue:
		fields := k.StructValue.GetFields()
		b = append(b, '{')
		for i, f := range slices.Sorted(maps.Keys(fields)) {
			if i > 0 {
				b = append(b, ", "...)
			}
			b = pyjson.NanoVectorDB.AppendString(b, f)
			b = append(b, ": "...)
			var err error
			if b, err = appendValue(b, fields[f]); err != nil {
				return b, err
			}
		}
		return append(b, '}'), nil
	}
	return b, fmt.Errorf("a payload value of kind %T", v.GetKind())
}

// writeVDB writes json.dump({"embedding_dim", "data", "matrix"},
// ensure_ascii=False), as NanoVectorDB.save does.
func writeVDB(w io.Writer, dim int, index []vdbEntry, recs, vecs io.ReaderAt) error {
	if _, err := fmt.Fprintf(w, `{"embedding_dim": %d, "data": [`, dim); err != nil {
		return err
	}
	var buf []byte
	for i, ent := range index {
		if i > 0 {
			if _, err := io.WriteString(w, ", "); err != nil {
				return err
			}
		}
		buf = slices.Grow(buf[:0], int(ent.n))[:ent.n]
		if _, err := recs.ReadAt(buf, ent.off); err != nil {
			return err
		}
		if _, err := w.Write(buf); err != nil {
			return err
		}
	}
	if _, err := io.WriteString(w, `], "matrix": "`); err != nil {
		return err
	}
	enc := base64.NewEncoder(base64.StdEncoding, w)
	row := make([]byte, 4*dim)
	for _, ent := range index {
		if _, err := vecs.ReadAt(row, ent.row*int64(len(row))); err != nil {
			return err
		}
		if _, err := enc.Write(row); err != nil {
			return err
		}
	}
	if err := enc.Close(); err != nil {
		return err
	}
	_, err := io.WriteString(w, `"}`)
	return err
}
