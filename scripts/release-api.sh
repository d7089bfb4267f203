#!/usr/bin/env bash
# Releases the API's contract: keeps the committed OpenAPI document of this
# version as api/released/openapi-v<version>.yaml, commits it and tags the
# commit v<version>. internal/api's TestSpecBreaking then compares every
# later document with it (oasdiff): a breaking change needs a new major
# version (a new minor while it is 0.x), set in internal/api (Version).
#
#   scripts/release-api.sh        (on a clean main, after make test)
set -euo pipefail
cd "$(dirname "$0")/.."

version=$(sed -n '/^info:/,/^[a-z]/s/^  version: *"\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' api/openapi.yaml)
[ -n "$version" ] || { echo "no info.version in api/openapi.yaml" >&2; exit 1; }
released=api/released/openapi-v$version.yaml
if [ -e "$released" ]; then
  echo "v$version is already released ($released): raise the version first" >&2
  exit 1
fi
if [ -n "$(git status --porcelain)" ]; then
  echo "the work tree has uncommitted changes: release from a clean checkout" >&2
  exit 1
fi
mkdir -p api/released
cp api/openapi.yaml "$released"
git add "$released"
git commit -q -m "api: release v$version (the contract later versions are checked against)"
git tag -a "v$version" -m "Avatar API v$version"
echo "released v$version: $released, tag v$version (push the tag with: git push origin v$version)"
