#!/usr/bin/env bash
# Run a command against a throwaway PostgreSQL cluster in a temporary folder, then remove the cluster.
# Usage: tests/with_postgres.sh COMMAND [ARGS...]   (PORTAL_TEST_DATABASE_URL is set for the command)
set -euo pipefail
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
[ -x "$bin/initdb" ] || { echo "PostgreSQL server binaries not found (apt-get install postgresql)" >&2; exit 1; }
dir=$(mktemp -d /tmp/portal-pg.XXXXXX)
run_as=()
if [ "$(id -u)" = 0 ]; then  # the server refuses to run as root
  chown postgres: "$dir"
  run_as=(runuser -u postgres --)
fi
cleanup() { "${run_as[@]}" "$bin/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true; rm -rf "$dir"; }
trap cleanup EXIT
"${run_as[@]}" "$bin/initdb" -D "$dir/data" -A trust -U postgres --no-sync >/dev/null
"${run_as[@]}" "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w start \
  -o "-k $dir -c listen_addresses='' -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" >/dev/null
"${run_as[@]}" "$bin/createdb" -h "$dir" -U postgres portal_test
export PORTAL_TEST_DATABASE_URL="postgresql+psycopg://postgres@/portal_test?host=$dir"
echo "PostgreSQL $("$bin/postgres" --version | awk '{print $3}') running in $dir"
"$@"
