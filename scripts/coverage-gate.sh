#!/usr/bin/env bash
# Prints the total statement coverage of a Go cover profile and fails when
# it is under a minimum: the gate that CI (.github/workflows/test.yml, and
# .ci/run) puts on the test suite.
#
#   scripts/coverage-gate.sh PROFILE MIN      e.g. scripts/coverage-gate.sh coverage.out 80
#
# Exit status: 0 at or over MIN, 1 under it, 2 when the profile cannot be read.
set -euo pipefail

if [ $# -ne 2 ]; then
  echo "usage: $0 PROFILE MIN (a percentage, e.g. 80)" >&2
  exit 2
fi
profile=$1 min=$2
case $min in
  '' | *[!0-9.]* | *.*.*) echo "MIN must be a percentage such as 80 or 72.5, not '$min'" >&2; exit 2 ;;
esac
if [ ! -s "$profile" ]; then
  echo "no cover profile at $profile (go test -coverprofile=$profile …)" >&2
  exit 2
fi
# go tool cover finds the profile's packages through the module: run it
# from the module's root, with the profile's path made absolute first.
case $profile in /*) ;; *) profile=$PWD/$profile ;; esac
cd "$(dirname "$0")/.."

# The last line of go tool cover -func is "total:  (statements)  NN.N%".
total=$(go tool cover -func="$profile" | awk '$1 == "total:" { sub(/%$/, "", $NF); print $NF }')
if [ -z "$total" ]; then
  echo "go tool cover -func $profile printed no total" >&2
  exit 2
fi
if awk -v t="$total" -v m="$min" 'BEGIN { exit !(t + 0 < m + 0) }'; then
  echo "coverage: ${total}% of statements, under the minimum of ${min}%"
  exit 1
fi
echo "coverage: ${total}% of statements (minimum ${min}%)"
