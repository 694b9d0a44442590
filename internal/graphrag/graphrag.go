// Package graphrag seeds one generated GraphRAG into the four stores of the
// test servers, for the benchmark programs (internal/e2ebench,
// internal/dedupbench): text chunks in Redis and in a nano-graphrag working
// folder (KV JSON and a GraphML graph), entities and their relationships in
// Neo4j, one embedding per chunk in Qdrant.
//
// Every record is generated from its own seed (store, index, version), so
// that a dataset can grow (Append: new keys, nodes, relationships, points
// and documents, at new indexes) and change in place (Update: records
// rewritten at random) the way a GraphRAG does between two backups, and the
// unchanged records stay byte for byte what they were.
package graphrag

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/neo4j/neo4j-go-driver/v5/neo4j"
	"github.com/qdrant/go-client/qdrant"
	"github.com/redis/go-redis/v9"
)

// A Scale is how many records each store holds.
type Scale struct {
	KV, Entities, Rels, Points   int
	Docs, Chunks, GraphMLEntries int
}

// Small is the small GraphRAG of internal/e2ebench: 30k Redis entries,
// 20k Neo4j entities with 40k relationships, 20k Qdrant points and a
// working folder of about 10 MB.
var Small = Scale{KV: 30_000, Entities: 20_000, Rels: 40_000, Points: 20_000, Docs: 500, Chunks: 5_000, GraphMLEntries: 5_000}

// Times returns the scale with every count multiplied by f (at least one).
func (s Scale) Times(f float64) Scale {
	m := func(n int) int { return max(1, int(float64(n)*f)) }
	return Scale{KV: m(s.KV), Entities: m(s.Entities), Rels: m(s.Rels), Points: m(s.Points),
		Docs: m(s.Docs), Chunks: m(s.Chunks), GraphMLEntries: m(s.GraphMLEntries)}
}

// Stores is the four stores of one GraphRAG: only keys under RedisPrefix
// and the Qdrant collection Collection are touched, but the Neo4j database
// is replaced (take Lock("neo4j") first).
type Stores struct {
	Ctx         context.Context
	Redis       *redis.Client
	RedisPrefix string
	Neo4j       neo4j.DriverWithContext
	Qdrant      *qdrant.Client
	Collection  string
	Dim         int
	// JSONDir is the nano-graphrag working folder.
	JSONDir string
	// QdrantURL and QdrantGRPC are the addresses Connect used.
	QdrantURL, QdrantGRPC string

	// updated is the version of each record of the working folder
	// Update rewrote.
	updated map[string]map[int]uint64
}

// Connect connects to the servers of .services.env (NGBAK_REDIS_URL,
// NGBAK_NEO4J_URI, NGBAK_QDRANT_URL, NGBAK_QDRANT_GRPC). redisDB, when not
// negative, replaces the URL's database number.
func Connect(ctx context.Context, redisDB int) (*Stores, error) {
	need := func(k string) (string, error) {
		v := os.Getenv(k)
		if v == "" {
			return "", fmt.Errorf("%s is not set: run make services, then set -a; . ./.services.env; set +a", k)
		}
		return v, nil
	}
	var urls [4]string
	for i, k := range []string{"NGBAK_REDIS_URL", "NGBAK_NEO4J_URI", "NGBAK_QDRANT_URL", "NGBAK_QDRANT_GRPC"} {
		v, err := need(k)
		if err != nil {
			return nil, err
		}
		urls[i] = v
	}
	ropts, err := redis.ParseURL(urls[0])
	if err != nil {
		return nil, err
	}
	if redisDB >= 0 {
		ropts.DB = redisDB
	}
	s := &Stores{Ctx: ctx, Redis: redis.NewClient(ropts), QdrantURL: urls[2], QdrantGRPC: urls[3]}
	if s.Neo4j, err = neo4j.NewDriverWithContext(urls[1], neo4j.NoAuth()); err != nil {
		return nil, err
	}
	host, port, err := net.SplitHostPort(urls[3])
	if err != nil {
		return nil, err
	}
	p, _ := strconv.Atoi(port)
	if s.Qdrant, err = qdrant.NewClient(&qdrant.Config{Host: host, Port: p, SkipCompatibilityCheck: true}); err != nil {
		return nil, err
	}
	return s, nil
}

