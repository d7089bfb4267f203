#!/usr/bin/env bash
# Replaces the vendored uPlot of the operator dashboard
# (internal/dashboard/assets/vendor/uplot/) with a version from npm:
#   scripts/update-uplot.sh 1.6.32
# It packs the release with npm in a temporary directory, checks the
# tarball against the registry's sha512 integrity, copies the minified
# IIFE build, its stylesheet and the licence, and prints the version, URL
# and integrity to put in the folder's README.md.
set -euo pipefail
cd "$(dirname "$0")/.."

version=${1:?usage: scripts/update-uplot.sh VERSION (e.g. 1.6.32)}
dest=internal/dashboard/assets/vendor/uplot
command -v npm >/dev/null 2>&1 || { echo "npm is needed to fetch uPlot from the registry" >&2; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

(cd "$tmp" && npm pack --silent "uplot@$version" >/dev/null)
tarball="$tmp/uplot-$version.tgz"
integrity=$(npm view "uplot@$version" dist.integrity)
url=$(npm view "uplot@$version" dist.tarball)
actual="sha512-$(openssl dgst -sha512 -binary "$tarball" | base64 -w0)"
if [ "$actual" != "$integrity" ]; then
  echo "uplot-$version.tgz is $actual, the registry says $integrity" >&2
  exit 1
fi

tar -xzf "$tarball" -C "$tmp"
cp "$tmp/package/dist/uPlot.iife.min.js" "$tmp/package/dist/uPlot.min.css" "$tmp/package/LICENSE" "$dest/"

echo "==> $dest now holds uPlot $version; update its README.md:"
echo "    version:   $version"
echo "    tarball:   $url"
echo "    integrity: $integrity"
