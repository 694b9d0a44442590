// Package qdrantemu is an EMULATOR of the parts of Qdrant's API that ngbak
// uses, for tests on machines where no Qdrant server can be installed. It is
// not Qdrant: it keeps collections in memory, writes snapshots in a format of
// its own, and implements only what qdrantexp calls. Every behaviour follows
// Qdrant's documentation, cited beside it; where the documentation is silent
// the emulator is strict (it refuses what it does not implement rather than
// guess).
//
// It serves gRPC through the go-client's generated service interfaces
// (github.com/qdrant/go-client/qdrant) and REST for what gRPC lacks
// (snapshot listing, download and upload). The tests of qdrantexp run
// against the real Qdrant of NGBAK_QDRANT_URL and NGBAK_QDRANT_GRPC when
// they are set, and against the emulator otherwise or with
// NGBAK_QDRANT_EMULATOR=1; make test runs them both ways, and
// TestLikeRealQdrant compares the two servers call by call. Where real
// Qdrant was found to behave in a way its documentation does not say, the
// emulator does the same, with the source cited: it gzips REST answers for
// a client that accepts gzip, keeps an uploaded snapshot in the collection's
// snapshot list, keeps snapshots when their collection is deleted, names
// snapshots by the second (a second one in the same second replaces the
// first), recovers a snapshot over an existing collection only when the
// vectors and shard number agree and then keeps the collection's own
// configuration and payload indexes, refuses empty upserts and points
// without vectors, normalises Cosine vectors, reports the defaults 1.19
// reports, refuses the collection names Qdrant refuses and enforces strict
// mode's max_query_limit and upsert_max_batchsize.
//
// What it does not do: filters, search, shard keys, clustering (its cluster
// info reports one node holding every shard, or shards on another peer
// after SetRemoteShards, without moving any point), rate limits, and
// anything of Qdrant's storage format.
package qdrantemu

//lint:file-ignore SA1019 the emulator accepts the deprecated flat vector fields, as Qdrant does
//lint:file-ignore ST1005 its error messages are Qdrant's own

