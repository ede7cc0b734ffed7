#!/usr/bin/env bash
# Incremental-sync benchmark against the simulator:
#   1. full sync of ORDERS + LINES (audit on), records/s;
#   2. a no-change sync and a 100-change sync on that data: wall time, database time, requests,
#      bytes Odoo sent, rows written;
#   3. the audit trigger's cost: a full sync of AUDIT_ORDERS orders with the audit on and off,
#      alternated, side by side.
# Usage: bench/incremental.sh [ORDERS LINES AUDIT_ORDERS]   (default 100000 500000 10000)
# Prints figures; asserts nothing.
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"
setup
install_extension
ORDERS=${1:-100000}; LINES=${2:-500000}; AUDIT_ORDERS=${3:-10000}

WORK=$(mktemp -d /tmp/scrap_sga_bench.XXXXXX); chmod 755 "$WORK"
PORT=$(free_port)
PIDS=()
cleanup() { cluster_stop "$WORK/pg"; as_root rm -rf "$WORK"; for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
cluster_start "$WORK/pg" "$PORT" "shared_buffers = '512MB'"
PSQL=("$PG_BIN/psql" -X -q -h 127.0.0.1 -p "$PORT" -U postgres -v ON_ERROR_STOP=1)

new_db() { # new_db NAME SIM_URL
    "${PSQL[@]}" -d postgres -c "CREATE DATABASE $1"
    "${PSQL[@]}" -d "$1" -c "CREATE EXTENSION scrap_sga" -c "SELECT scrap_sga.set_connection('$2', 'dimagaz', 'admin', 'admin')" >/dev/null
}
writes() { "${PSQL[@]}" -d "$1" -At -c "SELECT sum(n_tup_ins + n_tup_upd + n_tup_del) FROM pg_stat_user_tables WHERE relname LIKE 'scrap_dimagaz%'"; }
report() { # report DB LABEL
    "${PSQL[@]}" -d "$1" -At -F '|' -c "
        SELECT round(1000 * extract(epoch FROM max(finished_at) - min(started_at)))::int,
               round(1000 * extract(epoch FROM sum(db_time)))::int, round(1000 * extract(epoch FROM sum(odoo_time)))::int,
               sum(requests), sum(listed), sum(fetched), sum(inserted + updated + deleted + restored)
        FROM scrap_sga.sync_run WHERE invocation = (SELECT max(invocation) FROM scrap_sga.sync_run)" |
    while IFS='|' read -r wall dbms odoo req listed fetched written; do
        printf '  %-22s %7d ms in all, %6d ms database work, %6d ms waiting on Odoo, %3d requests, %7d listed, %7d read, %7d written\n' \
            "$2" "$wall" "$dbms" "$odoo" "$req" "$listed" "$fetched" "$written"
    done
}

sim_start "$ORDERS" "$LINES"; PIDS+=("$SIM_PID"); BIG=$SIM_URL
new_db big "$BIG"
echo "data: $ORDERS orders + $LINES lines (audit on)"
t0=$(date +%s.%N); "${PSQL[@]}" -d big -c "SELECT * FROM scrap_sga.sync()" >/dev/null; t1=$(date +%s.%N)
report big "full sync"
awk -v n=$((ORDERS + LINES)) -v a="$t0" -v b="$t1" 'BEGIN {printf "  full sync: %.0f records/s with the audit on\n", n / (b - a)}'
"${PSQL[@]}" -d big -c "SELECT * FROM scrap_sga.sync()" >/dev/null
report big "settle run"
for i in 1 2 3; do
    curl -s -X POST "$BIG/sim/stats/reset" >/dev/null
    before=$(writes big)
    "${PSQL[@]}" -d big -c "SELECT * FROM scrap_sga.sync()" >/dev/null
    report big "no-change sync #$i"
    echo "    rows written: $(( $(writes big) - before )); Odoo answered: $(curl -s "$BIG/sim/stats")"
done
ids=$(seq 1 997 "$ORDERS" | head -50 | paste -sd,); lids=$(seq 3 9973 "$LINES" | head -50 | paste -sd,)
curl -s -X POST "$BIG/sim/touch" -d "{\"model\": \"dimagaz.bc\", \"ids\": [$ids]}" >/dev/null
curl -s -X POST "$BIG/sim/touch" -d "{\"model\": \"dimagaz.bc.line\", \"ids\": [$lids]}" >/dev/null
curl -s -X POST "$BIG/sim/stats/reset" >/dev/null
before=$(writes big)
"${PSQL[@]}" -d big -c "SELECT * FROM scrap_sga.sync()" >/dev/null
report big "100-change sync"
echo "    rows written: $(( $(writes big) - before )); audit rows: $("${PSQL[@]}" -d big -At -c "SELECT count(*) FROM scrap_sga.audit_log WHERE run_id IN (SELECT run_id FROM scrap_sga.sync_run WHERE invocation = (SELECT max(invocation) FROM scrap_sga.sync_run))"); Odoo answered: $(curl -s "$BIG/sim/stats")"
kill "$SIM_PID"

echo "audit cost: full sync of $AUDIT_ORDERS orders, audit on vs off, alternated"
sim_start "$AUDIT_ORDERS" 0; PIDS+=("$SIM_PID")
for round in 1 2 3; do
    for audit in on off; do
        db="a_${audit}_$round"
        new_db "$db" "$SIM_URL"
        [ "$audit" = off ] && "${PSQL[@]}" -d "$db" -c "UPDATE scrap_sga.model SET audit = false"
        "${PSQL[@]}" -d "$db" -c "SELECT * FROM scrap_sga.sync('dimagaz.bc')" >/dev/null
        "${PSQL[@]}" -d "$db" -At -c "SELECT '$audit', round(1000 * extract(epoch FROM finished_at - started_at))::int, round(1000 * extract(epoch FROM db_time))::int FROM scrap_sga.sync_run" >> "$WORK/audit"
        "${PSQL[@]}" -d postgres -c "DROP DATABASE $db"
    done
done
awk -F'|' '{wall[$1] += $2; db[$1] += $3; n[$1]++}
    END {printf "  audit on:  %.0f ms per sync (%.0f ms writing)\n  audit off: %.0f ms per sync (%.0f ms writing)\n  ratio on/off: %.2f for the whole sync, %.2f for the database work\n",
         wall["on"]/n["on"], db["on"]/n["on"], wall["off"]/n["off"], db["off"]/n["off"], wall["on"]/wall["off"], db["on"]/db["off"]}' "$WORK/audit"
