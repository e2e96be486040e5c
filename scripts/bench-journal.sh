#!/usr/bin/env bash
# Runs the journal's benchmarks (journal/bench_test.go,
# journal/compare_bench_test.go) and summarises them with benchstat, for
# the measurements in docs/durability.md. Every row reports others-%: the
# CPU that other processes used while it ran (internal/procstat); rerun
# when it is more than a few percent.
#
# Settings, from the environment:
#   COUNT      repetitions (default 6: benchstat needs 6 for a 95% interval)
#   BENCHTIME  -benchtime per repetition (default 1s)
#   BENCH      -bench pattern (default ., every journal benchmark)
#   GOMAXPROCS passed to the benchmarks (default 2)
#   TMPDIR     where the journals are written: put it on the disk to measure
#
# Raw output and the summary go to bench-results/ (ignored by git).
set -euo pipefail
cd "$(dirname "$0")/.."

count=${COUNT:-6}
benchtime=${BENCHTIME:-1s}
bench=${BENCH:-.}
export GOMAXPROCS=${GOMAXPROCS:-2}

mkdir -p bench-results
raw=bench-results/journal-raw.txt
stat=bench-results/journal-benchstat.txt
cmd=(go test -run='^$' -bench="$bench" -benchtime="$benchtime" -count="$count" ./journal/)
echo "== GOMAXPROCS=$GOMAXPROCS ${cmd[*]}" >&2
"${cmd[@]}" | tee "$raw" >&2
go tool benchstat "$raw" > "$stat"
echo "== wrote $raw and $stat" >&2
