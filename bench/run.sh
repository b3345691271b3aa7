#!/usr/bin/env bash
# Runs the performance-target benchmarks (DESIGN.md "Performance targets")
# and prints the table: metric, storm, baseline, ratio, target, pass/fail.
# Run from the repository root: bash bench/run.sh. Not part of CI.
#
#   BENCHTIME  per-benchmark time (default 2s)
#   COUNT      runs of each benchmark; the table uses the median (default 3;
#              bench/RESULTS.md quotes COUNT=9)
#   OUT        where the raw `go test` output goes (default: a new temporary file)
#
# Each of the COUNT runs is a separate `go test -count=1` process. Within
# one, each throughput comparison alternates Storm and its baseline in
# slices of a few hundred requests (bench.compare), so drifts in machine
# load hit both sides alike; the harness pitted against itself (Storm
# against Storm) reads 1.00 ± 0.03. The whole thing takes about 2 minutes
# on 2 cores. Load from other processes distorts the numbers; the script
# reports how much CPU others used during the run: re-run if that is more
# than a few percent.
#
# Exit status: 0 when every target is met, 1 otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."

BENCHTIME=${BENCHTIME:-2s}
COUNT=${COUNT:-3}
OUT=${OUT:-$(mktemp "${TMPDIR:-/tmp}/storm-bench.XXXXXX")}

busy() { awk '/^cpu /{print $2+$3+$4+$7+$8+$9}' /proc/stat; }           # all CPUs, ticks
own() { awk '{print $16+$17}' "/proc/$$/stat"; }                         # reaped children, ticks

: >"$OUT"
go test -c -o /dev/null ./bench/ # compile first so compiling is not measured below
b0=$(busy) o0=$(own) t0=$(date +%s.%N)
for i in $(seq "$COUNT"); do
	echo "### run $i of $COUNT: go test -run '^\$' -bench . -benchtime=$BENCHTIME -count=1 ./bench/" | tee -a "$OUT"
	go test -run '^$' -bench . -benchtime="$BENCHTIME" -count=1 ./bench/ | tee -a "$OUT"
done
echo "### go test -run '^\$' -bench 'Open1KiB\$' -benchtime=1s -count=$COUNT ./internal/vault/" | tee -a "$OUT"
go test -run '^$' -bench 'Open1KiB$' -benchtime=1s -count="$COUNT" ./internal/vault/ | tee -a "$OUT"
b1=$(busy) o1=$(own) t1=$(date +%s.%N)

echo
awk -v b="$((b1 - b0))" -v o="$((o1 - o0))" -v t="$(echo "$t1 $t0" | awk '{print $1-$2}')" \
	-v n="$(nproc)" -v hz="$(getconf CLK_TCK)" 'BEGIN {
	other = b - o; if (other < 0) other = 0 # tick rounding
	printf "elapsed %.0f s on %d CPUs; the benchmarks used %.0f%% of the machine, other processes %.1f%%\n",
		t, n, 100*o/hz/(t*n), 100*other/hz/(t*n)
}'
echo "raw output: $OUT"
go run ./bench/cmd/ratios <"$OUT"
