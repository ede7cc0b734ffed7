#!/usr/bin/env bash
# Where a full-table update spends its database time, beside the first copy of the same rows:
# one cluster, one simulator (ORDERS + LINES, Odoo 20 over JSON-2), this tree. Two full-table
# updates follow the first copy:
#   every field new   every field of every record written anew in Odoo (a mass update);
#   mass action       one to three fields set on every record, the same values on all (a state,
#                     a boolean and a note: each model's first selection, boolean other than
#                     active, and text field, as fields_get lists them; the lines of the default
#                     schema have no boolean), as a server action or a list's "Update" does.
# Every field new runs first, as it always has, right after the first copy; then the mirror
# tables are rewritten compact (VACUUM FULL, untimed), so that the mass action meets its rows as
# the first update met them: old versions on full pages. (In that order, too, the mass action's
# values, which the simulator keeps on the records, do not hold back the other's new values.)
# Each measured run starts after a VACUUM (ANALYZE) and a CHECKPOINT (the CHECKPOINT is counted:
# the pg_stat_statements line "CHECKPOINT" shows how much).
# Per run: wall ms, SQL ms (top-level statements, as bench/freshness.sh counts them), the run
# log's database ms and the WAL written; then its costliest statements with pg_stat_statements'
# ms, calls, rows, shared buffers hit / read / dirtied / written, full-page images and WAL, and
# what the run added to the audit log. Where this PostgreSQL has no pg_stat_statements
# (PG_MAJOR=16 to 18 here), only the wall ms, the run log's ms and the WAL.
# All of it ROUNDS times (3 by default), each round in a database of its own, then each round's
# ratios over its first copy and their medians: the first copy's time alone varies by a fifth
# from one run to the next on a shared machine.
# Usage: bench/full_update.sh [ORDERS LINES]  (default 100000 500000), with PG_CONF as one more
# postgresql.conf line if set (PG_CONF="shared_buffers = '2GB'"; not shared_preload_libraries,
# which would replace pg_stat_statements). Prints figures; asserts nothing.
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"
setup
install_extension
ORDERS=${1:-100000}; LINES=${2:-500000}
KEY=0123456789abcdef0123456789abcdef01234567
WORK=$(mktemp -d /tmp/scrap_sga_bench.XXXXXX); chmod 755 "$WORK"
PORT=$(free_port)
cleanup() { cluster_stop "$WORK/pg"; [ -n "${SIM_PID:-}" ] && kill "$SIM_PID" 2>/dev/null; as_root rm -rf "$WORK"; }
trap cleanup EXIT
PSS=(); has_contrib pg_stat_statements && PSS=("shared_preload_libraries = 'pg_stat_statements'" "pg_stat_statements.track = all")
[ ${#PSS[@]} = 0 ] && echo "PostgreSQL $PG_MAJOR here has no pg_stat_statements: no SQL ms and no statements below"
cluster_start "$WORK/pg" "$PORT" "shared_buffers = '512MB'" "autovacuum = off" "${PSS[@]}" ${PG_CONF:+"$PG_CONF"}
sim_start "$ORDERS" "$LINES" 20 "$KEY"
DB=postgres
q() { "$PG_BIN/psql" -X -q -h 127.0.0.1 -p "$PORT" -U postgres -v ON_ERROR_STOP=1 -d "$DB" "$@"; }
sim() { curl -s -X POST "$SIM_URL/sim/$1" --data-binary "$2" >/dev/null; }
touch_all() { # touch_all MODEL COUNT [VALUES]: every record written with new values, or VALUES set
    python3 -c "import json; print(json.dumps({'model': '$1', 'ids': list(range(1, $2 + 1)), 'same_values': False, **({'values': json.loads('${3:-}')} if '${3:-}' else {})}))" > "$WORK/ids.json"
    sim touch "@$WORK/ids.json"
}
mass_values() { # mass_values MODEL: the values of the mass action, by the fields' types
    curl -s "$SIM_URL/sim/fields?model=$1" | python3 -c '
import json, sys
fields = json.load(sys.stdin)
def first(ftype, skip=()):
    names = sorted(n for n, f in fields.items() if f.get("type") == ftype and f.get("store", True) and n not in skip)
    return names[0] if names else None
values = {}
if (state := first("selection")):
    values[state] = fields[state]["selection"][-1][0]
if (flag := first("boolean", ("active",))):
    values[flag] = True
if (note := first("text")):
    values[note] = "set on every record by a mass action"
print(json.dumps(values))'
}
measure() {
    q -c "VACUUM (ANALYZE)" >/dev/null
    [ ${#PSS[@]} != 0 ] && q -c "SELECT pg_stat_statements_reset()" >/dev/null
    q -c "CHECKPOINT" >/dev/null
    local lsn t0 t1 sql_ms log_ms; lsn=$(q -At -c "SELECT pg_current_wal_lsn()")
    t0=$(date +%s%N); q -c "SELECT * FROM scrap_sga.sync()" >/dev/null; t1=$(date +%s%N)
    sql_ms=n/a; [ ${#PSS[@]} != 0 ] && sql_ms=$(q -At -c "$SYNC_SQL_MS")
    log_ms=$(q -At -c "SELECT round(1000 * extract(epoch FROM sum(db_time))) FROM scrap_sga.sync_run WHERE invocation = (SELECT max(invocation) FROM scrap_sga.sync_run)")
    echo "== $1: wall $(( (t1 - t0) / 1000000 )) ms, SQL $sql_ms ms, run log $log_ms ms," \
        "WAL $(q -At -c "SELECT pg_size_pretty(pg_current_wal_lsn() - '$lsn')")"
    # The figure the ratio is of: SQL ms where there is pg_stat_statements, else the run log's.
    MS=$sql_ms; [ "$MS" = n/a ] && MS=$log_ms
    if [ ${#PSS[@]} != 0 ]; then
        echo "   ms | calls | rows | hit | read | dirtied | written | fpi | WAL | statement"
        q -At -F ' | ' -c "SELECT round(total_exec_time::numeric), calls, rows, shared_blks_hit, shared_blks_read, shared_blks_dirtied,
                                  shared_blks_written, wal_fpi, pg_size_pretty(wal_bytes), left(regexp_replace(query, '\s+', ' ', 'g'), 90)
                           FROM pg_stat_statements WHERE query !~ 'scrap_sga\.(sync|_run_and_report)\(|pg_stat_statements'
                           ORDER BY total_exec_time DESC LIMIT 6"
    fi
    echo "   its audit rows: $(q -At -F ' | ' -c "SELECT count(*), pg_size_pretty(coalesce(sum(pg_column_size(a.*)), 0)), round(avg(pg_column_size(a.*)))
                                             FROM scrap_sga.audit_log a WHERE a.run_id >= (SELECT min(run_id) FROM scrap_sga.sync_run
                                             WHERE invocation = (SELECT max(invocation) FROM scrap_sga.sync_run))") (rows | in all | bytes a row)"
}
ratio() { python3 -c "print(f'{$1 / $2:.2f}')"; }
FULL=(); MASS=()
for round in $(seq "${ROUNDS:-3}"); do
    DB=postgres; q -c "CREATE DATABASE round$round" >/dev/null; DB=round$round
    [ ${#PSS[@]} != 0 ] && q -c "CREATE EXTENSION pg_stat_statements"
    q -c "CREATE EXTENSION scrap_sga" -c "SELECT scrap_sga.set_connection('$SIM_URL', 'dimagaz', NULL, '$KEY')" >/dev/null
    # The same records every round: the simulator keeps what a round wrote (the mass action's
    # values would stay on every record, and the next round's updates would not change them).
    sim reset "{\"seed\": 42, \"orders\": $ORDERS, \"lines\": $LINES}"
    echo "#### round $round"
    measure "first copy"; first=$MS
    sim clock '{"advance_s": 60}'
    q -c "SELECT * FROM scrap_sga.sync()" >/dev/null
    touch_all dimagaz.bc "$ORDERS"; touch_all dimagaz.bc.line "$LINES"
    sim clock '{"advance_s": 5}'
    measure "every field of every record new"; full=$MS
    sim clock '{"advance_s": 60}'
    q -c "SELECT * FROM scrap_sga.sync()" >/dev/null
    q -At -c "SELECT format('VACUUM FULL %I.%I;', table_schema, table_name) FROM scrap_sga.model WHERE enabled" | q >/dev/null
    order_values=$(mass_values dimagaz.bc); line_values=$(mass_values dimagaz.bc.line)
    touch_all dimagaz.bc "$ORDERS" "$order_values"; touch_all dimagaz.bc.line "$LINES" "$line_values"
    sim clock '{"advance_s": 5}'
    measure "mass action: orders $order_values, lines $line_values"; mass=$MS
    FULL+=("$(ratio "$full" "$first")"); MASS+=("$(ratio "$mass" "$first")")
    echo "round $round over its first copy: mass action $(ratio "$mass" "$first"), every field new $(ratio "$full" "$first")"
    echo "audit log: $(q -At -c "SELECT pg_size_pretty(pg_total_relation_size('scrap_sga.audit_log'))") in all"
    # Dropped: each round adds about 2 GB of tables, indexes and audit log.
    DB=postgres; q -c "DROP DATABASE round$round" >/dev/null
done
echo "over the first copy, per round and median:"
echo "  mass action      ${MASS[*]}; median $(median "${MASS[@]}")"
echo "  every field new  ${FULL[*]}; median $(median "${FULL[@]}")"
