package qdrantexp

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/ngbak/ngbak"
	"github.com/qdrant/go-client/qdrant"
	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protodelim"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

var protoJSON = protojson.MarshalOptions{UseProtoNames: true}

// awaitFreshName returns the names of the collection's snapshots once the
// server's clock has left the second of any of them. Qdrant names a
// snapshot after its collection, its peer and the second it is made in
// (UTC), and a second snapshot in the same second replaces the first
// (lib/collection/src/collection/snapshots.rs): ngbak's would take the
// place of somebody else's, and then be deleted. The wait is three seconds
// at most, whatever the names say.
func (e *Exporter) awaitFreshName(ctx context.Context, c string) ([]string, error) {
	for try := 0; ; try++ {
		snaps, now, err := e.listSnapshotsREST(ctx, c)
		if err != nil {
			return nil, err
		}
		if now.IsZero() {
			now = time.Now().UTC()
		}
		// The Date header can lag the server's clock (actix refreshes it
		// twice a second): the next second counts as now too.
		stamps := []string{"-" + now.Format("2006-01-02-15-04-05") + ".snapshot", "-" + now.Add(time.Second).Format("2006-01-02-15-04-05") + ".snapshot"}
		var names []string
		taken := false
		for _, s := range snaps {
			names = append(names, s.Name)
			taken = taken || strings.HasSuffix(s.Name, stamps[0]) || strings.HasSuffix(s.Name, stamps[1])
		}
		if !taken || try == 3 {
			return names, nil
		}
		select {
		case <-time.After(time.Second):
		case <-ctx.Done():
			return nil, wrap(ctx, "waiting for a fresh snapshot name", ctx.Err())
		}
	}
}

// exportSnapshot backs up one collection by a snapshot of the server's.
func (e *Exporter) exportSnapshot(ctx context.Context, w *ngbak.Writer, c string) (rec collectionRecord, err error) {
	if rec, _, err = e.describe(ctx, c); err != nil {
		return rec, err
	}
	if err := e.checkShardsLocal(ctx, c); err != nil {
		return rec, err
	}
	before, err := e.count(ctx, c)
	if err != nil {
		return rec, err
	}
	existing, err := e.awaitFreshName(ctx, c)
	if err != nil {
		return rec, err
	}
	// The snapshot is made with a context the caller cannot cancel: a
	// cancelled request does not stop the server, which would then keep a
	// snapshot nobody knows the name of. A cancelled export waits for it,
	// then deletes it.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), e.opts.Timeouts.Snapshot)
	desc, err := e.client.CreateSnapshot(sctx, c)
	cancel()
	if err != nil {
		return rec, wrap(ctx, "creating snapshot", err)
	}
	if slices.Contains(existing, desc.GetName()) {
		// Not ngbak's to delete: it holds what the other snapshot held
		// a moment ago.
		return rec, fmt.Errorf("qdrantexp: the server named the new snapshot %s, as an existing one, which it replaced (Qdrant names snapshots by the second); it is left on the server", desc.GetName())
	}
	defer func() {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), e.opts.Timeouts.Call)
		defer cancel()
		if derr := e.deleteOwnSnapshot(dctx, c, desc); derr != nil {
			err = errors.Join(err, derr)
		}
	}()
	if err := ctx.Err(); err != nil {
		return rec, fmt.Errorf("qdrantexp: after creating snapshot: %w", err)
	}
	after, err := e.count(ctx, c)
	if err != nil {
		return rec, err
	}
	rec.Points = before
	if after != before {
		rec.PointsAfter = &after
	}
	rec.Snapshot = &snapshotRecord{Name: desc.GetName(), Size: desc.GetSize(), SHA256: desc.GetChecksum()}
	err = e.download(ctx, c, *rec.Snapshot, func(body io.Reader) error {
		if rec.Snapshot.SHA256 == "" { // servers before v1.9 state no checksum
			return w.WriteFile(c+"/collection.snapshot", desc.GetSize(), body)
		}
		return w.WriteFileSHA256(c+"/collection.snapshot", desc.GetSize(), rec.Snapshot.SHA256, body)
	})
	return rec, err
}

