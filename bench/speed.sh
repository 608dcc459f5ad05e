#!/usr/bin/env bash
# bench/speed.sh measures amtrack against a floor measured in the same
# sitting on the same machine (bench/baseline), so that every figure of the
# speed table is a ratio that another machine can reproduce, not an
# absolute number that only this one can:
#
#   a. amtrack ingest of $EVENTS events into a fresh database
#      vs baseline insert of the same file (raw multi-row INSERTs); and
#      a2. baseline replay of the database ingest made (its every row
#      written again by SQLite alone: the floor of amtrack's file format)
#   b. amtrack rebuild of that database vs baseline scan of the baseline's
#      (a sequential read and a JSON decode of every event)
#   c. amtrack verify of that database (no floor: reported beside)
#   d. GET /v1/access_methods/{id} under wrk against amtrack serve vs the
#      same load against baseline serve (net/http answering a fixed body),
#      at 64 connections and at 16, and at 64 with each server alone on
#      one CPU and wrk on the other (taskset), and GET
#      /v1/access_grants/{id}/events (a grant's history) against
#      amtrack only
#   e. signed durable webhooks from bench/webhookload at 64 senders into a
#      fresh database: serve's group commit vs --commit-batch 1 (one
#      transaction per webhook)
#
# Each measurement runs $REPEAT times, amtrack and its floor alternating,
# so a drift of the machine's speed during the sitting touches both. Every
# figure is whole process: wall clock, user+system CPU and peak RSS from
# /usr/bin/time -v, requests from wrk, a server's CPU from /proc/PID/stat.
#
# Usage (from anywhere; it builds from the tree it is in):
#
#   bash bench/speed.sh
#
# Knobs (environment): AMTRACK_SPEED_REPEAT (runs of each measurement, 2),
# AMTRACK_SPEED_EVENTS (200000), AMTRACK_SPEED_WRK_SECONDS (15),
# AMTRACK_SPEED_WEBHOOKS (webhooks a run, 10000), AMTRACK_SPEED_OUT (the
# output directory, a new one under /tmp by default). The table goes to
# stdout and $OUT/speed.md; progress and the raw outputs' place to stderr.
# The machine should be otherwise idle (the load average is noted beside
# each figure).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
REPEAT=${AMTRACK_SPEED_REPEAT:-2}
EVENTS=${AMTRACK_SPEED_EVENTS:-200000}
WRK_SECONDS=${AMTRACK_SPEED_WRK_SECONDS:-15}
WEBHOOKS=${AMTRACK_SPEED_WEBHOOKS:-10000}
# The secret serve checks webhooks with and webhookload signs with.
SECRET=whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw
TICK=$(getconf CLK_TCK)
WRK=(wrk -t2 -c64 -d"${WRK_SECONDS}s" --latency)

die() { echo "speed.sh: $*" >&2; exit 1; }

for knob in REPEAT EVENTS WRK_SECONDS WEBHOOKS; do
	[[ ${!knob} =~ ^[1-9][0-9]*$ ]] || die "AMTRACK_SPEED_$knob must be a positive integer, got '${!knob}'"
done

# --- tools ---------------------------------------------------------------
command -v go >/dev/null || die "go is not installed (it builds amtrack and the baseline from $ROOT)"
command -v curl >/dev/null || die "curl is not installed (apt-get install curl)"
[[ -x /usr/bin/time ]] || die "/usr/bin/time is missing (apt-get install time); the shell's time keyword gives no peak RSS"
# (read whole: grep -q would stop reading early, and pipefail would see
# time killed by the broken pipe)
[[ $(/usr/bin/time -v true 2>&1) == *"Maximum resident"* ]] || die "/usr/bin/time is not GNU time (no -v with peak RSS)"
if ! command -v wrk >/dev/null; then
	echo "installing wrk" >&2
	sudo apt-get install -y wrk >/dev/null 2>&1 || apt-get install -y wrk >/dev/null 2>&1 || true
	command -v wrk >/dev/null || die "wrk is not installed and apt-get could not install it (https://github.com/wg/wrk)"