import (
	"bufio"
	"cmp"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/qdrant/go-client/qdrant"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protodelim"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// DefaultVersion is the server version the emulator reports unless
// Options.Version says otherwise: the Qdrant release whose API it follows.
const DefaultVersion = "1.19.0-emulator"

// maxMessage is the largest gRPC request the emulator accepts: Qdrant's
// default service.max_request_size_mb is 32
// (https://qdrant.tech/documentation/guides/configuration/).
const maxMessage = 32 << 20

// Options configure a Server.
type Options struct {
	// APIKey, when set, is required on every request: the `api-key` header
	// or `Authorization: Bearer` on REST, `api-key` metadata on gRPC
	// (https://qdrant.tech/documentation/guides/security/).
	APIKey string
	// Dir holds snapshot files; empty means a new temporary folder, removed
	// by Close.
	Dir string
	// TLS, when set, serves both gRPC and REST (https) with it.
	TLS *tls.Config
	// Version is the server version reported by the health check and the
	// REST root; empty means DefaultVersion.
	Version string
}

// Server is a running emulator: gRPC on GRPCAddr, REST on URL.
type Server struct {
	// URL is the REST base URL, e.g. http://127.0.0.1:41234.
	URL string
	// GRPCAddr is the gRPC host:port.
	GRPCAddr string

	opts    Options
	dir     string
	tempDir bool
	grpc    *grpc.Server
	http    *http.Server

	mu          sync.Mutex
	collections map[string]*collection
	aliases     map[string]string // alias -> collection
}

// localPeer is the emulator's peer id in cluster info.
const localPeer = 1

type collection struct {
	config       *qdrant.CollectionConfig
	remoteShards []uint32 // reported on another peer (SetRemoteShards)
	schema       map[string]*qdrant.PayloadSchemaInfo
	points       map[pointKey]*qdrant.PointStruct
	order        []pointKey // sorted keys; nil after a change
	created      time.Time
}

// Start starts an emulator on loopback ports.
func Start(opts Options) (*Server, error) {
	if opts.Version == "" {
		opts.Version = DefaultVersion
	}
	s := &Server{opts: opts, dir: opts.Dir, collections: map[string]*collection{}, aliases: map[string]string{}}
	if s.dir == "" {
		d, err := os.MkdirTemp("", "qdrantemu-")
		if err != nil {
			return nil, err
		}
		s.dir, s.tempDir = d, true
	}
	gl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	hl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		gl.Close()
		return nil, err
	}
	s.GRPCAddr = gl.Addr().String()
	s.URL = "http://" + hl.Addr().String()
	serverOpts := []grpc.ServerOption{}
	if opts.TLS != nil {
		s.URL = "https://" + hl.Addr().String()
		hl = tls.NewListener(hl, opts.TLS)
		serverOpts = append(serverOpts, grpc.Creds(credentials.NewTLS(opts.TLS)))
	}
	// The go-client pings every 10 s; grpc-go's default policy would answer
	// that with GOAWAY "too_many_pings", which Qdrant does not.
	s.grpc = grpc.NewServer(append(serverOpts, grpc.MaxRecvMsgSize(maxMessage), grpc.UnaryInterceptor(s.checkKeyGRPC),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 5 * time.Second, PermitWithoutStream: true}))...)
	qdrant.RegisterCollectionsServer(s.grpc, &collectionsService{s: s})
	qdrant.RegisterPointsServer(s.grpc, &pointsService{s: s})
	qdrant.RegisterSnapshotsServer(s.grpc, &snapshotsService{s: s})
	qdrant.RegisterQdrantServer(s.grpc, &qdrantService{s: s})
	s.http = &http.Server{Handler: s.restHandler(), ReadHeaderTimeout: 10 * time.Second}
	go s.grpc.Serve(gl)
	go s.http.Serve(hl)
	return s, nil
}

// Close stops the servers and removes a temporary snapshot folder.
func (s *Server) Close() error {
	s.grpc.Stop()
	err := s.http.Close()
	if s.tempDir {
		err = errors.Join(err, os.RemoveAll(s.dir))
	}
	return err
}

// SetRemoteShards makes the collection's cluster info report these shards
// on another peer, as a node of a distributed deployment does for shards it
// does not hold. Only the report changes: the points stay here.
func (s *Server) SetRemoteShards(name string, ids ...uint32) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, _, err := s.get(name)
	if err != nil {
		return err
	}
	c.remoteShards = ids
	return nil
}

// authorized compares in constant time, as an API key deserves.
func (s *Server) authorized(key string) bool {
	return s.opts.APIKey == "" || subtle.ConstantTimeCompare([]byte(key), []byte(s.opts.APIKey)) == 1
}

func (s *Server) checkKeyGRPC(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	key := ""
	if v := md.Get("api-key"); len(v) > 0 {
		key = v[0]
	} else if v := md.Get("authorization"); len(v) > 0 {
		key, _ = strings.CutPrefix(v[0], "Bearer ")
	}
	if !s.authorized(key) {
		return nil, status.Error(codes.Unauthenticated, "Must provide an API key or an Authorization bearer token")
	}
	return handler(ctx, req)
}

// pointKey orders point ids as Qdrant's scroll does: numeric ids first, in
// numeric order, then UUIDs (https://qdrant.tech/documentation/concepts/points/#scroll-points:
// "sorted by id").
type pointKey struct {
	uuid bool
	num  uint64
	str  string
}

func keyOf(id *qdrant.PointId) (pointKey, error) {
	switch v := id.GetPointIdOptions().(type) {
	case *qdrant.PointId_Num:
		return pointKey{num: v.Num}, nil
	case *qdrant.PointId_Uuid:
		u, err := canonicalUUID(v.Uuid)
		if err != nil {
			return pointKey{}, err
		}
		return pointKey{uuid: true, str: u}, nil
	}
	return pointKey{}, errors.New("point id is neither a number nor a UUID")
}

