#!/usr/bin/env bash
# pg_regress against a temporary instance, run as the postgres OS user (pg_regress refuses root).
# Usage: pg_test/run.sh WORKDIR   (the extension must be installed)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
work=$1
bin=/usr/lib/postgresql/15/bin
regress=/usr/lib/postgresql/15/lib/pgxs/src/test/regress/pg_regress
mkdir -p "$work"
cp -r "$here/sql" "$here/expected" "$work/"
chown -R postgres:postgres "$work"
tests=$(cd "$here/sql" && ls *.sql | sed 's/\.sql$//' | sort)
cd "$work"
if ! runuser -u postgres -- "$regress" --temp-instance="$work/tmp" --bindir="$bin" --inputdir="$work" \
        --outputdir="$work" --port="${REGRESS_PORT:-58431}" $tests; then
    cat "$work/regression.diffs" >&2 || true
    exit 1
fi
