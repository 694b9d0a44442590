package qdrantexp

import (
	"bytes"
	"slices"
	"strings"
	"testing"

	"github.com/qdrant/go-client/qdrant"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// FuzzReadPoints: a part of a logical backup, whatever its bytes, gives
// points or a clear error, never a panic; and the points it gives, written
// again, read back the same.
func FuzzReadPoints(f *testing.F) {
	var seed []byte
	for _, p := range []*qdrant.PointStruct{
		{Id: qdrant.NewIDNum(1), Vectors: qdrant.NewVectors(1, 2), Payload: qdrant.NewValueMap(map[string]any{"a": "b"})},
		{Id: qdrant.NewIDUUID("5c56c793-69f3-4fbf-87e6-c4bf54c28c26"), Vectors: qdrant.NewVectorsMap(map[string]*qdrant.Vector{"s": qdrant.NewVectorSparse([]uint32{1}, []float32{0.5})})},
	} {
		b, _ := proto.Marshal(p)
		seed = protowire.AppendVarint(seed, uint64(len(b)))
		seed = append(seed, b...)
	}
	f.Add(seed)
	f.Add(seed[:len(seed)-3])
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		var points []*qdrant.PointStruct
		if err := readPoints(bytes.NewReader(data), "fuzz", func(p *qdrant.PointStruct) error {
			points = append(points, p)
			return nil
		}); err != nil {
			return
		}
		var again []byte
		for _, p := range points {
			b, err := proto.Marshal(p)
			if err != nil {
				t.Fatal(err)
			}
			again = protowire.AppendVarint(again, uint64(len(b)))
			again = append(again, b...)
		}
		var back []*qdrant.PointStruct
		if err := readPoints(bytes.NewReader(again), "again", func(p *qdrant.PointStruct) error {
			back = append(back, p)
			return nil
		}); err != nil {
			t.Fatalf("re-encoded points do not read: %v", err)
		}
		if len(back) != len(points) {
			t.Fatalf("%d points, %d after re-encoding", len(points), len(back))
		}
		det := proto.MarshalOptions{Deterministic: true}
		for i := range back {
			a, _ := det.Marshal(points[i])
			b, _ := det.Marshal(back[i])
			if !bytes.Equal(a, b) { // bytes, not proto.Equal: NaN must survive too
				t.Fatalf("point %d differs after re-encoding", i)
			}
		}
	})
}

func TestSnapshotCompatible(t *testing.T) {
	for _, c := range []struct {
		from, to string
		want     bool
	}{
		{"1.17.0", "1.17.3", true}, {"1.16.2", "1.17.0", true}, {"v1.16.2", "1.17.0-emulator", true},
		{"1.15.0", "1.17.0", false}, {"1.17.0", "1.16.9", false}, {"1.17.0", "2.0.0", false},
		{"", "1.17.0", true}, {"dev", "1.17.0", true}, // unknown: the server decides
	} {
		if got := snapshotCompatible(c.from, c.to); got != c.want {
			t.Errorf("snapshotCompatible(%q, %q) = %v, want %v", c.from, c.to, got, c.want)
		}
	}
}

