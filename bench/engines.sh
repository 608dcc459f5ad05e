#!/usr/bin/env bash
# bench/engines.sh measures amtrack as whole processes on SQLite and, when
# a server is given, on PostgreSQL, and prints every figure as a markdown
# table (and keeps the raw outputs in $OUT):
#
#   1. amtrack ingest of $EVENTS generated events into a fresh database
#   2. amtrack rebuild of that database
#   3. amtrack verify of it
#   4. GET /v1/access_methods/{id} under wrk against one amtrack serve
#   5. signed durable webhooks (bench/webhookload) at 1, 16 and 64 senders
#      against one serve, and on PostgreSQL also two serves on one database
#
# Usage (from anywhere; it builds from the tree it is in):
#
#   bash bench/engines.sh                                   # SQLite only
#   AMTRACK_BENCH_POSTGRES=postgres://user@host:port/db?sslmode=disable \
#   AMTRACK_KEY_FILE=/tmp/amtrack-bench.key bash bench/engines.sh
#
# Each PostgreSQL run gets a fresh schema (created with psql, dropped at the
# end unless AMTRACK_BENCH_KEEP=1), named by search_path=<schema> in the
# URL; application_name=<schema> in the URL names its sessions, so the
# server's CPU spent on them is read from /proc of their backends (sampled
# every $SAMPLE s while a command runs, so a backend loses at most one
# interval of CPU when it exits with its client). The cluster's whole CPU
# (every postgres process, and the postmaster's reaped children) is given
# too; it includes anyone else's sessions on the server.
#
# Knobs (environment): AMTRACK_BENCH_REPEAT (runs of each measurement, 2),
# AMTRACK_BENCH_EVENTS (200000), AMTRACK_BENCH_WEBHOOKS (webhooks a run at
# 16 and 64 senders, 10000), AMTRACK_BENCH_WEBHOOKS_1 (at 1 sender, 3000),
# AMTRACK_BENCH_WRK_SECONDS (15), AMTRACK_BENCH_OUT (the output directory,
# a new one under /tmp by default), AMTRACK_BENCH_ENGINES ("sqlite
# postgres"). The machine should be otherwise idle: every figure is whole
# process, wall-clock and CPU time.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT=${AMTRACK_BENCH_OUT:-$(mktemp -d /tmp/amtrack-bench.XXXXXX)}
REPEAT=${AMTRACK_BENCH_REPEAT:-2}
EVENTS=${AMTRACK_BENCH_EVENTS:-200000}
WEBHOOKS=${AMTRACK_BENCH_WEBHOOKS:-10000}
WEBHOOKS_1=${AMTRACK_BENCH_WEBHOOKS_1:-3000}
WRK_SECONDS=${AMTRACK_BENCH_WRK_SECONDS:-15}
PG=${AMTRACK_BENCH_POSTGRES:-}
ENGINES=${AMTRACK_BENCH_ENGINES:-sqlite${PG:+ postgres}}
SAMPLE=0.2
# The secret the servers check webhooks with and webhookload signs with.
SECRET=whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw
TICK=$(getconf CLK_TCK)

mkdir -p "$OUT/db" "$OUT/log"
RESULTS=$OUT/results.md
: >"$RESULTS"

die() { echo "engines.sh: $*" >&2; exit 1; }

if [[ $ENGINES == *postgres* ]]; then
	[[ -n $PG ]] || die "AMTRACK_BENCH_POSTGRES is not set (a postgres:// URL of a server to create schemas in)"
	[[ -n ${AMTRACK_KEY_FILE:-} ]] || die "AMTRACK_KEY_FILE is not set (a key file path for the PostgreSQL databases, created on first use)"
	command -v psql >/dev/null || die "psql is not installed"
fi
[[ -x /usr/bin/time ]] || die "/usr/bin/time is missing (apt-get install time)"
if ! command -v wrk >/dev/null; then
	echo "installing wrk" >&2
	sudo apt-get install -y wrk >/dev/null || apt-get install -y wrk >/dev/null
fi

# --- cleanup: the serve processes and schemas this script made -----------
# new_db runs in a command substitution, so it lists its schemas in a file.
SERVES=()
: >"$OUT/schemas"
cleanup() {
	for pid in "${SERVES[@]}"; do kill "$pid" 2>/dev/null || true; done
	if [[ ${AMTRACK_BENCH_KEEP:-} != 1 ]]; then
		while read -r s; do psql "$PG" -qXc "DROP SCHEMA IF EXISTS $s CASCADE" >/dev/null 2>&1 || true; done <"$OUT/schemas"
	fi
}
trap cleanup EXIT

