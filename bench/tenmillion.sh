#!/usr/bin/env bash
# bench/tenmillion.sh measures amtrack at ten million events, whole process,
# and prints a markdown table (kept in $OUT/tenmillion.md):
#
#   1. amtrack ingest of N generated events, one ingest per file of PER
#      events (N/PER runs into one database): rate and peak RSS of each;
#      beside it the raw floor (bench/baseline insert -append, the same
#      files into one table with a random 16-byte UNIQUE event_id, 50,000
#      rows a transaction and a 32 MiB page cache, as amtrack ingest), so
#      that the slowdown a growing random index costs SQLite itself is
#      measured in the same sitting
#   2. amtrack ingest of the same N events as one file into a fresh
#      database: the rate of its first and of its last PER events (read off
#      the input file's offset in /proc every second; the reader runs at
#      most two 1,000-event chunks ahead of the writer) and its peak RSS
#   3. bytes of database (file + WAL) per event, against bytes of JSON Lines
#   4. amtrack rebuild and amtrack verify of that database, once the inputs
#      are removed and the database read once (so that the page cache holds
#      it): time, peak RSS
#   5. GET of an access method and of a grant's events under wrk
#      (-t2 -c64, $WRK_SECONDS s, --latency) against amtrack serve of it
#
# Usage (from anywhere; it builds from the tree it is in):
#
#   bash bench/tenmillion.sh                                  # 10M events
#   AMTRACK_BIG_EVENTS=2000000 AMTRACK_BIG_FILE_EVENTS=500000 bash bench/tenmillion.sh
#
# It needs about 3.5 KB of disk per event (two databases, the input twice):
# 35 GB at ten million. Knobs: AMTRACK_BIG_EVENTS (10000000),
# AMTRACK_BIG_FILE_EVENTS (1000000), AMTRACK_BIG_WRK_SECONDS (15),
# AMTRACK_BIG_OUT (a new directory under /tmp; removed at the end unless
# AMTRACK_BIG_KEEP=1, but for the table and the logs).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
N=${AMTRACK_BIG_EVENTS:-10000000}
PER=${AMTRACK_BIG_FILE_EVENTS:-1000000}
WRK_SECONDS=${AMTRACK_BIG_WRK_SECONDS:-15}
OUT=${AMTRACK_BIG_OUT:-$(mktemp -d /tmp/amtrack-big.XXXXXX)}
SECRET=whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw
RESULTS=$OUT/tenmillion.md
mkdir -p "$OUT/log"

die() { echo "tenmillion.sh: $*" >&2; exit 1; }
[[ -x /usr/bin/time ]] || die "/usr/bin/time is missing (apt-get install time)"
command -v wrk >/dev/null || die "wrk is missing (apt-get install wrk)"
((N % PER == 0)) || die "AMTRACK_BIG_EVENTS ($N) must be a multiple of AMTRACK_BIG_FILE_EVENTS ($PER)"
need=$((N * 3500 / 1000000000 + 1))
avail=$(df -P --block-size=1G "$OUT" | awk 'NR == 2 {print $4}')
((avail >= need)) || die "$OUT has $avail GB free; about $need GB are needed"

SERVE_PID=
cleanup() {
	[[ -n $SERVE_PID ]] && kill "$SERVE_PID" 2>/dev/null
	[[ -n ${SAMPLER:-} ]] && kill "$SAMPLER" 2>/dev/null
	if [[ ${AMTRACK_BIG_KEEP:-} != 1 ]]; then rm -rf "$OUT/db" "$OUT/in"; fi
	return 0
}
trap cleanup EXIT

row() { echo "$*" | tee -a "$RESULTS"; }

# timed NAME ARGS... runs amtrack ARGS under /usr/bin/time -v.
timed() {
	local name=$1
	shift
	/usr/bin/time -v -o "$OUT/log/$name.time" "$BIN" "$@" >"$OUT/log/$name.out" 2>&1 ||
		{ cat "$OUT/log/$name.out" >&2; die "$name failed"; }
}
wall() { awk -F': ' '/Elapsed \(wall clock\)/ {n = split($2, p, ":"); w = 0; for (i = 1; i <= n; i++) w = w * 60 + p[i]; printf "%.1f", w}' "$OUT/log/$1.time"; }
rss() { awk -F': ' '/Maximum resident/ {printf "%.0f", $2 / 1024}' "$OUT/log/$1.time"; }
rate() { awk -v n="$1" -v s="$2" 'BEGIN {printf "%.0f", n / s}'; }
dbbytes() { du -cb "$1" "$1-wal" 2>/dev/null | awk 'END {print $1}'; }

