package qdrantemu

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/qdrant/go-client/qdrant"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// The gRPC services follow Qdrant's protobuf API
// (https://github.com/qdrant/qdrant/tree/master/lib/api/src/grpc/proto) as
// the go-client generates it. Methods ngbak does not use stay
// Unimplemented.

type qdrantService struct {
	qdrant.UnimplementedQdrantServer
	s *Server
}

func (q *qdrantService) HealthCheck(context.Context, *qdrant.HealthCheckRequest) (*qdrant.HealthCheckReply, error) {
	return &qdrant.HealthCheckReply{Title: "qdrant - vector search engine (ngbak emulator)", Version: q.s.opts.Version}, nil
}

// inCollection runs fn under the server's lock with the collection that
// name names, directly or through an alias.
func inCollection[T any](s *Server, name string, fn func(*collection) (T, error)) (T, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, _, err := s.get(name)
	if err != nil {
		var zero T
		return zero, err
	}
	return fn(c)
}

type collectionsService struct {
	qdrant.UnimplementedCollectionsServer
	s *Server
}

func (cs *collectionsService) Get(_ context.Context, req *qdrant.GetCollectionInfoRequest) (*qdrant.GetCollectionInfoResponse, error) {
	return inCollection(cs.s, req.CollectionName, func(c *collection) (*qdrant.GetCollectionInfoResponse, error) {
		n := uint64(len(c.points))
		zero := uint64(0)
		schema := map[string]*qdrant.PayloadSchemaInfo{}
		for k, v := range c.schema {
			schema[k] = clone(v)
		}
		return &qdrant.GetCollectionInfoResponse{Result: &qdrant.CollectionInfo{
			Status:              qdrant.CollectionStatus_Green,
			OptimizerStatus:     &qdrant.OptimizerStatus{Ok: true},
			SegmentsCount:       1,
			Config:              clone(c.config),
			PayloadSchema:       schema,
			PointsCount:         &n,
			IndexedVectorsCount: &zero,
			UpdateQueue:         &qdrant.UpdateQueueInfo{},
		}}, nil
	})
}

// CollectionClusterInfo reports the collection's shards as a single node
// does: all of them local and active, unless Server.SetRemoteShards put some
// on another peer
// (https://api.qdrant.tech/api-reference/distributed/collection-cluster-info).
// The emulator keeps no shards: every point is counted on shard 0.
func (cs *collectionsService) CollectionClusterInfo(_ context.Context, req *qdrant.CollectionClusterInfoRequest) (*qdrant.CollectionClusterInfoResponse, error) {
	return inCollection(cs.s, req.CollectionName, func(c *collection) (*qdrant.CollectionClusterInfoResponse, error) {
		n := c.config.GetParams().GetShardNumber()
		resp := &qdrant.CollectionClusterInfoResponse{PeerId: localPeer, ShardCount: uint64(n)}
		for id := range n {
			if slices.Contains(c.remoteShards, id) {
				resp.RemoteShards = append(resp.RemoteShards, &qdrant.RemoteShardInfo{ShardId: id, PeerId: localPeer + 1, State: qdrant.ReplicaState_Active})
				continue
			}
			shard := &qdrant.LocalShardInfo{ShardId: id, State: qdrant.ReplicaState_Active}
			if id == 0 {
				shard.PointsCount = uint64(len(c.points))
			}
			resp.LocalShards = append(resp.LocalShards, shard)
		}
		return resp, nil
	})
}

func (cs *collectionsService) List(context.Context, *qdrant.ListCollectionsRequest) (*qdrant.ListCollectionsResponse, error) {
	s := cs.s
	s.mu.Lock()
	defer s.mu.Unlock()
	resp := &qdrant.ListCollectionsResponse{}
	for name := range s.collections {
		resp.Collections = append(resp.Collections, &qdrant.CollectionDescription{Name: name})
	}
	return resp, nil
}

func (cs *collectionsService) CollectionExists(_ context.Context, req *qdrant.CollectionExistsRequest) (*qdrant.CollectionExistsResponse, error) {
	s := cs.s
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.collections[req.CollectionName]
	return &qdrant.CollectionExistsResponse{Result: &qdrant.CollectionExists{Exists: ok}}, nil
}

