#!/usr/bin/env bash
# Prints a -modfile for 32-bit builds (GOARCH=arm).
#
# github.com/moov-io/iso8583 v0.26.1 does not compile where int is 32 bits:
# prefix/binary.go compares an int with math.MaxUint32, a constant that
# overflows int there. Until a fixed release is pinned, 32-bit builds use a
# copy of that exact module version (from the module cache, checked against
# go.sum by the go command when it was downloaded) with that one comparison
# done in uint64, through a replace directive in a temporary go.mod. The
# repository's go.mod is not touched.
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
mod=github.com/moov-io/iso8583
ver=$($GO list -m -f '{{.Version}}' $mod)
src=$($GO list -m -f '{{.Dir}}' $mod)
work=${TMPDIR:-/tmp}/posd-arm32-$ver
if [ ! -f "$work/iso8583/.patched" ]; then
	rm -rf "$work"
	mkdir -p "$work"
	cp -r "$src" "$work/iso8583"
	chmod -R u+w "$work/iso8583"
	sed -i 's/if n > math.MaxUint32 {/if uint64(n) > math.MaxUint32 {/' "$work/iso8583/prefix/binary.go"
	grep -q 'if uint64(n) > math.MaxUint32 {' "$work/iso8583/prefix/binary.go" || {
		echo "gomod-arm32: the expected line is not in $mod $ver; review this script" >&2
		exit 1
	}
	touch "$work/iso8583/.patched"
fi
cp go.mod "$work/go.mod"
cp go.sum "$work/go.sum"
echo "replace $mod $ver => $work/iso8583" >> "$work/go.mod"
echo "$work/go.mod"