# --- build and input -----------------------------------------------------
echo "building into $OUT" >&2
(cd "$ROOT" && go build -o "$OUT/amtrack" ./cmd/amtrack && go build -o "$OUT/webhookload" ./bench/webhookload)
BIN=$OUT/amtrack
# generate makes about 8 events per method; take exactly $EVENTS.
# head closes the pipe early: generate's broken pipe is expected, and a
# short stream is caught by the count below.
{ "$BIN" generate --methods $((EVENTS / 7 + 100)) --seed 1 || true; } | head -n "$EVENTS" >"$OUT/events.jsonl"
[[ $(wc -l <"$OUT/events.jsonl") -eq $EVENTS ]] || die "generate made fewer than $EVENTS events"

# --- helpers -------------------------------------------------------------

# new_db ENGINE TAG prints a fresh database for ENGINE: an SQLite path, or
# the URL of a new schema named after TAG.
new_db() {
	local engine=$1 tag=$2
	if [[ $engine == sqlite ]]; then
		rm -f "$OUT/db/$tag.db"*
		echo "$OUT/db/$tag.db"
		return
	fi
	local schema="bench_${tag//[^a-z0-9]/_}_$$"
	psql "$PG" -qXc "DROP SCHEMA IF EXISTS $schema CASCADE" >/dev/null 2>&1
	psql "$PG" -qXc "CREATE SCHEMA $schema" >/dev/null
	echo "$schema" >>"$OUT/schemas"
	local sep='?'
	[[ $PG == *\?* ]] && sep='&'
	echo "${PG}${sep}search_path=${schema}&application_name=${schema}"
}

# app_of URL is the application_name a PostgreSQL URL's sessions carry.
app_of() { sed -n 's/.*application_name=\([^&]*\).*/\1/p' <<<"$1"; }

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

# cluster_ticks prints the CPU ticks of the whole PostgreSQL cluster: every
# process under the postmaster, the postmaster, and its reaped children.
cluster_ticks() {
	local pm line f
	pm=$(psql "$PG" -AtXc "SELECT pid FROM pg_stat_activity WHERE backend_type = 'checkpointer'" 2>/dev/null) || { echo 0; return; }
	pm=$(awk '{print $4}' "/proc/$pm/stat" 2>/dev/null) || { echo 0; return; }
	line=$(cat "/proc/$pm/stat")
	read -ra f <<<"${line##*) }"
	echo $((f[11] + f[12] + f[13] + f[14] + $(ticks $(ps --ppid "$pm" -o pid=))))
}

# backends APP prints the pids of the server sessions named APP.
backends() { psql "$PG" -AtXc "SELECT pid FROM pg_stat_activity WHERE application_name = '$1'" 2>/dev/null || true; }

# watch_start APP FILE samples, every $SAMPLE s until watch_stop, each
# session of APP: "pid ticks wait_event_type wait_event state" lines.
watch_start() {
	local app=$1 file=$2
	: >"$file"
	(
		while :; do
			psql "$PG" -AtXF' ' -c "SELECT pid, coalesce(wait_event_type, '-'), coalesce(wait_event, '-'), replace(coalesce(state, '-'), ' ', '_')
				FROM pg_stat_activity WHERE application_name = '$app'" 2>/dev/null |
				while read -r pid wtype wevent state; do
					echo "$pid $(ticks "$pid") $wtype $wevent $state"
				done >>"$file"
			sleep "$SAMPLE"
		done
	) &
	WATCH=$!
}
watch_stop() { kill "$WATCH" 2>/dev/null; wait "$WATCH" 2>/dev/null || true; }

# backend_seconds FILE [BEFORE_FILE] is the CPU seconds of the sampled
# sessions: each pid's last sample, less its ticks in BEFORE_FILE ("pid
# ticks" lines taken before the run; a pid not there started at 0).
backend_seconds() {
	awk -v tick="$TICK" 'FNR == NR && ARGC == 3 { before[$1] = $2; next }
		{ if ($2 > last[$1]) last[$1] = $2 }
		END { for (p in last) s += last[p] - before[p]; printf "%.2f", s / tick }' "$@"
}

# waits FILE summarises what the sampled sessions waited on while not idle
# (ClientRead in a transaction: the server waits for amtrack's next
# statement), the four most frequent.
waits() {
	awk '$5 != "idle" { busy++; if ($3 != "-") n[$3 ":" $4]++ }
		END { for (k in n) print n[k], k; print "total", busy }' "$1" | sort -rn |
		awk '$1 == "total" { total = $2; next } NR <= 5 { s = s sprintf(" %s %d,", $2, $1) }
			END { printf "waits in %d non-idle samples:%s", total, s }'
}

