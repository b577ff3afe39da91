#!/bin/sh
# The image's entrypoint: start a process without the credentials it must not hold.
#
# compose passes every setting of .env to every container (env_file), which includes the
# superuser's POSTGRES_PASSWORD, and gives the api container PG* variables so that the
# operators' `docker exec task-tracker-api psql -U postgres ...` needs no flags. The api,
# worker and scheduler connect with DATABASE_URL's role only (SPEC 3, least privilege), so
# those are removed here before `exec` (PID 1's environment then never held them); only
# `tasktracker migrate` keeps MIGRATE_DATABASE_*, the owner's connection. `docker exec` does
# not pass through an entrypoint, so the operators' commands still find what they need.
set -eu
unset POSTGRES_PASSWORD PGPASSWORD PGPASSFILE PGUSER PGHOST PGDATABASE PGSERVICE
if [ "$#" -lt 2 ] || [ "$1" != "tasktracker" ] || [ "$2" != "migrate" ]; then
    unset MIGRATE_DATABASE_URL MIGRATE_DATABASE_PASSWORD
fi
exec "$@"