// Create refuses an existing name, as Qdrant does ("Collection `x` already
// exists!"), and custom sharding, which the emulator does not implement.
func (cs *collectionsService) Create(_ context.Context, req *qdrant.CreateCollection) (*qdrant.CollectionOperationResponse, error) {
	if err := validName(req.CollectionName); err != nil {
		return nil, err
	}
	if req.GetShardingMethod() == qdrant.ShardingMethod_Custom {
		return nil, status.Error(codes.Unimplemented, "emulator: custom sharding")
	}
	s := cs.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.collections[req.CollectionName]; ok {
		return nil, status.Errorf(codes.AlreadyExists, "Wrong input: Collection `%s` already exists!", req.CollectionName)
	}
	if _, ok := s.aliases[req.CollectionName]; ok {
		return nil, status.Errorf(codes.AlreadyExists, "Wrong input: Alias with name `%s` already exists!", req.CollectionName)
	}
	s.collections[req.CollectionName] = &collection{
		config:  newConfig(req),
		schema:  map[string]*qdrant.PayloadSchemaInfo{},
		points:  map[pointKey]*qdrant.PointStruct{},
		created: time.Now(),
	}
	return &qdrant.CollectionOperationResponse{Result: true}, nil
}

// Update merges HNSW, optimizer and strict mode settings into a
// collection's configuration: each field given replaces the one there
// (https://qdrant.tech/documentation/concepts/collections/#update-collection-parameters).
// What else Qdrant can update, the emulator refuses.
func (cs *collectionsService) Update(_ context.Context, req *qdrant.UpdateCollection) (*qdrant.CollectionOperationResponse, error) {
	if req.Params != nil || req.QuantizationConfig != nil || req.VectorsConfig != nil || req.SparseVectorsConfig != nil || req.Metadata != nil {
		return nil, status.Error(codes.Unimplemented, "emulator: updating params, quantization, vectors or metadata")
	}
	return inCollection(cs.s, req.CollectionName, func(c *collection) (*qdrant.CollectionOperationResponse, error) {
		cfg := clone(c.config)
		proto.Merge(cfg.HnswConfig, req.HnswConfig)
		proto.Merge(cfg.OptimizerConfig, req.OptimizersConfig)
		if req.StrictModeConfig != nil {
			if cfg.StrictModeConfig == nil {
				cfg.StrictModeConfig = &qdrant.StrictModeConfig{}
			}
			proto.Merge(cfg.StrictModeConfig, req.StrictModeConfig)
		}
		c.config = cfg
		return &qdrant.CollectionOperationResponse{Result: true}, nil
	})
}

// Delete removes a collection with its aliases (not its snapshots); deleting a collection that
// does not exist returns false, not an error (Qdrant's DELETE
// /collections/{name} answers `"result": false`).
func (cs *collectionsService) Delete(_ context.Context, req *qdrant.DeleteCollection) (*qdrant.CollectionOperationResponse, error) {
	s := cs.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.collections[req.CollectionName]; !ok {
		return &qdrant.CollectionOperationResponse{Result: false}, nil
	}
	delete(s.collections, req.CollectionName)
	for a, c := range s.aliases {
		if c == req.CollectionName {
			delete(s.aliases, a)
		}
	}
	// The collection's snapshots stay on disk, as Qdrant's do, and are
	// listed again if a collection of that name is made.
	return &qdrant.CollectionOperationResponse{Result: true}, nil
}