fi

# The load before anything of ours runs: a busy machine makes every figure
# noisy, the ratios less so (both sides of one share the noise), but the
# table says so.
LOAD0=$(cut -d' ' -f1 /proc/loadavg)
if awk -v l="$LOAD0" 'BEGIN { exit !(l >= 0.5) }'; then
	echo "speed.sh: warning: the machine is not idle (1-minute load $LOAD0); the figures will be noisy" >&2
fi

# The output directory is made only once the checks have passed.
OUT=${AMTRACK_SPEED_OUT:-$(mktemp -d /tmp/amtrack-speed.XXXXXX)}
mkdir -p "$OUT/db" "$OUT/log"
RUNS=$OUT/runs.md      # the per-run rows, as they are measured
FIGURES=$OUT/figures.tsv # measure, amtrack figure, baseline figure: for the summary
: >"$RUNS"
: >"$FIGURES"

# --- cleanup: the servers this script started ----------------------------
SERVERS=()
cleanup() {
	local pid
	for pid in "${SERVERS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
	for pid in "${SERVERS[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- build and input -----------------------------------------------------
echo "building into $OUT" >&2
(cd "$ROOT" && go build -o "$OUT/amtrack" ./cmd/amtrack &&
	go build -o "$OUT/webhookload" ./bench/webhookload &&
	go build -o "$OUT/baseline" ./bench/baseline)
BIN=$OUT/amtrack
BASE=$OUT/baseline
EVENTS_FILE=$OUT/events.jsonl
# generate makes about 8 events per method; take exactly $EVENTS. head
# closes the pipe early: generate's broken pipe is expected, and a short
# stream is caught by the count below.
{ "$BIN" generate --methods $((EVENTS / 7 + 100)) --seed 1 || true; } | head -n "$EVENTS" >"$EVENTS_FILE"
[[ $(wc -l <"$EVENTS_FILE") -eq $EVENTS ]] || die "generate made fewer than $EVENTS events"

# --- helpers -------------------------------------------------------------

# calc FORMAT EXPR prints awk's value of EXPR (numbers this script made).
calc() { awk "BEGIN { printf \"$1\", ($2) }"; }

# ratio A B prints A/B to two places, or - when B is 0 or missing.
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 == 0) print "-"; else printf "%.2f", a / b }'; }

# ticks PID... prints the summed utime+stime of live PIDs in clock ticks.
ticks() {
	local sum=0 pid line f
	for pid in "$@"; do
		line=$(cat "/proc/$pid/stat" 2>/dev/null) || continue
		read -ra f <<<"${line##*) }"
		sum=$((sum + f[11] + f[12]))
	done
	echo "$sum"
}

# hwm PID prints a live process's peak RSS so far in MB (VmHWM).
hwm() { awk '/^VmHWM:/ { printf "%.0f", $2 / 1024 }' "/proc/$1/status" 2>/dev/null || echo "-"; }

# The environment amtrack runs in: none of the user's amtrack settings
# (a key, a database, a token) may change what is measured.
CLEAN_ENV=(env -u AMTRACK_KEY_FILE -u AMTRACK_KEY -u AMTRACK_DB -u AMTRACK_ADDR -u AMTRACK_API_TOKEN
	-u AMTRACK_LOG_LEVEL -u AMTRACK_REVEAL_CODES -u SEAM_API_KEY)

# timed NAME CMD... runs CMD under /usr/bin/time -v; its output is
# $OUT/log/NAME.out, the figures $OUT/log/NAME.time.
timed() {
	local name=$1
	shift
	/usr/bin/time -v -o "$OUT/log/$name.time" "${CLEAN_ENV[@]}" "$@" >"$OUT/log/$name.out" 2>&1 ||
		{ cat "$OUT/log/$name.out" >&2; die "$name failed: $*"; }
}

