# The README's commands. `make test` is what CI runs (through .ci/run).
GO ?= go

.PHONY: setup run test bench fuzz soak

setup: ## fetch modules and build once
	$(GO) mod download
	$(GO) build ./...

run: ## run the server on the embedded store in ./csc-data
	$(GO) run ./cmd/csc serve

# The contract suite's 1,000,000-event memory case runs without -race (it skips itself under the race
# detector, which makes it 10-20 times slower and has nothing racy to find there).
MEMORY_CASE = '^(TestContract|TestStoreContract)$$/^(ReadAllMemoryBounded|modernc|mattn)$$/^ReadAllMemoryBounded$$'

test: ## vet and race-test every package, then the store memory case without -race, then the peer benchmark module
	$(GO) vet ./...
	$(GO) test -race -timeout 30m ./...
	$(GO) test -count=1 -timeout 20m -run $(MEMORY_CASE) ./eventstore/...
	cd bench && $(GO) vet ./... && $(GO) test -race ./...

# Both SQLite drivers when a C compiler is there (the mattn driver needs cgo); else only the pure-Go
# one, and BENCHMARKS.md says mattn was not built. BENCH_FLAGS=--quick for a fast, rough run.
BENCH_TAGS ?= $(if $(shell command -v $(CC) 2>/dev/null),csc_mattn)
BENCH_FLAGS ?=

# The comparison with the peer github.com/hallgren/eventsourcing runs first, from its own module bench/
# (so that the main module does not depend on the peer), into a temporary JSON file that csc bench adds
# to the report. Its scratch files go to PEER_TMP, which must be on the disk measured (like csc bench's
# scratch folder: the system temp folder when it is on the working folder's disk).
PEER_TMP ?= $(or $(TMPDIR),/tmp)
PEER_FLAGS ?= $(filter --quick,$(BENCH_FLAGS))

bench: ## measure (the peer comparison, then csc bench) and rewrite BENCHMARKS.md
	tmp=$$(mktemp -d "$(PEER_TMP)/csc-peer-XXXXXX") && trap 'rm -rf "$$tmp"' EXIT && \
	(cd bench && $(GO) run ./peer --out "$$tmp/peer.json" --dir "$$tmp" $(PEER_FLAGS)) && \
	$(GO) run -tags '$(BENCH_TAGS)' ./cmd/csc bench --out BENCHMARKS.md --peer "$$tmp/peer.json" $(BENCH_FLAGS)

# Every fuzz target of every package that has one, FUZZTIME each (plain `go test` runs their seed corpora).
FUZZTIME ?= 10s
FUZZ_PKGS ?= ./domain/ ./http/

fuzz: ## fuzz each target briefly
	@for pkg in $(FUZZ_PKGS); do \
	  for t in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
	    echo "fuzz $$pkg $$t ($(FUZZTIME))"; \
	    $(GO) test -run '^$$' -fuzz "^$$t\$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	  done; \
	done

soak: ## 60 s of mixed load on an in-process server (figures in the test log)
	CSC_SOAK=60s $(GO) test -run '^TestSoak$$' -count=1 -v -timeout 10m ./cmd/csc/
