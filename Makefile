# sightline — build, run and test. `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := build

GO        ?= go
BIN       := bin/sightline
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
REVISION  ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
LDFLAGS   := -s -w -X main.version=$(VERSION) -X main.revision=$(REVISION) -X main.buildDate=$(shell date -u +%Y-%m-%dT%H:%M:%SZ)
DATA_DIR  ?= ./data
GO_PKGS   := ./...
# The web UI's sources; the built files are embedded from internal/ui/dist.
WEB_SRC   := $(shell find web/src web/index.html web/package.json web/package-lock.json web/vite.config.ts web/tsconfig.json -type f 2>/dev/null)

.PHONY: help
help: ## list targets
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk -F':.*?## ' '{printf "  %-14s %s\n", $$1, $$2}'

.PHONY: build
build: ui ## build bin/sightline (static, UI embedded)
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/sightline

.PHONY: build-go
build-go: ## build bin/sightline without (re)building the UI
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/sightline

.PHONY: run
run: build ## run sightline with its demo shop; open the printed URL (Ctrl-C stops)
	./$(BIN) demo --data-dir $(DATA_DIR)

# The UI is rebuilt only when its sources changed (internal/ui/dist/index.html
# is the stamp). Without Node/npm the binary still builds and serves a page
# that says how to build the UI.
.PHONY: ui
ui: internal/ui/dist/index.html

internal/ui/dist/index.html: $(WEB_SRC)
	@if ! command -v npm >/dev/null; then echo "npm not found: building without the web UI"; exit 0; fi; \
	set -e; cd web && npm ci --no-audit --no-fund --loglevel=error && npm run build; cd ..; \
	find internal/ui/dist -mindepth 1 ! -name README.md -delete; \
	cp -r web/dist/. internal/ui/dist/

.PHONY: deps
deps: ## install the system packages tests need (Debian): chromium, prometheus, node_exporter
	./scripts/install-test-deps.sh

.PHONY: lint
lint: ## gofmt and go vet
	@bad=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$bad" ]; then echo "gofmt needed:"; echo "$$bad"; exit 1; fi
	$(GO) vet $(GO_PKGS)

.PHONY: test
test: deps ui lint ## everything CI runs: lint, race-enabled unit + e2e tests, browser tests
	$(GO) test -race -timeout 30m $(GO_PKGS)
	$(MAKE) test-ui

.PHONY: test-ui
test-ui: build ## browser tests of the web UI against the real binary (headless Chromium)
	@if [ -f web/e2e/run.mjs ]; then ./scripts/test-ui.sh ./$(BIN); else echo "no browser tests yet"; fi

.PHONY: test-long
test-long: ## long-running soak/crash tests
	SIGHTLINE_LONG=1 $(GO) test -race -timeout 60m $(GO_PKGS)

.PHONY: fuzz
fuzz: ## run every fuzz target for FUZZTIME (default 30s) each
	./scripts/fuzz.sh $${FUZZTIME:-30s}

.PHONY: bench
bench: ## Go benchmarks of the hot paths
	$(GO) test -run '^$$' -bench . -benchmem $(GO_PKGS)

.PHONY: clean
clean:
	rm -rf bin web/dist
	find internal/ui/dist -mindepth 1 ! -name README.md -delete