func (k pointKey) id() *qdrant.PointId {
	if k.uuid {
		return qdrant.NewIDUUID(k.str)
	}
	return qdrant.NewIDNum(k.num)
}

func comparePointKeys(a, b pointKey) int {
	if a.uuid != b.uuid {
		if a.uuid {
			return 1
		}
		return -1
	}
	if a.uuid {
		return strings.Compare(a.str, b.str)
	}
	return cmp.Compare(a.num, b.num)
}

// canonicalUUID accepts the forms Qdrant documents for UUID ids (simple and
// hyphenated, https://qdrant.tech/documentation/concepts/points/#point-ids)
// and returns the hyphenated lower-case form, which is what Qdrant returns.
func canonicalUUID(s string) (string, error) {
	h := strings.ToLower(strings.ReplaceAll(s, "-", ""))
	if len(h) != 32 {
		return "", fmt.Errorf("Unable to parse UUID: %s", s)
	}
	if _, err := hex.DecodeString(h); err != nil {
		return "", fmt.Errorf("Unable to parse UUID: %s", s)
	}
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:], nil
}

func (c *collection) sorted() []pointKey {
	if c.order == nil {
		c.order = make([]pointKey, 0, len(c.points))
		for k := range c.points {
			c.order = append(c.order, k)
		}
		slices.SortFunc(c.order, comparePointKeys)
	}
	return c.order
}

// get returns the collection a name or alias refers to; Qdrant accepts an
// alias wherever a collection name goes
// (https://qdrant.tech/documentation/concepts/collections/#collection-aliases).
// The caller holds s.mu.
func (s *Server) get(name string) (*collection, string, error) {
	if real, ok := s.aliases[name]; ok {
		name = real
	}
	c, ok := s.collections[name]
	if !ok {
		return nil, name, status.Errorf(codes.NotFound, "Not found: Collection `%s` doesn't exist!", name)
	}
	return c, name, nil
}

// validName refuses the names Qdrant refuses for a new collection: empty or
// longer than 255 bytes, or holding a character of INVALID_NAME_CHARS
// (lib/common/common/src/validation.rs), with its messages.
func validName(name string) error {
	if name == "" || len(name) > 255 {
		return status.Errorf(codes.InvalidArgument, "Validation error in body: [collection_name: value %q invalid, must be from 1 to 255 characters]", name)
	}
	if i := strings.IndexAny(name, "<>:\"/\\|?*\x00\x1f"); i >= 0 {
		return status.Errorf(codes.InvalidArgument, "Validation error in body: [collection_name: collection name cannot contain \"%c\" char]", name[i])
	}
	if name == "." || name == ".." {
		return status.Errorf(codes.InvalidArgument, "Validation error in body: [collection_name: invalid name %q]", name)
	}
	return nil
}