// UpdateAliases applies all actions or none, as Qdrant documents ("all
// operations are applied atomically",
// https://qdrant.tech/documentation/concepts/collections/#collection-aliases).
func (cs *collectionsService) UpdateAliases(_ context.Context, req *qdrant.ChangeAliases) (*qdrant.CollectionOperationResponse, error) {
	s := cs.s
	s.mu.Lock()
	defer s.mu.Unlock()
	next := map[string]string{}
	for k, v := range s.aliases {
		next[k] = v
	}
	for _, op := range req.Actions {
		switch a := op.GetAction().(type) {
		case *qdrant.AliasOperations_CreateAlias:
			c, alias := a.CreateAlias.CollectionName, a.CreateAlias.AliasName
			if _, ok := s.collections[c]; !ok {
				return nil, status.Errorf(codes.NotFound, "Not found: Collection `%s` doesn't exist!", c)
			}
			if _, ok := s.collections[alias]; ok || validName(alias) != nil {
				return nil, status.Errorf(codes.InvalidArgument, "Wrong input: invalid alias name %q", alias)
			}
			next[alias] = c
		case *qdrant.AliasOperations_DeleteAlias:
			if _, ok := next[a.DeleteAlias.AliasName]; !ok {
				return nil, status.Errorf(codes.NotFound, "Not found: Alias `%s` doesn't exist!", a.DeleteAlias.AliasName)
			}
			delete(next, a.DeleteAlias.AliasName)
		case *qdrant.AliasOperations_RenameAlias:
			c, ok := next[a.RenameAlias.OldAliasName]
			if !ok {
				return nil, status.Errorf(codes.NotFound, "Not found: Alias `%s` doesn't exist!", a.RenameAlias.OldAliasName)
			}
			delete(next, a.RenameAlias.OldAliasName)
			next[a.RenameAlias.NewAliasName] = c
		default:
			return nil, status.Error(codes.InvalidArgument, "empty alias action")
		}
	}
	s.aliases = next
	return &qdrant.CollectionOperationResponse{Result: true}, nil
}

func (cs *collectionsService) ListCollectionAliases(_ context.Context, req *qdrant.ListCollectionAliasesRequest) (*qdrant.ListAliasesResponse, error) {
	s := cs.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.collections[req.CollectionName]; !ok {
		return nil, status.Errorf(codes.NotFound, "Not found: Collection `%s` doesn't exist!", req.CollectionName)
	}
	return &qdrant.ListAliasesResponse{Aliases: s.aliasList(req.CollectionName)}, nil
}

func (cs *collectionsService) ListAliases(context.Context, *qdrant.ListAliasesRequest) (*qdrant.ListAliasesResponse, error) {
	s := cs.s
	s.mu.Lock()
	defer s.mu.Unlock()
	return &qdrant.ListAliasesResponse{Aliases: s.aliasList("")}, nil
}

func (s *Server) aliasList(coll string) []*qdrant.AliasDescription {
	var out []*qdrant.AliasDescription
	for a, c := range s.aliases {
		if coll == "" || c == coll {
			out = append(out, &qdrant.AliasDescription{AliasName: a, CollectionName: c})
		}
	}
	slices.SortFunc(out, func(a, b *qdrant.AliasDescription) int { return strings.Compare(a.AliasName, b.AliasName) })
	return out
}

type pointsService struct {
	qdrant.UnimplementedPointsServer
	s *Server
}

// strict enforces a limit of the collection's strict mode, when it is on,
// with Qdrant's message (check_limit_opt in
// lib/collection/src/operations/verification/mod.rs).
func (c *collection) strict(n int, what string, limit *uint64) error {
	sm := c.config.GetStrictModeConfig()
	if !sm.GetEnabled() || limit == nil || uint64(n) <= *limit {
		return nil
	}
	return status.Errorf(codes.InvalidArgument, "Bad request: Limit exceeded %d > %d for %q. Help: Reduce the %q parameter to or below %d.", n, *limit, what, what, *limit)
}

func completed() *qdrant.PointsOperationResponse {
	return &qdrant.PointsOperationResponse{Result: &qdrant.UpdateResult{Status: qdrant.UpdateStatus_Completed}}
}

