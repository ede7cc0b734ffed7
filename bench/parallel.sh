#!/usr/bin/env bash
# Parallel streams benchmark (issue 12): a full sync, then a reconcile, of the same data from a
# simulated Odoo with 4 HTTP workers whose serving time is wall time (calibrated on one real
# Odoo stream: 250 us an order, 100 us a line), at parallel = 1, 2 and 4 side by side.
# Prints records/s, the speed-up over 1, the sync worker's peak memory, and the share of the
# run the backend spent waiting on Odoo.
#
# Usage: bench/parallel.sh [ORDERS LINES [STREAMS...]]   (default 100000 500000 1 2 4)
# Prints figures; asserts nothing (timings on a shared machine are not test material).
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"
setup
install_extension

ORDERS=${1:-100000}; LINES=${2:-500000}; shift 2 || true
STREAMS=("${@:-1 2 4}"); read -r -a STREAMS <<< "${STREAMS[*]}"
WORK=$(mktemp -d /tmp/scrap_sga_bench.XXXXXX); chmod 755 "$WORK"
PORT=$(free_port)
cleanup() { cluster_stop "$WORK/pg"; as_root rm -rf "$WORK"; [ -n "${SIM_PID:-}" ] && kill "$SIM_PID" 2>/dev/null || true; }
trap cleanup EXIT
cluster_start "$WORK/pg" "$PORT" "shared_buffers = '256MB'" "synchronous_commit = on" "max_wal_size = '4GB'"
PSQL=("$PG_BIN/psql" -X -h 127.0.0.1 -p "$PORT" -U postgres -v ON_ERROR_STOP=1)
SIM_OPTS="--workers 4 --cost-order-us 250 --cost-line-us 100" sim_start "$ORDERS" "$LINES"
echo "simulated Odoo: 4 workers, 250 us an order, 100 us a line; $ORDERS orders + $LINES lines"

# One line per model and job: records/s from the run's own duration, the share waiting on Odoo.
report() {
    "${PSQL[@]}" -d "$1" -At -F ' ' -c "
        SELECT model, fetched + listed, round(extract(epoch FROM finished_at - started_at)::numeric, 3),
               round(extract(epoch FROM odoo_time)::numeric, 3), round(extract(epoch FROM db_time)::numeric, 3), requests
        FROM scrap_sga.sync_run WHERE trigger = '$2' ORDER BY run_id"
}

declare -A SYNC_RATE RECON_SECS
for p in "${STREAMS[@]}"; do
    db="bench_parallel_$p"
    "${PSQL[@]}" -q -d postgres -c "CREATE DATABASE $db"
    "${PSQL[@]}" -q -d "$db" -c "CREATE EXTENSION scrap_sga" \
        -c "SELECT scrap_sga.set_connection('$SIM_URL', 'dimagaz', 'admin', 'admin')" -c "UPDATE scrap_sga.model SET parallel = $p" >/dev/null
    python3 "$(dirname "$0")/peak_memory.py" "${PSQL[@]}" -d "$db" > "$WORK/mem" &
    poller=$!
    sleep 0.2
    t0=$(date +%s.%N)
    "${PSQL[@]}" -q -d "$db" -c "SELECT * FROM scrap_sga.sync()" >/dev/null
    t1=$(date +%s.%N)
    kill -TERM "$poller"; wait "$poller" || true
    read -r _ anon _ < "$WORK/mem"
    wall=$(awk "BEGIN {print $t1 - $t0}")
    SYNC_RATE[$p]=$(awk "BEGIN {printf \"%.0f\", ($ORDERS + $LINES) / $wall}")
    echo "parallel = $p: full sync, $(( ORDERS + LINES )) records in $(printf '%.2f' "$wall") s = ${SYNC_RATE[$p]} records/s, peak RssAnon ${anon:-0} kB"
    report "$db" manual | while read -r model n secs odoo dbt req; do
        printf '    %-16s %7d records in %7.3f s  waiting on Odoo %5.1f %%, writing %5.1f %%, %d requests\n' \
            "$model" "$n" "$secs" "$(awk "BEGIN {print 100 * $odoo / $secs}")" "$(awk "BEGIN {print 100 * $dbt / $secs}")" "$req"
    done
    t0=$(date +%s.%N)
    "${PSQL[@]}" -q -d "$db" -c "SELECT * FROM scrap_sga.reconcile()" >/dev/null
    t1=$(date +%s.%N)
    RECON_SECS[$p]=$(awk "BEGIN {print $t1 - $t0}")
    echo "parallel = $p: reconcile (listing of (id, write_date), nothing to repair) in $(printf '%.2f' "${RECON_SECS[$p]}") s"
    report "$db" reconcile | while read -r model n secs odoo dbt req; do
        printf '    %-16s %7d pairs in %7.3f s  waiting on Odoo %5.1f %%, comparing %5.1f %%, %d requests\n' \
            "$model" "$n" "$secs" "$(awk "BEGIN {print 100 * $odoo / $secs}")" "$(awk "BEGIN {print 100 * $dbt / $secs}")" "$req"
    done
    "${PSQL[@]}" -q -d postgres -c "DROP DATABASE $db"
done
echo
echo "streams  full sync records/s  speed-up   reconcile s  speed-up"
for p in "${STREAMS[@]}"; do
    printf '%7s  %19s  %7.2fx  %11.2f  %7.2fx\n' "$p" "${SYNC_RATE[$p]}" \
        "$(awk "BEGIN {print ${SYNC_RATE[$p]} / ${SYNC_RATE[${STREAMS[0]}]}}")" "${RECON_SECS[$p]}" \
        "$(awk "BEGIN {print ${RECON_SECS[${STREAMS[0]}]} / ${RECON_SECS[$p]}}")"
done
