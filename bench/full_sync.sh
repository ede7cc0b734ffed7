#!/usr/bin/env bash
# Full-sync benchmark: records per second and the sync worker's peak memory, at two data sizes
# side by side (memory must stay flat as data grows), against the Odoo simulator.
#
# Usage: bench/full_sync.sh [ORDERS LINES [ORDERS2 LINES2]]   (default 10000 50000 40000 200000)
# Prints figures; asserts nothing (timings on a shared machine are not test material).
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"
setup
install_extension

WORK=$(mktemp -d /tmp/scrap_sga_bench.XXXXXX); chmod 755 "$WORK"
PORT=$(free_port)
cleanup() { cluster_stop "$WORK/pg"; as_root rm -rf "$WORK"; [ -n "${SIM_PID:-}" ] && kill "$SIM_PID" 2>/dev/null || true; }
trap cleanup EXIT
cluster_start "$WORK/pg" "$PORT" "shared_buffers = '256MB'" "synchronous_commit = on"
PSQL=("$PG_BIN/psql" -X -h 127.0.0.1 -p "$PORT" -U postgres -v ON_ERROR_STOP=1)

run_size() {
    local orders=$1 lines=$2 db="bench_$1"
    sim_start "$orders" "$lines"
    "${PSQL[@]}" -q -d postgres -c "CREATE DATABASE $db"
    "${PSQL[@]}" -q -d "$db" -c "CREATE EXTENSION scrap_sga" -c "SELECT scrap_sga.set_connection('$SIM_URL', 'dimagaz', 'admin', 'admin')" >/dev/null
    python3 "$(dirname "$0")/peak_memory.py" "${PSQL[@]}" -d "$db" > "$WORK/mem" &
    local poller=$!
    sleep 0.2
    local t0 t1
    t0=$(date +%s.%N)
    "${PSQL[@]}" -q -d "$db" -c "SELECT * FROM scrap_sga.sync()" >/dev/null
    t1=$(date +%s.%N)
    kill -TERM "$poller"; wait "$poller" || true
    local wall; wall=$(echo "$t1 - $t0" | awk '{print $1 - $3}')
    read -r _ anon hwm _ < "$WORK/mem"
    "${PSQL[@]}" -d "$db" -At -F ' ' -c "
        SELECT model, fetched, round(extract(epoch FROM finished_at - started_at)::numeric, 3),
               round(extract(epoch FROM odoo_time)::numeric, 3), round(extract(epoch FROM db_time)::numeric, 3)
        FROM scrap_sga.sync_run ORDER BY run_id" | while read -r model n secs odoo dbt; do
        printf '  %-16s %7d records in %6.3f s = %7.0f records/s  (waiting on Odoo %6.3f s, writing %6.3f s)\n' \
            "$model" "$n" "$secs" "$(awk "BEGIN {print $n / $secs}")" "$odoo" "$dbt"
    done
    printf '  whole sync() call: %d records in %.3f s = %.0f records/s\n' "$((orders + lines))" "$wall" "$(awk "BEGIN {print ($orders + $lines) / $wall}")"
    printf '  sync worker peak memory: RssAnon %d kB (own memory), VmHWM %d kB (incl. shared buffers touched)\n' "${anon:-0}" "${hwm:-0}"
    kill "$SIM_PID"; SIM_PID=
}

O1=${1:-10000}; L1=${2:-50000}; O2=${3:-40000}; L2=${4:-200000}
echo "full sync of $O1 orders + $L1 lines:"
run_size "$O1" "$L1"
echo "full sync of $O2 orders + $L2 lines:"
run_size "$O2" "$L2"