// deleteOwnSnapshot deletes the snapshot the export made, unless a
// snapshot somebody else made in the same second has replaced it since (it
// has another checksum): that one is left on the server.
func (e *Exporter) deleteOwnSnapshot(ctx context.Context, c string, desc *qdrant.SnapshotDescription) error {
	var snaps []*qdrant.SnapshotDescription
	if err := e.call(ctx, "listing snapshots of "+c, func(ctx context.Context) (err error) {
		snaps, err = e.client.ListSnapshots(ctx, c)
		return err
	}); err != nil {
		return fmt.Errorf("qdrantexp: snapshot %s is left on the server: %w", desc.GetName(), err)
	}
	for _, s := range snaps {
		if s.GetName() != desc.GetName() {
			continue
		}
		if s.GetChecksum() != desc.GetChecksum() || s.GetSize() != desc.GetSize() {
			return fmt.Errorf("qdrantexp: snapshot %s was replaced on the server by another of the same name (Qdrant names snapshots by the second), which is left there", desc.GetName())
		}
		return e.call(ctx, "deleting snapshot "+desc.GetName()+" on the server", func(ctx context.Context) error {
			return e.client.DeleteSnapshot(ctx, c, desc.GetName())
		})
	}
	return nil // gone already
}

// checkShardsLocal refuses to snapshot part of a collection. A snapshot
// holds the shards of the node that makes it: in a distributed deployment,
// a snapshot must be made on each node
// (https://qdrant.tech/documentation/concepts/snapshots/), and a shard this
// node does not hold, or holds in a state other than active, would be left
// out without a word.
func (e *Exporter) checkShardsLocal(ctx context.Context, c string) error {
	var info *qdrant.CollectionClusterInfoResponse
	if err := e.call(ctx, "cluster info of "+c, func(ctx context.Context) (err error) {
		info, err = e.client.GetCollectionClusterInfo(ctx, c)
		return err
	}); err != nil {
		return err
	}
	return allShardsActive(c, info)
}

func allShardsActive(c string, info *qdrant.CollectionClusterInfoResponse) error {
	active := map[uint32]bool{}
	for _, s := range info.GetLocalShards() {
		if s.GetState() == qdrant.ReplicaState_Active {
			active[s.GetShardId()] = true
		}
	}
	if uint64(len(active)) >= info.GetShardCount() {
		return nil
	}
	var missing []string
	note := func(id uint32) {
		if s := fmt.Sprint(id); !active[id] && !slices.Contains(missing, s) {
			missing = append(missing, s)
		}
	}
	for _, s := range info.GetLocalShards() {
		note(s.GetShardId())
	}
	for _, s := range info.GetRemoteShards() {
		note(s.GetShardId())
	}
	return fmt.Errorf("qdrantexp: collection %s: this node holds %d of its %d shards active (not here: %s), and a snapshot holds this node's only; back up in logical mode",
		c, len(active), info.GetShardCount(), strings.Join(missing, ", "))
}

