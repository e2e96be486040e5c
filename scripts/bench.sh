#!/usr/bin/env bash
# Runs the disruptor benchmark suite, summarises it with benchstat, and
# writes docs/benchmarks.md (see internal/benchdoc).
#
# Settings, from the environment:
#   COUNT      repetitions of every benchmark (default 6: benchstat needs 6
#              for a 95% confidence interval; the issue asks for at least 5)
#   BENCHTIME  -benchtime per repetition (default 500ms)
#   BENCH      -bench pattern (default ., the whole suite)
#   GOMAXPROCS passed to the benchmarks (default 2: the targets are for 2 cores)
#   OUT        the document to write (default docs/benchmarks.md)
#   REUSE      set to 1 to skip the run and rewrite the document from the
#              last run's bench-results/ (after editing scripts/bench-notes.md)
#
# Raw output and benchstat's summary are kept in bench-results/ (ignored
# by git). The whole suite takes about 10 minutes with the defaults on a
# quiet 2-core machine, longer when other work competes for the cores.
set -euo pipefail
cd "$(dirname "$0")/.."

count=${COUNT:-6}
benchtime=${BENCHTIME:-500ms}
bench=${BENCH:-.}
out=${OUT:-docs/benchmarks.md}
export GOMAXPROCS=${GOMAXPROCS:-2}

mkdir -p bench-results "$(dirname "$out")"
raw=bench-results/raw.txt
stat=bench-results/benchstat.txt
shownfile=bench-results/command.txt

if [ "${REUSE:-}" != 1 ]; then
	cmd=(go test -run='^$' -bench="$bench" -benchtime="$benchtime" -count="$count" ./disruptor/)
	echo "GOMAXPROCS=$GOMAXPROCS go test -run='^\$' -bench='$bench' -benchtime=$benchtime -count=$count ./disruptor/" > "$shownfile"
	echo "== $(cat "$shownfile")" >&2
	"${cmd[@]}" | tee "$raw" >&2

	echo "== go tool benchstat $raw" >&2
	go tool benchstat "$raw" > "$stat"
fi
shown=$(cat "$shownfile")

cpu=$(grep -m1 '^model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2- | sed 's/^ *//' || true)
go run ./internal/benchdoc \
	-raw "$raw" \
	-benchstat "$stat" \
	-notes scripts/bench-notes.md \
	-cmd "$shown" \
	-nproc "$(nproc)" \
	-cpu "${cpu:-unknown}" \
	-go "$(go version)" > "$out"
echo "== wrote $out" >&2
