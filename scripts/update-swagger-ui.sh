#!/usr/bin/env bash
# Vendors swagger-ui-dist from npm into internal/apidocs/assets/swagger-ui:
# the files GET /docs serves from the binary (no CDN), with its licence and
# a README naming the version and each file's SHA-256.
#
#   scripts/update-swagger-ui.sh [VERSION]   (default: the version pinned below)
set -euo pipefail
version=${1:-5.35.0}
root=$(cd "$(dirname "$0")/.." && pwd)
dest=$root/internal/apidocs/assets/swagger-ui
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "swagger-ui-dist@$version" >/dev/null && tar xzf "swagger-ui-dist-$version.tgz")
files=(swagger-ui-bundle.js swagger-ui-bundle.js.LICENSE.txt swagger-ui.css favicon-32x32.png LICENSE NOTICE)
rm -rf "$dest" && mkdir -p "$dest"
for f in "${files[@]}"; do cp "$tmp/package/$f" "$dest/$f"; done
# The bundle ends with a source map comment whose file is not vendored.
sed -i -e '/^\/\/# sourceMappingURL=/d' -e '/^\/\*# sourceMappingURL=.*\*\/$/d' "$dest/swagger-ui-bundle.js" "$dest/swagger-ui.css"
{
	echo "# swagger-ui-dist $version"
	echo
	echo "Vendored from npm (\`npm pack swagger-ui-dist@$version\`) by scripts/update-swagger-ui.sh;"
	echo "do not edit: run the script. Licence: Apache-2.0 (LICENSE, NOTICE; the bundle's"
	echo "third-party licences are in swagger-ui-bundle.js.LICENSE.txt)."
	echo "Source-map comments are removed (the maps are not vendored)."
	echo
	echo "| file | SHA-256 |"
	echo "|---|---|"
	for f in "${files[@]}"; do echo "| $f | $(sha256sum "$dest/$f" | cut -d' ' -f1) |"; done
} > "$dest/README.md"
echo "swagger-ui-dist $version vendored into $dest"