// exportLogical scrolls every point of a collection into parts of
// length-delimited PointStruct messages. A goroutine fetches the next page
// while this one encodes the last, so the server and the compression work
// at the same time; memory holds two pages and one part.
func (e *Exporter) exportLogical(ctx context.Context, w *ngbak.Writer, c string) (collectionRecord, error) {
	rec, info, err := e.describe(ctx, c)
	if err != nil {
		return rec, err
	}
	// What a restore recreates: the configuration and the payload
	// indexes, not the server's counters.
	if err := refuseUnknown("the configuration of collection "+c, &qdrant.CollectionInfo{Config: info.GetConfig(), PayloadSchema: info.GetPayloadSchema()}); err != nil {
		return rec, err
	}
	if _, err := recreate(rec); err != nil {
		return rec, err
	}
	// Strict mode refuses a scroll page over its max_query_limit.
	limit := uint32(e.opts.Batch)
	if sm := info.GetConfig().GetStrictModeConfig(); sm.GetEnabled() && sm.MaxQueryLimit != nil {
		limit = max(1, min(limit, sm.GetMaxQueryLimit()))
	}
	g, gctx := errgroup.WithContext(ctx)
	pages := make(chan []*qdrant.RetrievedPoint, 1)
	g.Go(func() error {
		defer close(pages)
		return e.scroll(gctx, c, limit, func(page []*qdrant.RetrievedPoint) error {
			for _, p := range page {
				if err := refuseUnknown(fmt.Sprintf("point %v of collection %s", p.GetId(), c), p); err != nil {
					return err
				}
			}
			select {
			case pages <- page:
				return nil
			case <-gctx.Done():
				return wrap(ctx, "scrolling", gctx.Err())
			}
		})
	})
	g.Go(func() error {
		pw := w.Parts(c+"/points", ".pb")
		marshal := proto.MarshalOptions{Deterministic: true}
		for page := range pages {
			for _, rp := range page {
				p, err := pointOf(rp)
				if err != nil {
					return err
				}
				b := protowire.AppendVarint(pw.Buffer(), uint64(marshal.Size(p)))
				if b, err = marshal.MarshalAppend(b, p); err != nil {
					return err
				}
				if err := pw.Append(b); err != nil {
					return err
				}
				rec.Points++
			}
		}
		if err := gctx.Err(); err != nil {
			return err
		}
		return pw.Close()
	})
	if err := g.Wait(); err != nil {
		return rec, err
	}
	return rec, nil
}

// scroll pages through every point with payload and vectors. A page too
// large for one gRPC message (ResourceExhausted) is asked for again at half
// the size.
func (e *Exporter) scroll(ctx context.Context, c string, limit uint32, fn func([]*qdrant.RetrievedPoint) error) error {
	var offset *qdrant.PointId
	for {
		var page []*qdrant.RetrievedPoint
		var next *qdrant.PointId
		err := e.call(ctx, "scrolling points", func(ctx context.Context) error {
			var err error
			page, next, err = e.client.ScrollAndOffset(ctx, &qdrant.ScrollPoints{
				CollectionName: c, Offset: offset, Limit: &limit,
				WithPayload: qdrant.NewWithPayload(true), WithVectors: qdrant.NewWithVectors(true),
			})
			return err
		})
		if status.Code(err) == codes.ResourceExhausted && limit > 1 && ctx.Err() == nil {
			limit /= 2
			continue
		}
		if err != nil {
			return err
		}
		if len(page) > 0 {
			if err := fn(page); err != nil {
				return err
			}
		}
		if next == nil {
			return nil
		}
		offset = next
	}
}

// pointOf turns a scrolled point into the PointStruct that upserts it
// again. Servers before v1.12 fill only the deprecated flat fields of a
// vector (data, indices, vectors_count); they are carried over as they are,
// and every server still accepts them.
func pointOf(rp *qdrant.RetrievedPoint) (*qdrant.PointStruct, error) {
	p := &qdrant.PointStruct{Id: rp.GetId(), Payload: rp.GetPayload()}
	if p.Id == nil {
		return nil, errors.New("qdrantexp: a scrolled point has no id")
	}
	switch vs := rp.GetVectors().GetVectorsOptions().(type) {
	case nil:
	case *qdrant.VectorsOutput_Vector:
		p.Vectors = &qdrant.Vectors{VectorsOptions: &qdrant.Vectors_Vector{Vector: vectorOf(vs.Vector)}}
	case *qdrant.VectorsOutput_Vectors:
		named := &qdrant.NamedVectors{Vectors: map[string]*qdrant.Vector{}}
		for name, v := range vs.Vectors.GetVectors() {
			named.Vectors[name] = vectorOf(v)
		}
		p.Vectors = &qdrant.Vectors{VectorsOptions: &qdrant.Vectors_Vectors{Vectors: named}}
	default:
		return nil, fmt.Errorf("qdrantexp: point %v: vectors of an unknown kind %T", p.Id, vs)
	}
	return p, nil
}

