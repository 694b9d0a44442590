package convert

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	"github.com/cespare/xxhash/v2"
	"github.com/ngbak/ngbak"
	"github.com/ngbak/ngbak/jsonexp"
	"github.com/ngbak/ngbak/qdrantexp"
	"github.com/qdrant/go-client/qdrant"
	"google.golang.org/protobuf/encoding/protodelim"
)

// vdbNamespace is the namespace of nano-vectordb's file vdb_<ns>.json,
// which is the name of the Qdrant collection QdrantVectorStorage uses for
// it (<prefix>_entities, <prefix>_chunks).
func vdbNamespace(file string) (string, bool) {
	ns, ok := strings.CutPrefix(file, "vdb_")
	if !ok || !strings.HasSuffix(ns, ".json") || strings.Contains(ns, "/") {
		return "", false
	}
	ns = strings.TrimSuffix(ns, ".json")
	return ns, ns != ""
}

// maxDim bounds embedding_dim, as Qdrant does (65536).
const maxDim = 65536

func (e *Exporter) checkFilesToQdrant(b *ngbak.Backend) error {
	if b.Kind != jsonexp.Kind || b.Format != jsonexp.Format {
		return fmt.Errorf("the Qdrant exporter converts jsonexp backends (%s), not %s %s", jsonexp.Format, b.Kind, b.Format)
	}
	return e.only(b, vdbNamespace, "a Qdrant collection", "vdb_<namespace>.json")
}

// only checks that b holds files that convert (by ok), and no other unless
// Options.Partial.
func (e *Exporter) only(b *ngbak.Backend, ok func(string) (string, bool), what, pattern string) error {
	var other []string
	n := 0
	for _, f := range b.Files {
		if _, yes := ok(relPath(b, f)); yes {
			n++
		} else {
			other = append(other, relPath(b, f))
		}
	}
	if len(other) > 0 && !e.opts.Partial {
		return fmt.Errorf("the backup holds %s, which %s has no place for (only %s converts; Options.Partial skips the others, for their own restores)", strings.Join(other, ", "), what, pattern)
	}
	if n == 0 {
		return fmt.Errorf("the backup holds no %s, and a restore of nothing would empty the store", pattern)
	}
	return nil
}

// filesToQdrant converts every vdb_<ns>.json into points as
// QdrantVectorStorage upserts them, spooled, then hands them to the Qdrant
// exporter as a logical backup whose counts it checks.
func (e *Exporter) filesToQdrant(ctx context.Context, r *ngbak.Reader) error {
	var colls []qdrantexp.LogicalCollection
	var spools []*spool
	defer func() {
		for _, s := range spools {
			s.remove()
		}
	}()
	for {
		name, _, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		ns, ok := vdbNamespace(name)
		if !ok {
			continue // Options.Partial, checked before
		}
		sp := &spool{}
		spools = append(spools, sp)
		c, err := e.vdbToPoints(ctx, r, ns, sp)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		colls = append(colls, c)
	}
	details, err := qdrantexp.LogicalDetails(colls)
	if err != nil {
		return err
	}
	b := &ngbak.Backend{Name: e.Name(), Kind: qdrantexp.Kind, Format: qdrantexp.LogicalFormat, Details: details}
	for _, c := range colls {
		b.Files = append(b.Files, ngbak.File{Path: b.Name + "/" + c.Name + "/points/000001.pb"})
	}
	i := 0
	next := func() (string, int64, io.Reader, error) {
		if i == len(colls) {
			return "", 0, nil, io.EOF
		}
		size, body, err := spools[i].finish()
		i++
		return colls[i-1].Name + "/points/000001.pb", size, body, err
	}
	return e.Exporter.Restore(ctx, ngbak.NewReader(b, next))
}

// collectionInfo is what QdrantVectorStorage creates: one unnamed dense
// vector of the embedding dimension, Cosine, the server's defaults
// otherwise.
func collectionInfo(dim int) *qdrant.CollectionInfo {
	shards, onDisk := uint32(1), true
	return &qdrant.CollectionInfo{Config: &qdrant.CollectionConfig{Params: &qdrant.CollectionParams{
		ShardNumber: shards, OnDiskPayload: onDisk,
		VectorsConfig: qdrant.NewVectorsConfig(&qdrant.VectorParams{Size: uint64(dim), Distance: qdrant.Distance_Cosine}),
	}}}
}

