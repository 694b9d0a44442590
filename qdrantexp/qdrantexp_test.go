package qdrantexp_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/ngbak/ngbak"
	"github.com/ngbak/ngbak/exportertest"
	"github.com/ngbak/ngbak/internal/qdrantemu"
	"github.com/ngbak/ngbak/qdrantexp"
	"github.com/qdrant/go-client/qdrant"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// target is the Qdrant the tests talk to: a real server when
// NGBAK_QDRANT_URL and NGBAK_QDRANT_GRPC are set (make test starts Qdrant
// 1.19 from ../shared/qdrant), the emulator otherwise or when
// NGBAK_QDRANT_EMULATOR=1 (make test runs the suite a second time so). Its
// REST and gRPC traffic go through fault proxies either way, so the failure
// tests run unchanged against both.
type target struct {
	cfg    qdrantexp.Config // through the proxies
	faults *qdrantemu.Faults
	grpc   *qdrantemu.GRPCFaults
	client *qdrant.Client    // direct gRPC, for the harness
	emu    *qdrantemu.Server // nil against a real server
	// page is how many points state reads at a time; 0 means 100.
	page uint32
}

// tb is what newTarget needs of a testing.TB; the benchmarks' shared
// target has its own.
type tb interface {
	Helper()
	Fatal(args ...any)
	Fatalf(format string, args ...any)
	Cleanup(func())
	TempDir() string
}

// server says which Qdrant the tests use: the real one's REST URL and
// gRPC address under the given variables, or "" for the emulator.
func server(urlVar, grpcVar string) (url, grpcAddr string) {
	if os.Getenv("NGBAK_QDRANT_EMULATOR") == "1" {
		return "", ""
	}
	return os.Getenv(urlVar), os.Getenv(grpcVar)
}

// announceServer says once which Qdrant the tests use (TestMain calls it),
// and exits when CI requires a real server and has none.
func announceServer() {
	url, grpcAddr := server("NGBAK_QDRANT_URL", "NGBAK_QDRANT_GRPC")
	switch {
	case url != "" && grpcAddr != "":
		fmt.Fprintf(os.Stderr, "qdrantexp: testing against the real Qdrant at %s (gRPC %s)\n", url, grpcAddr)
	case os.Getenv("NGBAK_QDRANT_EMULATOR") == "1":
		fmt.Fprintln(os.Stderr, "qdrantexp: testing against internal/qdrantemu, an emulator (NGBAK_QDRANT_EMULATOR=1)")
	case os.Getenv("NGBAK_REQUIRE_SERVERS") != "":
		fmt.Fprintln(os.Stderr, "qdrantexp: NGBAK_REQUIRE_SERVERS is set, but NGBAK_QDRANT_URL and NGBAK_QDRANT_GRPC are not: run make services (it starts the real Qdrant of ../shared/qdrant), or set NGBAK_QDRANT_EMULATOR=1")
		os.Exit(1)
	default:
		fmt.Fprintln(os.Stderr, "qdrantexp: no real Qdrant (NGBAK_QDRANT_URL, NGBAK_QDRANT_GRPC unset): testing against internal/qdrantemu, an emulator")
	}
}

func newTarget(t tb) *target {
	t.Helper()
	url, grpcAddr := server("NGBAK_QDRANT_URL", "NGBAK_QDRANT_GRPC")
	return connect(t, url, grpcAddr, os.Getenv("NGBAK_QDRANT_API_KEY"), qdrantemu.DefaultVersion)
}

// newPrevTarget is the previous minor release: the real Qdrant 1.18 of
// NGBAK_QDRANT_PREV_URL, or an emulator that says it is 1.18.3.
func newPrevTarget(t tb) *target {
	t.Helper()
	url, grpcAddr := server("NGBAK_QDRANT_PREV_URL", "NGBAK_QDRANT_PREV_GRPC")
	if cur, _ := server("NGBAK_QDRANT_URL", "NGBAK_QDRANT_GRPC"); cur != "" && url == "" {
		t.Fatal("NGBAK_QDRANT_URL is set but NGBAK_QDRANT_PREV_URL is not: the cross-version tests need both real servers (make services starts 1.19 and 1.18)")
	}
	return connect(t, url, grpcAddr, os.Getenv("NGBAK_QDRANT_API_KEY"), "1.18.3")
}

// connect reaches the real server at url and grpcAddr, or, when they are
// empty, a new emulator reporting version.
func connect(t tb, url, grpcAddr, key, version string) *target {
	t.Helper()
	var emu *qdrantemu.Server
	if url == "" || grpcAddr == "" {
		key = "test-key-" + randomHex(4)
		var err error
		if emu, err = qdrantemu.Start(qdrantemu.Options{APIKey: key, Dir: t.TempDir(), Version: version}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { emu.Close() })
		url, grpcAddr = emu.URL, emu.GRPCAddr
	}
	faults, err := qdrantemu.NewFaults(url)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httptest.NewServer(faults)
	t.Cleanup(proxy.Close)
	grpcFaults, err := qdrantemu.NewGRPCFaults(grpcAddr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { grpcFaults.Close() })
	tg := &target{cfg: qdrantexp.Config{URL: proxy.URL, GRPC: grpcFaults.Addr, APIKey: key}, faults: faults, grpc: grpcFaults, emu: emu}
	host, port := splitHostPort(t, grpcAddr)
	withKey := func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		return invoker(metadata.AppendToOutgoingContext(ctx, "api-key", key), method, req, reply, cc, opts...)
	}
	tg.client, err = qdrant.NewClient(&qdrant.Config{Host: host, Port: port, SkipCompatibilityCheck: true, PoolSize: 1,
		GrpcOptions: []grpc.DialOption{grpc.WithChainUnaryInterceptor(withKey), grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(256 << 20))}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tg.client.Close() })
	return tg
}