func vectorOf(v *qdrant.VectorOutput) *qdrant.Vector {
	switch x := v.GetVector().(type) {
	case *qdrant.VectorOutput_Dense:
		return &qdrant.Vector{Vector: &qdrant.Vector_Dense{Dense: x.Dense}}
	case *qdrant.VectorOutput_Sparse:
		return &qdrant.Vector{Vector: &qdrant.Vector_Sparse{Sparse: x.Sparse}}
	case *qdrant.VectorOutput_MultiDense:
		return &qdrant.Vector{Vector: &qdrant.Vector_MultiDense{MultiDense: x.MultiDense}}
	}
	//lint:ignore SA1019 servers before v1.12 answer with the deprecated fields only
	return &qdrant.Vector{Data: v.GetData(), Indices: v.GetIndices(), VectorsCount: v.VectorsCount}
}

// restoring is one collection being restored.
type restoring struct {
	e      *Exporter
	rec    collectionRecord
	format string

	// logical mode: batches go to Workers upserting goroutines.
	g       *errgroup.Group
	gctx    context.Context
	batches chan []*qdrant.PointStruct
	batch   []*qdrant.PointStruct
	size    int
	closed  bool
	strict  *qdrant.StrictModeConfig // to turn on once the points are in
}

// maxBatchBytes keeps an upsert well under Qdrant's default request limit
// of 32 MiB.
const maxBatchBytes = 8 << 20

// maxPoint is the largest point record a restore reads.
const maxPoint = 64 << 20

func (e *Exporter) startRestore(ctx context.Context, rec collectionRecord, format string) (*restoring, error) {
	rs := &restoring{e: e, rec: rec, format: format}
	if format == SnapshotFormat {
		// Qdrant recovers a snapshot over an existing collection only when
		// their vectors and shard numbers agree, and then keeps the
		// existing collection's configuration and payload indexes
		// (recover_snapshot in lib/storage/src/content_manager/snapshots/recover.rs):
		// not what the backup held. A collection that differs in anything
		// goes first, and Qdrant creates it anew from the snapshot.
		same, err := e.sameCollection(ctx, rec)
		if err != nil {
			return nil, err
		}
		if !same {
			if err := e.deleteCollection(ctx, rec.Name, "whose configuration or payload indexes differ from the backup's"); err != nil {
				return nil, err
			}
		}
		return rs, nil
	}
	plan, err := recreate(rec)
	if err != nil {
		return nil, err
	}
	// Replace: the old collection goes first. Should anything after this
	// fail, the Manager restores it from its safety backup.
	if err := e.deleteCollection(ctx, rec.Name, "to recreate it"); err != nil {
		return nil, err
	}
	// Strict mode would hold the restore's own batches and workers to the
	// application's limits: the collection is made without it, and gets it
	// once its points are in (finish).
	create := proto.Clone(plan.create).(*qdrant.CreateCollection)
	create.StrictModeConfig = nil
	if err := e.call(ctx, "creating the collection", func(ctx context.Context) error {
		return e.client.CreateCollection(ctx, create)
	}); err != nil {
		return nil, err
	}
	for _, index := range plan.indexes {
		if err := e.call(ctx, "creating payload index "+index.FieldName, func(ctx context.Context) error {
			_, err := e.client.CreateFieldIndex(ctx, index)
			return err
		}); err != nil {
			return nil, err
		}
	}
	rs.strict = plan.create.StrictModeConfig
	rs.g, rs.gctx = errgroup.WithContext(ctx)
	rs.batches = make(chan []*qdrant.PointStruct)
	for range e.opts.Workers {
		rs.g.Go(func() error {
			wait := true
			for batch := range rs.batches {
				if err := e.call(rs.gctx, "upserting points", func(ctx context.Context) error {
					_, err := e.client.Upsert(ctx, &qdrant.UpsertPoints{CollectionName: rec.Name, Wait: &wait, Points: batch})
					return err
				}); err != nil {
					return err
				}
			}
			return nil
		})
	}
	return rs, nil
}

