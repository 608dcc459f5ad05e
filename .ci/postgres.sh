#!/usr/bin/env bash
# Starts a throwaway PostgreSQL cluster for the tests and prints its URL on
# stdout (everything else goes to stderr). The cluster lives in a new
# temporary directory, listens only on 127.0.0.1 on a free port, trusts local
# connections, and runs as an unprivileged user (the caller, or, when the
# caller is root, the user amtrack-pg, created if missing). Debian's
# postgresql package is installed when no initdb is found.
#   url=$(bash .ci/postgres.sh)      # postgres://amtrack@127.0.0.1:PORT/amtrack
#   bash .ci/postgres.sh stop DIR    # stop a cluster (DIR is printed on stderr)
set -euo pipefail

say() { echo "postgres.sh: $*" >&2; }

if [ "${1:-}" = stop ]; then
  dir=$2
  owner=$(stat -c %U "$dir")
  if [ "$(id -u)" = 0 ] && [ "$owner" != root ]; then
    su -s /bin/sh "$owner" -c "'$(cat "$dir/bindir")/pg_ctl' -D '$dir/data' -m immediate stop" >&2 || true
  else
    "$(cat "$dir/bindir")/pg_ctl" -D "$dir/data" -m immediate stop >&2 || true
  fi
  rm -rf "$dir"
  exit 0
fi

find_bindir() {
  if command -v pg_config >/dev/null && [ -x "$(pg_config --bindir)/initdb" ]; then pg_config --bindir; return; fi
  for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    [ -x "$d/initdb" ] && { echo "$d"; return; }
  done
  command -v initdb >/dev/null && dirname "$(readlink -f "$(command -v initdb)")"
}

bindir=$(find_bindir || true)
if [ -z "$bindir" ]; then
  say "no PostgreSQL server found: installing Debian's postgresql package"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq >&2 && $SUDO apt-get install -y -qq --no-install-recommends postgresql >&2
  bindir=$(find_bindir || true)
  [ -n "$bindir" ] || { say "installing postgresql gave no initdb"; exit 1; }
fi

run_as=""
if [ "$(id -u)" = 0 ]; then
  id amtrack-pg >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin amtrack-pg
  run_as=amtrack-pg
fi
as_user() {
  if [ -n "$run_as" ]; then su -s /bin/sh "$run_as" -c "$*"; else sh -c "$*"; fi
}

dir=$(mktemp -d /tmp/amtrack-pg.XXXXXX)
chmod 755 "$dir"
echo "$bindir" > "$dir/bindir"
[ -n "$run_as" ] && chown "$run_as" "$dir"

# A free loopback port: ask the kernel for one, then let PostgreSQL bind it.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null ||
  shuf -i 20000-60000 -n 1)

as_user "'$bindir/initdb' -D '$dir/data' -U amtrack --auth=trust -E UTF8 --locale=C.UTF-8 >'$dir/initdb.log' 2>&1" ||
  { say "initdb failed:"; cat "$dir/initdb.log" >&2; exit 1; }
# fsync stays on: the tests check durability claims on a real server.
as_user "'$bindir/pg_ctl' -D '$dir/data' -l '$dir/server.log' -w -t 60 \
  -o \"-c listen_addresses=127.0.0.1 -p $port -k '$dir' -c max_connections=300 -c shared_buffers=128MB\" start >&2" ||
  { say "the server did not start:"; cat "$dir/server.log" >&2; exit 1; }
"$bindir/psql" -h 127.0.0.1 -p "$port" -U amtrack -d postgres -qAt -c "CREATE DATABASE amtrack" >&2
say "cluster in $dir (stop: bash .ci/postgres.sh stop $dir)"
echo "postgres://amtrack@127.0.0.1:$port/amtrack?sslmode=disable"