// Lock takes the machine-wide lock internal/testlock's tests take, until
// the returned function is called.
func Lock(name string) (func(), error) {
	f, err := os.OpenFile(filepath.Join(os.TempDir(), "ngbak-test-"+name+".lock"), os.O_CREATE|os.O_RDWR, 0o666)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, err
	}
	return func() { f.Close() }, nil
}

// The seeds of each kind of record.
const (
	seedDoc = iota + 1
	seedChunk
	seedGraphML
	seedKV
	seedEntity
	seedRel
	seedPoint
)

// rng is record i's generator at a version.
func rng(kind, i int, version uint64) *rand.Rand {
	return rand.New(rand.NewPCG(uint64(kind)<<32|version, uint64(i)))
}

func words(rng *rand.Rand, n int) string {
	vocab := []string{"graph", "entity", "relation", "vector", "chunk", "document", "community", "report", "source", "model",
		"retrieval", "context", "query", "answer", "summary", "node", "edge", "weight", "keyword", "token"}
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(vocab[rng.IntN(len(vocab))])
	}
	return b.String()
}

// Seed replaces the stores' data with the scale's.
func (s *Stores) Seed(sc Scale) error {
	s.updated = map[string]map[int]uint64{}
	if err := s.DeleteRedis(); err != nil {
		return fmt.Errorf("redis: %w", err)
	}
	if err := s.WipeNeo4j(); err != nil {
		return fmt.Errorf("neo4j: %w", err)
	}
	if err := s.dropCollection(); err != nil {
		return fmt.Errorf("qdrant: %w", err)
	}
	return s.Append(Scale{}, sc)
}

// Append adds the records of to beyond from: new documents and chunks in
// the working folder, new keys, entities, relationships (some to old
// entities) and points.
func (s *Stores) Append(from, to Scale) error {
	if err := s.WriteFiles(to); err != nil {
		return fmt.Errorf("files: %w", err)
	}
	if err := s.setKV(from.KV, to.KV, nil); err != nil {
		return fmt.Errorf("redis: %w", err)
	}
	if err := s.LoadNeo4j(from, to); err != nil {
		return fmt.Errorf("neo4j: %w", err)
	}
	if err := s.upsertPoints(from.Points, to.Points, nil); err != nil {
		return fmt.Errorf("qdrant: %w", err)
	}
	return nil
}

// pick returns n distinct indexes below count, at random.
func pick(r *rand.Rand, count, n int) []int {
	seen := map[int]bool{}
	out := make([]int, 0, n)
	for len(out) < min(n, count) {
		if i := r.IntN(count); !seen[i] {
			seen[i] = true
			out = append(out, i)
		}
	}
	return out
}

// Update rewrites a fraction of the records of every store, picked at
// random by seed (at least one of each kind): their text, vectors,
// descriptions and weights change, their keys and ids do not.
func (s *Stores) Update(sc Scale, fraction float64, seed uint64) error {
	r := rand.New(rand.NewPCG(seed, 0))
	n := func(count int) int { return max(1, int(float64(count)*fraction)) }
	version := seed + 1
	if s.updated == nil {
		s.updated = map[string]map[int]uint64{}
	}
	for kind, count := range map[string]int{"docs": sc.Docs, "chunks": sc.Chunks, "graphml": sc.GraphMLEntries} {
		if s.updated[kind] == nil {
			s.updated[kind] = map[int]uint64{}
		}
		for _, i := range pick(r, count, n(count)) {
			s.updated[kind][i] = version
		}
	}
	if err := s.WriteFiles(sc); err != nil {
		return fmt.Errorf("files: %w", err)
	}
	if err := s.setKV(0, 0, pick(r, sc.KV, n(sc.KV))); err != nil {
		return fmt.Errorf("redis: %w", err)
	}
	if err := s.updateNeo4j(pick(r, sc.Entities, n(sc.Entities)), pick(r, sc.Rels, n(sc.Rels)), sc, version); err != nil {
		return fmt.Errorf("neo4j: %w", err)
	}
	if err := s.upsertPoints(0, 0, pick(r, sc.Points, n(sc.Points))); err != nil {
		return fmt.Errorf("qdrant: %w", err)
	}
	return nil
}

