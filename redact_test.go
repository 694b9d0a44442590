package ngbak_test

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/ngbak/ngbak"
)

// A real GraphRAG configuration: nano-graphrag's GraphRAGConfig (as
// dataclasses.asdict gives it) and the dict it hands its storages, with the
// secrets a deployment adds around it. Every secret goes, and nothing else:
// names are matched by words, not by substrings, so max_tokens, tokenizer,
// tokenizer_model, summary_max_tokens and
// community_report_token_budget_ratio stay.
func TestRedactionOfGraphRAGConfig(t *testing.T) {
	const config = `{
  "llm": {"provider": "openai", "model": "gpt-5-mini", "max_tokens": 32768, "max_concurrent": 16, "cache_enabled": true, "temperature": 0.0, "request_timeout": 30.0},
  "embedding": {"provider": "openai", "model": "text-embedding-3-small", "dimension": 1536, "batch_size": 32, "max_concurrent": 16},
  "storage": {
    "vector_backend": "qdrant", "graph_backend": "neo4j", "kv_backend": "redis", "working_dir": "./nano_graphrag_cache",
    "hnsw_ef_construction": 100, "hnsw_ef_search": 50, "hnsw_m": 16, "hnsw_max_elements": 1000000,
    "qdrant_url": "http://qdrant:6333/?api_key=qdrant-query-key&timeout=5", "qdrant_api_key": "qdrant-key", "qdrant_collection_params": {},
    "neo4j_url": "neo4j://neo4j:7687", "neo4j_username": "neo4j", "neo4j_password": "neo4j-pw", "neo4j_database": "neo4j",
    "neo4j_max_connection_pool_size": 50, "neo4j_connection_timeout": 30.0, "neo4j_encrypted": false,
    "neo4j_max_transaction_retry_time": 30.0, "neo4j_batch_size": 1000,
    "redis_url": "redis://:redis-pw@redis:6379", "redis_password": "redis-pw", "redis_max_connections": 50,
    "redis_connection_timeout": 5.0, "redis_socket_timeout": 5.0, "redis_health_check_interval": 30,
    "node2vec": {"enabled": true, "dimensions": 128, "num_walks": 10, "walk_length": 40, "window_size": 2, "iterations": 3, "random_seed": 3}
  },
  "chunking": {"strategy": "token", "size": 1200, "overlap": 100, "tokenizer": "tiktoken", "tokenizer_model": "gpt-4o"},
  "entity_extraction": {"max_gleaning": 1, "max_continuation_attempts": 5, "summary_max_tokens": 500, "strategy": "llm"},
  "graph_clustering": {"algorithm": "leiden", "max_cluster_size": 10, "seed": 3735928559},
  "query": {"enable_local": true, "enable_global": true, "enable_naive_rag": false, "similarity_threshold": 0.2},
  "community_report_token_budget_ratio": 0.4,
  "entity_summary_to_max_tokens": 500,
  "best_model_max_token_size": 32768,
  "key_string_value_json_storage_cls": "JsonKVStorage",
  "tiktoken_model_name": "gpt-4o",
  "addon_params": {"neo4j_url": "neo4j://neo4j:7687", "neo4j_auth": ["neo4j", "neo4j-pw"], "neo4j_database": "neo4j"},
  "env": {"NEO4J_AUTH": "neo4j/neo4j-pw", "ENCRYPTION_KEY": "enc-key", "AUTHOR": "Ada"},
  "headers": {"Authorization": "Bearer bearer-token", "Accept": "application/json"},
  "header_lines": ["Authorization: Bearer bearer-line", "Accept: text/plain"],
  "header_values": ["Bearer bearer-value", "text/plain"],
  "encryption_key": "enc-key-2",
  "webhook": "https://ghp_usertoken@hooks.example.com/notify",
  "docs_url": "https://example.com/docs?page=2"
}`
	var cfg map[string]any
	if err := json.Unmarshal([]byte(config), &cfg); err != nil {
		t.Fatal(err)
	}
	env := newEnv(t, ngbak.Options{AppConfig: cfg}, newMem("mem", nil))
	man := env.create(t)
	var got map[string]any
	if err := json.Unmarshal(man.Config, &got); err != nil {
		t.Fatal(err)
	}
	var want map[string]any
	if err := json.Unmarshal([]byte(config), &want); err != nil {
		t.Fatal(err)
	}
	storage := want["storage"].(map[string]any)
	storage["qdrant_url"] = "http://qdrant:6333/?api_key=xxxxx&timeout=5"
	storage["qdrant_api_key"] = ngbak.Redacted
	storage["neo4j_password"] = ngbak.Redacted
	storage["redis_url"] = "redis://:xxxxx@redis:6379"
	storage["redis_password"] = ngbak.Redacted
	want["addon_params"].(map[string]any)["neo4j_auth"] = ngbak.Redacted
	want["env"].(map[string]any)["NEO4J_AUTH"] = ngbak.Redacted
	want["env"].(map[string]any)["ENCRYPTION_KEY"] = ngbak.Redacted
	want["headers"].(map[string]any)["Authorization"] = ngbak.Redacted
	want["header_lines"] = []any{"Authorization: " + ngbak.Redacted, "Accept: text/plain"}
	want["header_values"] = []any{"Bearer " + ngbak.Redacted, "text/plain"}
	want["encryption_key"] = ngbak.Redacted
	want["webhook"] = "https://xxxxx@hooks.example.com/notify"
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("recorded config (-want +got):\n%s", diff)
	}
}
