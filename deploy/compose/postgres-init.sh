#!/bin/sh
# Runs once, when the PostgreSQL data volume is empty (docker-entrypoint-initdb.d):
# the ILEA database with its owner and its application login, a role and two databases for Temporal.
# The extensions the ILEA migrations use are created here, by the superuser.
set -eu
: "${PG_ILEA_PASSWORD:?}" "${PG_ILEA_API_PASSWORD:?}" "${PG_TEMPORAL_PASSWORD:?}"

# `ilea` owns the ILEA tables and runs the migrations; the API and the workers log in as
# `ilea_api`, a member of `ilea_app`: it reads and appends the audit trail, never rewrites it.
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
  --set ilea_pw="$PG_ILEA_PASSWORD" --set api_pw="$PG_ILEA_API_PASSWORD" \
  --set temporal_pw="$PG_TEMPORAL_PASSWORD" <<'SQL'
CREATE ROLE ilea LOGIN PASSWORD :'ilea_pw';
CREATE ROLE ilea_app NOLOGIN;
CREATE ROLE ilea_api LOGIN PASSWORD :'api_pw' IN ROLE ilea_app;
CREATE DATABASE ilea OWNER ilea;
CREATE ROLE temporal LOGIN PASSWORD :'temporal_pw';
CREATE DATABASE temporal OWNER temporal;
CREATE DATABASE temporal_visibility OWNER temporal;
\connect ilea
CREATE EXTENSION IF NOT EXISTS btree_gist;
CREATE EXTENSION IF NOT EXISTS pg_trgm;
SQL
