#!/usr/bin/env bash
# pg_regress against a temporary instance, run as the postgres OS user (pg_regress refuses root).
# Usage: pg_test/run.sh WORKDIR   (the extension must be installed in the test clusters'
# PostgreSQL: scripts/lib.sh's install_extension)
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"
here="$ROOT/pg_test"
work=$1
bin=$PG_BIN
regress=$("$PG_CONFIG" --pkglibdir)/pgxs/src/test/regress/pg_regress
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
