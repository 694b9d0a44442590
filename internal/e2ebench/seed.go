package main

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"

	"github.com/neo4j/neo4j-go-driver/v5/neo4j"
	"github.com/qdrant/go-client/qdrant"
)

// The dataset is GraphRAG-shaped and the same every run: text chunks and
// documents in Redis and in the working folder, entities and their
// relationships in Neo4j (and in the folder's GraphML), one embedding per
// chunk in Qdrant.

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

func (e *env) seed(sc scale) error {
	if err := e.seedFiles(sc); err != nil {
		return fmt.Errorf("files: %w", err)
	}
	if err := e.seedRedis(sc); err != nil {
		return fmt.Errorf("redis: %w", err)
	}
	if err := e.wipeNeo4j(); err != nil {
		return fmt.Errorf("neo4j: %w", err)
	}
	if err := e.loadNeo4j(sc); err != nil {
		return fmt.Errorf("neo4j: %w", err)
	}
	if err := e.seedQdrant(sc); err != nil {
		return fmt.Errorf("qdrant: %w", err)
	}
	return nil
}

func (e *env) seedFiles(sc scale) error {
	os.RemoveAll(e.jsonDir)
	if err := os.MkdirAll(e.jsonDir, 0o755); err != nil {
		return err
	}
	rng := rand.New(rand.NewPCG(1, 1))
	docs := map[string]any{}
	for i := range sc.docs {
		docs[fmt.Sprintf("doc-%08x", i)] = map[string]any{"content": words(rng, 600)}
	}
	chunks := map[string]any{}
	for i := range sc.chunks {
		chunks[fmt.Sprintf("chunk-%08x", i)] = map[string]any{"tokens": 120 + rng.IntN(800), "content": words(rng, 120),
			"chunk_order_index": i % 10, "full_doc_id": fmt.Sprintf("doc-%08x", i/10)}
	}
	for name, v := range map[string]any{"kv_store_full_docs.json": docs, "kv_store_text_chunks.json": chunks} {
		b, err := json.Marshal(v)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(e.jsonDir, name), b, 0o644); err != nil {
			return err
		}
	}
	var g strings.Builder
	g.WriteString(`<?xml version='1.0' encoding='utf-8'?>` + "\n" + `<graphml xmlns="http://graphml.graphdrawing.org/xmlns"><graph edgedefault="undirected">` + "\n")
	for i := range sc.graphMLEntries {
		fmt.Fprintf(&g, "<node id=\"ENTITY %d\"><data key=\"d0\">ORGANIZATION</data><data key=\"d1\">%s</data></node>\n", i, words(rng, 25))
	}
	for i := range sc.graphMLEntries {
		fmt.Fprintf(&g, "<edge source=\"ENTITY %d\" target=\"ENTITY %d\"><data key=\"d3\">%.1f</data><data key=\"d4\">%s</data></edge>\n",
			i, (i*7+1)%sc.graphMLEntries, rng.Float64()*10, words(rng, 15))
	}
	g.WriteString("</graph></graphml>\n")
	return os.WriteFile(filepath.Join(e.jsonDir, "graph_chunk_entity_relation.graphml"), []byte(g.String()), 0o644)
}

func (e *env) seedRedis(sc scale) error {
	if err := e.deleteRedis(); err != nil {
		return err
	}
	rng := rand.New(rand.NewPCG(2, 2))
	pipe := e.rdb.Pipeline()
	for i := range sc.kv {
		v, _ := json.Marshal(map[string]any{"content": words(rng, 140), "tokens": rng.IntN(1200), "full_doc_id": fmt.Sprintf("doc-%08x", i/10)})
		pipe.Set(e.ctx, fmt.Sprintf("%stext_chunks:chunk-%08x", redisPrefix, i), v, 0)
		if (i+1)%1000 == 0 {
			if _, err := pipe.Exec(e.ctx); err != nil {
				return err
			}
		}
	}
	_, err := pipe.Exec(e.ctx)
	return err
}

func (e *env) run(query string, params map[string]any) error {
	sess := e.neo.NewSession(e.ctx, neo4j.SessionConfig{})
	defer sess.Close(e.ctx)
	res, err := sess.Run(e.ctx, query, params)
	if err != nil {
		return err
	}
	_, err = res.Consume(e.ctx)
	return err
}

