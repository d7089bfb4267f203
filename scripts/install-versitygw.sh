#!/bin/sh
# Installs versitygw, the S3-compatible server that the tests of
# internal/storage/s3 run against, into $GOBIN (default: $(go env GOPATH)/bin).
# It does nothing if the binary is already there; set FORCE=1 to rebuild.
set -eu

VERSION=v1.8.0
GOBIN=${GOBIN:-$(go env GOPATH | cut -d: -f1)/bin}
export GOBIN
target="$GOBIN/versitygw"

if [ -x "$target" ] && [ "${FORCE:-0}" != 1 ]; then
	echo "versitygw already installed at $target (set FORCE=1 to reinstall $VERSION)"
	exit 0
fi

echo "installing versitygw $VERSION into $GOBIN (go install; the first build takes a few minutes)"
go install "github.com/versity/versitygw/cmd/versitygw@$VERSION"
echo "installed $target"
