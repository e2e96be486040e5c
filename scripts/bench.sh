#!/usr/bin/env bash
# Runs the disruptor benchmark suite on a quiet machine, summarises it with
# benchstat, and writes docs/benchmarks.md (see internal/benchdoc).
#
# Every case runs on its own, once per round, all cases in every round (so
# each disruptor row has its channel baseline in the same round); during
# every run the CPU used by the rest of the machine is read from /proc/stat
# and a run that saw more than THRESHOLD cores of it is rerun once the
# machine is quiet again (up to RETRIES times), then kept and marked.
# docs/benchmarks.md is written only from a run in which no kept run is
# marked; otherwise the document goes to bench-results/benchmarks.md and
# the script exits 3.
#
# Settings, from the environment:
#   COUNT      rounds (default 6: the fewest for a 95% interval of a median)
#   BENCHTIME  -benchtime of each run (default 300ms)
#   BENCH      -bench pattern (default ., the whole suite)
#   GOMAXPROCS passed to the benchmarks (default 2: the targets are for 2 cores)
#   THRESHOLD  most CPU, in cores, other processes may use during a run (default 0.05)
#   RETRIES    reruns of a noisy run (default 3)
#   QUIET_WAIT longest wait for a quiet machine, first and before each rerun (default 30m)
#   PAUSE      pause between quiet probes (default 30s)
#   OUT        the document to write (default docs/benchmarks.md)
#   FORCE      set to 1 to write OUT even from a run with noisy runs
#   REUSE      set to 1 to skip the run and rewrite the document from the
#              last run's bench-results/ (after editing scripts/bench-notes.md)
#   INGEST     set to 0 to leave out the HTTP client comparison
#              (BenchmarkIngestClients in cmd/badbatch: badbatch bench beside a
#              minimal load generator, INGEST_COUNT rounds of INGEST_BENCHTIME,
#              default 5 and 2000x batches of 1000 events)
#   DURABILITY set to 0 to leave out the journal's benchmarks in cmd/badbatch:
#              BenchmarkIngestDurability (HTTP ingestion at batches of 1, 100
#              and 1000 into a memory disruptor and journaled ones with
#              sync=interval and sync=always, DURABILITY_COUNT rounds, default 6,
#              of DURABILITY_BENCHTIME, default 2s) and BenchmarkRecovery (a
#              server's start over a 1M-event journal and an empty one,
#              DURABILITY_COUNT rounds of RECOVERY_BENCHTIME, default 3x
#              starts). The journals are written under TMPDIR: put it on the
#              disk to measure (not a tmpfs).
#   KEEP       parts whose results from the last run in bench-results/ are
#              kept instead of run again: any of disruptor, ingest,
#              IngestDurability, Recovery; e.g. KEEP="disruptor ingest" measures
#              only the durability benchmarks and rewrites the whole document.
#
# Raw output, the rerun runs, the verdict and benchstat's summary are kept
# in bench-results/ (ignored by git). The whole suite takes about 15
# minutes with the defaults on a quiet 2-core machine.
set -euo pipefail
cd "$(dirname "$0")/.."

count=${COUNT:-6}
benchtime=${BENCHTIME:-300ms}
bench=${BENCH:-.}
threshold=${THRESHOLD:-0.05}
retries=${RETRIES:-3}
quiet_wait=${QUIET_WAIT:-30m}
pause=${PAUSE:-30s}
out=${OUT:-docs/benchmarks.md}
export GOMAXPROCS=${GOMAXPROCS:-2}

results=bench-results
mkdir -p "$results" "$(dirname "$out")"
raw=$results/raw.txt
stat=$results/benchstat.txt
shownfile=$results/command.txt

ingest=${INGEST:-1}
status=0
# keep reports whether the part named $1 is to be kept from the last run.
keep() {
	case " ${KEEP:-} " in
	*" $1 "*) [ -f "$results/$1/raw.txt" ] && echo "== keeping $1 from the last run" >&2 ;;
	*) false ;;
	esac
}
if [ "${REUSE:-}" != 1 ]; then
	if [ -z "${KEEP:-}" ] || ! [ -f "$shownfile" ]; then
		echo "GOMAXPROCS=$GOMAXPROCS COUNT=$count BENCHTIME=$benchtime BENCH='$bench' THRESHOLD=$threshold scripts/bench.sh" > "$shownfile"
	else
		echo "$(head -1 "$shownfile"); then KEEP=\"$KEEP\" scripts/bench.sh" > "$shownfile"
	fi
	echo "== $(cat "$shownfile")" >&2
	runner=(go run ./internal/benchdoc run -threshold "$threshold" -retries "$retries" -quiet-wait "$quiet_wait" -pause "$pause")
	keep disruptor || "${runner[@]}" -pkg ./disruptor/ -bench "$bench" -benchtime "$benchtime" -count "$count" -out "$results/disruptor" || status=$?
	if [ "$status" != 0 ] && [ "$status" != 3 ]; then
		exit "$status"
	fi
	cat "$results/disruptor/raw.txt" > "$raw"
	cat "$results/disruptor/quiet.txt" > "$results/quiet.txt"
	if [ "$ingest" != 0 ]; then
		s=0
		keep ingest || "${runner[@]}" -pkg ./cmd/badbatch/ -bench BenchmarkIngestClients -benchtime "${INGEST_BENCHTIME:-2000x}" \
			-count "${INGEST_COUNT:-5}" -out "$results/ingest" || s=$?
		if [ "$s" != 0 ] && [ "$s" != 3 ]; then
			exit "$s"
		fi
		[ "$s" = 3 ] && status=3
		grep '^Benchmark' "$results/ingest/raw.txt" >> "$raw"
		sed 's/^/HTTP clients: /' "$results/ingest/quiet.txt" >> "$results/quiet.txt"
	fi
	if [ "${DURABILITY:-1}" != 0 ]; then
		for part in "IngestDurability ${DURABILITY_BENCHTIME:-2s}" "Recovery ${RECOVERY_BENCHTIME:-3x}"; do
			set -- $part
			s=0
			keep "$1" || "${runner[@]}" -pkg ./cmd/badbatch/ -bench "Benchmark$1\$" -benchtime "$2" \
				-count "${DURABILITY_COUNT:-6}" -out "$results/$1" || s=$?
			if [ "$s" != 0 ] && [ "$s" != 3 ]; then
				exit "$s"
			fi
			[ "$s" = 3 ] && status=3
			grep '^Benchmark' "$results/$1/raw.txt" >> "$raw"
			sed "s/^/$1: /" "$results/$1/quiet.txt" >> "$results/quiet.txt"
		done
	fi
	echo "== go tool benchstat $raw" >&2
	go tool benchstat "$raw" > "$stat"
elif [ -f "$results/quiet.txt" ] && grep -v " 0 still noisy" "$results/quiet.txt" | grep -q "still noisy"; then
	status=3
fi
shown=$(cat "$shownfile")

if [ "$status" = 3 ] && [ "${FORCE:-}" != 1 ]; then
	echo "== some runs stayed noisy ($(tr '\n' ' ' < "$results/quiet.txt")): $out is not updated" >&2
	out=$results/benchmarks.md
fi
cpu=$(grep -m1 '^model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2- | sed 's/^ *//' || true)
go run ./internal/benchdoc render \
	-raw "$raw" \
	-benchstat "$stat" \
	-quiet "$results/quiet.txt" \
	-notes scripts/bench-notes.md \
	-cmd "$shown" \
	-nproc "$(nproc)" \
	-cpu "${cpu:-unknown}" \
	-go "$(go version)" > "$out"
echo "== wrote $out" >&2
exit "$status"