# lock_waits FILE summarises the samples that waited on a lock, by event.
lock_waits() {
	awk '$3 == "Lock" || $3 == "LWLock" { n[$3 ":" $4]++; any = 1 } $5 == "active" { active++ }
		END { if (!any) { printf "no lock waits in %d active samples", active; exit }
			for (k in n) printf "%s %d, ", k, n[k]; printf "of %d active samples", active }' "$1"
}

# timed NAME ENGINE ARGS... runs amtrack ARGS under /usr/bin/time -v; its
# output is $OUT/log/NAME.out, the figures $OUT/log/NAME.time.
timed() {
	local name=$1 engine=$2
	shift 2
	/usr/bin/time -v -o "$OUT/log/$name.time" env $([[ $engine == sqlite ]] && echo "-u AMTRACK_KEY_FILE -u AMTRACK_KEY") \
		"$BIN" "$@" >"$OUT/log/$name.out" 2>&1 || { cat "$OUT/log/$name.out" >&2; die "$name failed"; }
}

# time_field NAME FIELD reads one figure of a timed run: wall (s), cpu
# (user+sys, s), user, sys, rss (MB).
time_field() {
	awk -F': ' -v want="$2" '
		/User time/ { user = $2 } /System time/ { sys = $2 } /Maximum resident/ { rss = $2 }
		/Elapsed \(wall clock\)/ { n = split($2, p, ":"); wall = 0; for (i = 1; i <= n; i++) wall = wall * 60 + p[i] }
		END { if (want == "wall") printf "%.2f", wall; else if (want == "cpu") printf "%.2f", user + sys;
			else if (want == "user") printf "%.2f", user; else if (want == "sys") printf "%.2f", sys;
			else if (want == "rss") printf "%.0f", rss / 1024 }' "$OUT/log/$1.time"
}

row() { echo "| $* |" | tee -a "$RESULTS" >&2; }

# load is the 1-minute load average now, noted beside each figure: the
# figures are only comparable when it is low (the machine is shared).
load() { cut -d' ' -f1 /proc/loadavg; }

# start_serve ENGINE DB NAME starts amtrack serve on a free port; it sets
# SERVE_PID and SERVE_URL.
start_serve() {
	local engine=$1 db=$2 name=$3 log=$OUT/log/$3.serve
	# env execs amtrack, so $! is serve's own pid (its CPU is read by pid).
	local unset=()
	[[ $engine == sqlite ]] && unset=(-u AMTRACK_KEY_FILE -u AMTRACK_KEY)
	env "${unset[@]}" SEAM_WEBHOOK_SECRET=$SECRET AMTRACK_API_TOKEN= AMTRACK_ADDR= AMTRACK_LOG_LEVEL= AMTRACK_DB= AMTRACK_REVEAL_CODES= \
		"$BIN" serve --db "$db" --addr 127.0.0.1:0 --log-level warn >"$log" 2>"$log.err" &
	SERVE_PID=$!
	SERVES+=("$SERVE_PID")
	for _ in $(seq 600); do
		SERVE_URL=$(sed -n 's/^serving on \(http:[^ ]*\)$/\1/p' "$log")
		[[ -n $SERVE_URL ]] && return
		kill -0 "$SERVE_PID" 2>/dev/null || { cat "$log.err" >&2; die "serve $name ended"; }
		sleep 0.1
	done
	die "serve $name did not start in a minute"
}
stop_serve() {
	kill -TERM "$1" 2>/dev/null || true
	wait "$1" 2>/dev/null || true
	local keep=() p
	for p in "${SERVES[@]}"; do [[ $p == "$1" ]] || keep+=("$p"); done
	SERVES=("${keep[@]}")
	[[ -s $OUT/log/$2.serve.err ]] && sed 's/^/    serve: /' "$OUT/log/$2.serve.err" | head -5 >&2
	return 0
}

# --- 1-4: ingest, rebuild, verify, wrk -----------------------------------
row "step | engine | run | load | rate | wall s | amtrack CPU s (user+sys) | peak RSS MB | PostgreSQL CPU s: its sessions / whole cluster | notes"
row "--- | --- | --- | --- | --- | --- | --- | --- | --- | ---"

