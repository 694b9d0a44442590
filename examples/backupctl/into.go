package main

import (
	"fmt"
	"strings"

	"github.com/ngbak/ngbak"
	"github.com/ngbak/ngbak/convert"
)

// parseInto parses -into: BACKEND=EXPORTER pairs, comma separated. The
// exporters are this program's: json, kv (Redis), graph (Neo4j), qdrant.
func parseInto(s string) (map[string]string, error) {
	if s == "" {
		return nil, nil
	}
	into := map[string]string{}
	for _, pair := range strings.Split(s, ",") {
		from, to, ok := strings.Cut(pair, "=")
		if !ok || from == "" || to == "" {
			return nil, fmt.Errorf("-into %q: want BACKEND=EXPORTER[,...]", s)
		}
		into[from] = to
	}
	return into, nil
}

// parsePairs parses A=B[,C=D...] for -qdrant-restore-as and -neo4j-restore-as.
func parsePairs(flagName, s string) (map[string]string, error) {
	m, err := parseInto(s)
	if err != nil {
		return nil, fmt.Errorf("-%s: %w", flagName, err)
	}
	return m, nil
}

// converting registers exp as a converter when it can be one (the file
// stores, Redis KV, Neo4j, Qdrant), so that -into can restore another kind
// into it; for a backup of its own kind it is the same exporter.
func converting(exp ngbak.Exporter, dropTTL, partial bool) ngbak.Exporter {
	if c, err := convert.New(exp, convert.Options{DropTTL: dropTTL, Partial: partial}); err == nil {
		return c
	}
	return exp
}
