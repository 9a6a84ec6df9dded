#!/usr/bin/env bash
# Lists the packages whose build or tests differ under -tags nocv: those
# with a file constrained by the nocv tag, and those whose build or tests
# depend on gocv (the nocv build leaves it out). Every other package is
# the same pure Go either way, so its nocv test run repeats make test's.
set -euo pipefail
cd "$(dirname "$0")/.."
go=${GO:-go}
{
	$go list -test -f '{{.ImportPath}}{{range .Deps}} {{.}}{{end}}' ./... |
		awk '{for (i = 2; i <= NF; i++) if ($i == "gocv.io/x/gocv") { print $1; break }}'
	grep -rl --include='*.go' '^//go:build.*nocv' . | xargs -n1 dirname | sed 's|^\.|posd|'
} | sed -e 's/\.test$//' -e 's/_test$//' | sort -u
