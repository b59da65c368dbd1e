# The README's commands. `make test` is what CI runs (through .ci/run).
GO ?= go

.PHONY: setup run test bench

setup: ## fetch modules and build once
	$(GO) mod download
	$(GO) build ./...

run: ## run the server on the embedded store in ./csc-data
	$(GO) run ./cmd/csc serve

test: ## vet and race-test every package
	$(GO) vet ./...
	$(GO) test -race -timeout 30m ./...

# Both SQLite drivers when a C compiler is there (the mattn driver needs cgo); else only the pure-Go
# one, and BENCHMARKS.md says mattn was not built. BENCH_FLAGS=--quick for a fast, rough run.
BENCH_TAGS ?= $(if $(shell command -v $(CC) 2>/dev/null),csc_mattn)
BENCH_FLAGS ?=

bench: ## measure and rewrite BENCHMARKS.md
	$(GO) run -tags '$(BENCH_TAGS)' ./cmd/csc bench --out BENCHMARKS.md $(BENCH_FLAGS)
