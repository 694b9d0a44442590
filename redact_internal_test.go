package ngbak

import "testing"

func TestSecretName(t *testing.T) {
	for name, want := range map[string]bool{
		"neo4j_password": true, "qdrantApiKey": true, "X-Api-Key": true, "NEO4J_AUTH": true, "Authorization": true,
		"encryption_key": true, "AWS_SECRET_ACCESS_KEY": true, "access_token": true, "GITHUB_TOKEN": true, "APIKey": true,
		"clientSecret": true, "neo4jPassword": true, "apikey": true, "redis_password": true, "passphrase": true,
		"max_tokens": false, "tokenizer": false, "tokenizer_model": false, "summary_max_tokens": false,
		"community_report_token_budget_ratio": false, "best_model_max_token_size": false, "author": false,
		"key_string_value_json_storage_cls": false, "tiktoken_model_name": false, "sort_key": false, "model": false,
		"neo4j_url": false, "auth_type": false, "keyPrefix": false,
	} {
		if got := secretName(name); got != want {
			t.Errorf("secretName(%q) = %v (words %q), want %v", name, got, nameWords(name), want)
		}
	}
}