func splitHostPort(t tb, addr string) (string, int) {
	i := strings.LastIndex(addr, ":")
	var port int
	if _, err := fmt.Sscan(addr[i+1:], &port); err != nil {
		t.Fatalf("bad address %q", addr)
	}
	return addr[:i], port
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func (tg *target) exporter(t testing.TB, opts qdrantexp.Options) *qdrantexp.Exporter {
	t.Helper()
	e, err := qdrantexp.New(tg.cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

// newCollection creates a collection with a dense, a multi-vector and a
// sparse named vector, and removes it after the test.
func (tg *target) newCollection(t testing.TB, ctx context.Context) string {
	t.Helper()
	name := "ngbak_test_" + randomHex(6)
	hnswM, hnswEF, onDisk, shards, quantile := uint64(8), uint64(64), true, uint32(2), float32(0.99)
	err := tg.client.CreateCollection(ctx, &qdrant.CreateCollection{
		CollectionName: name,
		VectorsConfig: qdrant.NewVectorsConfigMap(map[string]*qdrant.VectorParams{
			"dense": {Size: 4, Distance: qdrant.Distance_Dot},
			"multi": {Size: 2, Distance: qdrant.Distance_Dot, MultivectorConfig: &qdrant.MultiVectorConfig{Comparator: qdrant.MultiVectorComparator_MaxSim}},
		}),
		SparseVectorsConfig: qdrant.NewSparseVectorsConfig(map[string]*qdrant.SparseVectorParams{"text": {}}),
		// Settings away from the defaults, which a logical restore must
		// bring back.
		HnswConfig:         &qdrant.HnswConfigDiff{M: &hnswM, EfConstruct: &hnswEF},
		OnDiskPayload:      &onDisk,
		ShardNumber:        &shards,
		QuantizationConfig: qdrant.NewQuantizationScalar(&qdrant.ScalarQuantization{Type: qdrant.QuantizationType_Int8, Quantile: &quantile, AlwaysRam: &onDisk}),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tg.client.DeleteCollection(context.Background(), name) })
	return name
}

// idOf gives each record key a stable UUID.
func idOf(key string) *qdrant.PointId {
	h := sha256.Sum256([]byte(key))
	s := hex.EncodeToString(h[:16])
	return qdrant.NewIDUUID(s[:8] + "-" + s[8:12] + "-" + s[12:16] + "-" + s[16:20] + "-" + s[20:32])
}

// pointFor stores a record as an application would: the text in the
// payload with nested metadata, and vectors of every kind derived from it.
func pointFor(key, value string) *qdrant.PointStruct {
	h := sha256.Sum256([]byte(value))
	f := func(i int) float32 { return float32(int(h[i])-128) / 7 }
	return &qdrant.PointStruct{
		Id: idOf(key),
		Payload: qdrant.NewValueMap(map[string]any{
			"key": key, "value": value,
			"meta": map[string]any{"len": int64(len(value)), "ratio": float64(len(value)) / 3, "tags": []any{"a", "ü", true, nil}},
		}),
		Vectors: qdrant.NewVectorsMap(map[string]*qdrant.Vector{
			"dense": qdrant.NewVectorDense([]float32{f(0), f(1), f(2), f(3)}),
			"multi": qdrant.NewVectorMulti([][]float32{{f(4), f(5)}, {f(6), f(7)}}),
			"text":  qdrant.NewVectorSparse([]uint32{uint32(h[8]), 1000 + uint32(h[9])}, []float32{f(10), f(11)}),
		}),
	}
}

// state is everything about a collection that a restore must bring back.
type state struct {
	Exists    bool
	Config    string
	Schema    map[string]string
	Aliases   []string
	Snapshots []string
	Points    map[string]string // id -> the point as protobuf JSON (floats exact)
}

func (tg *target) state(ctx context.Context, name string) (state, error) {
	s := state{}
	ok, err := tg.client.CollectionExists(ctx, name)
	if err != nil || !ok {
		return s, err
	}
	s.Exists = true
	info, err := tg.client.GetCollectionInfo(ctx, name)
	if err != nil {
		return s, err
	}
	s.Config = protojson.Format(info.Config)
	s.Schema = map[string]string{}
	for k, v := range info.PayloadSchema {
		v = proto.Clone(v).(*qdrant.PayloadSchemaInfo)
		v.Points = nil // how many points it indexes, which a server updates as it likes
		s.Schema[k] = protojson.Format(v)
	}
	if s.Aliases, err = tg.client.ListCollectionAliases(ctx, name); err != nil {
		return s, err
	}
	slices.Sort(s.Aliases)
	snaps, err := tg.client.ListSnapshots(ctx, name)
	if err != nil {
		return s, err
	}
	for _, sn := range snaps {
		s.Snapshots = append(s.Snapshots, sn.Name)
	}
	s.Points = map[string]string{}
	var offset *qdrant.PointId
	limit := tg.page
	if limit == 0 {
		limit = 100
	}
	for {
		page, next, err := tg.client.ScrollAndOffset(ctx, &qdrant.ScrollPoints{
			CollectionName: name, Offset: offset, Limit: &limit,
			WithPayload: qdrant.NewWithPayload(true), WithVectors: qdrant.NewWithVectors(true),
		})
		if err != nil {
			return s, err
		}
		for _, p := range page {
			s.Points[protojson.Format(p.Id)] = protojson.Format(p)
		}
		if next == nil {
			return s, nil
		}
		offset = next
	}
}

// harness keeps records in one collection, and a neighbour collection
// outside the exporter's scope that must survive everything.
type harness struct {
	tg        *target
	coll      string
	neighbour string
	exp       *qdrantexp.Exporter
}

func (h *harness) Exporter() ngbak.Exporter { return h.exp }

func (h *harness) Put(ctx context.Context, records map[string]string) error {
	var points []*qdrant.PointStruct
	for k, v := range records {
		points = append(points, pointFor(k, v))
	}
	wait := true
	_, err := h.tg.client.Upsert(ctx, &qdrant.UpsertPoints{CollectionName: h.coll, Wait: &wait, Points: points})
	return err
}

func (h *harness) Delete(ctx context.Context, keys ...string) error {
	var ids []*qdrant.PointId
	for _, k := range keys {
		ids = append(ids, idOf(k))
	}
	wait := true
	_, err := h.tg.client.Delete(ctx, &qdrant.DeletePoints{CollectionName: h.coll, Wait: &wait, Points: qdrant.NewPointsSelector(ids...)})
	return err
}

func (h *harness) State(ctx context.Context) (any, error) {
	in, err := h.tg.state(ctx, h.coll)
	if err != nil {
		return nil, err
	}
	out, err := h.tg.state(ctx, h.neighbour)
	return [2]state{in, out}, err
}

func harnessMaker(mode qdrantexp.Mode) exportertest.HarnessMaker {
	return func(ctx context.Context, t *testing.T) exportertest.Harness {
		tg := newTarget(t)
		h := &harness{tg: tg, coll: tg.newCollection(t, ctx), neighbour: tg.newCollection(t, ctx)}
		if err := tg.client.UpdateAliases(ctx, []*qdrant.AliasOperations{qdrant.NewAliasCreate(h.coll+"_alias", h.coll)}); err != nil {
			t.Fatal(err)
		}
		nb := &harness{tg: tg, coll: h.neighbour}
		if err := nb.Put(ctx, map[string]string{"neighbour": "outside the scope"}); err != nil {
			t.Fatal(err)
		}
		h.exp = tg.exporter(t, qdrantexp.Options{Collections: []string{h.coll}, Mode: mode})
		return h
	}
}

func TestConformanceSnapshot(t *testing.T) {
	exportertest.RunConformanceTests(t, harnessMaker(qdrantexp.Snapshot), exportertest.Options{})
}

func TestConformanceLogical(t *testing.T) {
	exportertest.RunConformanceTests(t, harnessMaker(qdrantexp.Logical), exportertest.Options{})
}

func TestConformanceDedup(t *testing.T) {
	t.Run("Snapshot", func(t *testing.T) {
		exportertest.RunConformanceTests(t, harnessMaker(qdrantexp.Snapshot), exportertest.Options{Dedup: true})
	})
	t.Run("Logical", func(t *testing.T) {
		exportertest.RunConformanceTests(t, harnessMaker(qdrantexp.Logical), exportertest.Options{Dedup: true})
	})
}

func newManager(t testing.TB, exps ...ngbak.Exporter) (*ngbak.Manager, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "backups")
	m, err := ngbak.New(ngbak.Options{Storage: ngbak.Dir(dir), TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range exps {
		if err := m.Register(e); err != nil {
			t.Fatal(err)
		}
	}
	return m, dir
}

func mustState(t testing.TB, tg *target, name string) state {
	t.Helper()
	s, err := tg.state(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func bothModes(t *testing.T, fn func(t *testing.T, mode qdrantexp.Mode)) {
	for _, mode := range []qdrantexp.Mode{qdrantexp.Snapshot, qdrantexp.Logical} {
		t.Run(mode.String(), func(t *testing.T) { fn(t, mode) })
	}
}

// TestVectorsAndPayloads round-trips every kind of vector, numeric and UUID
// ids, payloads with nested JSON, unicode, every value type and a large
// value, floats that printing would round, payload indexes and aliases,
// after the collection was deleted outright.
func TestVectorsAndPayloads(t *testing.T) {
	bothModes(t, func(t *testing.T, mode qdrantexp.Mode) {
		ctx := context.Background()
		tg := newTarget(t)
		coll := tg.newCollection(t, ctx)
		exact := []float32{math.SmallestNonzeroFloat32, float32(math.Copysign(0, -1)), math.MaxFloat32, 1.0000001, 0.1, -3.4028235e38, 1e-40, float32(math.Pi)}
		large := strings.Repeat("Größe 北京 🧠 \"quoted\" \\ ", 40000) // ~1 MiB
		points := []*qdrant.PointStruct{
			{Id: qdrant.NewIDNum(0), Payload: qdrant.NewValueMap(map[string]any{"n": int64(math.MaxInt64), "f": 0.1, "neg": int64(-1)}),
				Vectors: qdrant.NewVectorsMap(map[string]*qdrant.Vector{"dense": qdrant.NewVectorDense(exact[:4])})},
			{Id: qdrant.NewIDNum(math.MaxUint64), Payload: qdrant.NewValueMap(map[string]any{"large": large}),
				Vectors: qdrant.NewVectorsMap(map[string]*qdrant.Vector{"dense": qdrant.NewVectorDense(exact[4:])})},
			{Id: qdrant.NewIDUUID("5c56c793-69f3-4fbf-87e6-c4bf54c28c26"), Payload: qdrant.NewValueMap(map[string]any{
				"nested":  map[string]any{"a": []any{1.5, "x", map[string]any{"deep": []any{nil, false}}}, "empty": map[string]any{}, "list": []any{}},
				"unicode": "日本語 Ελληνικά العربية \u2028 \x00 nul", "": "empty key", "key.with.dots": "v",
			}), Vectors: qdrant.NewVectorsMap(map[string]*qdrant.Vector{
				"multi": qdrant.NewVectorMulti([][]float32{{exact[0], exact[1]}, {exact[2], exact[3]}, {exact[6], exact[7]}}),
				"text":  qdrant.NewVectorSparse([]uint32{0, 7, 4294967295}, []float32{exact[5], exact[6], exact[7]}),
			})},
			// No payload and no vectors: on a collection of named vectors,
			// real Qdrant takes `vector: {}` (an upsert with no vectors at
			// all it refuses: "Expected some vectors").
			{Id: qdrant.NewIDNum(42), Vectors: qdrant.NewVectorsMap(map[string]*qdrant.Vector{})},
		}
		wait := true
		if _, err := tg.client.Upsert(ctx, &qdrant.UpsertPoints{CollectionName: coll, Wait: &wait, Points: points}); err != nil {
			t.Fatal(err)
		}
		for field, ft := range map[string]qdrant.FieldType{"key": qdrant.FieldType_FieldTypeKeyword, "n": qdrant.FieldType_FieldTypeInteger} {
			if _, err := tg.client.CreateFieldIndex(ctx, &qdrant.CreateFieldIndexCollection{CollectionName: coll, Wait: &wait, FieldName: field, FieldType: &ft}); err != nil {
				t.Fatal(err)
			}
		}
		if err := tg.client.UpdateAliases(ctx, []*qdrant.AliasOperations{qdrant.NewAliasCreate(coll+"_a", coll), qdrant.NewAliasCreate(coll+"_b", coll)}); err != nil {
			t.Fatal(err)
		}
		want := mustState(t, tg, coll)
		if len(want.Points) != 4 || len(want.Schema) != 2 || len(want.Aliases) != 2 {
			t.Fatalf("setup: state %d points, %d indexes, %d aliases", len(want.Points), len(want.Schema), len(want.Aliases))
		}
		man := backUpDeleteRestore(t, tg, coll, mode)
		if diff := cmp.Diff(want, mustState(t, tg, coll)); diff != "" {
			t.Fatalf("state after restore (-want +got):\n%s", diff)
		}
		// Bit for bit: compare the raw float bits, not their printing.
		got, err := tg.client.Get(ctx, &qdrant.GetPoints{CollectionName: coll, Ids: []*qdrant.PointId{qdrant.NewIDNum(0), qdrant.NewIDNum(math.MaxUint64)}, WithVectors: qdrant.NewWithVectors(true)})
		if err != nil {
			t.Fatal(err)
		}
		var bits []uint32
		for _, p := range got {
			for _, f := range p.GetVectors().GetVectors().GetVectors()["dense"].GetDense().GetData() {
				bits = append(bits, math.Float32bits(f))
			}
		}
		var wantBits []uint32
		for _, f := range exact {
			wantBits = append(wantBits, math.Float32bits(f))
		}
		if !slices.Equal(bits, wantBits) {
			t.Fatalf("float bits after restore %x, want %x", bits, wantBits)
		}
		b := man.Backends[0]
		if b.Stats["points"] != 4 || b.Stats["collections"] != 1 || b.ServerVersion == "" || !strings.Contains(string(b.Details), coll+"_b") {
			t.Fatalf("manifest backend: stats %v, version %q, details %s", b.Stats, b.ServerVersion, b.Details)
		}
	})
}

// backUpDeleteRestore backs coll up, deletes it outright and restores it
// from the backup, which it returns.
func backUpDeleteRestore(t *testing.T, tg *target, coll string, mode qdrantexp.Mode) *ngbak.Manifest {
	t.Helper()
	ctx := context.Background()
	m, _ := newManager(t, tg.exporter(t, qdrantexp.Options{Collections: []string{coll}, Mode: mode}))
	man, err := m.Create(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := tg.client.DeleteCollection(ctx, coll); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Restore(ctx, man.ID, &ngbak.RestoreOptions{NoSafetyBackup: true}); err != nil {
		t.Fatal(err)
	}
	return man
}

func (tg *target) fill(t testing.TB, coll string, n int) {
	t.Helper()
	records := map[string]string{}
	for i := range n {
		records[fmt.Sprintf("doc-%05d", i)] = strings.Repeat(fmt.Sprintf("text %d ", i), 20)
	}
	if n == 0 {
		return // Qdrant refuses an empty upsert
	}
	h := &harness{tg: tg, coll: coll}
	if err := h.Put(context.Background(), records); err != nil {
		t.Fatal(err)
	}
}

// mustBeEmpty fails if the storage folder holds anything.
func mustBeEmpty(t testing.TB, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	if len(entries) > 0 {
		t.Fatalf("storage holds %d entries, want none (first %q)", len(entries), entries[0].Name())
	}
}

// TestBrokenDownloads: a download that breaks halfway, brings other bytes
// than the snapshot's description says, or stops moving for longer than
// Timeouts.Stall makes Create fail, with no archive in storage, no snapshot
// left on the server and the collection as it was; once the connection is
// whole again, Create works.
func TestBrokenDownloads(t *testing.T) {
	for _, c := range []struct {
		name  string
		fault func(*qdrantemu.Faults, bool)
		check func(error) bool
	}{
		{"cut", func(f *qdrantemu.Faults, on bool) { f.CutDownloadAfter.Store(map[bool]int64{true: 10_000}[on]) },
			func(err error) bool { return err != nil }},
		{"corrupt", func(f *qdrantemu.Faults, on bool) { f.CorruptDownload.Store(on) },
			func(err error) bool { return errors.Is(err, ngbak.ErrChecksum) }},
		{"stalled", func(f *qdrantemu.Faults, on bool) { f.StallDownload.Store(on) },
			func(err error) bool {
				return errors.Is(err, context.DeadlineExceeded) && strings.Contains(err.Error(), "stalled")
			}},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			tg := newTarget(t)
			coll := tg.newCollection(t, ctx)
			tg.fill(t, coll, 300)
			want := mustState(t, tg, coll)
			m, dir := newManager(t, tg.exporter(t, qdrantexp.Options{Collections: []string{coll}, Timeouts: qdrantexp.Timeouts{Stall: 300 * time.Millisecond}}))
			c.fault(tg.faults, true)
			_, err := m.Create(ctx, nil)
			if !c.check(err) {
				t.Fatalf("Create through a %s download: %v", c.name, err)
			}
			mustBeEmpty(t, dir)
			if diff := cmp.Diff(want, mustState(t, tg, coll)); diff != "" {
				t.Fatalf("the server after a failed Create (-want +got), snapshots included:\n%s", diff)
			}
			c.fault(tg.faults, false)
			if _, err := m.Create(ctx, nil); err != nil {
				t.Fatalf("Create once the connection is whole: %v", err)
			}
		})
	}
}

// TestCancelDuringSnapshot: a Create cancelled while the server makes the
// snapshot waits for it and deletes it; nothing is left on the server. The
// gRPC proxy holds the create call, as a server busy with a large snapshot
// does, and the caller cancels meanwhile.
func TestCancelDuringSnapshot(t *testing.T) {
	tg := newTarget(t)
	coll := tg.newCollection(t, context.Background())
	tg.fill(t, coll, 10)
	m, dir := newManager(t, tg.exporter(t, qdrantexp.Options{Collections: []string{coll}}))
	ctx, cancel := context.WithCancel(context.Background())
	created := make(chan struct{})
	tg.grpc.OnCall(func(method string) {
		if method == "/qdrant.Snapshots/Create" {
			cancel()
			time.Sleep(300 * time.Millisecond) // the server is still at work
			close(created)
		}
	})
	if _, err := m.Create(ctx, nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("Create cancelled during the snapshot: %v", err)
	}
	select {
	case <-created:
	default:
		t.Fatal("Create returned before the snapshot it asked for was made")
	}
	mustBeEmpty(t, dir)
	if s := mustState(t, tg, coll); len(s.Snapshots) != 0 {
		t.Fatalf("snapshots left on the server: %v", s.Snapshots)
	}
}

// TestRefusedUpload: when the server refuses the upload, the collection
// stays as it was, even with no safety backup to roll back from: the
// exporter never deletes a collection before its snapshot is in.
func TestRefusedUpload(t *testing.T) {
	t.Run("this server", func(t *testing.T) { refusedUpload(t, false) })
	// A server newer than the client sends fields it does not know: the
	// collection must still count as unchanged, and stay.
	t.Run("newer server", func(t *testing.T) { refusedUpload(t, true) })
}

func refusedUpload(t *testing.T, newer bool) {
	ctx := context.Background()
	tg := newTarget(t)
	if newer {
		tg.grpc.OnAnswer(func(method string, b []byte) []byte {
			if method != "/qdrant.Collections/Get" {
				return b
			}
			resp := &qdrant.GetCollectionInfoResponse{}
			if err := proto.Unmarshal(b, resp); err != nil {
				t.Error(err)
				return b
			}
			withUnknownField(resp.Result.Config.HnswConfig)
			b, _ = proto.Marshal(resp)
			return b
		})
	}
	coll := tg.newCollection(t, ctx)
	tg.fill(t, coll, 50)
	m, _ := newManager(t, tg.exporter(t, qdrantexp.Options{Collections: []string{coll}}))
	man, err := m.Create(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	tg.fill(t, coll, 80) // changes 50 points, adds 30
	changed := mustState(t, tg, coll)
	tg.faults.RefuseUpload.Store(true)
	_, err = m.Restore(ctx, man.ID, &ngbak.RestoreOptions{NoSafetyBackup: true})
	if err == nil || !strings.Contains(err.Error(), "refused on purpose") {
		t.Fatalf("Restore with a refused upload: %v", err)
	}
	if diff := cmp.Diff(changed, mustState(t, tg, coll)); diff != "" {
		t.Fatalf("a refused upload changed the collection (-want +got):\n%s", diff)
	}
	tg.faults.RefuseUpload.Store(false)
	if _, err := m.Restore(ctx, man.ID, nil); err != nil {
		t.Fatal(err)
	}
	if n := len(mustState(t, tg, coll).Points); n != 50 {
		t.Fatalf("after the restore: %d points, want 50", n)
	}
}

// TestMissingAPIKey: without the key, Create fails and says so.
func TestMissingAPIKey(t *testing.T) {
	tg := newTarget(t)
	if tg.cfg.APIKey == "" {
		t.Skip("the server under test has no API key")
	}
	ctx := context.Background()
	coll := tg.newCollection(t, ctx)
	cfg := tg.cfg
	cfg.APIKey = ""
	e, err := qdrantexp.New(cfg, qdrantexp.Options{Collections: []string{coll}})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	m, dir := newManager(t, e)
	_, err = m.Create(ctx, nil)
	if err == nil || !strings.Contains(err.Error(), "Unauthenticated") {
		t.Fatalf("Create without the API key: %v, want Unauthenticated", err)
	}
	mustBeEmpty(t, dir)

	// A wrong key on REST alone (gRPC right) names the key too.
	cfg = tg.cfg
	cfg.HTTPClient = &http.Client{Transport: roundTripper(func(r *http.Request) (*http.Response, error) {
		r.Header.Set("api-key", "wrong")
		return http.DefaultTransport.RoundTrip(r)
	})}
	e2, err := qdrantexp.New(cfg, qdrantexp.Options{Collections: []string{coll}})
	if err != nil {
		t.Fatal(err)
	}
	defer e2.Close()
	m2, _ := newManager(t, e2)
	_, err = m2.Create(ctx, nil)
	if err == nil || !strings.Contains(err.Error(), "401") || !strings.Contains(err.Error(), "API key") {
		t.Fatalf("Create with a wrong REST key: %v, want 401 naming the API key", err)
	}
	if s := mustState(t, tg, coll); len(s.Snapshots) != 0 {
		t.Fatalf("snapshots left on the server: %v", s.Snapshots)
	}
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestManyCollections: a dozen collections of different sizes in one
// backup, restored after all were changed or deleted.
func TestManyCollections(t *testing.T) {
	bothModes(t, func(t *testing.T, mode qdrantexp.Mode) {
		ctx := context.Background()
		tg := newTarget(t)
		var names []string
		want := map[string]state{}
		for i := range 12 {
			c := tg.newCollection(t, ctx)
			tg.fill(t, c, i*7)
			names = append(names, c)
			want[c] = mustState(t, tg, c)
		}
		m, _ := newManager(t, tg.exporter(t, qdrantexp.Options{Collections: names, Mode: mode}))
		man, err := m.Create(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := man.Backends[0].Stats["collections"]; got != 12 {
			t.Fatalf("stats collections = %d", got)
		}
		for i, c := range names {
			if i%2 == 0 {
				if err := tg.client.DeleteCollection(ctx, c); err != nil {
					t.Fatal(err)
				}
			} else {
				tg.fill(t, c, 3)
			}
		}
		if _, err := m.Restore(ctx, man.ID, nil); err != nil {
			t.Fatal(err)
		}
		for _, c := range names {
			if diff := cmp.Diff(want[c], mustState(t, tg, c)); diff != "" {
				t.Fatalf("collection %s after restore (-want +got):\n%s", c, diff)
			}
		}
	})
}

// TestAllCollections: with no list, the backup holds every collection and
// a restore deletes the collections made after it. Against a real server
// it runs only when the server holds nothing but these tests' collections.
func TestAllCollections(t *testing.T) {
	bothModes(t, func(t *testing.T, mode qdrantexp.Mode) {
		ctx := context.Background()
		tg := newTarget(t)
		existing, err := tg.client.ListCollections(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range existing {
			if !strings.HasPrefix(c, "ngbak_test_") {
				t.Skipf("the server holds collection %q, which a restore of every collection would delete", c)
			}
		}
		a, b := tg.newCollection(t, ctx), tg.newCollection(t, ctx)
		tg.fill(t, a, 5)
		wantA := mustState(t, tg, a)
		m, _ := newManager(t, tg.exporter(t, qdrantexp.Options{Mode: mode}))
		man, err := m.Create(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := tg.client.DeleteCollection(ctx, b); err != nil {
			t.Fatal(err)
		}
		later := tg.newCollection(t, ctx)
		if _, err := m.Restore(ctx, man.ID, nil); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(wantA, mustState(t, tg, a)); diff != "" {
			t.Fatalf("collection a (-want +got):\n%s", diff)
		}
		if s := mustState(t, tg, b); !s.Exists {
			t.Fatal("collection b, deleted after the backup, was not restored")
		}
		if s := mustState(t, tg, later); s.Exists {
			t.Fatal("collection made after the backup survived the restore")
		}
		// An exporter with a list refuses a backup holding more.
		m2, _ := newManager(t, tg.exporter(t, qdrantexp.Options{Collections: []string{a}, Mode: mode}))
		rc, err := m.Open(ctx, man.ID)
		if err != nil {
			t.Fatal(err)
		}
		_, err = m2.Import(ctx, rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := m2.Restore(ctx, man.ID, nil); err == nil || !strings.Contains(err.Error(), "outside Options.Collections") {
			t.Fatalf("Restore of a wider backup: %v", err)
		}
	})
}

// TestListedAbsent: a listed collection that did not exist at backup time
// is recorded as absent, and a restore deletes it: that is what lets the
// Manager undo a restore that created a collection.
func TestListedAbsent(t *testing.T) {
	ctx := context.Background()
	tg := newTarget(t)
	a := tg.newCollection(t, ctx)
	ghost := "ngbak_test_" + randomHex(6)
	t.Cleanup(func() { tg.client.DeleteCollection(context.Background(), ghost) })
	m, _ := newManager(t, tg.exporter(t, qdrantexp.Options{Collections: []string{a, ghost}}))
	man, err := m.Create(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(man.Backends[0].Details), `"absent":["`+ghost+`"]`) {
		t.Fatalf("details do not record %s as absent: %s", ghost, man.Backends[0].Details)
	}
	if err := tg.client.CreateCollection(ctx, &qdrant.CreateCollection{CollectionName: ghost}); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Restore(ctx, man.ID, nil); err != nil {
		t.Fatal(err)
	}
	if s := mustState(t, tg, ghost); s.Exists {
		t.Fatal("a collection absent at backup time survived the restore")
	}
}

// TestTLS: gRPC and REST over TLS, the server's certificate checked
// against the configured roots. (Emulator only: a real server's TLS is its
// own setup.)
func TestTLS(t *testing.T) {
	serverTLS, roots := selfSigned(t)
	emu, err := qdrantemu.Start(qdrantemu.Options{APIKey: "k", Dir: t.TempDir(), TLS: serverTLS})
	if err != nil {
		t.Fatal(err)
	}
	defer emu.Close()
	if !strings.HasPrefix(emu.URL, "https://") {
		t.Fatalf("emulator URL %s", emu.URL)
	}
	cfg := qdrantexp.Config{URL: emu.URL, GRPC: emu.GRPCAddr, APIKey: "k", TLS: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}}
	ctx := context.Background()
	host, port := splitHostPort(t, emu.GRPCAddr)
	client, err := qdrant.NewClient(&qdrant.Config{Host: host, Port: port, APIKey: "k", UseTLS: true, TLSConfig: cfg.TLS, SkipCompatibilityCheck: true, PoolSize: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	if err := client.CreateCollection(ctx, &qdrant.CreateCollection{CollectionName: "c", VectorsConfig: qdrant.NewVectorsConfig(&qdrant.VectorParams{Size: 2, Distance: qdrant.Distance_Dot})}); err != nil {
		t.Fatal(err)
	}
	if _, err := client.Upsert(ctx, &qdrant.UpsertPoints{CollectionName: "c", Points: []*qdrant.PointStruct{{Id: qdrant.NewIDNum(1), Vectors: qdrant.NewVectors(1, 2)}}}); err != nil {
		t.Fatal(err)
	}
	for _, mode := range []qdrantexp.Mode{qdrantexp.Snapshot, qdrantexp.Logical} {
		e, err := qdrantexp.New(cfg, qdrantexp.Options{Collections: []string{"c"}, Mode: mode})
		if err != nil {
			t.Fatal(err)
		}
		m, _ := newManager(t, e)
		man, err := m.Create(ctx, nil)
		if err != nil {
			t.Fatalf("%v: Create over TLS: %v", mode, err)
		}
		if _, err := m.Restore(ctx, man.ID, nil); err != nil {
			t.Fatalf("%v: Restore over TLS: %v", mode, err)
		}
		e.Close()
	}
	// Without the roots, the certificate is refused.
	bad := cfg
	bad.TLS = &tls.Config{MinVersion: tls.VersionTLS12}
	e, err := qdrantexp.New(bad, qdrantexp.Options{Collections: []string{"c"}})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	m, _ := newManager(t, e)
	if _, err := m.Create(ctx, nil); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("Create with an untrusted certificate: %v", err)
	}
}

// selfSigned makes a certificate for 127.0.0.1 and the pool that trusts it.
func selfSigned(t *testing.T) (*tls.Config, *x509.CertPool) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "qdrantemu"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, IsCA: true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}, NextProtos: []string{"h2", "http/1.1"}}, pool
}

// TestAcrossVersions, on Qdrant 1.18 and 1.19 (the real servers, or two
// emulators that say they are): a 1.18 snapshot restores into 1.19; a 1.19
// snapshot is refused by 1.18 before anything happens there (no safety
// backup, the collection untouched), although the real 1.18 server would
// accept the upload; logical backups move both ways exactly.
func TestAcrossVersions(t *testing.T) {
	ctx := context.Background()
	prev, cur := newPrevTarget(t), newTarget(t)
	versions := map[*target]string{}
	for _, tg := range []*target{prev, cur} {
		r, err := tg.client.HealthCheck(ctx)
		if err != nil {
			t.Fatal(err)
		}
		versions[tg] = r.GetVersion()
	}
	if !strings.HasPrefix(versions[prev], "1.18.") || !strings.HasPrefix(versions[cur], "1.19.") {
		t.Fatalf("servers of versions %s and %s, want 1.18 and 1.19", versions[prev], versions[cur])
	}
	// Two Managers, one for each server, share each subtest's storage.
	manager := func(t *testing.T, tg *target, coll string, mode qdrantexp.Mode) *ngbak.Manager {
		m, err := ngbak.New(ngbak.Options{Storage: ngbak.Dir(filepath.Join(filepath.Dir(t.TempDir()), "backups")), TempDir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		if err := m.Register(tg.exporter(t, qdrantexp.Options{Collections: []string{coll}, Mode: mode})); err != nil {
			t.Fatal(err)
		}
		return m
	}
	// move backs up coll on from and restores it into to, where a
	// collection of that name with other points exists, and returns the
	// state it had on from.
	move := func(t *testing.T, from, to *target, mode qdrantexp.Mode) (want state, coll string, err error) {
		coll = from.newCollection(t, ctx)
		from.fill(t, coll, 20)
		want = mustState(t, from, coll)
		if err := to.client.CreateCollection(ctx, &qdrant.CreateCollection{CollectionName: coll,
			VectorsConfig: qdrant.NewVectorsConfig(&qdrant.VectorParams{Size: 2, Distance: qdrant.Distance_Dot})}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { to.client.DeleteCollection(context.Background(), coll) })
		wait := true
		if _, err := to.client.Upsert(ctx, &qdrant.UpsertPoints{CollectionName: coll, Wait: &wait,
			Points: []*qdrant.PointStruct{{Id: qdrant.NewIDNum(7), Vectors: qdrant.NewVectors(1, 2)}}}); err != nil {
			t.Fatal(err)
		}
		man, err := manager(t, from, coll, mode).Create(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		if v := man.Backends[0].ServerVersion; v != versions[from] {
			t.Fatalf("manifest records server version %q, want %q", v, versions[from])
		}
		_, err = manager(t, to, coll, mode).Restore(ctx, man.ID, nil)
		return want, coll, err
	}
	t.Run("snapshot up", func(t *testing.T) {
		want, coll, err := move(t, prev, cur, qdrantexp.Snapshot)
		if err != nil {
			t.Fatalf("a 1.18 snapshot into 1.19: %v", err)
		}
		if diff := cmp.Diff(want.Points, mustState(t, cur, coll).Points); diff != "" {
			t.Fatalf("points after a 1.18 snapshot restored into 1.19 (-want +got):\n%s", diff)
		}
	})
	t.Run("snapshot down", func(t *testing.T) {
		coll := cur.newCollection(t, ctx)
		cur.fill(t, coll, 20)
		if err := prev.client.CreateCollection(ctx, &qdrant.CreateCollection{CollectionName: coll,
			VectorsConfig: qdrant.NewVectorsConfig(&qdrant.VectorParams{Size: 2, Distance: qdrant.Distance_Dot})}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { prev.client.DeleteCollection(context.Background(), coll) })
		before := mustState(t, prev, coll)
		man, err := manager(t, cur, coll, qdrantexp.Snapshot).Create(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		restorer := manager(t, prev, coll, qdrantexp.Snapshot)
		_, err = restorer.Restore(ctx, man.ID, nil)
		if err == nil || !strings.Contains(err.Error(), "nothing was changed") ||
			!strings.Contains(err.Error(), "from server "+versions[cur]+" cannot be restored into "+versions[prev]) || !strings.Contains(err.Error(), "logical mode") {
			t.Fatalf("a 1.19 snapshot into 1.18: %v", err)
		}
		list, err := restorer.List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range list {
			if b.Manifest.Labels[ngbak.LabelSafetyFor] != "" {
				t.Fatalf("the refused restore took a safety backup: %s", b.Manifest.ID)
			}
		}
		if diff := cmp.Diff(before, mustState(t, prev, coll)); diff != "" {
			t.Fatalf("the refused restore changed the collection (-want +got):\n%s", diff)
		}
	})
	for _, dir := range []struct {
		name     string
		from, to *target
	}{{"logical up", prev, cur}, {"logical down", cur, prev}} {
		t.Run(dir.name, func(t *testing.T) {
			want, coll, err := move(t, dir.from, dir.to, qdrantexp.Logical)
			if err != nil {
				t.Fatalf("logical restore from %s into %s: %v", versions[dir.from], versions[dir.to], err)
			}
			got := mustState(t, dir.to, coll)
			got.Snapshots, want.Snapshots = nil, nil
			if diff := cmp.Diff(want, got); diff != "" {
				t.Fatalf("logical restore from %s into %s (-want +got):\n%s", versions[dir.from], versions[dir.to], diff)
			}
		})
	}
}

// TestShardsElsewhere: a snapshot holds the shards of the node that makes
// it, so when the node does not hold them all (a distributed deployment),
// snapshot mode refuses before making one, and logical mode, which reads
// through the cluster, backs the collection up. (Emulator only: it cannot
// make a real server distributed.)
func TestShardsElsewhere(t *testing.T) {
	tg := newTarget(t)
	if tg.emu == nil {
		t.Skip("needs the emulator to report shards on another peer")
	}
	ctx := context.Background()
	coll := tg.newCollection(t, ctx) // two shards
	tg.fill(t, coll, 10)
	if err := tg.emu.SetRemoteShards(coll, 1); err != nil {
		t.Fatal(err)
	}
	m, dir := newManager(t, tg.exporter(t, qdrantexp.Options{Collections: []string{coll}}))
	_, err := m.Create(ctx, nil)
	if err == nil || !strings.Contains(err.Error(), "holds 1 of its 2 shards active (not here: 1)") || !strings.Contains(err.Error(), "logical mode") {
		t.Fatalf("snapshot with a shard on another peer: %v", err)
	}
	mustBeEmpty(t, dir)
	if s := mustState(t, tg, coll); len(s.Snapshots) != 0 {
		t.Fatalf("snapshots left on the server: %v", s.Snapshots)
	}
	m, _ = newManager(t, tg.exporter(t, qdrantexp.Options{Collections: []string{coll}, Mode: qdrantexp.Logical}))
	man, err := m.Create(ctx, nil)
	if err != nil {
		t.Fatalf("logical mode with a shard on another peer: %v", err)
	}
	if n := man.Backends[0].Stats["points"]; n != 10 {
		t.Fatalf("logical backup of %d points, want 10", n)
	}
}

// TestSnapshotsLeftAsFound: Create and Restore leave the server's snapshot
// list exactly as they found it, a snapshot somebody else made included.
// Qdrant keeps an uploaded snapshot in the list (and on disk, a full copy of
// the collection) until it is deleted, also after the collection is.
func TestSnapshotsLeftAsFound(t *testing.T) {
	ctx := context.Background()
	tg := newTarget(t)
	coll := tg.newCollection(t, ctx)
	tg.fill(t, coll, 30)
	theirs, err := tg.client.CreateSnapshot(ctx, coll)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tg.client.DeleteSnapshot(context.Background(), coll, theirs.Name) })
	want := mustState(t, tg, coll)
	if !slices.Equal(want.Snapshots, []string{theirs.Name}) {
		t.Fatalf("setup: snapshots %v", want.Snapshots)
	}
	m, _ := newManager(t, tg.exporter(t, qdrantexp.Options{Collections: []string{coll}}))
	man, err := m.Create(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, mustState(t, tg, coll)); diff != "" {
		t.Fatalf("after Create (-want +got):\n%s", diff)
	}
	tg.fill(t, coll, 40)
	if _, err := m.Restore(ctx, man.ID, nil); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, mustState(t, tg, coll)); diff != "" {
		t.Fatalf("after Restore, its safety backup and its upload (-want +got):\n%s", diff)
	}
}

// TestDownloadUncompressed: a snapshot is downloaded as it is, with its
// length, not gzip-compressed by the server (which Qdrant does for any
// client that accepts gzip, as Go's transport does unless told otherwise).
func TestDownloadUncompressed(t *testing.T) {
	ctx := context.Background()
	tg := newTarget(t)
	coll := tg.newCollection(t, ctx)
	tg.fill(t, coll, 200)
	type seen struct {
		ContentLength int64
		Uncompressed  bool
		Encoding      string
	}
	var got []seen
	cfg := tg.cfg
	cfg.HTTPClient = &http.Client{Transport: roundTripper(func(r *http.Request) (*http.Response, error) {
		resp, err := http.DefaultTransport.RoundTrip(r)
		if err == nil && r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/snapshots/") {
			got = append(got, seen{resp.ContentLength, resp.Uncompressed, resp.Header.Get("Content-Encoding")})
		}
		return resp, err
	})}
	e, err := qdrantexp.New(cfg, qdrantexp.Options{Collections: []string{coll}})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	m, _ := newManager(t, e)
	man, err := m.Create(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	size := man.Backends[0].Files[0].Size
	if diff := cmp.Diff([]seen{{ContentLength: size}}, got); diff != "" {
		t.Fatalf("snapshot downloads (-want +got):\n%s", diff)
	}
}

// TestRestoreReplacesConfig: a restore brings back the configuration and
// payload indexes the backup holds, whatever the collection was changed to
// since: other HNSW and optimizer settings, a new payload index, other
// vectors. Qdrant recovers a snapshot over an existing collection keeping
// that collection's configuration and indexes, and refuses it when the
// vectors differ.
func TestRestoreReplacesConfig(t *testing.T) {
	bothModes(t, func(t *testing.T, mode qdrantexp.Mode) {
		for _, change := range []string{"settings", "vectors"} {
			t.Run(change, func(t *testing.T) {
				ctx := context.Background()
				tg := newTarget(t)
				coll := tg.newCollection(t, ctx)
				tg.fill(t, coll, 25)
				want := mustState(t, tg, coll)
				m, _ := newManager(t, tg.exporter(t, qdrantexp.Options{Collections: []string{coll}, Mode: mode}))
				man, err := m.Create(ctx, nil)
				if err != nil {
					t.Fatal(err)
				}
				switch change {
				case "settings":
					m32, threshold := uint64(32), uint64(5000)
					if err := tg.client.UpdateCollection(ctx, &qdrant.UpdateCollection{CollectionName: coll,
						HnswConfig: &qdrant.HnswConfigDiff{M: &m32}, OptimizersConfig: &qdrant.OptimizersConfigDiff{IndexingThreshold: &threshold}}); err != nil {
						t.Fatal(err)
					}
					wait, ft := true, qdrant.FieldType_FieldTypeKeyword
					if _, err := tg.client.CreateFieldIndex(ctx, &qdrant.CreateFieldIndexCollection{CollectionName: coll, Wait: &wait, FieldName: "key", FieldType: &ft}); err != nil {
						t.Fatal(err)
					}
				case "vectors":
					if err := tg.client.DeleteCollection(ctx, coll); err != nil {
						t.Fatal(err)
					}
					if err := tg.client.CreateCollection(ctx, &qdrant.CreateCollection{CollectionName: coll,
						VectorsConfig: qdrant.NewVectorsConfig(&qdrant.VectorParams{Size: 3, Distance: qdrant.Distance_Euclid})}); err != nil {
						t.Fatal(err)
					}
				}
				if _, err := m.Restore(ctx, man.ID, nil); err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(want, mustState(t, tg, coll)); diff != "" {
					t.Fatalf("after the %s changed and a restore (-want +got):\n%s", change, diff)
				}
			})
		}
	})
}

// TestStrictMode: a collection in strict mode, whose limits are below the
// exporter's own page and batch sizes, backs up and restores with its
// strict mode, in both modes: pages are sized from max_query_limit, and a
// logical restore loads the points before it turns strict mode on.
func TestStrictMode(t *testing.T) {
	bothModes(t, func(t *testing.T, mode qdrantexp.Mode) {
		ctx := context.Background()
		tg := newTarget(t)
		coll := tg.newCollection(t, ctx)
		tg.fill(t, coll, 40)
		on, limit, batch := true, uint32(7), uint64(5)
		if err := tg.client.UpdateCollection(ctx, &qdrant.UpdateCollection{CollectionName: coll,
			StrictModeConfig: &qdrant.StrictModeConfig{Enabled: &on, MaxQueryLimit: &limit, UpsertMaxBatchsize: &batch}}); err != nil {
			t.Fatal(err)
		}
		tg.page = limit
		want := mustState(t, tg, coll)
		if !strings.Contains(want.Config, "upsertMaxBatchsize") {
			t.Fatalf("setup: strict mode not in the configuration: %s", want.Config)
		}
		backUpDeleteRestore(t, tg, coll, mode)
		if diff := cmp.Diff(want, mustState(t, tg, coll)); diff != "" {
			t.Fatalf("after a restore (-want +got):\n%s", diff)
		}
	})
}

// withUnknownField gives m a field its type does not know, as a newer
// server's answer has.
func withUnknownField(m proto.Message) {
	m.ProtoReflect().SetUnknown(protowire.AppendVarint(protowire.AppendTag(nil, 999, protowire.VarintType), 1))
}

// TestUnknownFields: a server newer than this build's go-client can send
// fields the client's types do not know, which protobuf keeps as unknown
// bytes and a logical backup would silently lose. The gRPC proxy plays
// such a server: a logical Create then fails naming the field, in the
// configuration or in a point; snapshot mode, which keeps the server's own
// file, is not concerned.
func TestUnknownFields(t *testing.T) {
	ctx := context.Background()
	tg := newTarget(t)
	coll := tg.newCollection(t, ctx)
	tg.fill(t, coll, 5)
	for _, c := range []struct {
		method, want string
		rewrite      func([]byte) []byte
	}{
		{"/qdrant.Collections/Get", "CollectionInfo.config.hnsw_config#999", func(b []byte) []byte {
			resp := &qdrant.GetCollectionInfoResponse{}
			if err := proto.Unmarshal(b, resp); err != nil {
				t.Error(err)
			}
			withUnknownField(resp.Result.Config.HnswConfig)
			b, _ = proto.Marshal(resp)
			return b
		}},
		{"/qdrant.Points/Scroll", "RetrievedPoint#999", func(b []byte) []byte {
			resp := &qdrant.ScrollResponse{}
			if err := proto.Unmarshal(b, resp); err != nil {
				t.Error(err)
			}
			withUnknownField(resp.Result[len(resp.Result)-1])
			b, _ = proto.Marshal(resp)
			return b
		}},
	} {
		tg.grpc.OnAnswer(func(method string, b []byte) []byte {
			if method == c.method {
				return c.rewrite(b)
			}
			return b
		})
		m, dir := newManager(t, tg.exporter(t, qdrantexp.Options{Collections: []string{coll}, Mode: qdrantexp.Logical}))
		_, err := m.Create(ctx, nil)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "go-client") {
			t.Fatalf("logical Create with an unknown field in %s: %v, want an error naming %s", c.method, err, c.want)
		}
		mustBeEmpty(t, dir)
		m, _ = newManager(t, tg.exporter(t, qdrantexp.Options{Collections: []string{coll}}))
		if _, err := m.Create(ctx, nil); err != nil {
			t.Fatalf("snapshot Create with an unknown field in %s: %v", c.method, err)
		}
	}
}

// TestSnapshotMadeMeanwhile: somebody makes a snapshot of the collection
// just after ngbak's, in the same second, which Qdrant gives the same name
// and writes over ngbak's. Create must not then delete it: whatever the
// timing, their snapshot is on the server afterwards, as they made it.
func TestSnapshotMadeMeanwhile(t *testing.T) {
	ctx := context.Background()
	tg := newTarget(t)
	coll := tg.newCollection(t, ctx)
	tg.fill(t, coll, 30)
	var theirs *qdrant.SnapshotDescription
	tg.grpc.OnAnswer(func(method string, b []byte) []byte {
		if method == "/qdrant.Snapshots/Create" && theirs == nil {
			tg.fill(t, coll, 31) // their snapshot differs from ngbak's
			var err error
			if theirs, err = tg.client.CreateSnapshot(ctx, coll); err != nil {
				t.Error(err)
			}
		}
		return b
	})
	m, _ := newManager(t, tg.exporter(t, qdrantexp.Options{Collections: []string{coll}}))
	_, err := m.Create(ctx, nil)
	if theirs == nil {
		t.Fatal("the hook made no snapshot")
	}
	snaps, lerr := tg.client.ListSnapshots(ctx, coll)
	if lerr != nil {
		t.Fatal(lerr)
	}
	var found *qdrant.SnapshotDescription
	for _, s := range snaps {
		if s.Name == theirs.Name {
			found = s
		}
	}
	if found == nil || found.GetChecksum() != theirs.GetChecksum() {
		t.Fatalf("their snapshot %s (Create: %v): listed as %v", theirs.Name, err, found)
	}
	t.Logf("Create: %v", err)
}
