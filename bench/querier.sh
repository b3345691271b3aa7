#!/usr/bin/env bash
# Compares the store benchmarks (storetest.BenchQueries: the calls behind
# the hot requests) of two trees on both backends: BEFORE (a git revision,
# default 1f3702d: main with the benchmark added, before prepared
# statements and the shared querier) and the working tree. Each round
# runs the two test binaries one after the other, so both see the same
# machine load; the table gives medians over the rounds and after/before
# ratios (below 1: faster) of ns/op and of cpu-ns/op, the benchmark
# process's CPU time per call (PostgreSQL's server CPU is not in it). Both
# builds use the working tree's benchmark (internal/store/storetest's
# bench.go and cpu_*.go are copied over the BEFORE tree).
# Run from the repository root: bash bench/querier.sh. Not part of CI.
#
#   BEFORE     git revision to compare with (default 1f3702d)
#   ROUNDS     rounds (default 5)
#   BENCHTIME  per sub-benchmark (default 3000x)
set -euo pipefail
cd "$(dirname "$0")/.."

BEFORE=${BEFORE:-1f3702d}
ROUNDS=${ROUNDS:-5}
BENCHTIME=${BENCHTIME:-3000x}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/storm-querier.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

mkdir "$tmp/before"
git archive "$BEFORE" | tar x -C "$tmp/before"
cp internal/store/storetest/bench.go internal/store/storetest/cpu_*.go "$tmp/before/internal/store/storetest/"
for pkg in sqlite postgres; do
	(cd "$tmp/before" && go test -c -o "$tmp/$pkg-before.test" ./internal/store/$pkg/)
	go test -c -o "$tmp/$pkg-after.test" ./internal/store/$pkg/
done

echo "before $BEFORE ($(git rev-parse --short "$BEFORE")), after $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- internal || echo ' + uncommitted'); $(date -u '+%F %H:%M UTC'); load $(cut -d' ' -f1-3 /proc/loadavg)"
for i in $(seq "$ROUNDS"); do
	for pkg in sqlite postgres; do
		for side in before after; do
			"$tmp/$pkg-$side.test" -test.run '^$' -test.bench '^BenchmarkQueries$' -test.benchtime="$BENCHTIME" |
				awk -v pkg="$pkg" -v side="$side" '/^BenchmarkQueries\//{sub(/-[0-9]+$/, "", $1); sub(/^BenchmarkQueries\//, "", $1); print pkg, $1, side, $3, $5}'
		done
	done
done >"$tmp/raw"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"

awk '
function median(key,   n, i, j, t, a) {
	n = split(vals[key], a, " ")
	for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j-1] + 0 > a[j] + 0; j--) { t = a[j]; a[j] = a[j-1]; a[j-1] = t }
	return n % 2 ? a[(n+1)/2] : (a[n/2] + a[n/2+1]) / 2
}
{ key = $1 " " $2 " " $3; vals[key] = vals[key] " " $4; vals["cpu " key] = vals["cpu " key] " " $5; if (!(($1 " " $2) in seen)) { seen[$1 " " $2] = 1; order[++m] = $1 " " $2 } }
END {
	print "| store | call | before µs | after µs | ratio | before CPU µs | after CPU µs | CPU ratio |"
	print "|---|---|---|---|---|---|---|---|"
	for (k = 1; k <= m; k++) {
		split(order[k], p, " ")
		b = median(order[k] " before"); a = median(order[k] " after")
		cb = median("cpu " order[k] " before"); ca = median("cpu " order[k] " after")
		printf "| %s | %s | %.1f | %.1f | %.2f | %.1f | %.1f | %.2f |\n", p[1], p[2], b / 1000, a / 1000, a / b, cb / 1000, ca / 1000, ca / cb
	}
}' "$tmp/raw"