// WriteFiles writes the working folder at the scale: json.dump's maps
// (keys sorted, as encoding/json writes them, so new documents go to the
// end) and a GraphML graph, its new entries at the end too.
func (s *Stores) WriteFiles(sc Scale) error {
	if err := os.MkdirAll(s.JSONDir, 0o755); err != nil {
		return err
	}
	docs := map[string]any{}
	for i := range sc.Docs {
		docs[fmt.Sprintf("doc-%08x", i)] = map[string]any{"content": words(rng(seedDoc, i, s.updated["docs"][i]), 600)}
	}
	chunks := map[string]any{}
	for i := range sc.Chunks {
		r := rng(seedChunk, i, s.updated["chunks"][i])
		chunks[fmt.Sprintf("chunk-%08x", i)] = map[string]any{"tokens": 120 + r.IntN(800), "content": words(r, 120),
			"chunk_order_index": i % 10, "full_doc_id": fmt.Sprintf("doc-%08x", i/10)}
	}
	for name, v := range map[string]any{"kv_store_full_docs.json": docs, "kv_store_text_chunks.json": chunks} {
		b, err := json.Marshal(v)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(s.JSONDir, name), b, 0o644); err != nil {
			return err
		}
	}
	var g strings.Builder
	g.WriteString(`<?xml version='1.0' encoding='utf-8'?>` + "\n" + `<graphml xmlns="http://graphml.graphdrawing.org/xmlns"><graph edgedefault="undirected">` + "\n")
	for i := range sc.GraphMLEntries {
		fmt.Fprintf(&g, "<node id=\"ENTITY %d\"><data key=\"d0\">ORGANIZATION</data><data key=\"d1\">%s</data></node>\n", i, words(rng(seedGraphML, i, s.updated["graphml"][i]), 25))
	}
	for i := range sc.GraphMLEntries {
		r := rng(seedGraphML, -1-i, s.updated["graphml"][i])
		fmt.Fprintf(&g, "<edge source=\"ENTITY %d\" target=\"ENTITY %d\"><data key=\"d3\">%.1f</data><data key=\"d4\">%s</data></edge>\n",
			i, r.IntN(i+1), r.Float64()*10, words(r, 15))
	}
	g.WriteString("</graph></graphml>\n")
	return os.WriteFile(filepath.Join(s.JSONDir, "graph_chunk_entity_relation.graphml"), []byte(g.String()), 0o644)
}

// setKV sets the keys [from, to) and rewrites those of update.
func (s *Stores) setKV(from, to int, update []int) error {
	pipe := s.Redis.Pipeline()
	set := func(i int, version uint64) error {
		r := rng(seedKV, i, version)
		v, _ := json.Marshal(map[string]any{"content": words(r, 140), "tokens": r.IntN(1200), "full_doc_id": fmt.Sprintf("doc-%08x", i/10)})
		pipe.Set(s.Ctx, fmt.Sprintf("%stext_chunks:chunk-%08x", s.RedisPrefix, i), v, 0)
		if pipe.Len() >= 1000 {
			_, err := pipe.Exec(s.Ctx)
			return err
		}
		return nil
	}
	for i := from; i < to; i++ {
		if err := set(i, 0); err != nil {
			return err
		}
	}
	for _, i := range update {
		if err := set(i, 1); err != nil {
			return err
		}
	}
	_, err := pipe.Exec(s.Ctx)
	return err
}

