package qdrantemu

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"mime/multipart"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/qdrant/go-client/qdrant"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
)

// TestLikeRealQdrant holds the emulator to the real server where both are
// here (make test starts Qdrant 1.19 from ../shared/qdrant): the same calls
// must give the same answers, errors included (their code and the real
// message's gist). It is the check that keeps the emulator honest between
// the suites' two runs.
func TestLikeRealQdrant(t *testing.T) {
	realAddr := os.Getenv("NGBAK_QDRANT_GRPC")
	if realAddr == "" || os.Getenv("NGBAK_QDRANT_EMULATOR") == "1" {
		if os.Getenv("NGBAK_REQUIRE_SERVERS") != "" && os.Getenv("NGBAK_QDRANT_EMULATOR") != "1" {
			t.Fatal("NGBAK_QDRANT_GRPC is not set and NGBAK_REQUIRE_SERVERS is: run make services")
		}
		t.Skip("no real Qdrant to compare with (NGBAK_QDRANT_GRPC)")
	}
	emu, err := Start(Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { emu.Close() })
	clients := map[string]*qdrant.GrpcClient{}
	for name, addr := range map[string]string{"real": realAddr, "emulator": emu.GRPCAddr} {
		conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		clients[name] = qdrant.NewGrpcClientFromConn(conn)
	}
	ctx := context.Background()
	if key := os.Getenv("NGBAK_QDRANT_API_KEY"); key != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, "api-key", key)
	}
	u32 := func(v uint32) *uint32 { return &v }
	u64 := func(v uint64) *uint64 { return &v }
	yes := true
	prefix := "ngbak_like_" + strings.ReplaceAll(t.Name(), "/", "_") + "_"

	rest := map[string]string{"real": os.Getenv("NGBAK_QDRANT_URL"), "emulator": emu.URL}
	// eachREST runs fn on both and compares what fn returns; fn also gets
	// the server's REST base URL.
	eachREST := func(t *testing.T, fn func(c *qdrant.GrpcClient, coll, rest string) any) {
		t.Helper()
		got := map[string]any{}
		for name, c := range clients {
			// A fresh name each time: a collection's snapshots outlive it.
			coll := prefix + name + "_" + strconv.FormatUint(rand.Uint64()>>40, 16)
			got[name] = fn(c, coll, rest[name])
			if r, err := c.Snapshots().List(ctx, &qdrant.ListSnapshotsRequest{CollectionName: coll}); err == nil {
				for _, d := range r.GetSnapshotDescriptions() {
					c.Snapshots().Delete(ctx, &qdrant.DeleteSnapshotRequest{CollectionName: coll, SnapshotName: d.GetName()})
				}
			}
			c.Collections().Delete(ctx, &qdrant.DeleteCollection{CollectionName: coll})
		}
		if diff := cmp.Diff(got["real"], got["emulator"]); diff != "" {
			t.Errorf("emulator differs from the real Qdrant (-real +emulator):\n%s", diff)
		}
	}
	each := func(t *testing.T, fn func(c *qdrant.GrpcClient, coll string) any) {
		t.Helper()
		eachREST(t, func(c *qdrant.GrpcClient, coll, _ string) any { return fn(c, coll) })
	}
	errOf := func(err error) string {
		if err == nil {
			return "ok"
		}
		st := status.Convert(err)
		return st.Code().String() + ": " + gist(st.Message())
	}
	info := func(c *qdrant.GrpcClient, coll string) string {
		r, err := c.Collections().Get(ctx, &qdrant.GetCollectionInfoRequest{CollectionName: coll})
		if err != nil {
			return errOf(err)
		}
		i := r.GetResult()
		for _, s := range i.PayloadSchema {
			s.Points = nil
		}
		// What the server does on its own time: segments, optimizers.
		i.SegmentsCount, i.IndexedVectorsCount, i.Warnings = 0, nil, nil
		return protojson.Format(i)
	}
	create := func(c *qdrant.GrpcClient, req *qdrant.CreateCollection) error {
		_, err := c.Collections().Create(ctx, req)
		return err
	}
	dense := qdrant.NewVectorsConfig(&qdrant.VectorParams{Size: 2, Distance: qdrant.Distance_Cosine})

	t.Run("default info", func(t *testing.T) {
		each(t, func(c *qdrant.GrpcClient, coll string) any {
			return []string{errOf(create(c, &qdrant.CreateCollection{CollectionName: coll, VectorsConfig: dense})), strings.ReplaceAll(info(c, coll), coll, "C")}
		})
	})
	t.Run("configured info", func(t *testing.T) {
		each(t, func(c *qdrant.GrpcClient, coll string) any {
			q := float32(0.99)
			err := create(c, &qdrant.CreateCollection{CollectionName: coll,
				VectorsConfig: qdrant.NewVectorsConfigMap(map[string]*qdrant.VectorParams{
					"dense": {Size: 4, Distance: qdrant.Distance_Dot, OnDisk: &yes},
					"multi": {Size: 2, Distance: qdrant.Distance_Euclid, MultivectorConfig: &qdrant.MultiVectorConfig{Comparator: qdrant.MultiVectorComparator_MaxSim}},
				}),
				SparseVectorsConfig: qdrant.NewSparseVectorsConfig(map[string]*qdrant.SparseVectorParams{"text": {}}),
				HnswConfig:          &qdrant.HnswConfigDiff{M: u64(8), EfConstruct: u64(64), OnDisk: &yes, PayloadM: u64(12), MaxIndexingThreads: u64(2)},
				OptimizersConfig:    &qdrant.OptimizersConfigDiff{IndexingThreshold: u64(5000), DefaultSegmentNumber: u64(2)},
				WalConfig:           &qdrant.WalConfigDiff{WalCapacityMb: u64(16)},
				ShardNumber:         u32(2), OnDiskPayload: &yes, ReplicationFactor: u32(1),
				QuantizationConfig: qdrant.NewQuantizationScalar(&qdrant.ScalarQuantization{Type: qdrant.QuantizationType_Int8, Quantile: &q, AlwaysRam: &yes}),
				StrictModeConfig:   &qdrant.StrictModeConfig{Enabled: &yes, MaxQueryLimit: u32(10), UpsertMaxBatchsize: u64(2)},
				Metadata:           qdrant.NewValueMap(map[string]any{"owner": "ngbak"}),
			})
			return []string{errOf(err), strings.ReplaceAll(info(c, coll), coll, "C")}
		})
	})
	t.Run("names", func(t *testing.T) {
		each(t, func(c *qdrant.GrpcClient, coll string) any {
			var out []string
			for _, bad := range []string{"<", ">", ":", "\"", "|", "?", "*", "\\", "/", "\x1f", strings.Repeat("n", 256)} {
				err := create(c, &qdrant.CreateCollection{CollectionName: coll + bad, VectorsConfig: dense})
				out = append(out, strings.ReplaceAll(errOf(err), coll, "C"))
				c.Collections().Delete(ctx, &qdrant.DeleteCollection{CollectionName: coll + bad})
			}
			return out
		})
	})
	t.Run("points", func(t *testing.T) {
		each(t, func(c *qdrant.GrpcClient, coll string) any {
			out := []string{errOf(create(c, &qdrant.CreateCollection{CollectionName: coll,
				VectorsConfig:    qdrant.NewVectorsConfigMap(map[string]*qdrant.VectorParams{"d": {Size: 2, Distance: qdrant.Distance_Cosine}}),
				StrictModeConfig: &qdrant.StrictModeConfig{Enabled: &yes, MaxQueryLimit: u32(3), UpsertMaxBatchsize: u64(3)}}))}
			upsert := func(points ...*qdrant.PointStruct) {
				_, err := c.Points().Upsert(ctx, &qdrant.UpsertPoints{CollectionName: coll, Wait: &yes, Points: points})
				out = append(out, errOf(err))
			}
			named := func(m map[string]*qdrant.Vector) *qdrant.Vectors { return qdrant.NewVectorsMap(m) }
			upsert()                                            // empty
			upsert(&qdrant.PointStruct{Id: qdrant.NewIDNum(1)}) // no vectors
			upsert(&qdrant.PointStruct{Id: qdrant.NewIDNum(1), Vectors: named(map[string]*qdrant.Vector{})})
			upsert(&qdrant.PointStruct{Id: qdrant.NewIDNum(2), Vectors: named(map[string]*qdrant.Vector{"d": qdrant.NewVectorDense([]float32{3, 4})})})
			upsert(&qdrant.PointStruct{Id: qdrant.NewIDNum(3), Vectors: named(map[string]*qdrant.Vector{"x": qdrant.NewVectorDense([]float32{3, 4})})})
			upsert(&qdrant.PointStruct{Id: qdrant.NewIDNum(4), Vectors: named(map[string]*qdrant.Vector{"d": qdrant.NewVectorDense([]float32{3})})})
			var four []*qdrant.PointStruct
			for i := range 4 {
				four = append(four, &qdrant.PointStruct{Id: qdrant.NewIDNum(uint64(10 + i)), Vectors: named(map[string]*qdrant.Vector{"d": qdrant.NewVectorDense([]float32{1, 1})})})
			}
			upsert(four...) // over upsert_max_batchsize
			upsert(four[:3]...)
			for _, limit := range []uint32{4, 3} {
				r, err := c.Points().Scroll(ctx, &qdrant.ScrollPoints{CollectionName: coll, Limit: &limit, WithVectors: qdrant.NewWithVectors(true), WithPayload: qdrant.NewWithPayload(true)})
				out = append(out, errOf(err))
				for _, p := range r.GetResult() {
					out = append(out, protojson.Format(p))
				}
				if next := r.GetNextPageOffset(); next != nil {
					out = append(out, "next "+protojson.Format(next))
				}
			}
			return out
		})
	})
	t.Run("snapshots", func(t *testing.T) {
		eachREST(t, func(c *qdrant.GrpcClient, coll, base string) any {
			var out []string
			note := func(format string, args ...any) {
				out = append(out, strings.ReplaceAll(fmt.Sprintf(format, args...), coll, "C"))
			}
			m8 := uint64(8)
			note("create %s", errOf(create(c, &qdrant.CreateCollection{CollectionName: coll, VectorsConfig: dense, HnswConfig: &qdrant.HnswConfigDiff{M: &m8}})))
			_, err := c.Points().Upsert(ctx, &qdrant.UpsertPoints{CollectionName: coll, Wait: &yes, Points: []*qdrant.PointStruct{{Id: qdrant.NewIDNum(1), Vectors: qdrant.NewVectors(3, 4)}}})
			note("upsert %s", errOf(err))
			snap, err := c.Snapshots().Create(ctx, &qdrant.CreateSnapshotRequest{CollectionName: coll})
			note("snapshot %s", errOf(err))
			name := snap.GetSnapshotDescription().GetName()
			// Named after the collection, a peer id and the second, UTC.
			note("named by the second: %v", strings.HasPrefix(name, coll+"-") && secondName.MatchString(name))
			// The download is gzipped for a client that accepts it.
			req, _ := http.NewRequest("GET", base+"/collections/"+coll+"/snapshots/"+name, nil)
			req.Header.Set("Accept-Encoding", "gzip")
			resp, err := http.DefaultTransport.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			note("download with gzip: %d %q", resp.StatusCode, resp.Header.Get("Content-Encoding"))
			req.Header.Set("Accept-Encoding", "identity")
			if resp, err = http.DefaultTransport.RoundTrip(req); err != nil {
				t.Fatal(err)
			}
			data, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			note("download as is: %d %q, length given %v", resp.StatusCode, resp.Header.Get("Content-Encoding"), resp.ContentLength == int64(len(data)))
			upload := func(file string) {
				var body bytes.Buffer
				mw := multipart.NewWriter(&body)
				fw, _ := mw.CreateFormFile("snapshot", file)
				fw.Write(data)
				mw.Close()
				req, _ := http.NewRequest("POST", base+"/collections/"+coll+"/snapshots/upload?wait=true&priority=snapshot", &body)
				req.Header.Set("Content-Type", mw.FormDataContentType())
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				msg, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				text := string(msg)
				if i := strings.Index(text, "Collection vectors"); i >= 0 {
					text = text[:i] // the rest prints the configurations in the server's own terms
				}
				if i := strings.Index(text, `"time"`); i >= 0 {
					text = text[:i]
				}
				note("upload %s: %d %s", file, resp.StatusCode, text)
			}
			list := func() {
				r, err := c.Snapshots().List(ctx, &qdrant.ListSnapshotsRequest{CollectionName: coll})
				var names []string
				for _, d := range r.GetSnapshotDescriptions() {
					names = append(names, strings.ReplaceAll(d.GetName(), name, "SNAP"))
				}
				slices.Sort(names)
				note("list %s %v", errOf(err), names)
			}
			// Recovered in place: the collection keeps its own configuration.
			m32 := uint64(32)
			_, err = c.Collections().Update(ctx, &qdrant.UpdateCollection{CollectionName: coll, HnswConfig: &qdrant.HnswConfigDiff{M: &m32}})
			note("update %s", errOf(err))
			upload("kept.snapshot")
			r, err := c.Collections().Get(ctx, &qdrant.GetCollectionInfoRequest{CollectionName: coll})
			note("after an upload in place, hnsw m %d %s", r.GetResult().GetConfig().GetHnswConfig().GetM(), errOf(err))
			list() // the upload is kept, under its file name
			// Snapshots outlive their collection.
			_, err = c.Collections().Delete(ctx, &qdrant.DeleteCollection{CollectionName: coll})
			note("delete %s", errOf(err))
			note("recreate %s", errOf(create(c, &qdrant.CreateCollection{CollectionName: coll, VectorsConfig: qdrant.NewVectorsConfig(&qdrant.VectorParams{Size: 3, Distance: qdrant.Distance_Dot})})))
			list()
			// Other vectors: refused.
			upload("other.snapshot")
			return out
		})
	})
}

// secondName is the end of a snapshot's name: the UTC second it was made in.
var secondName = regexp.MustCompile(`-[0-9]+-[0-9]{4}-[0-9]{2}-[0-9]{2}-[0-9]{2}-[0-9]{2}-[0-9]{2}\.snapshot$`)

// gist is an error message without what varies between calls and servers
// (timings, the collection's name after a backtick).
func gist(msg string) string {
	if i := strings.Index(msg, "`"); i >= 0 {
		msg = msg[:i]
	}
	return msg
}
