#!/usr/bin/env bash
# Checks deploy/: the Prometheus configuration and alert rules with
# promtool (the rules' unit tests too), then the Grafana dashboard and
# every PromQL query against the metrics we export, the Dockerfile with
# BuildKit's linter (the rules of docker build --check) and
# deploy/compose.yaml with compose-go, strictly (tools/deploycheck, a
# module of its own, with its tests).
# Exits non-zero on the first failure. Run from anywhere.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

if ! command -v promtool >/dev/null; then
	echo "check-deploy: promtool is missing (apt-get install -y prometheus)" >&2
	exit 1
fi

# prometheus.yml reads the scrape token from /etc/prometheus/avatar-api-token,
# which promtool wants to exist: check a copy that points at a stand-in.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp deploy/prometheus/prometheus.yml deploy/prometheus/alerts.yml "$tmp/"
printf 'stand-in-token-of-32-characters-xx\n' >"$tmp/avatar-api-token"
sed -i "s|/etc/prometheus/avatar-api-token|$tmp/avatar-api-token|g" "$tmp/prometheus.yml"
if grep -q /etc/prometheus/ "$tmp/prometheus.yml"; then
	echo "check-deploy: prometheus.yml names a file under /etc/prometheus/ that this script does not stand in for" >&2
	exit 1
fi

promtool check config "$tmp/prometheus.yml"
promtool check rules deploy/prometheus/alerts.yml
promtool test rules deploy/prometheus/alerts_test.yml
# The checker's own tests (it finds what it should), then the check.
(cd tools/deploycheck && go test -count=1 ./... && go run .)
