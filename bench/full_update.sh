#!/usr/bin/env bash
# Where a full-table update spends its database time, beside the first copy of the same rows:
# one cluster, one simulator (ORDERS + LINES, Odoo 20 over JSON-2), this tree. The first copy,
# then every field of every record written anew in Odoo, then the run that copies that. Each
# measured run starts after a VACUUM (ANALYZE) and a CHECKPOINT (the CHECKPOINT is counted: the
# pg_stat_statements line "CHECKPOINT" shows how much).
# Per run: wall ms, SQL ms (top-level statements, as bench/freshness.sh counts them), the run
# log's database ms and the WAL written; then its costliest statements with pg_stat_statements'
# ms, calls, rows, shared buffers hit / read / dirtied / written, full-page images and WAL. Then
# the audit log's size and the average sizes of its rows. Where this PostgreSQL has no
# pg_stat_statements (PG_MAJOR=16 to 18 here), only the wall ms, the run log's ms and the WAL.
# All of it ROUNDS times (3 by default), each round in a database of its own, then every round's
# ratio and their median: the first copy's time alone varies by a fifth from one run to the
# next on a shared machine.
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
touch_all() { # touch_all MODEL COUNT: every record written with new values
    python3 -c "import json; print(json.dumps({'model': '$1', 'ids': list(range(1, $2 + 1)), 'same_values': False}))" > "$WORK/ids.json"
    sim touch "@$WORK/ids.json"
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
    [ ${#PSS[@]} = 0 ] && return
    echo "   ms | calls | rows | hit | read | dirtied | written | fpi | WAL | statement"
    q -At -F ' | ' -c "SELECT round(total_exec_time::numeric), calls, rows, shared_blks_hit, shared_blks_read, shared_blks_dirtied,
                              shared_blks_written, wal_fpi, pg_size_pretty(wal_bytes), left(regexp_replace(query, '\s+', ' ', 'g'), 90)
                       FROM pg_stat_statements WHERE query !~ 'scrap_sga\.(sync|_run_and_report)\(|pg_stat_statements'
                       ORDER BY total_exec_time DESC LIMIT 6"
}
RATIOS=()
for round in $(seq "${ROUNDS:-3}"); do
    DB=postgres; q -c "CREATE DATABASE round$round" >/dev/null; DB=round$round
    [ ${#PSS[@]} != 0 ] && q -c "CREATE EXTENSION pg_stat_statements"
    q -c "CREATE EXTENSION scrap_sga" -c "SELECT scrap_sga.set_connection('$SIM_URL', 'dimagaz', NULL, '$KEY')" >/dev/null
    echo "#### round $round"
    measure "first copy"; first=$MS
    sim clock '{"advance_s": 60}'
    q -c "SELECT * FROM scrap_sga.sync()" >/dev/null
    touch_all dimagaz.bc "$ORDERS"; touch_all dimagaz.bc.line "$LINES"
    sim clock '{"advance_s": 5}'
    measure "every field of every record new"
    RATIOS+=("$(python3 -c "print(f'{$MS / $first:.2f}')")")
    echo "audit log: $(q -At -c "SELECT pg_size_pretty(pg_total_relation_size('scrap_sga.audit_log'))") in all"
    q -At -F ' | ' -c "SELECT operation, count(*), round(avg(pg_column_size(old_values))) AS old_bytes, round(avg(pg_column_size(new_values))) AS new_bytes,
                              round(avg(pg_column_size(a.*))) AS row_bytes FROM scrap_sga.audit_log a GROUP BY 1 ORDER BY 1"
    # Dropped: each round adds about 2 GB of tables, indexes and audit log.
    DB=postgres; q -c "DROP DATABASE round$round" >/dev/null
done
echo "every field new / first copy, per round: ${RATIOS[*]}; median $(printf '%s\n' "${RATIOS[@]}" | sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}')"
