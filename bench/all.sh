#!/usr/bin/env bash
# The load command (issue 14 part 7): runs every performance measurement
# behind bench/RESULTS.md, one after another so they do not disturb each
# other, and prints each one's table of ratios against its baseline:
#
#   1. hot paths: /access and the proxy against bare Go (bash bench/run.sh)
#   2. data scale: list pages, /access, save, start and memory at a small
#      and a large database, SQLite and PostgreSQL (go run ./bench/scale)
#   3. refresh at scale: N OAuth integrations refreshed by three
#      `storm`-like engine processes on PostgreSQL, and the scheduling cost
#      per refresh at 10k / 100k / 1M integrations (go run ./bench/refresh)
#
# Run from anywhere: bash bench/all.sh. Needs Go; PostgreSQL for the
# PostgreSQL parts (PG_URL, default the local test database; parts that
# need it are skipped with a note when it does not answer). On a quiet
# machine: every part reports how loaded the machine was.
#
#   QUICK=1   small sizes (a few minutes in all) instead of the issue's
#             (100k integrations / 1M versions / 10M events; about an hour
#             on 2 CPUs, most of it seeding)
#   PARTS     which parts to run, default "hot scale refresh"
#
# Exit status: 0 when every part met its targets, 1 otherwise.
set -uo pipefail
cd "$(dirname "$0")/.."

PG_URL=${PG_URL:-postgres://postgres@127.0.0.1:5432/test?sslmode=disable}
PARTS=${PARTS:-hot scale refresh}
QUICK=${QUICK:-}

pg=""
if command -v pg_isready >/dev/null && pg_isready -q -d "$PG_URL" 2>/dev/null; then
	pg=1
else
	echo "note: PostgreSQL at $PG_URL does not answer; its parts are skipped" >&2
fi

failed=()
run() { # name, command...
	local name=$1
	shift
	echo
	echo "=== $name: $*   ($(date -u +%H:%M:%S) UTC, load $(cut -d' ' -f1-3 /proc/loadavg))"
	if ! "$@"; then
		failed+=("$name")
	fi
}

for part in $PARTS; do
	case $part in
	hot)
		if [ -n "$QUICK" ]; then
			run "hot paths" env COUNT=1 BENCHTIME=1s bash bench/run.sh
		else
			run "hot paths" bash bench/run.sh
		fi
		;;
	scale)
		dbs=sqlite
		[ -n "$pg" ] && dbs="sqlite,$PG_URL"
		if [ -n "$QUICK" ]; then
			run "data scale" go run ./bench/scale -db "$dbs" -integrations 10000 -versions 100000 -events 100000 -audit 100000
		else
			run "data scale" go run ./bench/scale -db "$dbs"
		fi
		;;
	refresh)
		if [ -z "$pg" ]; then
			echo "=== refresh at scale: skipped (no PostgreSQL)"
			continue
		fi
		if [ -n "$QUICK" ]; then
			run "refresh, 3 processes" go run ./bench/refresh -n 5000 -window 30s -procs 3 -db "$PG_URL"
			run "scheduling cost" go run ./bench/refresh -sched 10000,30000,100000 -db "$PG_URL"
		else
			run "refresh, 3 processes" go run ./bench/refresh -n 100000 -window 300s -procs 3 -seed-workers 16 -db "$PG_URL"
			run "scheduling cost, PostgreSQL" go run ./bench/refresh -sched 10000,100000,1000000 -db "$PG_URL"
			run "scheduling cost, SQLite" go run ./bench/refresh -sched 10000,100000,1000000
		fi
		;;
	*)
		echo "unknown part $part (want hot, scale, refresh)" >&2
		exit 2
		;;
	esac
done

echo
if [ ${#failed[@]} -eq 0 ]; then
	echo "all parts met their targets"
	exit 0
fi
echo "missed a target or failed: ${failed[*]}"
exit 1
