#!/usr/bin/env bash
# Where a proxied request's CPU goes, Storm's side against the bare
# proxy's: runs BenchmarkProxySides under the CPU profiler and prints each
# side's CPU, then the functions whose cumulative CPU differs most between
# the two servers (Storm's handler goroutines and their transport
# goroutines against the bare proxy's). Not part of CI. Run from the
# repository root: bash bench/profile.sh.
#
#   N     requests per side (default 200000, about 20 s)
#   OUT   where the profile and test binary go (default a new temporary
#         directory); look further with
#         go tool pprof -tagfocus side=storm-server $OUT/bench.test $OUT/cpu.prof
set -euo pipefail
cd "$(dirname "$0")/.."

N=${N:-200000}
OUT=${OUT:-$(mktemp -d "${TMPDIR:-/tmp}/storm-profile.XXXXXX")}

go test -c -o "$OUT/bench.test" ./bench/
(cd "$OUT" && STORM_BENCH_SIDES=1 ./bench.test -test.run '^$' -test.bench 'ProxySides$' \
	-test.benchtime="${N}x" -test.cpuprofile cpu.prof >/dev/null)
go tool pprof -tags "$OUT/bench.test" "$OUT/cpu.prof" 2>/dev/null | grep -A5 'side:'

# cum seconds per function, for one side
cum() {
	go tool pprof -tagfocus "side=$1" -top -cum -nodecount=100000 "$OUT/bench.test" "$OUT/cpu.prof" 2>/dev/null |
		awk 'NR > 6 {
			v = $4; if (v ~ /ms$/) { sub("ms", "", v); v /= 1000 } else sub("s", "", v)
			name = $6; for (i = 7; i <= NF; i++) name = name " " $i
			print name "\t" v
		}' | sort
}
echo
echo "cum s (storm-server, bare-server, difference), largest differences first:"
join -t $'\t' -a1 -a2 -e0 -o 0,1.2,2.2 <(cum storm-server) <(cum bare-server) |
	awk -F '\t' '{ d = $2 - $3; if (d > 0.05 || d < -0.05) printf "%7.2f %7.2f %7.2f  %s\n", $2, $3, d, $1 }' |
	sort -k3 -rn | head -40
echo "profile: $OUT/cpu.prof (binary $OUT/bench.test)"