// DeleteRedis deletes the keys under RedisPrefix.
func (s *Stores) DeleteRedis() error {
	var cursor uint64
	for {
		keys, next, err := s.Redis.Scan(s.Ctx, cursor, s.RedisPrefix+"*", 1000).Result()
		if err != nil {
			return err
		}
		if len(keys) > 0 {
			if err := s.Redis.Unlink(s.Ctx, keys...).Err(); err != nil {
				return err
			}
		}
		if cursor = next; cursor == 0 {
			return nil
		}
	}
}

// Run runs one Cypher statement in its own transaction.
func (s *Stores) Run(query string, params map[string]any) error {
	sess := s.Neo4j.NewSession(s.Ctx, neo4j.SessionConfig{})
	defer sess.Close(s.Ctx)
	res, err := sess.Run(s.Ctx, query, params)
	if err != nil {
		return err
	}
	_, err = res.Consume(s.Ctx)
	return err
}

// WipeNeo4j empties the database, its schema too.
func (s *Stores) WipeNeo4j() error {
	if err := s.Run("MATCH (n) CALL { WITH n DETACH DELETE n } IN TRANSACTIONS OF 10000 ROWS", nil); err != nil {
		return err
	}
	for _, q := range []string{"SHOW CONSTRAINTS YIELD name", "SHOW INDEXES YIELD name, type WHERE type <> 'LOOKUP' RETURN name"} {
		names, err := neo4j.ExecuteQuery(s.Ctx, s.Neo4j, q, nil, neo4j.EagerResultTransformer)
		if err != nil {
			return err
		}
		for _, r := range names.Records {
			kind := "INDEX"
			if strings.HasPrefix(q, "SHOW CONSTRAINTS") {
				kind = "CONSTRAINT"
			}
			if err := s.Run(fmt.Sprintf("DROP %s `%s` IF EXISTS", kind, r.Values[0]), nil); err != nil {
				return err
			}
		}
	}
	return nil
}

var entityTypes = []string{"PERSON", "ORGANIZATION", "GEO", "EVENT", "CONCEPT"}

func entity(i int, version uint64) map[string]any {
	return map[string]any{"id": fmt.Sprintf("ENTITY-%d", i), "entity_type": entityTypes[i%len(entityTypes)],
		"description": words(rng(seedEntity, i, version), 25), "source_id": fmt.Sprintf("chunk-%08x", i)}
}

// rel is relationship i of a graph of entities entities: its ends, and
// properties.
func rel(i, entities int, version uint64) map[string]any {
	r := rng(seedRel, i, version)
	return map[string]any{"src": fmt.Sprintf("ENTITY-%d", i%entities), "dst": fmt.Sprintf("ENTITY-%d", (i*7+1)%entities),
		"weight": r.Float64() * 10, "description": words(r, 15), "keywords": words(r, 3)}
}

// LoadNeo4j creates the entities and relationships of to beyond from, the
// driver-only load a restore is measured against: the rows as parameters
// of UNWIND $rows CREATE, 10k a batch, each batch its own transaction;
// relationships find their ends through a uniqueness constraint. A new
// relationship may end at an old entity.
func (s *Stores) LoadNeo4j(from, to Scale) error {
	if err := s.Run("CREATE CONSTRAINT e2e_entity_id IF NOT EXISTS FOR (n:Entity) REQUIRE n.id IS UNIQUE", nil); err != nil {
		return err
	}
	const batch = 10_000
	for start := from.Entities; start < to.Entities; start += batch {
		rows := make([]any, 0, batch)
		for i := start; i < min(to.Entities, start+batch); i++ {
			rows = append(rows, entity(i, 0))
		}
		if err := s.Run("UNWIND $rows AS r CREATE (n:Entity) SET n = r", map[string]any{"rows": rows}); err != nil {
			return err
		}
	}
	for start := from.Rels; start < to.Rels; start += batch {
		rows := make([]any, 0, batch)
		for i := start; i < min(to.Rels, start+batch); i++ {
			rows = append(rows, rel(i, to.Entities, 0))
		}
		if err := s.Run("UNWIND $rows AS r MATCH (a:Entity {id: r.src}), (b:Entity {id: r.dst}) CREATE (a)-[:RELATED {weight: r.weight, description: r.description, keywords: r.keywords}]->(b)",
			map[string]any{"rows": rows}); err != nil {
			return err
		}
	}
	return nil
}

