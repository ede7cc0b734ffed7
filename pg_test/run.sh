#!/usr/bin/env bash
# The DBA's specification, one pg_regress file per behaviour (sql/NAME.sql, its expected output
# expected/NAME.out), against a temporary instance run as the postgres OS user (pg_regress
# refuses root). Files that sync read a simulator started here, serving 30 orders and 60 lines as
# Odoo 18 (its URL in SGA_SIM_URL, for psql's \getenv); what runs concurrently is played with a
# second session through dblink (sync_vs_scheduler.sql).
# Usage: pg_test/run.sh WORKDIR [NAME...]   (every file by default)
# The extension must be installed in the test clusters' PostgreSQL and the simulator built
# (scripts/lib.sh's install_extension).
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"
here="$ROOT/pg_test"
work=$1; shift
regress=$("$PG_CONFIG" --pkglibdir)/pgxs/src/test/regress/pg_regress
mkdir -p "$work"
cp -r "$here/sql" "$here/expected" "$work/"
chown -R postgres:postgres "$work"
if [ $# -gt 0 ]; then names=("$@"); else mapfile -t names < <(cd "$here/sql" && ls *.sql | sed 's/\.sql$//' | sort); fi
# The PostgreSQL 16 and 17 builds the tests use (PyPI wheels, scripts/lib.sh) ship no contrib
# modules, dblink among them: there, the file that needs a second session is left out, and says so.
if [ ! -f "$("$PG_CONFIG" --sharedir)/extension/dblink.control" ]; then
    for i in "${!names[@]}"; do
        if grep -q 'dblink' "$here/sql/${names[$i]}.sql"; then
            echo "pg_test: ${names[$i]} left out: PostgreSQL $PG_MAJOR here ($PG_CONFIG) has no dblink" >&2
            unset 'names[i]'
        fi
    done
    names=("${names[@]}")
fi
for n in "${names[@]}"; do
    [ -f "$here/sql/$n.sql" ] || { echo "pg_test: there is no pg_test/sql/$n.sql" >&2; exit 2; }
done

SIM_BIN=${SIM_BIN:-$ROOT/target/release/odoo_sim}
sim_start 30 60
trap 'kill "$SIM_PID" 2>/dev/null' EXIT

rc=0
cd "$work"
if ! runuser -u postgres -- env SGA_SIM_URL="$SIM_URL" "$regress" \
        --temp-instance="$work/tmp" --bindir="$PG_BIN" --inputdir="$work" --outputdir="$work" \
        --port="${REGRESS_PORT:-58431}" "${names[@]}"; then
    cat "$work/regression.diffs" >&2 || true
    rc=1
fi
exit $rc