pg_cols() { # pg_cols ENGINE SAMPLES CLUSTER0 CLUSTER1
	if [[ $1 == postgres ]]; then
		printf '%s / %.2f' "$(backend_seconds "$2")" "$(bc -l <<<"($4 - $3) / $TICK")"
	else
		echo "-"
	fi
}

for run in $(seq "$REPEAT"); do
	for engine in $ENGINES; do
		tag="${engine}_r${run}"
		db=$(new_db "$engine" "$tag")
		app=$([[ $engine == postgres ]] && app_of "$db" || true)

		# 1. ingest
		L=$(load) c0=0
		[[ $engine == postgres ]] && { c0=$(cluster_ticks); watch_start "$app" "$OUT/log/ingest_$tag.pg"; }
		timed "ingest_$tag" "$engine" ingest --db "$db" "$OUT/events.jsonl"
		c1=0; [[ $engine == postgres ]] && { watch_stop; c1=$(cluster_ticks); }
		appended=$(sed -n 's/^appended \([0-9]*\),.*/\1/p' "$OUT/log/ingest_$tag.out")
		wall=$(time_field "ingest_$tag" wall)
		row "ingest $EVENTS | $engine | $run | $L | $(bc <<<"$appended / $wall") events/s | $wall | $(time_field "ingest_$tag" user)+$(time_field "ingest_$tag" sys) | $(time_field "ingest_$tag" rss) | $(pg_cols "$engine" "$OUT/log/ingest_$tag.pg" "$c0" "$c1") | $([[ $engine == postgres ]] && waits "$OUT/log/ingest_$tag.pg"; true) $(head -1 "$OUT/log/ingest_$tag.out")"

		# 2. rebuild
		L=$(load) c0=0
		[[ $engine == postgres ]] && { c0=$(cluster_ticks); watch_start "$app" "$OUT/log/rebuild_$tag.pg"; }
		timed "rebuild_$tag" "$engine" rebuild --db "$db"
		c1=0; [[ $engine == postgres ]] && { watch_stop; c1=$(cluster_ticks); }
		wall=$(time_field "rebuild_$tag" wall)
		row "rebuild | $engine | $run | $L | $(bc <<<"$appended / $wall") events/s | $wall | $(time_field "rebuild_$tag" user)+$(time_field "rebuild_$tag" sys) | $(time_field "rebuild_$tag" rss) | $(pg_cols "$engine" "$OUT/log/rebuild_$tag.pg" "$c0" "$c1") | $([[ $engine == postgres ]] && waits "$OUT/log/rebuild_$tag.pg"; true) $(sed -n 's/.* in \([^ ]*\) (\([0-9]*\) events\/s)$/own: \1, \2 events\/s/p' "$OUT/log/rebuild_$tag.out")"

		# 3. verify
		L=$(load) c0=0
		[[ $engine == postgres ]] && { c0=$(cluster_ticks); watch_start "$app" "$OUT/log/verify_$tag.pg"; }
		timed "verify_$tag" "$engine" verify --db "$db"
		c1=0; [[ $engine == postgres ]] && { watch_stop; c1=$(cluster_ticks); }
		row "verify | $engine | $run | $L | - | $(time_field "verify_$tag" wall) | $(time_field "verify_$tag" user)+$(time_field "verify_$tag" sys) | $(time_field "verify_$tag" rss) | $(pg_cols "$engine" "$OUT/log/verify_$tag.pg" "$c0" "$c1") | $([[ $engine == postgres ]] && waits "$OUT/log/verify_$tag.pg"; true) $(head -1 "$OUT/log/verify_$tag.out")"

		# 4. GET one access method under wrk
		start_serve "$engine" "$db" "wrk_$tag"
		id=$(curl -sf "$SERVE_URL/v1/access_methods?limit=1" | sed -n 's/.*"access_method_id": *"\([^"]*\)".*/\1/p' | head -1)
		[[ -n $id ]] || die "no access method id from $SERVE_URL/v1/access_methods"
		curl -sf -o /dev/null "$SERVE_URL/v1/access_methods/$id" || die "GET /v1/access_methods/$id failed"
		L=$(load) s0=$(ticks "$SERVE_PID")
		c0=0; [[ $engine == postgres ]] && { c0=$(cluster_ticks); backends "$app" | while read -r p; do echo "$p $(ticks "$p")"; done >"$OUT/log/wrk_$tag.pg0"; watch_start "$app" "$OUT/log/wrk_$tag.pg"; }
		wrk -t2 -c64 -d"${WRK_SECONDS}s" --latency "$SERVE_URL/v1/access_methods/$id" >"$OUT/log/wrk_$tag.out"
		c1=0; [[ $engine == postgres ]] && { watch_stop; c1=$(cluster_ticks); }
		s1=$(ticks "$SERVE_PID")
		rps=$(awk '/^Requests\/sec:/ {printf "%.0f", $2}' "$OUT/log/wrk_$tag.out")
		p50=$(awk '$1 == "50%" {print $2}' "$OUT/log/wrk_$tag.out")
		p99=$(awk '$1 == "99%" {print $2}' "$OUT/log/wrk_$tag.out")
		errs=$(grep -E 'Non-2xx|Socket errors' "$OUT/log/wrk_$tag.out" | tr -s ' ' | paste -sd';' || true)
		pgc="-"
		[[ $engine == postgres ]] && pgc="$(backend_seconds "$OUT/log/wrk_$tag.pg0" "$OUT/log/wrk_$tag.pg") / $(bc -l <<<"($c1 - $c0) / $TICK" | xargs printf '%.2f')"
		row "GET method (wrk -t2 -c64 ${WRK_SECONDS}s) | $engine | $run | $L | $rps req/s | $WRK_SECONDS | serve $(bc -l <<<"($s1 - $s0) / $TICK" | xargs printf '%.2f') | - | $pgc | p50 $p50, p99 $p99 ${errs:+; $errs}"
		stop_serve "$SERVE_PID" "wrk_$tag"
	done
