#!/usr/bin/env bash
# What staying fresh costs, an earlier release (0.2.0 unless BEFORE=<commit>) and this tree side
# by side: each has its own cluster and its own simulator serving the same ORDERS + LINES records
# (default 100,000 + 500,000, as Odoo 20 over JSON-2 unless ODOO_VERSION=18), and every step is
# done to both, one after the other:
#   1. the first copy, then quiet runs in steady state;
#   2. a bulk write of every record with new values (a mass update), then runs an interval apart
#      on Odoo's clock (the simulators' clocks are moved, not waited): the run that copies it, the
#      runs within lookback and after it;
#   3. a bulk write of every record with the values it had (an import that changes nothing but
#      write_date), then a mass action (one field set on every record: its state);
#   each full-table write is done and copied twice, the before side first, then the after side
#   first, and counted as the mean of the two (the side that runs second may pay more);
#   4. deletion latency: records deleted in Odoo, counted in runs until the mirror has them;
#   5. a reconcile of every (id, write_date) pair.
# Per run: the sync() call's wall milliseconds, database milliseconds as the run log counts them (sync_run.db_time: since 0.3.0 every
# transaction of the run, before it only page writes, comparisons and deletions), milliseconds of
# SQL as pg_stat_statements counts them (every statement of the run, both sides alike), requests,
# kilobytes Odoo sent, pairs listed, records read, rows written; then the full-table writes'
# database work over the first copy's.
# Autovacuum is off on both clusters and each side is vacuumed right after each of its runs,
# untimed: a side's autovacuum, woken by its own bulk write, used to run during the other side's
# run (the two share the machine), and the runs come seconds apart where autovacuum would have
# had minutes. Each run starts from a vacuumed table, as in steady state, and right after a
# CHECKPOINT (untimed too).
# Usage: bench/freshness.sh [ORDERS LINES]. Prints figures; asserts nothing.
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"
setup
require_contrib pg_stat_statements
install_extension
BEFORE=${BEFORE:-6c87c9e}
install_release "$BEFORE"
ORDERS=${1:-100000}; LINES=${2:-500000}; VERSION=${ODOO_VERSION:-20}
KEY=0123456789abcdef0123456789abcdef01234567
SIDES=(before after)
declare -A BIN=([before]="$RELEASE_PG_BIN" [after]="$PG_BIN") PORT URL PID DIR

WORK=$(mktemp -d /tmp/scrap_sga_bench.XXXXXX); chmod 755 "$WORK"
cleanup() {
    for s in "${SIDES[@]}"; do
        [ -n "${DIR[$s]:-}" ] && PG_BIN=${BIN[$s]} cluster_stop "${DIR[$s]}"
        [ -n "${PID[$s]:-}" ] && kill "${PID[$s]}" 2>/dev/null
    done
    as_root rm -rf "$WORK"
}
trap cleanup EXIT
login="NULL"; [ "$VERSION" -lt 19 ] && login="'admin'"
for s in "${SIDES[@]}"; do
    DIR[$s]="$WORK/$s"; PORT[$s]=$(free_port)
    PG_BIN=${BIN[$s]} cluster_start "${DIR[$s]}" "${PORT[$s]}" "shared_buffers = '512MB'" \
        "shared_preload_libraries = 'pg_stat_statements'" "pg_stat_statements.track = all" "autovacuum = off"
    sim_start "$ORDERS" "$LINES" "$VERSION" "$KEY"
    URL[$s]=$SIM_URL; PID[$s]=$SIM_PID
done
q() { local s=$1; shift; "${BIN[$s]}/psql" -X -q -h 127.0.0.1 -p "${PORT[$s]}" -U postgres -v ON_ERROR_STOP=1 -d postgres "$@"; }
for s in "${SIDES[@]}"; do
    q "$s" -c "CREATE EXTENSION pg_stat_statements" -c "CREATE EXTENSION scrap_sga" -c "SELECT scrap_sga.set_connection('${URL[$s]}', 'dimagaz', $login, '$KEY')" >/dev/null
done
# sims PATH [BODY]: the same change to both simulators.
sims() { for s in "${SIDES[@]}"; do curl -s -X POST "${URL[$s]}/sim/$1" --data-binary "${2:-{\}}" >/dev/null; done; }
advance() { sims clock "{\"advance_s\": $1}"; }

