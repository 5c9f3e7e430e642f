#!/usr/bin/env bash
# Validates .goreleaser.yaml with `goreleaser check`, installing goreleaser first when it is
# missing (through the Go module proxy: `go install`, into $(go env GOPATH)/bin).
#
#   scripts/goreleaser-check.sh              install if needed, then check
#   scripts/goreleaser-check.sh --install    install if needed, nothing else (.ci/run uses this)
#
# GORELEASER_VERSION overrides the pinned version. v2.16.0 is pinned because it is the newest
# release that builds here: v2.17.0 needs a dependency the module proxy does not serve, and
# v2.18 needs Go 1.27. Building it from source took 13 min on a busy 2-core machine (once: the
# binary stays in GOPATH/bin; 17 s with a warm module and build cache).
set -euo pipefail

GORELEASER_VERSION="${GORELEASER_VERSION:-v2.16.0}"
cd "$(dirname "$0")/.."

gobin="$(go env GOBIN)"
[ -n "$gobin" ] || gobin="$(go env GOPATH)/bin"
export PATH="$PATH:$gobin"

if ! command -v goreleaser >/dev/null 2>&1; then
	echo "installing goreleaser $GORELEASER_VERSION into $gobin (go install; takes a few minutes)" >&2
	start=$(date +%s)
	GOBIN="$gobin" go install "github.com/goreleaser/goreleaser/v2@$GORELEASER_VERSION"
	echo "goreleaser installed in $(($(date +%s) - start)) s" >&2
fi

if [ "${1:-}" = --install ]; then
	exit 0
fi
exec goreleaser check
