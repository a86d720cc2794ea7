#!/bin/sh
# One-shot: create or upgrade Temporal's two schemas (persistence and visibility) in
# PostgreSQL. Safe on every start: setup-schema keeps an existing version and
# update-schema applies only the versions not applied yet.
set -eu
: "${SQL_PASSWORD:?}"
PG_HOST="${POSTGRES_SEEDS:-postgres}"
PG_PORT="${DB_PORT:-5432}"
PG_USER="${POSTGRES_USER:-temporal}"
SCHEMA_ROOT=/etc/temporal/schema/postgresql/v12

for pair in temporal:temporal temporal_visibility:visibility; do
  db="${pair%%:*}"
  dir="${pair##*:}"
  echo "schema of ${db}"
  temporal-sql-tool --plugin postgres12 --ep "$PG_HOST" -p "$PG_PORT" -u "$PG_USER" --db "$db" \
    setup-schema -v 0.0
  temporal-sql-tool --plugin postgres12 --ep "$PG_HOST" -p "$PG_PORT" -u "$PG_USER" --db "$db" \
    update-schema -d "$SCHEMA_ROOT/$dir/versioned"
done
