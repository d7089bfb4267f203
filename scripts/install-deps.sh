#!/usr/bin/env bash
# Installs what avatar-api needs at run time and, with --test, what its test
# suite needs. Idempotent: it only installs what is missing, and says so.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
if ! command -v ffmpeg >/dev/null 2>&1 || ! command -v ffprobe >/dev/null 2>&1; then
  need_apt+=(ffmpeg) # the package holds both
fi
if [ "${1:-}" = "--test" ]; then
  # promtool checks the /metrics exposition; Debian ships it in prometheus.
  command -v promtool >/dev/null 2>&1 || need_apt+=(prometheus)
  # The commands of docs/API.md and the README, which a test runs as a
  # customer would: curl, jq, uuidgen, and Python for its client example.
  command -v curl >/dev/null 2>&1 || need_apt+=(curl)
  command -v jq >/dev/null 2>&1 || need_apt+=(jq)
  command -v uuidgen >/dev/null 2>&1 || need_apt+=(uuid-runtime)
  command -v python3 >/dev/null 2>&1 || need_apt+=(python3)
  # redis-server: internal/ratelimit starts throwaway servers beside the
  # one at 127.0.0.1:6379. ShellCheck: actionlint runs it on the workflows'
  # scripts (scripts/lint-workflows.sh).
  command -v redis-server >/dev/null 2>&1 || need_apt+=(redis-server)
  command -v shellcheck >/dev/null 2>&1 || need_apt+=(shellcheck)
  # initdb and pg_ctl: the fault tests start a private PostgreSQL of their
  # own (internal/testkit StartPostgres) to stop and restart it, beside the
  # shared server. Debian's postgresql also creates the postgres user they
  # run as under root; createcluster.conf keeps it from setting up and
  # starting a cluster of its own.
  if ! compgen -G '/usr/lib/postgresql/*/bin/pg_ctl' >/dev/null; then
    need_pg=1
  fi
  # A real browser for the dashboard's tests (chromedp).
  if [ -z "${CHROMIUM:-}" ] && [ ! -x /usr/bin/chromium ] && ! command -v chromium-headless-shell >/dev/null 2>&1; then
    need_apt+=(chromium)
  fi
fi

if [ "${1:-}" = "--bench" ]; then
  # make bench: wrk (Debian) loads the gateway as fast as it answers.
  command -v wrk >/dev/null 2>&1 || need_apt+=(wrk)
fi

if [ ${#need_apt[@]} -gt 0 ]; then
  echo "==> installing ${need_apt[*]} from Debian packages (ffmpeg reads audio and encodes video; the tests check metrics with promtool, the dashboard in chromium, and run the docs' commands with curl, jq, uuidgen and python3)"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

if [ -n "${need_pg:-}" ]; then
  echo "==> installing postgresql from Debian packages, with no cluster of its own (the fault tests start private servers with its pg_ctl)"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends postgresql-common >/dev/null
  $sudo sed -i 's/^#\?\s*create_main_cluster\b.*/create_main_cluster = false/' /etc/postgresql-common/createcluster.conf
  $sudo apt-get install -y -qq --no-install-recommends postgresql >/dev/null
fi

if ! command -v go >/dev/null 2>&1; then
  echo "Go is not installed: install Go 1.26 or later (https://go.dev/dl/)" >&2
  exit 1
fi

if [ "${1:-}" = "--test" ]; then
  scripts/install-versitygw.sh
  # staticcheck, which `make vet` runs beside go vet.
  # oasdiff, which compares api/openapi.yaml with the last released
  # document (internal/api TestSpecBreaking).
  OASDIFF=v1.37.0
  gobin=${GOBIN:-$(go env GOPATH | cut -d: -f1)/bin}
  if [ ! -x "$gobin/oasdiff" ]; then
    echo "==> installing oasdiff $OASDIFF into $gobin"
    GOBIN=$gobin go install "github.com/oasdiff/oasdiff@$OASDIFF"
  fi
  # Redocly CLI, which lints api/openapi.yaml (internal/api TestSpecLint),
  # at the version of tools/redocly/package-lock.json (reinstalled when
  # the lock names another).
  want=$(sed -n '/"node_modules\/@redocly\/cli"/,/}/s/.*"version": "\([^"]*\)".*/\1/p' tools/redocly/package-lock.json)
  have=$(sed -n 's/^  "version": "\([^"]*\)".*/\1/p' tools/redocly/node_modules/@redocly/cli/package.json 2>/dev/null || true)
  if [ "$have" != "$want" ]; then
    # Redocly CLI needs Node.js 20.19+ or 22.12+; Debian 12's own is 18.
    if ! command -v npm >/dev/null 2>&1 || ! node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>22||(a===22&&b>=12)||(a===20&&b>=19)?0:1)'; then
      echo "the tests lint the OpenAPI document with Redocly CLI $want, which needs Node.js 20.19+ or 22.12+ and npm (found: $(node --version 2>/dev/null || echo none))" >&2
      exit 1
    fi
    echo "==> installing Redocly CLI $want into tools/redocly (npm ci)"
    npm ci --prefix tools/redocly --no-audit --no-fund --loglevel=error >/dev/null
  fi
  # oapi-codegen, which apiclient's test runs to check the generated client
  # (go run at its pinned version: fetched now, not in the middle of a test).
  go mod download github.com/oapi-codegen/oapi-codegen/v2@v2.8.2
  STATICCHECK=v0.8.2
  gobin=${GOBIN:-$(go env GOPATH | cut -d: -f1)/bin}
  if [ ! -x "$gobin/staticcheck" ]; then
    echo "==> installing staticcheck $STATICCHECK into $gobin"
    GOBIN=$gobin go install "honnef.co/go/tools/cmd/staticcheck@$STATICCHECK"
  fi
fi

if [ "${1:-}" = "--bench" ]; then
  # vegeta: make bench's requests at a constant rate (the gateway's p99 at
  # half its maximum rate).
  VEGETA=v12.13.0
  gobin=${GOBIN:-$(go env GOPATH | cut -d: -f1)/bin}
  if [ ! -x "$gobin/vegeta" ]; then
    echo "==> installing vegeta $VEGETA into $gobin"
    GOBIN=$gobin go install "github.com/tsenart/vegeta/v12@$VEGETA"
  fi
fi