// TestAllShardsActive: a snapshot is complete only when this node holds
// every shard, each active; replicas elsewhere do not matter.
func TestAllShardsActive(t *testing.T) {
	local := func(id uint32, st qdrant.ReplicaState) *qdrant.LocalShardInfo {
		return &qdrant.LocalShardInfo{ShardId: id, State: st}
	}
	remote := func(id uint32) *qdrant.RemoteShardInfo {
		return &qdrant.RemoteShardInfo{ShardId: id, PeerId: 9, State: qdrant.ReplicaState_Active}
	}
	active, partial := qdrant.ReplicaState_Active, qdrant.ReplicaState_Partial
	for _, tc := range []struct {
		name  string
		info  *qdrant.CollectionClusterInfoResponse
		wrong string // "" when complete
	}{
		{"single node", &qdrant.CollectionClusterInfoResponse{ShardCount: 2,
			LocalShards: []*qdrant.LocalShardInfo{local(0, active), local(1, active)}}, ""},
		{"replicated everywhere", &qdrant.CollectionClusterInfoResponse{ShardCount: 2,
			LocalShards:  []*qdrant.LocalShardInfo{local(0, active), local(1, active)},
			RemoteShards: []*qdrant.RemoteShardInfo{remote(0), remote(1)}}, ""},
		{"a shard elsewhere", &qdrant.CollectionClusterInfoResponse{ShardCount: 3,
			LocalShards:  []*qdrant.LocalShardInfo{local(0, active)},
			RemoteShards: []*qdrant.RemoteShardInfo{remote(1), remote(2), remote(2)}}, "holds 1 of its 3 shards active (not here: 1, 2)"},
		{"a local replica not active", &qdrant.CollectionClusterInfoResponse{ShardCount: 2,
			LocalShards: []*qdrant.LocalShardInfo{local(0, active), local(1, partial)}}, "holds 1 of its 2 shards active (not here: 1)"},
	} {
		err := allShardsActive("c", tc.info)
		if tc.wrong == "" && err != nil || tc.wrong != "" && (err == nil || !strings.Contains(err.Error(), tc.wrong)) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.wrong)
		}
	}
}

// TestRecreate: a logical restore works out everything it will send before
// it deletes anything, and refuses what it could not recreate; a logical
// export runs the same check, so such a backup is never made.
func TestRecreate(t *testing.T) {
	record := func(params *qdrant.CollectionParams, schema map[string]*qdrant.PayloadSchemaInfo) collectionRecord {
		raw, err := protoJSON.Marshal(&qdrant.CollectionInfo{Config: &qdrant.CollectionConfig{Params: params}, PayloadSchema: schema})
		if err != nil {
			t.Fatal(err)
		}
		return collectionRecord{Name: "c", Info: raw}
	}
	dense := qdrant.NewVectorsConfig(&qdrant.VectorParams{Size: 4, Distance: qdrant.Distance_Dot})
	keyword := &qdrant.PayloadSchemaInfo{DataType: qdrant.PayloadSchemaType_Keyword}
	schema := map[string]*qdrant.PayloadSchemaInfo{"a": {DataType: qdrant.PayloadSchemaType_Integer}}
	for _, f := range []string{"z", "m", "b", "k", "q", "c", "x"} {
		schema[f] = keyword
	}
	plan, err := recreate(record(&qdrant.CollectionParams{ShardNumber: 3, VectorsConfig: dense}, schema))
	if err != nil {
		t.Fatal(err)
	}
	var fields []string
	for _, ix := range plan.indexes {
		fields = append(fields, ix.FieldName)
	}
	// In a stable order, so that a restore's requests do not change from run to run.
	if want := []string{"a", "b", "c", "k", "m", "q", "x", "z"}; !slices.Equal(fields, want) {
		t.Fatalf("indexes %v, want %v", fields, want)
	}
	if plan.create.GetShardNumber() != 3 || plan.indexes[0].GetFieldType() != qdrant.FieldType_FieldTypeInteger ||
		plan.indexes[1].GetFieldType() != qdrant.FieldType_FieldTypeKeyword || plan.indexes[0].GetCollectionName() != "c" {
		t.Fatalf("recreation: %v, indexes %v", plan.create, plan.indexes)
	}
	custom := qdrant.ShardingMethod_Custom
	for name, tc := range map[string]struct {
		rec  collectionRecord
		want string
	}{
		"custom sharding":    {record(&qdrant.CollectionParams{VectorsConfig: dense, ShardingMethod: &custom}, nil), "custom sharding"},
		"unknown index type": {record(&qdrant.CollectionParams{VectorsConfig: dense}, map[string]*qdrant.PayloadSchemaInfo{"f": {DataType: 999}}), `payload index "f" has an unknown type`},
		"no parameters":      {record(nil, nil), "no parameters"},
		"not JSON":           {collectionRecord{Name: "c", Info: []byte("{")}, `the configuration of collection "c"`},
	} {
		if _, err := recreate(tc.rec); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", name, err, tc.want)
		}
	}
}
