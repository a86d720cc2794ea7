#!/bin/sh
# Runs once, when the PostgreSQL data volume is empty (docker-entrypoint-initdb.d):
# a role and a database for the ILEA read model, a role and two databases for Temporal.
# The extensions the ILEA migrations use are created here, by the superuser.
set -eu
: "${PG_ILEA_PASSWORD:?}" "${PG_TEMPORAL_PASSWORD:?}"

psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
  --set ilea_pw="$PG_ILEA_PASSWORD" --set temporal_pw="$PG_TEMPORAL_PASSWORD" <<'SQL'
CREATE ROLE ilea LOGIN PASSWORD :'ilea_pw';
CREATE DATABASE ilea OWNER ilea;
CREATE ROLE temporal LOGIN PASSWORD :'temporal_pw';
CREATE DATABASE temporal OWNER temporal;
CREATE DATABASE temporal_visibility OWNER temporal;
\connect ilea
CREATE EXTENSION IF NOT EXISTS btree_gist;
CREATE EXTENSION IF NOT EXISTS pg_trgm;
SQL