echo "building into $OUT" >&2
mkdir -p "$OUT/db" "$OUT/in"
(cd "$ROOT" && go build -o "$OUT/amtrack" ./cmd/amtrack && go build -o "$OUT/baseline" ./bench/baseline)
BIN=$OUT/amtrack
export AMTRACK_KEY_FILE= AMTRACK_KEY= AMTRACK_DB=

echo "generating $N events" >&2
{ "$BIN" generate --methods $((N / 7 + 100)) --seed 1 || true; } | head -n "$N" >"$OUT/in/all.jsonl"
[[ $(wc -l <"$OUT/in/all.jsonl") -eq $N ]] || die "generate made fewer than $N events"
split -l "$PER" -d -a 3 "$OUT/in/all.jsonl" "$OUT/in/part."
json=$(stat -c %s "$OUT/in/all.jsonl")

: >"$RESULTS"
row "# amtrack at $N events ($(date -u +%F), $(nproc) cores, load $(cut -d' ' -f1 /proc/loadavg) at the start)"
row ""
row "| what | figure | command |"
row "|---|---|---|"

# 1. One ingest per file.
k=0 rates=()
for f in "$OUT"/in/part.*; do
	k=$((k + 1))
	timed "files_$k" ingest --db "$OUT/db/files.db" "$f"
	rates+=("$(rate "$PER" "$(wall "files_$k")")")
	echo "file $k: ${rates[-1]} events/s, $(rss "files_$k") MB" >&2
	peak=$(( $(rss "files_$k") > ${peak:-0} ? $(rss "files_$k") : ${peak:-0} ))
done
row "| ingest, one \`amtrack ingest\` per $PER-event file, $k files into one database | events/s per file: ${rates[*]}; last/first $(awk -v a="${rates[0]}" -v b="${rates[-1]}" 'BEGIN {printf "%.2f", b / a}')x; peak RSS at most $peak MB | \`amtrack ingest --db files.db part.NNN\`, each file in turn |"
k=0 raw=()
for f in "$OUT"/in/part.*; do
	k=$((k + 1))
	/usr/bin/time -v -o "$OUT/log/raw_$k.time" "$OUT/baseline" insert -db "$OUT/db/raw.db" -in "$f" -txn 50000 -cache 32 -append \
		>"$OUT/log/raw_$k.out" 2>&1 || { cat "$OUT/log/raw_$k.out" >&2; die "baseline insert of $f failed"; }
	raw+=("$(rate "$PER" "$(wall "raw_$k")")")
	echo "raw file $k: ${raw[-1]} rows/s" >&2
done
row "| the raw floor, one \`baseline insert -append\` per file | rows/s per file: ${raw[*]}; last/first $(awk -v a="${raw[0]}" -v b="${raw[-1]}" 'BEGIN {printf "%.2f", b / a}')x; amtrack's first file $(awk -v a="${rates[0]}" -v b="${raw[0]}" 'BEGIN {printf "%.2f", a / b}')x the floor's, its last $(awk -v a="${rates[-1]}" -v b="${raw[-1]}" 'BEGIN {printf "%.2f", a / b}')x | \`baseline insert -db raw.db -in part.NNN -txn 50000 -cache 32 -append\` |"
rm -f "$OUT"/db/raw.db*
row "| database per event, after the files | $(awk -v d="$(dbbytes "$OUT/db/files.db")" -v j="$json" -v n="$N" 'BEGIN {printf "%.0f bytes (JSON Lines: %.0f bytes), %.2fx", d / n, j / n, d / j}') | \`du -cb files.db files.db-wal\` |"
rm -f "$OUT"/db/files.db*