// updateNeo4j rewrites the descriptions of the entities and the properties
// of the relationships given (a relationship is found by its ends at the
// scale sc: one of a seed, the one of an Append where it was made later,
// may not be, and is then left alone).
func (s *Stores) updateNeo4j(entities, rels []int, sc Scale, version uint64) error {
	var rows []any
	for _, i := range entities {
		rows = append(rows, entity(i, version))
	}
	if err := s.Run("UNWIND $rows AS r MATCH (n:Entity {id: r.id}) SET n.description = r.description", map[string]any{"rows": rows}); err != nil {
		return err
	}
	rows = rows[:0]
	for _, i := range rels {
		rows = append(rows, rel(i, sc.Entities, version))
	}
	return s.Run("UNWIND $rows AS r MATCH (:Entity {id: r.src})-[x:RELATED]->(:Entity {id: r.dst}) SET x.weight = r.weight, x.description = r.description",
		map[string]any{"rows": rows})
}

func (s *Stores) dropCollection() error {
	exists, err := s.Qdrant.CollectionExists(s.Ctx, s.Collection)
	if err != nil || !exists {
		return err
	}
	return s.Qdrant.DeleteCollection(s.Ctx, s.Collection)
}

// upsertPoints writes the points [from, to), after creating the collection
// when it is missing, and rewrites those of update: their vectors and
// payload.
func (s *Stores) upsertPoints(from, to int, update []int) error {
	exists, err := s.Qdrant.CollectionExists(s.Ctx, s.Collection)
	if err != nil {
		return err
	}
	if !exists {
		if err := s.Qdrant.CreateCollection(s.Ctx, &qdrant.CreateCollection{CollectionName: s.Collection,
			VectorsConfig: qdrant.NewVectorsConfig(&qdrant.VectorParams{Size: uint64(s.Dim), Distance: qdrant.Distance_Cosine})}); err != nil {
			return err
		}
	}
	ids := append([]int(nil), update...)
	for i := from; i < to; i++ {
		ids = append(ids, i)
	}
	wait := true
	for start := 0; start < len(ids); start += 256 {
		var points []*qdrant.PointStruct
		for k := start; k < min(len(ids), start+256); k++ {
			i := ids[k]
			var version uint64
			if k < len(update) {
				version = 1
			}
			r := rng(seedPoint, i, version)
			v := make([]float32, s.Dim)
			for j := range v {
				v[j] = r.Float32()*2 - 1
			}
			points = append(points, &qdrant.PointStruct{
				Id:      qdrant.NewIDNum(uint64(i)),
				Vectors: qdrant.NewVectorsDense(v),
				Payload: qdrant.NewValueMap(map[string]any{"content": words(r, 40), "full_doc_id": fmt.Sprintf("doc-%08x", i/10)}),
			})
		}
		if _, err := s.Qdrant.Upsert(s.Ctx, &qdrant.UpsertPoints{CollectionName: s.Collection, Wait: &wait, Points: points}); err != nil {
			return err
		}
	}
	return s.waitGreen()
}

// waitGreen waits for the collection's optimizers to finish (status
// green): a collection at rest, as one is between a GraphRAG's updates,
// and not one whose segments are still being rewritten under a backup.
func (s *Stores) waitGreen() error {
	for {
		info, err := s.Qdrant.GetCollectionInfo(s.Ctx, s.Collection)
		if err != nil {
			return err
		}
		if info.GetStatus() == qdrant.CollectionStatus_Green {
			return nil
		}
		select {
		case <-s.Ctx.Done():
			return s.Ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}