// sameCollection says whether the collection exists with the configuration
// and payload indexes the backup records, or does not exist; a converted
// backup that records no configuration matches no collection.
func (e *Exporter) sameCollection(ctx context.Context, rec collectionRecord) (bool, error) {
	want := &qdrant.CollectionInfo{}
	if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(rec.Info, want); err != nil {
		return false, fmt.Errorf("qdrantexp: the configuration of collection %q: %w", rec.Name, err)
	}
	var have *qdrant.CollectionInfo
	if err := e.call(ctx, "collection info", func(ctx context.Context) error {
		ok, err := e.client.CollectionExists(ctx, rec.Name)
		if err != nil || !ok {
			return err
		}
		have, err = e.client.GetCollectionInfo(ctx, rec.Name)
		return err
	}); err != nil || have == nil {
		return have == nil, err
	}
	// The recorded configuration went through protojson, which drops the
	// fields this client does not know; so must the server's, or a newer
	// server would never match.
	raw, err := protoJSON.Marshal(have)
	if err != nil {
		return false, err
	}
	have = &qdrant.CollectionInfo{}
	if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(raw, have); err != nil {
		return false, err
	}
	return want.GetConfig() != nil && proto.Equal(want.GetConfig(), have.GetConfig()) &&
		maps.EqualFunc(indexes(want), indexes(have), proto.Equal), nil
}

// indexes are a collection's payload indexes without the counts of points
// they index.
func indexes(info *qdrant.CollectionInfo) map[string]proto.Message {
	m := map[string]proto.Message{}
	for field, schema := range info.GetPayloadSchema() {
		m[field] = &qdrant.PayloadSchemaInfo{DataType: schema.GetDataType(), Params: schema.GetParams()}
	}
	return m
}

// recreation is what a logical restore sends to recreate a collection
// before its points.
type recreation struct {
	create  *qdrant.CreateCollection
	indexes []*qdrant.CreateFieldIndexCollection
}

// recreate works out the recreation of a collection from its record in
// full before anything changes. A logical export calls it too, so that a
// backup it could not restore fails when it is made, not when it is needed.
func recreate(rec collectionRecord) (*recreation, error) {
	info := &qdrant.CollectionInfo{}
	if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(rec.Info, info); err != nil {
		return nil, fmt.Errorf("qdrantexp: the configuration of collection %q: %w", rec.Name, err)
	}
	create, err := createRequest(rec.Name, info)
	if err != nil {
		return nil, err
	}
	plan := &recreation{create: create}
	wait := true
	for _, field := range slices.Sorted(maps.Keys(info.GetPayloadSchema())) {
		schema := info.GetPayloadSchema()[field]
		ft, ok := fieldType(schema.GetDataType())
		if !ok {
			return nil, fmt.Errorf("qdrantexp: collection %q: payload index %q has an unknown type %v", rec.Name, field, schema.GetDataType())
		}
		plan.indexes = append(plan.indexes, &qdrant.CreateFieldIndexCollection{
			CollectionName: rec.Name, Wait: &wait, FieldName: field, FieldType: &ft, FieldIndexParams: schema.Params,
		})
	}
	return plan, nil
}

// createRequest turns a collection's configuration back into the request
// that creates it.
func createRequest(name string, info *qdrant.CollectionInfo) (*qdrant.CreateCollection, error) {
	cfg := info.GetConfig()
	p := cfg.GetParams()
	if p == nil {
		return nil, errors.New("qdrantexp: the configuration in the manifest has no parameters")
	}
	if p.GetShardingMethod() == qdrant.ShardingMethod_Custom {
		return nil, fmt.Errorf("qdrantexp: collection %q has custom sharding, which the logical mode does not support: use snapshot mode", name)
	}
	shards, onDisk := p.GetShardNumber(), p.GetOnDiskPayload()
	return &qdrant.CreateCollection{
		CollectionName:         name,
		HnswConfig:             cfg.GetHnswConfig(),
		WalConfig:              cfg.GetWalConfig(),
		OptimizersConfig:       cfg.GetOptimizerConfig(),
		ShardNumber:            &shards,
		OnDiskPayload:          &onDisk,
		VectorsConfig:          p.GetVectorsConfig(),
		ReplicationFactor:      p.ReplicationFactor,
		WriteConsistencyFactor: p.WriteConsistencyFactor,
		QuantizationConfig:     cfg.GetQuantizationConfig(),
		ShardingMethod:         p.ShardingMethod,
		SparseVectorsConfig:    p.GetSparseVectorsConfig(),
		StrictModeConfig:       cfg.GetStrictModeConfig(),
		Metadata:               cfg.GetMetadata(),
	}, nil
}

