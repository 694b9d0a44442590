package convert_test

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/ngbak/ngbak"
	"github.com/ngbak/ngbak/convert"
	"github.com/ngbak/ngbak/jsonexp"
	"github.com/ngbak/ngbak/qdrantexp"
	"github.com/qdrant/go-client/qdrant"
)

func qdrantEnv(t testing.TB) (qdrantexp.Config, *qdrant.Client) {
	t.Helper()
	url, grpcAddr := os.Getenv("NGBAK_QDRANT_URL"), os.Getenv("NGBAK_QDRANT_GRPC")
	if url == "" || grpcAddr == "" {
		if os.Getenv("NGBAK_REQUIRE_SERVERS") != "" {
			t.Fatal("NGBAK_QDRANT_URL and NGBAK_QDRANT_GRPC are not set")
		}
		t.Skip("NGBAK_QDRANT_URL and NGBAK_QDRANT_GRPC are not set: run make services")
	}
	host, portStr, _ := net.SplitHostPort(grpcAddr)
	port, _ := strconv.Atoi(portStr)
	c, err := qdrant.NewClient(&qdrant.Config{Host: host, Port: port, APIKey: os.Getenv("NGBAK_QDRANT_API_KEY"), SkipCompatibilityCheck: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return qdrantexp.Config{URL: url, GRPC: grpcAddr, APIKey: os.Getenv("NGBAK_QDRANT_API_KEY")}, c
}

// point is a Qdrant point as the test compares it: payload as JSON values,
// the dense vector's float32 bits in base64.
type point struct {
	Payload map[string]any
	Vector  string
}

func collectionPoints(t *testing.T, c *qdrant.Client, coll string) map[string]point {
	t.Helper()
	out := map[string]point{}
	limit := uint32(100)
	var offset *qdrant.PointId
	for {
		page, next, err := c.ScrollAndOffset(context.Background(), &qdrant.ScrollPoints{CollectionName: coll, Offset: offset, Limit: &limit,
			WithPayload: qdrant.NewWithPayload(true), WithVectors: qdrant.NewWithVectors(true)})
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range page {
			payload := map[string]any{}
			for k, v := range p.Payload {
				payload[k] = plain(v)
			}
			vec := p.GetVectors().GetVector().GetDense().GetData()
			b := make([]byte, 4*len(vec))
			for i, f := range vec {
				binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(f))
			}
			out[strconv.FormatUint(p.Id.GetNum(), 10)] = point{payload, base64.StdEncoding.EncodeToString(b)}
		}
		if next == nil {
			return out
		}
		offset = next
	}
}

func plain(v *qdrant.Value) any {
	switch k := v.Kind.(type) {
	case *qdrant.Value_StringValue:
		return k.StringValue
	case *qdrant.Value_IntegerValue:
		return float64(k.IntegerValue)
	case *qdrant.Value_DoubleValue:
		return k.DoubleValue
	case *qdrant.Value_BoolValue:
		return k.BoolValue
	case *qdrant.Value_ListValue:
		var out []any
		for _, e := range k.ListValue.Values {
			out = append(out, plain(e))
		}
		return out
	case *qdrant.Value_StructValue:
		out := map[string]any{}
		for f, e := range k.StructValue.Fields {
			out[f] = plain(e)
		}
		return out
	}
	return nil
}

// TestFilesToQdrant moves nano-vectordb's files into the collections
// QdrantVectorStorage uses, point for point as it upserts them (ids, payloads
// and vectors bit for bit against what Python computed), from a backup of
// the whole working dir: the KV files are skipped (Options.Partial) for
// their own restore.
func TestFilesToQdrant(t *testing.T) {
	ctx := context.Background()
	cfg, client := qdrantEnv(t)
	prefix := fmt.Sprintf("ngbak_convert_%d", time.Now().UnixNano())
	work := copyDir(t)
	colls := map[string]string{} // collection -> the golden's namespace
	for _, ns := range []string{"test_entities", "test_chunks"} {
		coll := prefix + strings.TrimPrefix(ns, "test")
		colls[coll] = ns
		b, err := os.ReadFile(filepath.Join("testdata/nano", "vdb_"+ns+".json"))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(work, "vdb_"+coll+".json"), b, 0o644)
		t.Cleanup(func() { client.DeleteCollection(context.Background(), coll) })
	}
	// A stale collection in the target's scope, replaced.
	stale := prefix + "_entities"
	if err := client.CreateCollection(ctx, &qdrant.CreateCollection{CollectionName: stale, VectorsConfig: qdrant.NewVectorsConfig(&qdrant.VectorParams{Size: 2, Distance: qdrant.Distance_Dot})}); err != nil {
		t.Fatal(err)
	}

	files, err := jsonexp.New(jsonexp.Options{Dir: work})
	if err != nil {
		t.Fatal(err)
	}
	target, err := qdrantexp.New(cfg, qdrantexp.Options{Collections: []string{prefix + "_entities", prefix + "_chunks"}, Mode: qdrantexp.Logical})
	if err != nil {
		t.Fatal(err)
	}
	defer target.Close()
	storage := ngbak.Dir(t.TempDir())
	m, err := ngbak.New(ngbak.Options{Storage: storage, TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	strict, _ := convert.New(target, convert.Options{})
	m.Register(files, strict)
	man, err := m.Create(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Without Partial the KV files are refused, before anything changes.
	if _, err := m.Restore(ctx, man.ID, &ngbak.RestoreOptions{Into: map[string]string{"json": "qdrant"}}); err == nil || !strings.Contains(err.Error(), "kv_store_full_docs.json") {
		t.Fatalf("a working dir with KV files into Qdrant: %v", err)
	}
	if info, err := client.GetCollectionInfo(ctx, stale); err != nil || info.GetConfig().GetParams().GetVectorsConfig().GetParams().GetSize() != 2 {
		t.Fatalf("a refused conversion changed the collection: %v", err)
	}

	partial, _ := convert.New(target, convert.Options{Partial: true, TempDir: t.TempDir()})
	back := t.TempDir()
	backFiles, _ := jsonexp.New(jsonexp.Options{Dir: back, Name: "vdb", Patterns: []string{"vdb_*.json"}})
	vdb, _ := convert.New(backFiles, convert.Options{TempDir: t.TempDir()})
	m2, _ := ngbak.New(ngbak.Options{Storage: storage, TempDir: t.TempDir()})
	m2.Register(files, partial, vdb)
	if _, err := m2.Restore(ctx, man.ID, &ngbak.RestoreOptions{Into: map[string]string{"json": "qdrant"}}); err != nil {
		t.Fatal(err)
	}
	golden, err := os.ReadFile("testdata/qdrant.json")
	if err != nil {
		t.Fatal(err)
	}
	var want map[string]map[string]point
	if err := json.Unmarshal(golden, &want); err != nil {
		t.Fatal(err)
	}
	for coll, ns := range colls {
		if diff := cmp.Diff(want[ns], collectionPoints(t, client, coll)); diff != "" {
			t.Errorf("%s (-python +qdrant):\n%s", coll, diff)
		}
		info, err := client.GetCollectionInfo(ctx, coll)
		if err != nil {
			t.Fatal(err)
		}
		if p := info.GetConfig().GetParams().GetVectorsConfig().GetParams(); p.GetSize() != 1536 || p.GetDistance() != qdrant.Distance_Cosine {
			t.Errorf("%s: vectors %v, want 1536 Cosine", coll, p)
		}
	}

	// And back: a logical backup of the collections into nano-vectordb
	// files, byte for byte the files nano-vectordb saved.
	vectors, err := m2.Create(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m2.Restore(ctx, vectors.ID, &ngbak.RestoreOptions{Into: map[string]string{"qdrant": "vdb"}}); err != nil {
		t.Fatal(err)
	}
	want2 := map[string]string{}
	for name, data := range readDir(t, work) {
		if strings.HasPrefix(name, "vdb_") {
			want2[name] = data
		}
	}
	if diff := cmp.Diff(want2, readDir(t, back)); diff != "" {
		t.Errorf("vdb files after Qdrant and back (-want +got):\n%s", diff)
	}
}
