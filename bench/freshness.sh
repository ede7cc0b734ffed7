#!/usr/bin/env bash
# What staying fresh costs, on ORDERS + LINES records (default 100,000 + 500,000) served by the
# simulator (as Odoo 20, JSON-2, unless ODOO_VERSION=18):
#   1. quiet runs in steady state: requests, bytes from Odoo, database milliseconds;
#   2. a bulk import (every record written), then runs an interval apart on Odoo's clock (the
#      simulator's clock is moved, not waited): the copy, the recheck, the runs within lookback,
#      and the quiet runs after it;
#   3. deletion latency: records deleted in Odoo, counted in runs until the mirror has them;
#   4. a reconcile of every (id, write_date) pair: requests, bytes, seconds.
# Usage: bench/freshness.sh [ORDERS LINES]. Prints figures; asserts nothing.
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"
setup
install_extension
ORDERS=${1:-100000}; LINES=${2:-500000}; VERSION=${ODOO_VERSION:-20}
KEY=0123456789abcdef0123456789abcdef01234567

WORK=$(mktemp -d /tmp/scrap_sga_bench.XXXXXX); chmod 755 "$WORK"
PORT=$(free_port)
cleanup() { cluster_stop "$WORK/pg"; as_root rm -rf "$WORK"; [ -n "${SIM_PID:-}" ] && kill "$SIM_PID" 2>/dev/null || true; }
trap cleanup EXIT
cluster_start "$WORK/pg" "$PORT" "shared_buffers = '512MB'"
PSQL=("$PG_BIN/psql" -X -q -h 127.0.0.1 -p "$PORT" -U postgres -v ON_ERROR_STOP=1 -d postgres)
sim_start "$ORDERS" "$LINES" "$VERSION" "$KEY"
login="NULL"; [ "$VERSION" -lt 19 ] && login="'admin'"
"${PSQL[@]}" -c "CREATE EXTENSION scrap_sga" -c "SELECT scrap_sga.set_connection('$SIM_URL', 'dimagaz', $login, '$KEY')" >/dev/null
sim() { curl -s -X POST "$SIM_URL/sim/$1" -d "${2:-{\}}"; }

# One sync; prints a line: wall ms, database ms, Odoo ms, requests, bytes Odoo sent, listed, read, written.
run() {
    sim stats/reset >/dev/null
    "${PSQL[@]}" -c "SELECT * FROM scrap_sga.sync()" >/dev/null
    local bytes; bytes=$(curl -s "$SIM_URL/sim/stats" | python3 -c 'import json,sys; print(json.load(sys.stdin)["bytes_out"])')
    "${PSQL[@]}" -At -F '|' -c "
        SELECT round(1000 * extract(epoch FROM max(finished_at) - min(started_at)))::int,
               round(1000 * extract(epoch FROM sum(db_time)), 1), round(1000 * extract(epoch FROM sum(odoo_time)))::int,
               sum(requests), sum(listed), sum(fetched), sum(inserted + updated + deleted + restored)
        FROM scrap_sga.sync_run WHERE invocation = (SELECT max(invocation) FROM scrap_sga.sync_run)" |
    while IFS='|' read -r wall dbms odoo req listed fetched written; do
        printf '  %-34s %6d ms in all, %7.1f ms database work, %5d ms Odoo, %2d requests, %9d bytes from Odoo, %6d listed, %6d read, %6d written\n' \
            "$1" "$wall" "$dbms" "$odoo" "$req" "$bytes" "$listed" "$fetched" "$written"
    done
}
advance() { sim clock "{\"advance_s\": $1}" >/dev/null; }

echo "data: $ORDERS orders + $LINES lines, the simulator playing Odoo $VERSION, lookback 5 min, runs 60 s apart on Odoo's clock"
run "first sync (full copy)"
for i in 1 2 3; do advance 60; run "steady state, quiet run #$i"; done

echo "bulk import: every record written at once"
ids() { python3 -c "import json; print(json.dumps({'model': '$1', 'ids': list(range(1, $2 + 1))}))"; }
ids dimagaz.bc "$ORDERS" | curl -s -X POST "$SIM_URL/sim/touch" --data-binary @- >/dev/null
ids dimagaz.bc.line "$LINES" | curl -s -X POST "$SIM_URL/sim/touch" --data-binary @- >/dev/null
advance 5
run "the run that copies it"
for i in 1 2 3 4 5 6 7; do advance 60; run "$((i * 60)) s after"; done

echo "deletions: 10 orders (with their lines) and 10 lines deleted in Odoo"
for id in $(seq 1000 997 11000 | head -10); do sim delete "{\"model\": \"dimagaz.bc\", \"id\": $id}" >/dev/null; done
for id in $(seq 200003 9973 400000 | head -10); do sim delete "{\"model\": \"dimagaz.bc.line\", \"id\": $id}" >/dev/null; done
deleted_before=$("${PSQL[@]}" -At -c "SELECT (SELECT count(*) FROM scrap_dimagaz_bc WHERE sga_deleted_at IS NOT NULL) + (SELECT count(*) FROM scrap_dimagaz_bc_line WHERE sga_deleted_at IS NOT NULL)")
for i in 1 2 3; do
    advance 60
    run "run #$i after the deletions"
    now=$("${PSQL[@]}" -At -c "SELECT (SELECT count(*) FROM scrap_dimagaz_bc WHERE sga_deleted_at IS NOT NULL) + (SELECT count(*) FROM scrap_dimagaz_bc_line WHERE sga_deleted_at IS NOT NULL)")
    echo "    soft-deleted in the mirror so far: $((now - deleted_before))"
done
echo "  (Odoo: $(curl -s "$SIM_URL/sim/dump?model=dimagaz.bc" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))') orders; mirror live: $("${PSQL[@]}" -At -c "SELECT count(*) FROM scrap_dimagaz_bc WHERE sga_deleted_at IS NULL"))"

echo "reconcile: every (id, write_date) pair compared"
advance 60
sim stats/reset >/dev/null
"${PSQL[@]}" -c "SELECT * FROM scrap_sga.reconcile()" >/dev/null
bytes=$(curl -s "$SIM_URL/sim/stats" | python3 -c 'import json,sys; s=json.load(sys.stdin); print(s["bytes_out"], s["requests"])')
"${PSQL[@]}" -At -F '|' -c "
    SELECT model, round(extract(epoch FROM finished_at - started_at)::numeric, 2), round(extract(epoch FROM db_time)::numeric, 2),
           round(extract(epoch FROM odoo_time)::numeric, 2), requests, repaired
    FROM scrap_sga.sync_run WHERE invocation = (SELECT max(invocation) FROM scrap_sga.sync_run) ORDER BY run_id" |
while IFS='|' read -r model secs db odoo req rep; do
    printf '  %-16s %6s s in all, %5s s database work, %5s s Odoo, %3d requests, %d repaired\n' "$model" "$secs" "$db" "$odoo" "$req" "$rep"
done
echo "  Odoo sent: $bytes"
