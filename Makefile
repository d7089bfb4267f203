# The two commands of the README are `make serve` and `make test`.
GO ?= go
# The tools install-deps.sh installs with go install (where it puts them)
# come first, so that the pinned versions run.
export PATH := $(or $(shell $(GO) env GOBIN),$(firstword $(subst :, ,$(shell $(GO) env GOPATH)))/bin):$(PATH)

.PHONY: serve test load bench image-smoke fuzz build deps test-deps bench-deps vet fmt bench-generator lint-workflows

## serve: install what is missing (ffmpeg) and start the API with embedded defaults
serve: deps
	$(GO) run ./cmd/avatar-api serve

## test: install what is missing (ffmpeg, versitygw, …), run the whole suite with the race detector and an 80 % coverage gate (scripts/test-suite; coverage.out, .txt, .html), then check deploy/ (promtool, tools/deploycheck)
test: test-deps vet
	scripts/test-suite
	scripts/check-deploy.sh

## load: the load test (scripts/load-test): 1 000 jobs from 20 clients on SQLite and on PostgreSQL, processes killed with SIGKILL and restarted; every job completed once, nothing left; prints the figures (docs/RESILIENCE.md)
load: test-deps
	scripts/load-test

## bench: every performance figure against a baseline measured in the same run (scripts/bench): the gateway against a bare net/http server, submissions, dispatch, the generator against the encoder alone; writes docs/PERFORMANCE.md. Run it on a quiet machine
bench: test-deps bench-deps
	scripts/bench

## build: the avatar-api binary in bin/, static, with its version (VERSION, default git describe) and commit (GIT_SHA, default HEAD) linked in
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "-X github.com/avatar-api/avatar-api/internal/cli.version=$${VERSION:-$$(git describe --tags --always --dirty 2>/dev/null || echo dev)} -X github.com/avatar-api/avatar-api/internal/cli.gitSHA=$${GIT_SHA:-$$(git rev-parse HEAD 2>/dev/null)}" -o bin/avatar-api ./cmd/avatar-api

## image-smoke: build the container image with buildah (no Docker engine needed) and smoke-test it with podman; root, installs buildah, podman, runc, mmdebstrap
image-smoke:
	scripts/image-smoke

## fuzz: every Go fuzz target for FUZZTIME (default 10s) each, one after another (scripts/fuzz); fails on an input that breaks one
fuzz: test-deps
	scripts/fuzz

deps:
	@scripts/install-deps.sh

test-deps:
	@scripts/install-deps.sh --test

bench-deps:
	@scripts/install-deps.sh --bench

vet:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt needed"; exit 1; }
	$(GO) vet ./...
	staticcheck ./...
	@scripts/lint-workflows.sh

## bench-generator: the generator against the encoding floor (see internal/generator/builtin/bench_test.go)
bench-generator: deps
	$(GO) test -run '^$$' -bench BenchmarkGenerator -benchtime 5x -count 1 ./internal/generator/builtin/

## lint-workflows: actionlint (with ShellCheck) on .github/workflows
lint-workflows:
	@scripts/lint-workflows.sh