// fieldType maps the schema's type to the index request's: the same list,
// shifted by one (PayloadSchemaType has UnknownType at 0).
func fieldType(t qdrant.PayloadSchemaType) (qdrant.FieldType, bool) {
	switch t {
	case qdrant.PayloadSchemaType_Keyword:
		return qdrant.FieldType_FieldTypeKeyword, true
	case qdrant.PayloadSchemaType_Integer:
		return qdrant.FieldType_FieldTypeInteger, true
	case qdrant.PayloadSchemaType_Float:
		return qdrant.FieldType_FieldTypeFloat, true
	case qdrant.PayloadSchemaType_Geo:
		return qdrant.FieldType_FieldTypeGeo, true
	case qdrant.PayloadSchemaType_Text:
		return qdrant.FieldType_FieldTypeText, true
	case qdrant.PayloadSchemaType_Bool:
		return qdrant.FieldType_FieldTypeBool, true
	case qdrant.PayloadSchemaType_Datetime:
		return qdrant.FieldType_FieldTypeDatetime, true
	case qdrant.PayloadSchemaType_Uuid:
		return qdrant.FieldType_FieldTypeUuid, true
	}
	return 0, false
}

// snapshot uploads the collection's snapshot from the archive.
func (rs *restoring) snapshot(ctx context.Context, r io.Reader, size int64) error {
	if size != rs.rec.Snapshot.Size {
		return fmt.Errorf("qdrantexp: the snapshot in the archive has %d bytes, the manifest says %d", size, rs.rec.Snapshot.Size)
	}
	e, coll := rs.e, rs.rec.Name
	file, err := e.uploadName(ctx, coll)
	if err != nil {
		return err
	}
	err = e.upload(ctx, coll, file, size, r)
	// The uploaded file stays on the server, a full copy of the collection,
	// until it is deleted; also after a failure, and with a context the
	// caller may have cancelled.
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), e.opts.Timeouts.Call)
	defer cancel()
	if derr := e.deleteUploaded(dctx, coll, file); derr != nil {
		return errors.Join(err, derr)
	}
	return err
}

// uploadName is the file name an upload is kept under on the server: one
// no snapshot of the collection has, so that deleting it afterwards deletes
// only what the restore put there.
func (e *Exporter) uploadName(ctx context.Context, coll string) (string, error) {
	names, err := e.snapshotNames(ctx, coll)
	if err != nil {
		return "", err
	}
	for {
		file := "ngbak-restore-" + randomHex(8) + ".snapshot"
		if !slices.Contains(names, file) {
			return file, nil
		}
	}
}

// snapshotNames lists a collection's snapshots; none when it does not exist.
func (e *Exporter) snapshotNames(ctx context.Context, coll string) ([]string, error) {
	var names []string
	err := e.call(ctx, "listing snapshots of "+coll, func(ctx context.Context) error {
		ok, err := e.client.CollectionExists(ctx, coll)
		if err != nil || !ok {
			return err
		}
		snaps, err := e.client.ListSnapshots(ctx, coll)
		for _, s := range snaps {
			names = append(names, s.GetName())
		}
		return err
	})
	return names, err
}