# 2. One file, its progress sampled from the input's offset.
first=$(head -n "$PER" "$OUT/in/all.jsonl" | wc -c)
last=$((json - $(tail -n "$PER" "$OUT/in/all.jsonl" | wc -c)))
start=$(date +%s.%N)
/usr/bin/time -v -o "$OUT/log/one.time" "$BIN" ingest --db "$OUT/db/one.db" "$OUT/in/all.jsonl" >"$OUT/log/one.out" 2>&1 &
TIMEPID=$!
sleep 0.5
PID=$(pgrep -P "$TIMEPID" -f "ingest --db $OUT/db/one.db") || die "ingest did not start"
(
	while kill -0 "$PID" 2>/dev/null; do
		for fd in /proc/"$PID"/fd/*; do
			if [[ $(readlink "$fd" 2>/dev/null) == "$OUT/in/all.jsonl" ]]; then
				pos=$(awk '/^pos:/ {print $2}' "/proc/$PID/fdinfo/${fd##*/}" 2>/dev/null) || true
				[[ -n $pos ]] && echo "$(echo "$(date +%s.%N) - $start" | bc) $pos"
			fi
		done
		sleep 1
	done
) >"$OUT/log/one.progress" &
SAMPLER=$!
wait "$TIMEPID" || { cat "$OUT/log/one.out" >&2; die "the one-file ingest failed"; }
wait "$SAMPLER" 2>/dev/null || true
SAMPLER=
# Seconds at which the reader passed the first PER events and began the last PER.
t_first=$(awk -v b="$first" '$2 >= b {print $1; exit}' "$OUT/log/one.progress")
t_last=$(awk -v b="$last" '$2 >= b {print $1; exit}' "$OUT/log/one.progress")
total=$(wall one)
r_first=$(rate "$PER" "${t_first:-$total}")
r_last=$(rate "$PER" "$(echo "$total - ${t_last:-0}" | bc)")
row "| ingest of all $N events as one file | $(rate "$N" "$total") events/s overall ($total s); first $PER: $r_first events/s, last $PER: $r_last events/s, last/first $(awk -v a="$r_first" -v b="$r_last" 'BEGIN {printf "%.2f", b / a}')x; peak RSS $(rss one) MB | \`amtrack ingest --db one.db all.jsonl\` |"
row "| database per event, one file | $(awk -v d="$(dbbytes "$OUT/db/one.db")" -v j="$json" -v n="$N" 'BEGIN {printf "%.0f bytes (JSON Lines: %.0f bytes), %.2fx", d / n, j / n, d / j}') | \`du -cb one.db one.db-wal\` |"

# A method and a grant from the middle of the input, for 5.
mid=$(tail -n +"$((N / 2))" "$OUT/in/all.jsonl" | grep -m1 '"access_method_id":.*"access_grant_ids":\["' || true)
method=$(sed -n 's/.*"access_method_id":"\([^"]*\)".*/\1/p' <<<"$mid")
grant=$(sed -n 's/.*"access_grant_ids":\["\([^"]*\)".*/\1/p' <<<"$mid")
[[ -n $method && -n $grant ]] || die "no event with a method and a grant after line $((N / 2)) of the input"
# The inputs go, and the database is read once: the page cache then holds
# the database, as on a machine that runs amtrack alone. (With the inputs
# still cached, a rebuild of ten million events was bound on random reads
# of the database: 10:40 minutes in, with 5:04 of CPU, iowait 47-49 %.)
rm -rf "$OUT/in"
cat "$OUT/db/one.db" >/dev/null

# 4. Rebuild and verify.
timed rebuild rebuild --db "$OUT/db/one.db"
row "| rebuild | $(wall rebuild) s ($(rate "$N" "$(wall rebuild)") events/s), peak RSS $(rss rebuild) MB | \`amtrack rebuild --db one.db\` |"
timed verify verify --db "$OUT/db/one.db"
row "| verify | $(wall verify) s, peak RSS $(rss verify) MB: $(head -1 "$OUT/log/verify.out") | \`amtrack verify --db one.db\` |"

# 5. GET under wrk.
SEAM_WEBHOOK_SECRET=$SECRET "$BIN" serve --db "$OUT/db/one.db" --addr 127.0.0.1:0 --log-level warn >"$OUT/log/serve.out" 2>"$OUT/log/serve.err" &
SERVE_PID=$!
for _ in $(seq 600); do
	URL=$(sed -n 's/^serving on \(http:[^ ]*\)$/\1/p' "$OUT/log/serve.out")
	[[ -n $URL ]] && break
	kill -0 "$SERVE_PID" 2>/dev/null || { cat "$OUT/log/serve.err" >&2; die "serve ended"; }
	sleep 0.1
done
[[ -n ${URL:-} ]] || die "serve did not start in a minute"
for route in "access_methods/$method" "access_grants/$grant/events"; do
	shown=${route/$method/ID}
	shown=${shown/$grant/ID}
	curl -sf -o /dev/null "$URL/v1/$route" || die "GET /v1/$route failed"
	name=wrk_${route%%/*}
	wrk -t2 -c64 -d"${WRK_SECONDS}s" --latency "$URL/v1/$route" >"$OUT/log/$name.out"
	rps=$(awk '/^Requests\/sec:/ {printf "%.0f", $2}' "$OUT/log/$name.out")
	p50=$(awk '$1 == "50%" {print $2}' "$OUT/log/$name.out")
	p99=$(awk '$1 == "99%" {print $2}' "$OUT/log/$name.out")
	row "| GET /v1/$shown at $N events | $rps req/s, p50 $p50, p99 $p99 | \`wrk -t2 -c64 -d${WRK_SECONDS}s --latency URL/v1/$shown\` |"
done
echo "raw outputs: $OUT/log; table: $RESULTS" >&2