// vdbToPoints reads one nano-vectordb file, {"embedding_dim": D, "data":
// [records], "matrix": "<base64 float32 rows>"} in the order nano-vectordb
// writes it, and writes its points into sp: the records go to a first
// spool, then each is joined with its row as the matrix streams by.
func (e *Exporter) vdbToPoints(ctx context.Context, r io.Reader, ns string, sp *spool) (qdrantexp.LogicalCollection, error) {
	c := qdrantexp.LogicalCollection{Name: ns}
	br := bufio.NewReaderSize(r, 1<<20)
	dec := json.NewDecoder(br)
	dec.UseNumber()
	expect := func(want string) error {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		if fmt.Sprint(tok) != want {
			return fmt.Errorf("expected %s, found %v: not a nano-vectordb file as nano-vectordb writes it", want, tok)
		}
		return nil
	}
	if err := expect("{"); err != nil {
		return c, err
	}
	if err := expect("embedding_dim"); err != nil {
		return c, err
	}
	var dimNum json.Number
	if err := dec.Decode(&dimNum); err != nil {
		return c, err
	}
	dim, err := strconv.Atoi(dimNum.String())
	if err != nil || dim <= 0 || dim > maxDim {
		return c, fmt.Errorf("embedding_dim %s", dimNum)
	}
	c.Info = collectionInfo(dim)
	if err := expect("data"); err != nil {
		return c, err
	}
	if err := expect("["); err != nil {
		return c, err
	}
	var recs spool
	defer recs.remove()
	rw, err := recs.create(e.opts.TempDir)
	if err != nil {
		return c, err
	}
	for dec.More() {
		if err := ctx.Err(); err != nil {
			return c, err
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return c, fmt.Errorf("record %d: %w", c.Points+1, err)
		}
		p, err := recordPoint(raw)
		if err != nil {
			return c, fmt.Errorf("record %d: %w", c.Points+1, err)
		}
		if _, err := protodelim.MarshalTo(rw, p); err != nil {
			return c, err
		}
		c.Points++
	}
	if err := expect("]"); err != nil {
		return c, err
	}
	if err := expect("matrix"); err != nil {
		return c, err
	}
	// The matrix is one string of up to gigabytes: read it as it streams,
	// past what the decoder has buffered.
	rest := bufio.NewReader(io.MultiReader(dec.Buffered(), br))
	if err := skipTo(rest, ':'); err != nil {
		return c, err
	}
	if err := skipTo(rest, '"'); err != nil {
		return c, err
	}
	str := &jsonString{r: rest}
	b64 := base64.NewDecoder(base64.StdEncoding, str)
	if _, _, err := recs.finish(); err != nil {
		return c, err
	}
	recR := bufio.NewReader(io.NewSectionReader(recs.f, 0, 1<<62))
	pw, err := sp.create(e.opts.TempDir)
	if err != nil {
		return c, err
	}
	row := make([]byte, 4*dim)
	vec := make([]float32, dim)
	for i := int64(0); i < c.Points; i++ {
		if _, err := io.ReadFull(b64, row); err != nil {
			return c, fmt.Errorf("matrix: row %d of %d: %w", i+1, c.Points, err)
		}
		var norm float64
		for j := range vec {
			vec[j] = math.Float32frombits(binary.LittleEndian.Uint32(row[4*j:]))
			norm += float64(vec[j]) * float64(vec[j])
		}
		// nano-vectordb saves unit vectors; Qdrant normalizes what it is
		// given for Cosine, and would store other bits than the file's.
		if math.Abs(math.Sqrt(norm)-1) > 1e-5 {
			return c, fmt.Errorf("matrix: row %d has norm %g, not 1: Qdrant would store it normalized, not as it is", i+1, math.Sqrt(norm))
		}
		p := &qdrant.PointStruct{}
		if err := (protodelim.UnmarshalOptions{MaxSize: -1}).UnmarshalFrom(recR, p); err != nil {
			return c, err
		}
		p.Vectors = qdrant.NewVectorsDense(vec)
		if _, err := protodelim.MarshalTo(pw, p); err != nil {
			return c, err
		}
	}
	if n, err := io.Copy(io.Discard, b64); err != nil || n > 0 {
		return c, fmt.Errorf("matrix: %d bytes after the %d rows of the records (%v)", n, c.Points, err)
	}
	// Nothing may follow but the object's end: additional_data, say, has
	// no place in Qdrant.
	if err := skipTo(rest, '}'); err != nil {
		return c, fmt.Errorf("after the matrix: %w (a field Qdrant has no place for?)", err)
	}
	for {
		b, err := rest.ReadByte()
		if err == io.EOF {
			return c, nil
		}
		if err != nil {
			return c, err
		}
		if !isSpace(b) {
			return c, errors.New("data after the JSON object")
		}
	}
}