// wipeNeo4j empties the database, its schema too.
func (e *env) wipeNeo4j() error {
	if err := e.run("MATCH (n) CALL { WITH n DETACH DELETE n } IN TRANSACTIONS OF 10000 ROWS", nil); err != nil {
		return err
	}
	for _, q := range []string{"SHOW CONSTRAINTS YIELD name", "SHOW INDEXES YIELD name, type WHERE type <> 'LOOKUP' RETURN name"} {
		names, err := neo4j.ExecuteQuery(e.ctx, e.neo, q, nil, neo4j.EagerResultTransformer)
		if err != nil {
			return err
		}
		for _, r := range names.Records {
			kind := "INDEX"
			if strings.HasPrefix(q, "SHOW CONSTRAINTS") {
				kind = "CONSTRAINT"
			}
			if err := e.run(fmt.Sprintf("DROP %s `%s` IF EXISTS", kind, r.Values[0]), nil); err != nil {
				return err
			}
		}
	}
	return nil
}

// loadNeo4j is the driver-only load, the limit a restore is measured
// against: the rows as parameters of UNWIND $rows CREATE, 10k a batch,
// each batch its own transaction; relationships find their ends through
// a uniqueness constraint.
func (e *env) loadNeo4j(sc scale) error {
	if err := e.run("CREATE CONSTRAINT e2e_entity_id IF NOT EXISTS FOR (n:Entity) REQUIRE n.id IS UNIQUE", nil); err != nil {
		return err
	}
	rng := rand.New(rand.NewPCG(3, 3))
	types := []string{"PERSON", "ORGANIZATION", "GEO", "EVENT", "CONCEPT"}
	const batch = 10_000
	for start := 0; start < sc.entities; start += batch {
		rows := make([]any, 0, batch)
		for i := start; i < min(sc.entities, start+batch); i++ {
			rows = append(rows, map[string]any{"id": fmt.Sprintf("ENTITY-%d", i), "entity_type": types[i%len(types)],
				"description": words(rng, 25), "source_id": fmt.Sprintf("chunk-%08x", i%sc.chunks)})
		}
		if err := e.run("UNWIND $rows AS r CREATE (n:Entity) SET n = r", map[string]any{"rows": rows}); err != nil {
			return err
		}
	}
	for start := 0; start < sc.rels; start += batch {
		rows := make([]any, 0, batch)
		for i := start; i < min(sc.rels, start+batch); i++ {
			rows = append(rows, map[string]any{"src": fmt.Sprintf("ENTITY-%d", i%sc.entities), "dst": fmt.Sprintf("ENTITY-%d", (i*7+1)%sc.entities),
				"weight": rng.Float64() * 10, "description": words(rng, 15), "keywords": words(rng, 3)})
		}
		if err := e.run("UNWIND $rows AS r MATCH (a:Entity {id: r.src}), (b:Entity {id: r.dst}) CREATE (a)-[:RELATED {weight: r.weight, description: r.description, keywords: r.keywords}]->(b)",
			map[string]any{"rows": rows}); err != nil {
			return err
		}
	}
	return nil
}

func (e *env) seedQdrant(sc scale) error {
	if exists, err := e.qc.CollectionExists(e.ctx, collection); err != nil {
		return err
	} else if exists {
		if err := e.qc.DeleteCollection(e.ctx, collection); err != nil {
			return err
		}
	}
	if err := e.qc.CreateCollection(e.ctx, &qdrant.CreateCollection{CollectionName: collection,
		VectorsConfig: qdrant.NewVectorsConfig(&qdrant.VectorParams{Size: dim, Distance: qdrant.Distance_Cosine})}); err != nil {
		return err
	}
	rng := rand.New(rand.NewPCG(4, 4))
	wait := true
	for start := 0; start < sc.points; start += 256 {
		var points []*qdrant.PointStruct
		for i := start; i < min(sc.points, start+256); i++ {
			v := make([]float32, dim)
			for j := range v {
				v[j] = rng.Float32()*2 - 1
			}
			points = append(points, &qdrant.PointStruct{
				Id:      qdrant.NewIDNum(uint64(i)),
				Vectors: qdrant.NewVectorsDense(v),
				Payload: qdrant.NewValueMap(map[string]any{"content": words(rng, 40), "full_doc_id": fmt.Sprintf("doc-%08x", i/10)}),
			})
		}
		if _, err := e.qc.Upsert(e.ctx, &qdrant.UpsertPoints{CollectionName: collection, Wait: &wait, Points: points}); err != nil {
			return err
		}
	}
	return nil
}
