#!/usr/bin/env bash
# Lints the GitHub Actions workflows with actionlint, which also checks
# their run: scripts with ShellCheck when it is on the PATH (the Debian
# package of that name). Installs actionlint at its pinned version into
# $GOBIN (default: the first GOPATH's bin) when it is not there.
# Then ShellCheck on scripts/ and .ci/run. Exits non-zero on any finding.
set -euo pipefail
cd "$(dirname "$0")/.."

ACTIONLINT=v1.7.12
gobin=${GOBIN:-$(go env GOPATH | cut -d: -f1)/bin}
actionlint=$gobin/actionlint
if [ ! -x "$actionlint" ] || ! "$actionlint" -version | grep -qx "$ACTIONLINT"; then
  echo "==> installing actionlint $ACTIONLINT into $gobin"
  GOBIN=$gobin go install "github.com/rhysd/actionlint/cmd/actionlint@$ACTIONLINT"
fi
if ! command -v shellcheck >/dev/null 2>&1; then
  echo "shellcheck is not installed: the run: scripts are not checked (apt-get install shellcheck)" >&2
fi

shopt -s nullglob
workflows=(.github/workflows/*.yml .github/workflows/*.yaml)
if [ ${#workflows[@]} -eq 0 ]; then
  echo "no workflows in .github/workflows" >&2
  exit 1
fi
"$actionlint" "${workflows[@]}"
echo "actionlint $ACTIONLINT: ${workflows[*]} clean"

# The project's own shell scripts, by ShellCheck too.
if command -v shellcheck >/dev/null 2>&1; then
  mapfile -t scripts < <(grep -lE '^#!.*\b(ba)?sh\b' scripts/* .ci/run)
  shellcheck "${scripts[@]}"
  echo "shellcheck: ${#scripts[@]} scripts clean"
fi