# measure SIDE: one sync; prints wall ms|run-log db ms|SQL ms|requests|KB from Odoo|listed|read|written.
measure() {
    local s=$1 kb sql t0 t1
    curl -s -X POST "${URL[$s]}/sim/stats/reset" >/dev/null
    q "$s" -c "SELECT pg_stat_statements_reset()" >/dev/null
    t0=$(date +%s%N)
    q "$s" -c "SELECT * FROM scrap_sga.sync()" >/dev/null
    t1=$(date +%s%N)
    sql=$(q "$s" -At -c "$SYNC_SQL_MS")
    kb=$(curl -s "${URL[$s]}/sim/stats" | python3 -c 'import json,sys; print(round(json.load(sys.stdin)["bytes_out"] / 1024))')
    q "$s" -At -F '|' -c "
        SELECT $(( (t1 - t0) / 1000000 )), round(1000 * extract(epoch FROM sum(db_time)), 1), $sql, sum(requests), $kb, sum(listed), sum(fetched),
               sum(inserted + updated + deleted + restored)
        FROM scrap_sga.sync_run WHERE invocation = (SELECT max(invocation) FROM scrap_sga.sync_run)"
}
# settle SIDE: what autovacuum would have done by the next run, done now, outside the measures;
# then a CHECKPOINT, so that every run starts in the same state, right after one (where
# Postgres's own checkpoints fall in a run decides how many pages it logs whole), as in
# bench/full_update.sh.
settle() { q "$1" -c "VACUUM (ANALYZE)" -c "CHECKPOINT" >/dev/null; }
declare -A LAST LASTDB LASTWALL
# step LABEL [after-first]: a sync on each side, one line with both; the ratio is of SQL time,
# measured alike. The before side goes first unless told otherwise.
step() {
    local b a
    if [ "${2:-}" = after-first ]; then
        a=$(measure after); settle after; b=$(measure before); settle before
    else
        b=$(measure before); settle before; a=$(measure after); settle after
    fi
    IFS='|' read -r bwall bdb bsql breq bkb blist bread bwrite <<< "$b"
    IFS='|' read -r awall adb asql areq akb alist aread awrite <<< "$a"
    LAST[before]=$bsql; LAST[after]=$asql; LASTDB[before]=$bdb; LASTDB[after]=$adb; LASTWALL[before]=$bwall; LASTWALL[after]=$awall
    printf '%-28s|%7d %8.1f %8.1f %4d %6d %6d %6d %6d |%7d %8.1f %8.1f %4d %6d %6d %6d %6d |%5.2f\n' "$1" \
        "$bwall" "$bdb" "$bsql" "$breq" "$bkb" "$blist" "$bread" "$bwrite" "$awall" "$adb" "$asql" "$areq" "$akb" "$alist" "$aread" "$awrite" \
        "$(awk "BEGIN {print ($bsql > 0) ? $asql / $bsql : 0}")"
}
# ids MODEL N SAME [VALUES]: the body of a touch of records 1 to N (new values, the same ones, or VALUES set).
ids() { python3 -c "import json; print(json.dumps({'model': '$1', 'ids': list(range(1, $2 + 1)), 'same_values': $3, **({'values': json.loads('${4:-}')} if '${4:-}' else {})}))" > "$WORK/ids.json"; }
touch_all() { ids dimagaz.bc "$ORDERS" "$@"; sims touch "@$WORK/ids.json"; ids dimagaz.bc.line "$LINES" "$@"; sims touch "@$WORK/ids.json"; }
# full_write TOUCH_ARGS... [-- TOUCH_ARGS...]: a full-table write copied twice, the before side
# first and then the after side first (a second write of the same kind, the second TOUCH_ARGS if
# given); sets WRITE and WRITEDB to each side's mean. On the heaviest write (every field new) the
# side that ran second paid 13 to 27% more SQL time, with the same code on both sides.
full_write() {
    local first=() second=() s
    while [ $# -gt 0 ] && [ "$1" != -- ]; do first+=("$1"); shift; done
    [ "${1:-}" = -- ] && shift
    second=("$@"); [ ${#second[@]} -eq 0 ] && second=("${first[@]}")
    declare -gA WRITE WRITEDB
    touch_all "${first[@]}"; advance 5; step "the run that copies it"
    for s in "${SIDES[@]}"; do WRITE[$s]=${LAST[$s]}; WRITEDB[$s]=${LASTDB[$s]}; done
    touch_all "${second[@]}"; advance 5; step "  again, after side first" after-first
    for s in "${SIDES[@]}"; do
        WRITE[$s]=$(awk "BEGIN {print (${WRITE[$s]} + ${LAST[$s]}) / 2}"); WRITEDB[$s]=$(awk "BEGIN {print (${WRITEDB[$s]} + ${LASTDB[$s]}) / 2}")
    done
}
deleted() { q "$1" -At -c "SELECT (SELECT count(*) FROM scrap_dimagaz_bc WHERE sga_deleted_at IS NOT NULL) + (SELECT count(*) FROM scrap_dimagaz_bc_line WHERE sga_deleted_at IS NOT NULL)"; }

echo "data: $ORDERS orders + $LINES lines, the simulators playing Odoo $VERSION, lookback 5 min, runs 60 s apart on Odoo's clock"
echo "before: scrap_sga as of $BEFORE; after: this tree. Per side: the sync() call's wall ms, database ms (run log), SQL ms (pg_stat_statements), requests, KB from Odoo, pairs listed, records read, rows written; then after/before SQL time"
printf '%-28s|%7s %8s %8s %4s %6s %6s %6s %6s |%7s %8s %8s %4s %6s %6s %6s %6s |%5s\n' "" "wall ms" "db ms" "SQL ms" "req" "KB" "listed" "read" "written" "wall ms" "db ms" "SQL ms" "req" "KB" "listed" "read" "written" "ratio"
for s in "${SIDES[@]}"; do settle "$s"; done
step "first sync (full copy)"
for s in "${SIDES[@]}"; do
    printf '  %-6s first copy: %d records/s\n' "$s" "$(( (ORDERS + LINES) * 1000 / LASTWALL[$s] ))"
done
declare -A FIRST=([before]=${LAST[before]} [after]=${LAST[after]}) FIRSTDB=([before]=${LASTDB[before]} [after]=${LASTDB[after]})
for i in 1 2 3; do advance 60; step "steady state, quiet run #$i"; done

echo "a mass update: every record written with new values (twice, one order each)"
full_write False
declare -A REWRITE=([before]=${WRITE[before]} [after]=${WRITE[after]}) REWRITEDB=([before]=${WRITEDB[before]} [after]=${WRITEDB[after]})
for i in 1 2 3 4 5 6 7; do advance 60; step "$((i * 60)) s after"; done

echo "an import: every record written with the values it had (twice, one order each)"
full_write True
declare -A SAME=([before]=${WRITE[before]} [after]=${WRITE[after]}) SAMEDB=([before]=${WRITEDB[before]} [after]=${WRITEDB[after]})
advance 60; step "60 s after"
advance 300; step "360 s after"

echo "a mass action: one field (state) set on every record (twice, one order each: cancel, then done)"
full_write False '{"state": "cancel"}' -- False '{"state": "done"}'
declare -A MASS=([before]=${WRITE[before]} [after]=${WRITE[after]}) MASSDB=([before]=${WRITEDB[before]} [after]=${WRITEDB[after]})

echo "deletions: 10 orders (with their lines) and 10 lines deleted in Odoo"
declare -A GONE
for s in "${SIDES[@]}"; do GONE[$s]=$(deleted "$s"); done
for id in $(seq 1000 997 11000 | head -10); do sims delete "{\"model\": \"dimagaz.bc\", \"id\": $id}"; done
for id in $(seq 200003 9973 400000 | head -10); do sims delete "{\"model\": \"dimagaz.bc.line\", \"id\": $id}"; done
for i in 1 2; do
    advance 60; step "run #$i after the deletions"
    echo "    soft-deleted so far: before $(( $(deleted before) - GONE[before] )), after $(( $(deleted after) - GONE[after] ))"
done

echo "reconcile: every (id, write_date) pair compared"
advance 60
for s in "${SIDES[@]}"; do
    curl -s -X POST "${URL[$s]}/sim/stats/reset" >/dev/null
    q "$s" -c "SELECT * FROM scrap_sga.reconcile()" >/dev/null
    q "$s" -At -F '|' -c "
        SELECT round(extract(epoch FROM sum(db_time))::numeric, 2), sum(requests), sum(repaired)
        FROM scrap_sga.sync_run WHERE invocation = (SELECT max(invocation) FROM scrap_sga.sync_run)" |
    while IFS='|' read -r db req rep; do printf '  %-6s %6s s database work, %3d requests, %d repaired\n' "$s" "$db" "$req" "$rep"; done
done

echo "a full-table write over the first copy, in SQL time (in the run log's database time); each write the mean of its two runs:"
for s in "${SIDES[@]}"; do
    printf '  %-6s every field new %5.2fx (%5.2fx), one field (mass action) %5.2fx (%5.2fx), the same values (import) %5.2fx (%5.2fx)\n' "$s" \
        "$(awk "BEGIN {print ${REWRITE[$s]} / ${FIRST[$s]}}")" "$(awk "BEGIN {print ${REWRITEDB[$s]} / ${FIRSTDB[$s]}}")" \
        "$(awk "BEGIN {print ${MASS[$s]} / ${FIRST[$s]}}")" "$(awk "BEGIN {print ${MASSDB[$s]} / ${FIRSTDB[$s]}}")" \
        "$(awk "BEGIN {print ${SAME[$s]} / ${FIRST[$s]}}")" "$(awk "BEGIN {print ${SAMEDB[$s]} / ${FIRSTDB[$s]}}")"
done