// Upsert inserts points or replaces them whole (payload and vectors), and
// validates every point before it changes anything
// (https://qdrant.tech/documentation/concepts/points/#upload-points).
func (ps *pointsService) Upsert(_ context.Context, req *qdrant.UpsertPoints) (*qdrant.PointsOperationResponse, error) {
	if len(req.Points) == 0 {
		return nil, status.Error(codes.InvalidArgument, "Bad request: Empty update request")
	}
	return inCollection(ps.s, req.CollectionName, func(c *collection) (*qdrant.PointsOperationResponse, error) {
		if sm := c.config.GetStrictModeConfig(); sm != nil {
			if err := c.strict(len(req.Points), "upsert limit", sm.UpsertMaxBatchsize); err != nil {
				return nil, err
			}
		}
		keys := make([]pointKey, len(req.Points))
		points := make([]*qdrant.PointStruct, len(req.Points))
		for i, p := range req.Points {
			k, err := keyOf(p.Id)
			if err != nil {
				return nil, status.Error(codes.InvalidArgument, err.Error())
			}
			if p.Vectors == nil {
				// A point must carry its vectors; `vector: {}` on a
				// collection of named vectors is a point without any.
				return nil, status.Error(codes.InvalidArgument, "Expected some vectors")
			}
			np, err := c.normalize(p)
			if err != nil {
				return nil, status.Error(codes.InvalidArgument, err.Error())
			}
			np.Id = k.id()
			keys[i], points[i] = k, np
		}
		for i, k := range keys {
			if _, ok := c.points[k]; !ok {
				c.order = nil
			}
			c.points[k] = points[i]
		}
		return completed(), nil
	})
}

func (ps *pointsService) Delete(_ context.Context, req *qdrant.DeletePoints) (*qdrant.PointsOperationResponse, error) {
	return inCollection(ps.s, req.CollectionName, func(c *collection) (*qdrant.PointsOperationResponse, error) {
		ids := req.GetPoints().GetPoints()
		if ids == nil {
			return nil, status.Error(codes.Unimplemented, "emulator: delete by filter")
		}
		for _, id := range ids.Ids {
			k, err := keyOf(id)
			if err != nil {
				return nil, status.Error(codes.InvalidArgument, err.Error())
			}
			if _, ok := c.points[k]; ok {
				delete(c.points, k)
				c.order = nil
			}
		}
		return completed(), nil
	})
}

// CreateFieldIndex records a payload index in the collection's schema
// (https://qdrant.tech/documentation/concepts/indexing/#payload-index).
func (ps *pointsService) CreateFieldIndex(_ context.Context, req *qdrant.CreateFieldIndexCollection) (*qdrant.PointsOperationResponse, error) {
	return inCollection(ps.s, req.CollectionName, func(c *collection) (*qdrant.PointsOperationResponse, error) {
		if req.FieldName == "" {
			return nil, status.Error(codes.InvalidArgument, "field_name is empty")
		}
		t := qdrant.PayloadSchemaType(int32(req.GetFieldType()) + 1) // FieldType is PayloadSchemaType shifted by one
		if _, ok := qdrant.PayloadSchemaType_name[int32(t)]; !ok || t == qdrant.PayloadSchemaType_UnknownType {
			return nil, status.Errorf(codes.InvalidArgument, "unknown field type %v", req.GetFieldType())
		}
		c.schema[req.FieldName] = &qdrant.PayloadSchemaInfo{DataType: t, Params: clone(req.FieldIndexParams)}
		return completed(), nil
	})
}

// Scroll pages through points in id order; next_page_offset is the id of
// the first point of the next page
// (https://qdrant.tech/documentation/concepts/points/#scroll-points).
func (ps *pointsService) Scroll(_ context.Context, req *qdrant.ScrollPoints) (*qdrant.ScrollResponse, error) {
	if req.Filter != nil {
		return nil, status.Error(codes.Unimplemented, "emulator: scroll with a filter")
	}
	return inCollection(ps.s, req.CollectionName, func(c *collection) (*qdrant.ScrollResponse, error) {
		limit := 10
		if req.Limit != nil {
			limit = int(*req.Limit)
		}
		if limit < 1 {
			return nil, status.Error(codes.InvalidArgument, "Validation error: limit must be at least 1")
		}
		if sm := c.config.GetStrictModeConfig(); sm != nil && sm.MaxQueryLimit != nil {
			if err := c.strict(limit, "limit", proto.Uint64(uint64(*sm.MaxQueryLimit))); err != nil {
				return nil, err
			}
		}
		withPayload, withVectors, err := selects(req.WithPayload, req.WithVectors)
		if err != nil {
			return nil, err
		}
		order := c.sorted()
		start := 0
		if req.Offset != nil {
			k, err := keyOf(req.Offset)
			if err != nil {
				return nil, status.Error(codes.InvalidArgument, err.Error())
			}
			start, _ = slices.BinarySearchFunc(order, k, comparePointKeys)
		}
		resp := &qdrant.ScrollResponse{}
		end := min(start+limit, len(order))
		for _, k := range order[start:end] {
			resp.Result = append(resp.Result, output(k, c.points[k], withPayload, withVectors))
		}
		if end < len(order) {
			resp.NextPageOffset = order[end].id()
		}
		return resp, nil
	})
}