# time_field NAME FIELD reads one figure of a timed run: wall (s), cpu
# (user+sys, s), rss (MB).
time_field() {
	awk -F': ' -v want="$2" '
		/User time/ { user = $2 } /System time/ { sys = $2 } /Maximum resident/ { rss = $2 }
		/Elapsed \(wall clock\)/ { n = split($2, p, ":"); wall = 0; for (i = 1; i <= n; i++) wall = wall * 60 + p[i] }
		END { if (want == "wall") printf "%.2f", wall; else if (want == "cpu") printf "%.2f", user + sys;
			else if (want == "rss") printf "%.0f", rss / 1024 }' "$OUT/log/$1.time"
}

# res NAME is a timed run's "wall s / CPU s / peak RSS MB" cell.
res() { echo "$(time_field "$1" wall) / $(time_field "$1" cpu) / $(time_field "$1" rss)"; }

# load is the 1-minute load average now: the figures are only comparable
# when it is low.
load() { cut -d' ' -f1 /proc/loadavg; }

row() { echo "| $* |" >>"$RUNS"; echo "| $* |" >&2; }
figure() { printf '%s\t%s\t%s\n' "$1" "$2" "$3" >>"$FIGURES"; }

# Each measure's exact command, numbered in the order they are first seen
# (run 1's; a later run differs only in its _rN file names). mark KEY
# CMD... sets MARK to KEY's footnote; it must run in this shell, not in a
# command substitution, to keep the list.
CMD_KEYS=()
declare -A CMD_TEXT=() CMD_NUM=()
mark() {
	local key=$1
	shift
	if [[ -z ${CMD_NUM[$key]:-} ]]; then
		CMD_KEYS+=("$key")
		CMD_NUM[$key]=${#CMD_KEYS[@]}
		CMD_TEXT[$key]=$(printf '%q ' "$@")
	fi
	MARK="[${CMD_NUM[$key]}]"
}

# start_server NAME CMD... starts a server that prints "serving on URL"
# (amtrack serve and baseline serve both do, for an --addr of port 0: the
# kernel picks a free loopback port) and waits until it answers; it sets
# SRV_PID and SRV_URL.
start_server() {
	local name=$1 log=$OUT/log/$1.serve
	shift
	# env execs the server, so $! is the server's own pid (its CPU is read
	# by pid).
	"${CLEAN_ENV[@]}" "$@" >"$log" 2>"$log.err" &
	SRV_PID=$!
	SERVERS+=("$SRV_PID")
	SRV_URL=
	for _ in $(seq 600); do
		[[ -z $SRV_URL ]] && SRV_URL=$(sed -n 's/^serving on \(http:[^ ]*\)$/\1/p' "$log")
		if [[ -n $SRV_URL ]] && curl -s -o /dev/null "$SRV_URL/healthz"; then return; fi
		kill -0 "$SRV_PID" 2>/dev/null || { cat "$log.err" >&2; die "server $name ended: $*"; }
		sleep 0.1
	done
	die "server $name did not answer in a minute: $*"
}
stop_server() {
	kill -TERM "$1" 2>/dev/null || true
	wait "$1" 2>/dev/null || true
	local keep=() p
	for p in "${SERVERS[@]}"; do [[ $p == "$1" ]] || keep+=("$p"); done
	SERVERS=("${keep[@]}")
	return 0
}

# wrk_run NAME PID URL [CONNS [pinned]] runs wrk against URL (with CONNS
# connections instead of WRK's 64; pinned: on CPU 0 only) and sets RPS,
# P50, P99, REQS, ERRS and US (the CPU µs of PID per request).
wrk_run() {
	local name=$1 pid=$2 url=$3 t0 t1 cmd=("${WRK[@]}")
	[[ -n ${4:-} ]] && cmd=(wrk -t2 -c"$4" -d"${WRK_SECONDS}s" --latency)
	[[ ${5:-} == pinned ]] && cmd=(taskset -c 0 "${cmd[@]}")
	t0=$(ticks "$pid")
	"${cmd[@]}" "$url" >"$OUT/log/$name.out" 2>&1 || { cat "$OUT/log/$name.out" >&2; die "wrk $name failed"; }
	t1=$(ticks "$pid")
	RPS=$(awk '/^Requests\/sec:/ { printf "%.0f", $2 }' "$OUT/log/$name.out")
	REQS=$(awk '/ requests in / { print $1 }' "$OUT/log/$name.out")
	P50=$(awk '$1 == "50%" { print $2 }' "$OUT/log/$name.out")
	P99=$(awk '$1 == "99%" { print $2 }' "$OUT/log/$name.out")
	ERRS=$(grep -E 'Non-2xx|Socket errors' "$OUT/log/$name.out" | tr -s ' ' | paste -sd';' || true)
	[[ -n $RPS && -n $REQS && $REQS -gt 0 ]] || { cat "$OUT/log/$name.out" >&2; die "wrk $name made no requests"; }
	US=$(calc '%.0f' "($t1 - $t0) * 1000000 / $TICK / $REQS")
}

# --- a. ingest vs baseline insert ----------------------------------------
row "measure | run | load | amtrack | baseline | amtrack ÷ baseline | amtrack: wall s / CPU s / peak RSS MB | baseline: wall s / CPU s / peak RSS MB | command | notes"
row "--- | --- | --- | --- | --- | --- | --- | --- | --- | ---"

for run in $(seq "$REPEAT"); do
	db=$OUT/db/amtrack_r$run.db bdb=$OUT/db/baseline_r$run.db
	rm -f "$db"* "$bdb"*
	L=$(load)
	cmd_a=("$BIN" ingest --db "$db" "$EVENTS_FILE")
	cmd_b=("$BASE" insert -db "$bdb" -in "$EVENTS_FILE" -txn 10000)
	timed "ingest_r$run" "${cmd_a[@]}"
	timed "insert_r$run" "${cmd_b[@]}"
	appended=$(sed -n 's/^appended \([0-9]*\),.*/\1/p' "$OUT/log/ingest_r$run.out")
	inserted=$(sed -n 's/^inserted \([0-9]*\) rows.*/\1/p' "$OUT/log/insert_r$run.out")
	[[ $appended == "$EVENTS" ]] || die "ingest appended '${appended}' of $EVENTS events (see $OUT/log/ingest_r$run.out)"
	[[ $inserted == "$EVENTS" ]] || die "baseline inserted '${inserted}' of $EVENTS rows (see $OUT/log/insert_r$run.out)"
	mark ingest "${cmd_a[@]}"; ma=$MARK
	mark insert "${cmd_b[@]}"; mb=$MARK
	ra=$(calc '%.0f' "$appended / $(time_field "ingest_r$run" wall)")
	rb=$(calc '%.0f' "$inserted / $(time_field "insert_r$run" wall)")
	figure "a. ingest $EVENTS events (events/s)" "$ra" "$rb"
	row "a. ingest $EVENTS events | $run | $L | $ra events/s | $rb events/s | $(ratio "$ra" "$rb") | $(res "ingest_r$run") | $(res "insert_r$run") | $ma vs $mb | db $(du -m "$db" | cut -f1) MB vs $(du -m "$bdb" | cut -f1) MB"
	# a2. the floor of amtrack's file: every row of the database ingest
	# made, written again into a fresh file with its schema by the
	# baseline (no parsing, sealing, chaining or folding: the driver's
	# and SQLite's work alone), against the same run's raw INSERT.
	rdb=$OUT/db/replay_r$run.db
	rm -f "$rdb"*
	L=$(load)
	cmd_r=("$BASE" replay -from "$db" -db "$rdb" -txn 10000)
	timed "replay_r$run" "${cmd_r[@]}"
	mark replay "${cmd_r[@]}"; mr=$MARK
	replayed=$(sed -n 's/^replayed \([0-9]*\) events.*/\1/p' "$OUT/log/replay_r$run.out")
	[[ $replayed == "$EVENTS" ]] || die "baseline replayed '${replayed}' of $EVENTS events (see $OUT/log/replay_r$run.out)"
	rr=$(calc '%.0f' "$replayed / $(time_field "replay_r$run" wall)")
	figure "a2. amtrack's file rewritten by the driver and SQLite alone (events/s)" "$rr" "$rb"
	row "a2. amtrack's file, driver + SQLite alone | $run | $L | $rr events/s | $rb events/s | $(ratio "$rr" "$rb") | $(res "replay_r$run") | $(res "insert_r$run") | $mr vs $mb | ingest ÷ this: $(ratio "$ra" "$rr"); $(grep '^rows:' "$OUT/log/replay_r$run.out" || true)"
	rm -f "$rdb"*
done

# --- b. rebuild vs baseline scan -----------------------------------------
for run in $(seq "$REPEAT"); do
	db=$OUT/db/amtrack_r$run.db bdb=$OUT/db/baseline_r$run.db
	L=$(load)
	cmd_a=("$BIN" rebuild --db "$db")
	cmd_b=("$BASE" scan -db "$bdb")
	timed "rebuild_r$run" "${cmd_a[@]}"
	timed "scan_r$run" "${cmd_b[@]}"
	scanned=$(sed -n 's/^scanned \([0-9]*\) rows.*/\1/p' "$OUT/log/scan_r$run.out")
	[[ $scanned == "$EVENTS" ]] || die "baseline scanned '${scanned}' of $EVENTS rows (see $OUT/log/scan_r$run.out)"
	mark rebuild "${cmd_a[@]}"; ma=$MARK
	mark scan "${cmd_b[@]}"; mb=$MARK
	ra=$(calc '%.0f' "$EVENTS / $(time_field "rebuild_r$run" wall)")
	rb=$(calc '%.0f' "$scanned / $(time_field "scan_r$run" wall)")
	figure "b. rebuild (events/s)" "$ra" "$rb"
	own=$(sed -n 's/.* in \([^ ]*\) (\([0-9]*\) events\/s)$/rebuild\x27s own: \1, \2 events\/s/p' "$OUT/log/rebuild_r$run.out")
	row "b. rebuild | $run | $L | $ra events/s | $rb events/s | $(ratio "$ra" "$rb") | $(res "rebuild_r$run") | $(res "scan_r$run") | $ma vs $mb | $own"
done

# --- c. verify -----------------------------------------------------------
for run in $(seq "$REPEAT"); do
	db=$OUT/db/amtrack_r$run.db
	L=$(load)
	cmd_a=("$BIN" verify --db "$db")
	timed "verify_r$run" "${cmd_a[@]}"
	mark verify "${cmd_a[@]}"
	ra=$(calc '%.0f' "$EVENTS / $(time_field "verify_r$run" wall)")
	figure "c. verify (events/s)" "$ra" ""
	row "c. verify | $run | $L | $(time_field "verify_r$run" wall) s ($ra events/s) | - | - | $(res "verify_r$run") | - | $MARK | $(head -1 "$OUT/log/verify_r$run.out")"
done

# --- d. GETs under wrk ---------------------------------------------------
# Both servers run for the whole of d (an idle one costs nothing); the runs
# alternate between them. amtrack serves run 1's database.
db=$OUT/db/amtrack_r1.db
serve_a=("$BIN" serve --db "$db" --addr 127.0.0.1:0 --log-level warn)
SEAM_WEBHOOK_SECRET=$SECRET start_server amtrack_get "${serve_a[@]}"
A_PID=$SRV_PID A_URL=$SRV_URL
serve_b=("$BASE" serve -addr 127.0.0.1:0)
start_server baseline_get "${serve_b[@]}"
B_PID=$SRV_PID B_URL=$SRV_URL

# The first method of amtrack's list, and the first grant it belongs to.
# (Each answer is read whole before sed: a pipe into head could break
# and, with pipefail, end the script.)
list=$(curl -sf "$A_URL/v1/access_methods?limit=1") || die "GET $A_URL/v1/access_methods?limit=1 failed"
method=$(sed -n 's/.*"access_method_id": *"\([^"]*\)".*/\1/;T;p;q' <<<"$list")
[[ -n $method ]] || die "no access method id from $A_URL/v1/access_methods?limit=1"
grant=$(curl -sf "$A_URL/v1/access_methods/$method" | tr -d ' \n' | sed -n 's/.*"access_grant_ids":\["\([^"]*\)".*/\1/p')
[[ -n $grant ]] || die "access method $method has no grant to read the history of"
method_bytes=$(curl -sf "$A_URL/v1/access_methods/$method" | wc -c) || die "GET /v1/access_methods/$method failed"
base_bytes=$(curl -sf "$B_URL/v1/access_methods/$method" | wc -c) || die "baseline GET failed"
history_json=$(curl -sf "$A_URL/v1/access_grants/$grant/events") || die "GET /v1/access_grants/$grant/events failed"
history_events=$(grep -c '"seq":' <<<"$history_json" || true)
history_bytes=$(printf %s "$history_json" | wc -c)

for run in $(seq "$REPEAT"); do
	L=$(load)
	wrk_run "wrk_method_r$run" "$A_PID" "$A_URL/v1/access_methods/$method"
	ra=$RPS a50=$P50 a99=$P99 aus=$US aerr=$ERRS
	wrk_run "wrk_baseline_r$run" "$B_PID" "$B_URL/v1/access_methods/$method"
	mark wrk_method "${WRK[@]}" "$A_URL/v1/access_methods/$method"; ma=$MARK
	mark wrk_baseline "${WRK[@]}" "$B_URL/v1/access_methods/$method"; mb=$MARK
	figure "d. GET access method (req/s)" "$ra" "$RPS"
	row "d. GET /v1/access_methods/{id} | $run | $L | $ra req/s, p50 $a50, p99 $a99 | $RPS req/s, p50 $P50, p99 $P99 | $(ratio "$ra" "$RPS") | serve $aus µs CPU/req, peak RSS $(hwm "$A_PID") MB | serve $US µs CPU/req, peak RSS $(hwm "$B_PID") MB | $ma vs $mb | $method_bytes vs $base_bytes bytes a body${aerr:+; amtrack: $aerr}${ERRS:+; baseline: $ERRS}"
	figure "d. µs CPU per GET access method" "$aus" "$US"
	# The same at 16 connections: a closed loop's latency is its
	# connections over its rate (Little's law), so at 64 the tail says as
	# much about the queue in front of two cores as about a request.
	L=$(load)
	wrk_run "wrk16_method_r$run" "$A_PID" "$A_URL/v1/access_methods/$method" 16
	ra=$RPS a50=$P50 a99=$P99
	wrk_run "wrk16_baseline_r$run" "$B_PID" "$B_URL/v1/access_methods/$method" 16
	row "d. GET /v1/access_methods/{id}, 16 connections | $run | $L | $ra req/s, p50 $a50, p99 $a99 | $RPS req/s, p50 $P50, p99 $P99 | $(ratio "$ra" "$RPS") | - | - | wrk -t2 -c16 -d${WRK_SECONDS}s --latency | -"
	# And with the server alone on CPU 1 and wrk on CPU 0, so that neither
	# waits for the other's time slice: what the server's own tail is.
	if command -v taskset >/dev/null && (($(nproc) >= 2)); then
		taskset -a -pc 1 "$A_PID" >/dev/null && taskset -a -pc 1 "$B_PID" >/dev/null
		L=$(load)
		wrk_run "wrkpin_method_r$run" "$A_PID" "$A_URL/v1/access_methods/$method" 64 pinned
		ra=$RPS a50=$P50 a99=$P99
		wrk_run "wrkpin_baseline_r$run" "$B_PID" "$B_URL/v1/access_methods/$method" 64 pinned
		row "d. GET /v1/access_methods/{id}, each server alone on CPU 1, wrk on CPU 0 | $run | $L | $ra req/s, p50 $a50, p99 $a99 | $RPS req/s, p50 $P50, p99 $P99 | $(ratio "$ra" "$RPS") | - | - | taskset -a -pc 1 SERVER; taskset -c 0 wrk -t2 -c64 -d${WRK_SECONDS}s --latency | -"
		taskset -a -pc "0-$(($(nproc) - 1))" "$A_PID" >/dev/null && taskset -a -pc "0-$(($(nproc) - 1))" "$B_PID" >/dev/null
	fi
	L=$(load)
	wrk_run "wrk_history_r$run" "$A_PID" "$A_URL/v1/access_grants/$grant/events"
	mark wrk_history "${WRK[@]}" "$A_URL/v1/access_grants/$grant/events"
	figure "d. GET grant history (req/s)" "$RPS" ""
	row "d. GET /v1/access_grants/{id}/events | $run | $L | $RPS req/s, p50 $P50, p99 $P99 | - | - | serve $US µs CPU/req, peak RSS $(hwm "$A_PID") MB | - | $MARK | $history_events events, $history_bytes bytes a body${ERRS:+; $ERRS}"
done
mark serve_get "${serve_a[@]}"; SERVED="amtrack serve $MARK, baseline serve"
mark serve_baseline "${serve_b[@]}"; SERVED+=" $MARK"
stop_server "$A_PID"
stop_server "$B_PID"

# --- e. webhooks: group commit vs one commit per webhook -----------------
for run in $(seq "$REPEAT"); do
	declare -A WH_RATE=() WH_US=() WH_NOTE=() WH_MARK=()
	L=$(load)
	for mode in group one; do
		tag=wh_${mode}_r$run
		db=$OUT/db/$tag.db
		rm -f "$db"*
		serve=("$BIN" serve --db "$db" --addr 127.0.0.1:0 --log-level warn)
		[[ $mode == one ]] && serve+=(--commit-batch 1)
		SEAM_WEBHOOK_SECRET=$SECRET start_server "$tag" "${serve[@]}"
		load_cmd=("$OUT/webhookload" -urls "$SRV_URL" -senders 64 -n "$WEBHOOKS" -pids "$SRV_PID")
		SEAM_WEBHOOK_SECRET=$SECRET "${load_cmd[@]}" >"$OUT/log/$tag.out" 2>&1 ||
			{ cat "$OUT/log/$tag.out" >&2; die "$tag failed"; }
		mark "serve_$mode" "${serve[@]}"
		WH_MARK[$mode]=$MARK
		mark "webhookload_$mode" "${load_cmd[@]}"
		WH_MARK[$mode]+=" + $MARK"
		WH_HWM=$(hwm "$SRV_PID")
		stop_server "$SRV_PID"
		line=$(cat "$OUT/log/$tag.out")
		get() { sed -n "s/.*\\b$1=\\([^ ]*\\).*/\\1/p" <<<"$line"; }
		WH_RATE[$mode]=$(get events_per_s) WH_US[$mode]=$(get server_cpu_us_per_event)
		WH_NOTE[$mode]="${WH_RATE[$mode]} events/s, serve ${WH_US[$mode]} µs CPU/event, $(get events_per_commit) events/commit, peak RSS $WH_HWM MB"
	done
	figure "e. webhooks at 64 senders (events/s)" "${WH_RATE[group]}" "${WH_RATE[one]}"
	figure "e. µs serve CPU per webhook" "${WH_US[group]}" "${WH_US[one]}"
	row "e. webhooks, 64 senders, $WEBHOOKS each | $run | $L | group commit: ${WH_NOTE[group]} | --commit-batch 1: ${WH_NOTE[one]} | $(ratio "${WH_RATE[group]}" "${WH_RATE[one]}") events/s; $(ratio "${WH_US[one]}" "${WH_US[group]}")× less CPU/event | - | - | ${WH_MARK[group]} vs ${WH_MARK[one]} | the \"baseline\" here is amtrack itself with one transaction per webhook"
done

# --- the table -----------------------------------------------------------
{
	echo "## amtrack speed, as ratios to a floor measured in the same sitting"
	echo
	echo "$(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores ($(sed -n 's/^model name[[:space:]]*: //;T;p;q' /proc/cpuinfo)), $(uname -sr), $(go version | cut -d' ' -f3),"
	echo "amtrack $(cd "$ROOT" && git describe --always --dirty 2>/dev/null || echo '(not a git checkout)'); $EVENTS events, $REPEAT run(s) each, wrk ${WRK_SECONDS} s, $WEBHOOKS webhooks a run;"
	echo "1-minute load $LOAD0 before the build (each row notes the load as it started)."
	echo
	echo "Summary (means over the runs; the ratio is of the means, with the runs' range):"
	echo
	echo "| measure | amtrack | floor | amtrack ÷ floor (runs' range) |"
	echo "| --- | --- | --- | --- |"
	awk -F'\t' '
		{ if (!($1 in n)) order[++k] = $1; n[$1]++; a[$1] += $2; b[$1] += $3
		  if ($3 != "") { r = $2 / $3; if (!($1 in lo) || r < lo[$1]) lo[$1] = r; if (!($1 in hi) || r > hi[$1]) hi[$1] = r } }
		END { for (i = 1; i <= k; i++) { m = order[i]; ma = a[m] / n[m]
			if (m in lo) printf "| %s | %.0f | %.0f | %.2f (%.2f–%.2f) |\n", m, ma, b[m] / n[m], ma / (b[m] / n[m]), lo[m], hi[m]
			else printf "| %s | %.0f | - | - |\n", m, ma } }' "$FIGURES"
	echo
	echo "The floors: a. baseline insert (raw multi-row INSERTs, WAL); a2. is not amtrack but baseline replay, which writes"
	echo "the rows of amtrack's database again with nothing but the driver's and SQLite's work, against the same floor as a.; b. baseline scan (read and JSON-decode every event),"
	echo "d. baseline serve (net/http, a fixed ~600-byte body). A rate's ratio is the share of the floor's rate amtrack"
	echo "reaches; a µs CPU ratio is how many times the floor's CPU amtrack spends. In e. the floor is amtrack serve"
	echo "--commit-batch 1 (a transaction per webhook), so its ratios are what group commit buys: events/s group ÷ one,"
	echo "CPU group ÷ one (below 1: less CPU per webhook)."
	echo
	echo "Every run:"
	echo
	cat "$RUNS"
	echo
	echo "Commands (run 1's; later runs differ only in their _rN files):"
	echo
	for key in "${CMD_KEYS[@]}"; do echo "${CMD_NUM[$key]}. \`${CMD_TEXT[$key]% }\`"; done
	echo
	echo "The servers of d: $SERVED. Every command ran without the user's AMTRACK_ variables (and SEAM_API_KEY);"
	echo "each amtrack serve and webhookload with SEAM_WEBHOOK_SECRET set."
} >"$OUT/speed.md"

echo >&2
echo "table: $OUT/speed.md; raw outputs (time -v, wrk, webhookload, serve logs) in $OUT/log, databases in $OUT/db" >&2
cat "$OUT/speed.md"