func isSpace(b byte) bool { return b == ' ' || b == '\t' || b == '\n' || b == '\r' }

// skipTo reads whitespace up to and including want.
func skipTo(r *bufio.Reader, want byte) error {
	for {
		b, err := r.ReadByte()
		if err != nil {
			return err
		}
		if b == want {
			return nil
		}
		if !isSpace(b) {
			return fmt.Errorf("expected %q, found %q", want, b)
		}
	}
}

// jsonString reads the rest of a JSON string of base64 text, up to its
// closing quote; the only escape base64 can need is \/.
type jsonString struct {
	r    *bufio.Reader
	done bool
}

func (s *jsonString) Read(p []byte) (int, error) {
	if s.done {
		return 0, io.EOF
	}
	n := 0
	for n < len(p) {
		b, err := s.r.ReadByte()
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return n, err
		}
		switch b {
		case '"':
			s.done = true
			return n, nil
		case '\\':
			if b, err = s.r.ReadByte(); err != nil || b != '/' {
				return n, fmt.Errorf("matrix: an escape base64 has no use for")
			}
		}
		p[n] = b
		n++
	}
	return n, nil
}

// recordPoint is the point QdrantVectorStorage.upsert makes of a record:
// id xxh64 of the record's id, payload {"id", "content" (the id when the
// record has none, as the storage does), every other field}.
func recordPoint(raw []byte) (*qdrant.PointStruct, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var rec map[string]any
	if err := dec.Decode(&rec); err != nil {
		return nil, err
	}
	id, ok := rec["__id__"].(string)
	if !ok {
		return nil, fmt.Errorf("no string __id__")
	}
	if _, ok := rec["__vector__"]; ok {
		return nil, fmt.Errorf("%s: a __vector__ field beside the matrix", id)
	}
	if _, ok := rec["id"]; ok {
		return nil, fmt.Errorf("%s: a field \"id\", which the Qdrant payload keeps for the record's id", id)
	}
	payload := map[string]*qdrant.Value{"id": qdrant.NewValueString(id), "content": qdrant.NewValueString(id)}
	for k, v := range rec {
		if k == "__id__" {
			continue
		}
		qv, err := qdrantValue(v)
		if err != nil {
			return nil, fmt.Errorf("%s: field %q: %w", id, k, err)
		}
		payload[k] = qv
	}
	return &qdrant.PointStruct{Id: qdrant.NewIDNum(xxhash.Sum64String(id)), Payload: payload}, nil
}

// qdrantValue converts a JSON value (json.Number for numbers) into a
// payload value: integers stay integers, as Python's json keeps them.
func qdrantValue(v any) (*qdrant.Value, error) {
	switch x := v.(type) {
	case nil:
		return qdrant.NewValueNull(), nil
	case bool:
		return qdrant.NewValueBool(x), nil
	case string:
		return qdrant.NewValueString(x), nil
	case json.Number:
		if !strings.ContainsAny(x.String(), ".eE") {
			n, err := strconv.ParseInt(x.String(), 10, 64)
			if err != nil {
				return nil, fmt.Errorf("integer %s does not fit a Qdrant integer (int64)", x)
			}
			return qdrant.NewValueInt(n), nil
		}
		f, err := strconv.ParseFloat(x.String(), 64)
		if err != nil {
			return nil, fmt.Errorf("number %s: %w", x, err)
		}
		return qdrant.NewValueDouble(f), nil
	case []any:
		list := make([]*qdrant.Value, len(x))
		for i, e := range x {
			var err error
			if list[i], err = qdrantValue(e); err != nil {
				return nil, err
			}
		}
		return qdrant.NewValueFromList(list...), nil
	case map[string]any:
		fields := map[string]*qdrant.Value{}
		for k, e := range x {
			var err error
			if fields[k], err = qdrantValue(e); err != nil {
				return nil, err
			}
		}
		return qdrant.NewValueStruct(&qdrant.Struct{Fields: fields}), nil
	}
	return nil, fmt.Errorf("unexpected %T", v)
}