// Get returns the points with the given ids that exist, in the order
// asked (https://qdrant.tech/documentation/concepts/points/#retrieve-points).
func (ps *pointsService) Get(_ context.Context, req *qdrant.GetPoints) (*qdrant.GetResponse, error) {
	return inCollection(ps.s, req.CollectionName, func(c *collection) (*qdrant.GetResponse, error) {
		withPayload, withVectors, err := selects(req.WithPayload, req.WithVectors)
		if err != nil {
			return nil, err
		}
		resp := &qdrant.GetResponse{}
		for _, id := range req.Ids {
			k, err := keyOf(id)
			if err != nil {
				return nil, status.Error(codes.InvalidArgument, err.Error())
			}
			if p, ok := c.points[k]; ok {
				resp.Result = append(resp.Result, output(k, p, withPayload, withVectors))
			}
		}
		return resp, nil
	})
}

// selects says whether to return payloads and vectors, and refuses the
// include/exclude selectors, which the emulator does not implement.
func selects(p *qdrant.WithPayloadSelector, v *qdrant.WithVectorsSelector) (payload, vectors bool, err error) {
	if p.GetInclude() != nil || p.GetExclude() != nil || v.GetInclude() != nil {
		return false, false, status.Error(codes.Unimplemented, "emulator: include/exclude selectors")
	}
	return p.GetEnable(), v.GetEnable(), nil
}

func (ps *pointsService) Count(_ context.Context, req *qdrant.CountPoints) (*qdrant.CountResponse, error) {
	if req.Filter != nil {
		return nil, status.Error(codes.Unimplemented, "emulator: count with a filter")
	}
	return inCollection(ps.s, req.CollectionName, func(c *collection) (*qdrant.CountResponse, error) {
		return &qdrant.CountResponse{Result: &qdrant.CountResult{Count: uint64(len(c.points))}}, nil
	})
}

type snapshotsService struct {
	qdrant.UnimplementedSnapshotsServer
	s *Server
}

func (ss *snapshotsService) Create(_ context.Context, req *qdrant.CreateSnapshotRequest) (*qdrant.CreateSnapshotResponse, error) {
	d, err := ss.s.createSnapshot(req.CollectionName)
	if err != nil {
		return nil, err
	}
	return &qdrant.CreateSnapshotResponse{SnapshotDescription: d}, nil
}

func (ss *snapshotsService) List(_ context.Context, req *qdrant.ListSnapshotsRequest) (*qdrant.ListSnapshotsResponse, error) {
	ds, err := ss.s.listSnapshots(req.CollectionName)
	if err != nil {
		return nil, err
	}
	return &qdrant.ListSnapshotsResponse{SnapshotDescriptions: ds}, nil
}

func (ss *snapshotsService) Delete(_ context.Context, req *qdrant.DeleteSnapshotRequest) (*qdrant.DeleteSnapshotResponse, error) {
	p, err := ss.s.snapshotPath(req.CollectionName, req.SnapshotName)
	if err != nil {
		return nil, err
	}
	if err := os.Remove(p); err != nil {
		return nil, status.Error(codes.Internal, fmt.Sprint(err))
	}
	return &qdrant.DeleteSnapshotResponse{}, nil
}