// newConfig fills in the defaults Qdrant documents for a new collection
// (https://qdrant.tech/documentation/concepts/collections/#create-a-collection,
// https://qdrant.tech/documentation/guides/configuration/).
func newConfig(req *qdrant.CreateCollection) *qdrant.CollectionConfig {
	u32 := func(p *uint32, def uint32) *uint32 {
		if p != nil {
			def = *p
		}
		return &def
	}
	params := &qdrant.CollectionParams{
		ShardNumber:            *u32(req.ShardNumber, 1),
		OnDiskPayload:          req.OnDiskPayload == nil || *req.OnDiskPayload,
		VectorsConfig:          clone(req.VectorsConfig),
		ReplicationFactor:      u32(req.ReplicationFactor, 1),
		WriteConsistencyFactor: u32(req.WriteConsistencyFactor, 1),
		ShardingMethod:         req.ShardingMethod,
		SparseVectorsConfig:    clone(req.SparseVectorsConfig),
	}
	// The defaults as Qdrant 1.19 reports them (TestLikeRealQdrant).
	m, ef, fst, threads, onDisk := uint64(16), uint64(100), uint64(10000), uint64(0), false
	hnsw := &qdrant.HnswConfigDiff{M: &m, EfConstruct: &ef, FullScanThreshold: &fst, MaxIndexingThreads: &threads, OnDisk: &onDisk}
	proto.Merge(hnsw, req.HnswConfig)
	capMB, ahead, retain := uint64(32), uint64(0), uint64(1)
	wal := &qdrant.WalConfigDiff{WalCapacityMb: &capMB, WalSegmentsAhead: &ahead, WalRetainClosed: &retain}
	proto.Merge(wal, req.WalConfig)
	del, vac, segments, indexing, flush := 0.2, uint64(1000), uint64(0), uint64(10000), uint64(5)
	opt := &qdrant.OptimizersConfigDiff{DeletedThreshold: &del, VacuumMinVectorNumber: &vac, DefaultSegmentNumber: &segments,
		IndexingThreshold: &indexing, FlushIntervalSec: &flush,
		MaxOptimizationThreads: &qdrant.MaxOptimizationThreads{Variant: &qdrant.MaxOptimizationThreads_Setting_{Setting: qdrant.MaxOptimizationThreads_Auto}}}
	proto.Merge(opt, req.OptimizersConfig)
	cfg := &qdrant.CollectionConfig{
		Params:             params,
		HnswConfig:         hnsw,
		OptimizerConfig:    opt,
		WalConfig:          wal,
		QuantizationConfig: clone(req.QuantizationConfig),
		StrictModeConfig:   clone(req.StrictModeConfig),
	}
	for k, v := range req.Metadata {
		if cfg.Metadata == nil {
			cfg.Metadata = map[string]*qdrant.Value{}
		}
		cfg.Metadata[k] = clone(v)
	}
	return cfg
}

func clone[T proto.Message](m T) T {
	if any(m) == nil {
		return m
	}
	return proto.Clone(m).(T)
}

// normalize checks a point's vectors against the collection's configuration
// and returns them in the current (non-deprecated) form. Qdrant rejects a
// vector of the wrong dimension or an unknown vector name
// (https://qdrant.tech/documentation/concepts/vectors/).
func (c *collection) normalize(p *qdrant.PointStruct) (*qdrant.PointStruct, error) {
	p = proto.Clone(p).(*qdrant.PointStruct)
	vc := c.config.GetParams().GetVectorsConfig()
	sparse := c.config.GetParams().GetSparseVectorsConfig().GetMap()
	check := func(name string, v *qdrant.Vector) (*qdrant.Vector, error) {
		v = modernVector(v)
		if sv := v.GetSparse(); sv != nil {
			if _, ok := sparse[name]; !ok {
				return nil, fmt.Errorf("Wrong input: Not existing vector name error: %s", name)
			}
			if len(sv.Indices) != len(sv.Values) {
				return nil, errors.New("Wrong input: sparse vector indices and values differ in length")
			}
			return v, nil
		}
		var params *qdrant.VectorParams
		if name == "" {
			params = vc.GetParams()
		} else {
			params = vc.GetParamsMap().GetMap()[name]
		}
		if params == nil {
			return nil, fmt.Errorf("Wrong input: Not existing vector name error: %s", name)
		}
		dims := [][]float32{v.GetDense().GetData()}
		if md := v.GetMultiDense(); md != nil {
			if params.MultivectorConfig == nil {
				return nil, fmt.Errorf("Wrong input: vector %q is not a multivector", name)
			}
			dims = dims[:0]
			for _, d := range md.Vectors {
				dims = append(dims, d.Data)
			}
		}
		for _, d := range dims {
			if uint64(len(d)) != params.Size {
				return nil, fmt.Errorf("Wrong input: Vector dimension error: expected dim: %d, got %d for vector '%s'", params.Size, len(d), name)
			}
		}
		if params.Distance == qdrant.Distance_Cosine {
			for _, d := range dims {
				cosineNormalize(d)
			}
		}
		return v, nil
	}
	switch vs := p.GetVectors().GetVectorsOptions().(type) {
	case *qdrant.Vectors_Vector:
		v, err := check("", vs.Vector)
		if err != nil {
			return nil, err
		}
		vs.Vector = v
	case *qdrant.Vectors_Vectors:
		for name, v := range vs.Vectors.GetVectors() {
			v, err := check(name, v)
			if err != nil {
				return nil, err
			}
			vs.Vectors.Vectors[name] = v
		}
	}
	return p, nil
}

