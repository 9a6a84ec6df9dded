#!/usr/bin/env bash
# Runs every fuzz target of the module for a short time each.
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
t=${1:-10s}
for pkg in $($GO list ./...); do
	dir=$($GO list -f '{{.Dir}}' "$pkg")
	for f in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/func //' | sort -u); do
		echo "== $pkg $f"
		$GO test -run='^$' -fuzz="^$f\$" -fuzztime="$t" "$pkg"
	done
done
