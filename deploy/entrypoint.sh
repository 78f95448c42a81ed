#!/bin/sh
# Container entrypoint: migrate the service's own SQLite file, then become the service.
#
#   entrypoint.sh SERVICE [COMMAND [ARG...]]
#
# SERVICE is one of gateway, storyboard, renderer, assets, billing. The stateful ones get their
# migrations applied first by the services' own runner (python -m deploy.migrate):
#   gateway          $MIGRATIONS_PATH/gateway/*.sql  -> $DATABASE_PATH (default .../app.db),
#                    not started without that folder
#   assets, billing  $MIGRATIONS_PATH/SERVICE/*.sql  -> $DATABASE_PATH (default .../SERVICE.db),
#                    skipped while that folder does not exist
# Applying is idempotent (each file once, recorded in schema_migrations). A failed migration
# stops here with a non-zero status and the service is not started on a half-migrated schema.
# Then COMMAND (default: $PYTHON -m services.SERVICE) replaces this shell (exec), so SIGTERM
# from Docker or Kubernetes reaches the service itself and it drains.
#
# Environment: DATABASE_PATH (default $REELSMITH_DB_DIR/<file>, REELSMITH_DB_DIR default
# /data/db), MIGRATIONS_PATH (the root of the per-service folders, default <app>/migrations),
# PYTHON (default python), LOG_LEVEL.
set -eu

APP_ROOT=$(CDPATH='' cd -- "$(dirname -- "$0")/.." && pwd)
PYTHON=${PYTHON:-python}
MIGRATIONS_ROOT=${MIGRATIONS_PATH:-$APP_ROOT/migrations}
service=entrypoint
USAGE="usage: entrypoint.sh gateway|storyboard|renderer|assets|billing [COMMAND [ARG...]]"

# A JSON string's contents: backslashes and quotes escaped, control characters as spaces.
json_text() {
    printf '%s' "$1" | tr '[:cntrl:]' '[ *]' | sed -e 's/\\/\\\\/g' -e 's/"/\\"/g'
}

# log LEVEL EVENT MESSAGE [REASON]: one JSON line on stderr, like the services' logs (levels
# as Python names them, INFO or ERROR), so `jq` pipelines over them keep working. Failures
# are ERROR lines with a short `reason`, counted by the runbook's query
# `jq -r 'select(.level=="ERROR") | .reason' | sort | uniq -c`.
log() {
    reason=
    if [ "$#" -ge 4 ]; then
        reason=",\"reason\":\"$(json_text "$4")\""
    fi
    printf '{"ts":"%s","level":"%s","service":"%s","event":"%s","message":"%s"%s}\n' \
        "$(date -u +%Y-%m-%dT%H:%M:%S+00:00)" "$1" "$service" "$2" "$(json_text "$3")" \
        "$reason" >&2
}

# usage REASON [WHAT]: the usage line, as an ERROR with that reason, and exit status 2.
usage() {
    log ERROR entrypoint.usage "${2:+$2; }$USAGE" "$1"
    exit 2
}

[ "$#" -ge 1 ] || usage "no service named"
requested=$1
shift

case "$requested" in
    gateway)
        db_file=app.db
        migrations=$MIGRATIONS_ROOT/gateway
        ;;
    assets | billing)
        db_file=$requested.db
        migrations=$MIGRATIONS_ROOT/$requested
        ;;
    storyboard | renderer)
        db_file=
        migrations=
        ;;
    *)
        usage "unknown service" "unknown service '$requested'"
        ;;
esac
service=$requested

PYTHONPATH=$APP_ROOT${PYTHONPATH:+:$PYTHONPATH}
export PYTHONPATH

if [ -n "$db_file" ]; then
    DATABASE_PATH=${DATABASE_PATH:-${REELSMITH_DB_DIR:-/data/db}/$db_file}
    export DATABASE_PATH
    if [ -d "$migrations" ]; then
        status=0
        "$PYTHON" -m deploy.migrate "$DATABASE_PATH" "$migrations" \
            --service "$service" --log-level "${LOG_LEVEL:-INFO}" || status=$?
        if [ "$status" -ne 0 ]; then
            log ERROR entrypoint.migrate_failed \
                "not starting: migrations failed (exit $status)" "migration failed"
            exit "$status"
        fi
    elif [ "$service" = gateway ]; then
        log ERROR entrypoint.migrate_failed \
            "not starting: no migrations folder $migrations" "no migrations folder"
        exit 1
    else
        log INFO entrypoint.no_migrations "no migrations folder $migrations, nothing to apply"
    fi
fi

if [ "$#" -eq 0 ]; then
    set -- "$PYTHON" -m "services.$service"
fi
exec "$@"
