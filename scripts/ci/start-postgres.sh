#!/usr/bin/env bash
# Starts a throwaway PostgreSQL cluster on loopback for the registry's conformance tests, and
# prints its URL on stdout (everything else goes to stderr):
#
#   export BERTH_TEST_PG_URL="$(bash scripts/ci/start-postgres.sh)"
#
# Idempotent: installs Debian's `postgresql` only when no server binaries are found, creates the
# cluster only when its data directory is empty, starts it only when it is not running, and
# creates the role and database only when missing. Run it as many times as you like.
#
# Settings (environment):
#   BERTH_PG_DIR   data directory           (default /tmp/berth-ci-postgres)
#   BERTH_PG_PORT  TCP port on 127.0.0.1    (default 55432)
#   BERTH_PG_DB    database name            (default berth_test)
# The cluster listens on 127.0.0.1 only; the role `berth` logs in with password `berth`.
set -euo pipefail

DIR="${BERTH_PG_DIR:-/tmp/berth-ci-postgres}"
PORT="${BERTH_PG_PORT:-55432}"
DB="${BERTH_PG_DB:-berth_test}"
ROLE=berth
PASSWORD=berth

log() { printf 'start-postgres: %s\n' "$*" >&2; }

find_bindir() {
  # Debian keeps the server binaries per major version; take the newest installed.
  local d
  d="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)"
  if [ -n "$d" ] && [ -x "$d/pg_ctl" ] && [ -x "$d/initdb" ]; then printf '%s\n' "$d"; fi
}

SUDO=""
[ "$(id -u)" = 0 ] || SUDO="sudo"

BINDIR="$(find_bindir)"
if [ -z "$BINDIR" ]; then
  log "installing Debian's postgresql (apt-get)"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq >&2
  # (The package may also create Debian's default `main` cluster on 5432; we leave it alone and
  # run our own cluster below, so nothing depends on system services.)
  $SUDO apt-get install -y -qq --no-install-recommends postgresql >&2
  BINDIR="$(find_bindir)"
  [ -n "$BINDIR" ] || { log "postgresql installed but no server binaries under /usr/lib/postgresql/*/bin"; exit 1; }
fi
log "using $BINDIR"

# initdb and postgres refuse to run as root: as root, run them as the `postgres` user that the
# Debian package creates; otherwise as ourselves.
if [ "$(id -u)" = 0 ]; then
  OWNER=postgres
  as_owner() { runuser -u postgres -- "$@"; }
else
  OWNER="$(id -un)"
  as_owner() { "$@"; }
fi

mkdir -p "$DIR"
chown "$OWNER" "$DIR" 2>/dev/null || true
chmod 700 "$DIR"
DATA="$DIR/data"

if [ ! -s "$DATA/PG_VERSION" ]; then
  log "initdb $DATA"
  PWFILE="$(mktemp)"
  printf '%s\n' "$PASSWORD" >"$PWFILE"
  chown "$OWNER" "$PWFILE" 2>/dev/null || true
  # Superuser `berth` (password auth over TCP); the socket sits in the data directory.
  as_owner "$BINDIR/initdb" -D "$DATA" -U "$ROLE" --pwfile="$PWFILE" -A scram-sha-256 \
    --auth-local=scram-sha-256 -E UTF8 --locale=C.UTF-8 >&2 || \
  as_owner "$BINDIR/initdb" -D "$DATA" -U "$ROLE" --pwfile="$PWFILE" -A scram-sha-256 \
    --auth-local=scram-sha-256 -E UTF8 --no-locale >&2
  rm -f "$PWFILE"
fi

if as_owner "$BINDIR/pg_ctl" -D "$DATA" status >/dev/null 2>&1; then
  log "already running"
else
  log "starting on 127.0.0.1:$PORT"
  as_owner "$BINDIR/pg_ctl" -D "$DATA" -l "$DIR/server.log" -w -t 60 start \
    -o "-c listen_addresses=127.0.0.1 -p $PORT -k $DATA -c fsync=on -c max_connections=100" >&2 || {
      log "failed to start; server log follows"; tail -n 40 "$DIR/server.log" >&2 || true; exit 1; }
fi

export PGPASSWORD="$PASSWORD"
PSQL=("$BINDIR/psql" -h 127.0.0.1 -p "$PORT" -U "$ROLE" -d postgres -v ON_ERROR_STOP=1 -qtA)
for _ in $(seq 1 50); do
  "${PSQL[@]}" -c 'select 1' >/dev/null 2>&1 && break
  sleep 0.2
done
if [ "$("${PSQL[@]}" -c "select 1 from pg_database where datname = '$DB'")" != 1 ]; then
  log "creating database $DB"
  "${PSQL[@]}" -c "create database \"$DB\"" >&2
fi

URL="postgres://$ROLE:$PASSWORD@127.0.0.1:$PORT/$DB"
log "ready: $URL"
printf '%s\n' "$URL"