done

# --- 5: webhooks ---------------------------------------------------------
echo | tee -a "$RESULTS" >&2
row "webhooks | engine | run | load | senders | serves | acknowledged events/s | amtrack serve CPU µs/event | PostgreSQL CPU µs/event: its sessions / whole cluster | events/commit | notes"
row "--- | --- | --- | --- | --- | --- | --- | --- | --- | --- | ---"
for run in $(seq "$REPEAT"); do
	for senders in 1 16 64; do
		n=$WEBHOOKS
		((senders == 1)) && n=$WEBHOOKS_1
		for setup in $ENGINES ${PG:+postgres2}; do
			[[ $setup == postgres2 && $ENGINES != *postgres* ]] && continue
			engine=${setup%2}
			serves=1
			[[ $setup == postgres2 ]] && serves=2
			tag="wh_${setup}_s${senders}_r${run}"
			db=$(new_db "$engine" "$tag")
			urls=() pids=()
			for i in $(seq "$serves"); do
				start_serve "$engine" "$db" "${tag}_$i"
				urls+=("$SERVE_URL") pids+=("$SERVE_PID")
			done
			app=$([[ $engine == postgres ]] && app_of "$db" || true)
			L=$(load) c0=0
			[[ $engine == postgres ]] && { c0=$(cluster_ticks); backends "$app" | while read -r p; do echo "$p $(ticks "$p")"; done >"$OUT/log/$tag.pg0"; watch_start "$app" "$OUT/log/$tag.pg"; }
			SEAM_WEBHOOK_SECRET=$SECRET "$OUT/webhookload" -urls "$(IFS=,; echo "${urls[*]}")" -senders "$senders" -n "$n" \
				-pids "$(IFS=,; echo "${pids[*]}")" >"$OUT/log/$tag.out" 2>&1 || { cat "$OUT/log/$tag.out" >&2; die "$tag failed"; }
			c1=0; [[ $engine == postgres ]] && { watch_stop; c1=$(cluster_ticks); }
			line=$(cat "$OUT/log/$tag.out")
			get() { sed -n "s/.*\\b$1=\\([^ ]*\\).*/\\1/p" <<<"$line"; }
			pgc="-" notes=""
			if [[ $engine == postgres ]]; then
				pgc="$(bc -l <<<"$(backend_seconds "$OUT/log/$tag.pg0" "$OUT/log/$tag.pg") * 1000000 / $n" | xargs printf '%.0f') / $(bc -l <<<"($c1 - $c0) * 1000000 / $TICK / $n" | xargs printf '%.0f')"
				notes=$(lock_waits "$OUT/log/$tag.pg")
			fi
			row "webhooks | $engine | $run | $L | $senders | $serves | $(get events_per_s) | $(get server_cpu_us_per_event) | $pgc | $(get events_per_commit) | $n events in $(get seconds) s, client $(get client_cpu_us_per_event) µs/event; $notes"
			for i in "${!pids[@]}"; do stop_serve "${pids[$i]}" "${tag}_$((i + 1))"; done
		done
	done
done

echo >&2
echo "results: $RESULTS (raw outputs in $OUT/log)" >&2
cat "$RESULTS"
