# make test: install what the tests need, start the servers, vet, test with
# the race detector, stop the servers. The servers' addresses go to
# .services.env, which the tests read from the environment. The Qdrant suite
# runs twice: against the real server and against internal/qdrantemu, which
# must pass the same tests.

SHELL := /bin/bash
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2

.PHONY: test tools services services-stop lint bench bench-e2e bench-dedup fuzz

test: tools
	@./scripts/services.sh start
	@set -a; . ./.services.env; set +a; \
	  go vet ./... && go test -race -timeout 30m ./... && \
	  NGBAK_QDRANT_EMULATOR=1 go test -race -count 1 ./qdrantexp; status=$$?; \
	  ./scripts/services.sh stop; exit $$status

# The command-line tools the tests call.
tools:
	@./scripts/services.sh tools

services: tools
	@./scripts/services.sh start

services-stop:
	@./scripts/services.sh stop

lint:
	gofmt -l . | (! grep .)
	go vet ./...
	go run $(STATICCHECK) ./...

# Benchmarks with the baselines they are compared with; see README.md.
bench:
	go test -run '^$$' -bench . -benchtime 1x -count 5 .
	@set -a; . ./.services.env; set +a; go test -run '^$$' -bench . -benchtime 3x -count 3 ./redisexp
	@set -a; . ./.services.env; set +a; go test -run '^$$' -bench . -benchtime 1x -timeout 60m ./neo4jexp
	go test -run '^$$' -bench . -benchtime 1x -count 5 -timeout 30m ./qdrantexp

# The four stores end to end beside their plain tools (make services first);
# SIZE=large or SIZE=small,large for ten times the data.
bench-e2e:
	@set -a; . ./.services.env; set +a; go run ./internal/e2ebench -size $${SIZE:-small}

# The deduplicating layout on the four stores; SIZE in MiB of a full backup's tar stream.
bench-dedup:
	@set -a; . ./.services.env; set +a; go run ./internal/dedupbench -size $${SIZE:-64}

fuzz:
	go test -run '^$$' -fuzz FuzzReadArchive -fuzztime 60s .
	go test -run '^$$' -fuzz FuzzParseManifest -fuzztime 30s .
	go test -run '^$$' -fuzz FuzzSidecarSum -fuzztime 10s .
	go test -run '^$$' -fuzz FuzzParseRecord -fuzztime 60s ./redisexp
	go test -run '^$$' -fuzz FuzzRecordRoundTrip -fuzztime 30s ./redisexp
	go test -run '^$$' -fuzz FuzzParser -fuzztime 60s ./neo4jexp
	go test -run '^$$' -fuzz FuzzParseLiteral -fuzztime 60s ./neo4jexp
	go test -run '^$$' -fuzz FuzzVerify -fuzztime 30s ./legacy
	go test -run '^$$' -fuzz FuzzEachMember -fuzztime 30s ./internal/pyjson
	go test -run '^$$' -fuzz FuzzAppend -fuzztime 30s ./internal/pyjson
	go test -run '^$$' -fuzz FuzzVDB -fuzztime 30s ./convert
	go test -run '^$$' -fuzz FuzzKVFile -fuzztime 15s ./convert
	go test -run '^$$' -fuzz FuzzReadPoints -fuzztime 30s ./qdrantexp