// cosineNormalize scales a vector to length 1 in place, as Qdrant does on
// upsert into a Cosine space, in float32 as its scalar code does
// (cosine_preprocess in lib/segment/src/spaces/simple.rs). Its SIMD paths
// (16 dimensions and more) may sum in another order, and so differ in the
// last bit.
func cosineNormalize(v []float32) {
	var length float32
	for _, x := range v {
		length += float32(x * x)
	}
	if length < 1.1920929e-07 || math.Abs(float64(length-1)) <= 1e-6 { // f32::EPSILON, is_length_zero_or_normalized
		return
	}
	length = float32(math.Sqrt(float64(length)))
	for i, x := range v {
		v[i] = x / length
	}
}

// modernVector turns the deprecated flat form (data, indices,
// vectors_count) into the dense / sparse / multi_dense form.
func modernVector(v *qdrant.Vector) *qdrant.Vector {
	if v.GetVector() != nil || len(v.GetData()) == 0 {
		return v
	}
	switch {
	case v.GetIndices() != nil:
		return qdrant.NewVectorSparse(v.GetIndices().GetData(), v.GetData())
	case v.VectorsCount != nil && *v.VectorsCount > 0:
		n := int(*v.VectorsCount)
		dim := len(v.GetData()) / n
		var vs [][]float32
		for i := range n {
			vs = append(vs, v.GetData()[i*dim:(i+1)*dim])
		}
		return qdrant.NewVectorMulti(vs)
	}
	return qdrant.NewVectorDense(v.GetData())
}

// output renders a stored point as Scroll returns it.
func output(k pointKey, p *qdrant.PointStruct, withPayload, withVectors bool) *qdrant.RetrievedPoint {
	rp := &qdrant.RetrievedPoint{Id: k.id()}
	if withPayload {
		rp.Payload = clonePayload(p.Payload)
	}
	if withVectors && p.Vectors != nil {
		conv := func(v *qdrant.Vector) *qdrant.VectorOutput {
			switch x := v.GetVector().(type) {
			case *qdrant.Vector_Dense:
				return &qdrant.VectorOutput{Vector: &qdrant.VectorOutput_Dense{Dense: clone(x.Dense)}}
			case *qdrant.Vector_Sparse:
				return &qdrant.VectorOutput{Vector: &qdrant.VectorOutput_Sparse{Sparse: clone(x.Sparse)}}
			case *qdrant.Vector_MultiDense:
				return &qdrant.VectorOutput{Vector: &qdrant.VectorOutput_MultiDense{MultiDense: clone(x.MultiDense)}}
			}
			return &qdrant.VectorOutput{}
		}
		switch vs := p.Vectors.GetVectorsOptions().(type) {
		case *qdrant.Vectors_Vector:
			rp.Vectors = &qdrant.VectorsOutput{VectorsOptions: &qdrant.VectorsOutput_Vector{Vector: conv(vs.Vector)}}
		case *qdrant.Vectors_Vectors:
			named := &qdrant.NamedVectorsOutput{Vectors: map[string]*qdrant.VectorOutput{}}
			for name, v := range vs.Vectors.GetVectors() {
				named.Vectors[name] = conv(v)
			}
			rp.Vectors = &qdrant.VectorsOutput{VectorsOptions: &qdrant.VectorsOutput_Vectors{Vectors: named}}
		}
	}
	return rp
}