// deleteUploaded deletes the file an upload left in the collection's
// snapshot list, if it is there. When the collection does not exist (a
// recovery into a new collection failed), Qdrant offers no way to delete
// it, and the error says where it is.
func (e *Exporter) deleteUploaded(ctx context.Context, coll, file string) error {
	ok := false
	if err := e.call(ctx, "checking collection "+coll, func(ctx context.Context) (err error) {
		ok, err = e.client.CollectionExists(ctx, coll)
		return err
	}); err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("qdrantexp: the collection %s does not exist after the upload, so the uploaded snapshot %s, if the server kept it, stays in its snapshots folder (snapshots/%s/ under the server's snapshots path): remove it there", coll, file, coll)
	}
	names, err := e.snapshotNames(ctx, coll)
	if err != nil || !slices.Contains(names, file) {
		return err
	}
	return e.call(ctx, "deleting the uploaded snapshot "+file+" on the server", func(ctx context.Context) error {
		return e.client.DeleteSnapshot(ctx, coll, file)
	})
}

// points reads one part of point records into batches for the upserters.
func (rs *restoring) points(ctx context.Context, r io.Reader, name string) error {
	return readPoints(r, name, func(p *qdrant.PointStruct) error {
		rs.batch = append(rs.batch, p)
		rs.size += proto.Size(p)
		if len(rs.batch) >= rs.e.opts.Batch || rs.size >= maxBatchBytes {
			return rs.send()
		}
		return nil
	})
}

// readPoints parses a part: length-delimited PointStruct messages, each at
// most maxPoint bytes, every one with an id.
func readPoints(r io.Reader, name string, fn func(*qdrant.PointStruct) error) error {
	br := bufio.NewReaderSize(r, 1<<20)
	opts := protodelim.UnmarshalOptions{MaxSize: maxPoint}
	for n := 1; ; n++ {
		p := &qdrant.PointStruct{}
		err := opts.UnmarshalFrom(br, p)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err == nil && p.Id == nil {
			err = errors.New("a point without an id")
		}
		if err != nil {
			return fmt.Errorf("qdrantexp: %s: record %d: %w", name, n, err)
		}
		if err := fn(p); err != nil {
			return err
		}
	}
}

func (rs *restoring) send() error {
	if len(rs.batch) == 0 {
		return nil
	}
	select {
	case rs.batches <- rs.batch:
		rs.batch, rs.size = nil, 0
		return nil
	case <-rs.gctx.Done():
		rs.close()
		return rs.g.Wait()
	}
}

func (rs *restoring) close() {
	if !rs.closed {
		close(rs.batches)
		rs.closed = true
	}
}

// abort stops the upserters after a failure; the Manager rolls back.
func (rs *restoring) abort() {
	if rs == nil || rs.batches == nil {
		return
	}
	rs.close()
	rs.g.Wait()
}

// finish waits for the last upserts, checks the count and puts the aliases
// back.
func (rs *restoring) finish(ctx context.Context) error {
	e, rec := rs.e, rs.rec
	if rs.batches != nil {
		err := rs.send()
		rs.close()
		if err := errors.Join(err, rs.g.Wait()); err != nil {
			return err
		}
	}
	if rec.Points >= 0 {
		if err := rs.checkCount(ctx); err != nil {
			return err
		}
	}
	if rs.strict != nil {
		if err := e.call(ctx, "turning strict mode on", func(ctx context.Context) error {
			return e.client.UpdateCollection(ctx, &qdrant.UpdateCollection{CollectionName: rec.Name, StrictModeConfig: rs.strict})
		}); err != nil {
			return err
		}
	}
	if rec.Aliases == nil {
		return nil
	}
	return e.setAliases(ctx, rec.Name, rec.Aliases)
}

func (rs *restoring) checkCount(ctx context.Context) error {
	rec := rs.rec
	n, err := rs.e.count(ctx, rec.Name)
	if err != nil {
		return err
	}
	lo, hi := rec.Points, rec.Points
	if rec.PointsAfter != nil {
		lo, hi = min(lo, *rec.PointsAfter), max(hi, *rec.PointsAfter)
	}
	if n < lo || n > hi {
		if lo == hi {
			return fmt.Errorf("qdrantexp: restored collection has %d points, the backup has %d", n, lo)
		}
		return fmt.Errorf("qdrantexp: restored collection has %d points, the backup has %d to %d", n, lo, hi)
	}
	return nil
}
