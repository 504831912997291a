#!/usr/bin/env bash
# Start a throw-away PostgreSQL server for the trace-store tests.
#
# * installs Debian's `postgresql` with apt-get when it is missing (needs root);
# * runs a server on 127.0.0.1:${NONGSHU_PG_PORT:-55432} with its data under /tmp;
# * creates the role and database `nongshu_test` (role `nongshu`), trust auth on localhost;
# * is idempotent: a server already answering on the port is reused;
# * prints the SQLAlchemy URL the tests read from NONGSHU_TEST_POSTGRES_URL.
set -euo pipefail

PORT="${NONGSHU_PG_PORT:-55432}"
HOST=127.0.0.1
DATA_DIR="${NONGSHU_PG_DATA:-/tmp/nongshu-pg-${PORT}}"
ROLE=nongshu
DB=nongshu_test
URL="postgresql+psycopg://${ROLE}@${HOST}:${PORT}/${DB}"

# A throw-away test server: skip fsync (set NONGSHU_PG_DURABLE=1 to keep PostgreSQL's defaults).
DURABILITY="-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
[ "${NONGSHU_PG_DURABLE:-0}" = "1" ] && DURABILITY=""

log() { echo "postgres.sh: $*" >&2; }

find_bindir() {
  ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1
}

BINDIR="$(find_bindir || true)"
if [ -z "${BINDIR}" ] || [ ! -x "${BINDIR}/pg_ctl" ]; then
  if [ "$(id -u)" != "0" ]; then
    log "PostgreSQL is not installed and we are not root; cannot install it"
    exit 1
  fi
  log "installing Debian's postgresql"
  export DEBIAN_FRONTEND=noninteractive
  if ! apt-get install -y --no-install-recommends postgresql >&2; then
    apt-get update >&2
    apt-get install -y --no-install-recommends postgresql >&2
  fi
  BINDIR="$(find_bindir)"
fi

# Run the server as the `postgres` OS user when we are root (initdb refuses root).
as_pg() {
  if [ "$(id -u)" = "0" ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

ready() { as_pg "${BINDIR}/pg_isready" -q -h "${HOST}" -p "${PORT}"; }

if ready; then
  log "reusing the server already running on ${HOST}:${PORT}"
else
  if [ ! -s "${DATA_DIR}/PG_VERSION" ]; then
    log "initialising ${DATA_DIR}"
    mkdir -p "${DATA_DIR}"
    [ "$(id -u)" = "0" ] && chown postgres:postgres "${DATA_DIR}"
    chmod 700 "${DATA_DIR}"
    as_pg "${BINDIR}/initdb" -D "${DATA_DIR}" -U postgres --auth=trust --encoding=UTF8 --locale=C.UTF-8 >&2
    cat > "${DATA_DIR}/pg_hba.conf" <<HBA
local all all trust
host  all all 127.0.0.1/32 trust
host  all all ::1/128 trust
HBA
  fi
  SOCKDIR="${DATA_DIR}/socket"
  mkdir -p "${SOCKDIR}"
  [ "$(id -u)" = "0" ] && chown postgres:postgres "${SOCKDIR}"
  log "starting the server on ${HOST}:${PORT}"
  as_pg "${BINDIR}/pg_ctl" -D "${DATA_DIR}" -l "${DATA_DIR}/server.log" -w -t 60 \
    -o "-c listen_addresses=${HOST} -p ${PORT} -k ${SOCKDIR} -c max_connections=200 ${DURABILITY}" start >&2
fi

psql_admin() { as_pg "${BINDIR}/../bin/psql" -h "${HOST}" -p "${PORT}" -U postgres -d postgres -v ON_ERROR_STOP=1 -qtA "$@"; }
if [ "$(psql_admin -c "SELECT 1 FROM pg_roles WHERE rolname='${ROLE}'")" != "1" ]; then
  psql_admin -c "CREATE ROLE ${ROLE} LOGIN SUPERUSER" >&2
fi
if [ "$(psql_admin -c "SELECT 1 FROM pg_database WHERE datname='${DB}'")" != "1" ]; then
  psql_admin -c "CREATE DATABASE ${DB} OWNER ${ROLE}" >&2
fi
echo "${URL}"