func clonePayload(p map[string]*qdrant.Value) map[string]*qdrant.Value {
	if p == nil {
		return nil
	}
	out := make(map[string]*qdrant.Value, len(p))
	for k, v := range p {
		out[k] = clone(v)
	}
	return out
}

// snapshotMagic starts the emulator's snapshot files. Real Qdrant snapshots
// are tar files of its storage; this format is the emulator's own: the
// magic line, a length-delimited CollectionInfo (configuration and payload
// schema), then one length-delimited PointStruct per point.
const snapshotMagic = "qdrant-emulator-snapshot/1\n"

func (s *Server) snapshotDir(coll string) string {
	return filepath.Join(s.dir, coll)
}

// createSnapshot writes a snapshot of a collection under the lock, so it is
// a point in time, and returns its description with the SHA-256 checksum
// Qdrant reports since v1.9
// (https://qdrant.tech/documentation/concepts/snapshots/#create-snapshot).
func (s *Server) createSnapshot(name string) (*qdrant.SnapshotDescription, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, name, err := s.get(name)
	if err != nil {
		return nil, err
	}
	dir := s.snapshotDir(name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, status.Error(codes.Internal, err.Error())
	}
	now := time.Now().UTC()
	// Named as Qdrant names it, by the second: a second snapshot in the
	// same second replaces the first (lib/collection/src/collection/snapshots.rs).
	file := fmt.Sprintf("%s-%d-%s.snapshot", name, localPeer, now.Format("2006-01-02-15-04-05"))
	f, err := os.Create(filepath.Join(dir, file))
	if err != nil {
		return nil, status.Error(codes.Internal, err.Error())
	}
	h := sha256.New()
	bw := bufio.NewWriter(io.MultiWriter(f, h))
	err = writeSnapshot(bw, c)
	if err == nil {
		err = bw.Flush()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(f.Name())
		return nil, status.Error(codes.Internal, err.Error())
	}
	fi, err := os.Stat(f.Name())
	if err != nil {
		return nil, status.Error(codes.Internal, err.Error())
	}
	sum := hex.EncodeToString(h.Sum(nil))
	return &qdrant.SnapshotDescription{Name: file, CreationTime: timestamppb.New(now), Size: fi.Size(), Checksum: &sum}, nil
}

func writeSnapshot(w io.Writer, c *collection) error {
	if _, err := io.WriteString(w, snapshotMagic); err != nil {
		return err
	}
	info := &qdrant.CollectionInfo{Config: c.config, PayloadSchema: c.schema}
	if _, err := protodelim.MarshalTo(w, info); err != nil {
		return err
	}
	for _, k := range c.sorted() {
		if _, err := protodelim.MarshalTo(w, c.points[k]); err != nil {
			return err
		}
	}
	return nil
}

func readSnapshot(r io.Reader) (*collection, error) {
	br := bufio.NewReader(r)
	magic := make([]byte, len(snapshotMagic))
	if _, err := io.ReadFull(br, magic); err != nil || string(magic) != snapshotMagic {
		return nil, errors.New("not a snapshot of this emulator")
	}
	opts := protodelim.UnmarshalOptions{MaxSize: 1 << 30}
	info := &qdrant.CollectionInfo{}
	if err := opts.UnmarshalFrom(br, info); err != nil {
		return nil, fmt.Errorf("snapshot configuration: %w", err)
	}
	c := &collection{config: info.Config, schema: info.PayloadSchema, points: map[pointKey]*qdrant.PointStruct{}, created: time.Now()}
	if c.schema == nil {
		c.schema = map[string]*qdrant.PayloadSchemaInfo{}
	}
	for {
		p := &qdrant.PointStruct{}
		err := opts.UnmarshalFrom(br, p)
		if errors.Is(err, io.EOF) {
			return c, nil
		}
		if err != nil {
			return nil, fmt.Errorf("snapshot point: %w", err)
		}
		k, err := keyOf(p.Id)
		if err != nil {
			return nil, err
		}
		c.points[k] = p
	}
}

func (s *Server) listSnapshots(name string) ([]*qdrant.SnapshotDescription, error) {
	s.mu.Lock()
	_, name, err := s.get(name)
	s.mu.Unlock()
	if err != nil {
		return nil, err
	}
	entries, err := os.ReadDir(s.snapshotDir(name))
	if errors.Is(err, os.ErrNotExist) {
		return []*qdrant.SnapshotDescription{}, nil
	}
	if err != nil {
		return nil, status.Error(codes.Internal, err.Error())
	}
	out := []*qdrant.SnapshotDescription{}
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".snapshot") {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			return nil, status.Error(codes.Internal, err.Error())
		}
		sum, err := fileSHA256(filepath.Join(s.snapshotDir(name), e.Name()))
		if err != nil {
			return nil, status.Error(codes.Internal, err.Error())
		}
		out = append(out, &qdrant.SnapshotDescription{Name: e.Name(), CreationTime: timestamppb.New(fi.ModTime()), Size: fi.Size(), Checksum: &sum})
	}
	return out, nil
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// snapshotPath returns the file of a snapshot, refusing names that are not
// plain file names.
func (s *Server) snapshotPath(coll, snap string) (string, error) {
	s.mu.Lock()
	_, coll, err := s.get(coll)
	s.mu.Unlock()
	if err != nil {
		return "", err
	}
	if snap == "" || strings.ContainsAny(snap, "/\\\x00") || snap == "." || snap == ".." {
		return "", status.Errorf(codes.InvalidArgument, "invalid snapshot name %q", snap)
	}
	p := filepath.Join(s.snapshotDir(coll), snap)
	if _, err := os.Stat(p); err != nil {
		return "", status.Errorf(codes.NotFound, "Not found: Snapshot %s not found", snap)
	}
	return p, nil
}

// recover replaces a collection from an uploaded snapshot. Qdrant's
// priority decides what wins
// (https://qdrant.tech/documentation/concepts/snapshots/#snapshot-priority):
// with `snapshot` the snapshot's data replaces the collection; with
// `replica` (the default) existing data is preferred, and recovering into a
// node without the collection silently gives an empty one (qdrant#10368),
// which is what the emulator does, so that a client that forgets
// priority=snapshot fails its tests.
func (s *Server) recover(name, priority string, snap *collection) error {
	if err := validName(name); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if real, ok := s.aliases[name]; ok {
		name = real
	}
	old, exists := s.collections[name]
	if exists {
		// Over an existing collection, Qdrant checks that the vectors and
		// the shard number agree, and keeps the collection's own
		// configuration and payload indexes (recover_snapshot in
		// lib/storage/src/content_manager/snapshots/recover.rs).
		if !proto.Equal(old.config.GetParams().GetVectorsConfig(), snap.config.GetParams().GetVectorsConfig()) {
			return status.Errorf(codes.InvalidArgument, "Wrong input: Snapshot is not compatible with existing collection: Collection vectors: %v Snapshot Vectors: %v",
				old.config.GetParams().GetVectorsConfig(), snap.config.GetParams().GetVectorsConfig())
		}
		if old.config.GetParams().GetShardNumber() != snap.config.GetParams().GetShardNumber() {
			return status.Errorf(codes.InvalidArgument, "Wrong input: Snapshot is not compatible with existing collection: Collection shard number: %d Snapshot shard number: %d",
				old.config.GetParams().GetShardNumber(), snap.config.GetParams().GetShardNumber())
		}
		snap.config, snap.schema, snap.remoteShards = old.config, old.schema, old.remoteShards
	}
	switch priority {
	case "snapshot":
		s.collections[name] = snap
	case "", "replica", "no_sync":
		if !exists {
			snap.points = map[pointKey]*qdrant.PointStruct{}
			snap.order = nil
			s.collections[name] = snap
		}
	default:
		return status.Errorf(codes.InvalidArgument, "unknown priority %q", priority)
	}
	return nil
}
