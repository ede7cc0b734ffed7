#!/usr/bin/env bash
# At Odoo's pace (issue 33, item 1): a first copy's time beside Odoo's own serving time of the
# same pages, at parallel = 1 and parallel = N, side by side in one run, as ratios.
#
# Usage: bench/pace.sh [ORDERS LINES [ROUNDS [N]]]   (default 10000 50000 3 4)
#   COST_ORDER_US / COST_LINE_US (default 500 / 250): the simulator's serving cost, wall time per
#   record, what a real Odoo 18 measures here on one stream; it serves with 4 HTTP workers
#   (--workers 4, or N if more), as an Odoo in prefork mode.
#
# Per round and per parallel (1, then N), each in a database of its own:
#   - the sync: scrap_sga.sync()'s wall time (a first copy of both models, one after the other,
#     audit as it comes: on), and each model's run from the run log: its duration, the time the
#     backend waited on Odoo, and its database time;
#   - the serving time: bench/serve_pages.py pages through each model as the sync did (the fields
#     the sync asked, from scrap_sga.model_field; `page_size` records a request) on 1 stream, or
#     on N streams at once over N id ranges. Serving time = time until each answer's headers (the
#     simulator, as Odoo, spends its serving time before it sends them): summed at parallel 1,
#     the slowest stream's sum at parallel N (what N streams keep Odoo busy for). The client's
#     wall time, with reading the bodies, is printed beside it.
#   - ratio = sync time / serving time, per model (the run's duration) and for both (sync()'s
#     wall time against the two models' serving times added: the sync copies them in turn).
# Odd rounds sync first, even rounds serve first (a busy machine then weighs on both alike).
# Also printed: the requests and answer bytes of each side (the simulator's counters), to show
# they read the same pages, then every ratio, and their medians over the rounds. Targets
# (issue 33): <= 1.0x at parallel 1, <= 1.05x at parallel N.
# Prints figures; asserts nothing (timings on a shared machine are not test material).
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"
setup
install_extension

ORDERS=${1:-10000}; LINES=${2:-50000}; ROUNDS=${3:-3}; N=${4:-4}
COST_ORDER_US=${COST_ORDER_US:-500}; COST_LINE_US=${COST_LINE_US:-250}
HERE=$(cd "$(dirname "$0")" && pwd)
WORK=$(mktemp -d /tmp/scrap_sga_bench.XXXXXX); chmod 755 "$WORK"
PORT=$(free_port)
cleanup() { cluster_stop "$WORK/pg"; as_root rm -rf "$WORK"; [ -n "${SIM_PID:-}" ] && kill "$SIM_PID" 2>/dev/null || true; }
trap cleanup EXIT
cluster_start "$WORK/pg" "$PORT" "shared_buffers = '256MB'" "synchronous_commit = on" "max_wal_size = '4GB'"
# The sync's progress notices would come between the figures.
PSQL=(env PGOPTIONS="-c client_min_messages=warning" "$PG_BIN/psql" -X -q -At -h 127.0.0.1 -p "$PORT" -U postgres -v ON_ERROR_STOP=1)
WORKERS=$(( N > 4 ? N : 4 ))
SIM_OPTS="--workers $WORKERS --cost-order-us $COST_ORDER_US --cost-line-us $COST_LINE_US" sim_start "$ORDERS" "$LINES"
MODELS=(dimagaz.bc dimagaz.bc.line)
echo "simulated Odoo 18 (JSON-RPC): $WORKERS workers, $COST_ORDER_US us an order, $COST_LINE_US us a line; $ORDERS orders + $LINES lines; $ROUNDS round(s)"

stats() { curl -s "$SIM_URL/sim/stats" | python3 -c 'import json, sys; s = json.load(sys.stdin); print(s["requests"].get("search_read", 0), sum(s["requests"].values()), s["bytes_out"])'; }
reset_stats() { curl -s -X POST "$SIM_URL/sim/stats/reset" -d '{}' >/dev/null; }
declare -A FIELDS PAGE

# sync DB P: a first copy at parallel = P; sets SYNC_WALL, RUN_<i> (duration odoo db) per model, SYNC_REQ.
sync_into() {
    local db=$1 p=$2
    "${PSQL[@]}" -d postgres -c "CREATE DATABASE $db"
    "${PSQL[@]}" -d "$db" -c "CREATE EXTENSION scrap_sga" -c "SELECT scrap_sga.set_connection('$SIM_URL', 'dimagaz', 'admin', 'admin')" \
        -c "UPDATE scrap_sga.model SET parallel = $p" >/dev/null
    reset_stats
    local t0 t1
    t0=$(date +%s.%N)
    "${PSQL[@]}" -d "$db" -c "SELECT * FROM scrap_sga.sync()" >/dev/null
    t1=$(date +%s.%N)
    SYNC_WALL=$(awk "BEGIN {print $t1 - $t0}")
    SYNC_REQ=$(stats)
    local m
    for m in "${MODELS[@]}"; do
        RUN[$m]=$("${PSQL[@]}" -d "$db" -F ' ' -c "
            SELECT extract(epoch FROM finished_at - started_at), extract(epoch FROM odoo_time), extract(epoch FROM db_time), fetched, status
            FROM scrap_sga.sync_run WHERE model = '$m' ORDER BY run_id DESC LIMIT 1")
        # What the sync asked: the same for every round (the client's requests follow it).
        if [ -z "${FIELDS[$m]:-}" ]; then
            FIELDS[$m]=$("${PSQL[@]}" -d "$db" -c "SELECT string_agg(field, ',' ORDER BY field) FROM scrap_sga.model_field
                WHERE model = '$m' AND status = 'active' AND NOT excluded AND unreadable_since IS NULL")
            PAGE[$m]=$("${PSQL[@]}" -d "$db" -c "SELECT page_size FROM scrap_sga.model WHERE model = '$m'")
        fi
    done
    "${PSQL[@]}" -d postgres -c "DROP DATABASE $db"
}

# serve P: the client on P streams through each model; sets SERVE[$m] (served wall records requests bytes).
serve() {
    local p=$1 m
    reset_stats
    for m in "${MODELS[@]}"; do
        SERVE[$m]=$(python3 "$HERE/serve_pages.py" "$SIM_URL" dimagaz admin admin "$m" "${FIELDS[$m]}" "${PAGE[$m]}" "$p" | python3 -c '
import json, sys
r = json.load(sys.stdin)
print(r["served_max"], r["wall"], r["records"], r["requests"], r["bytes"])')
    done
    SERVE_REQ=$(stats)
}

declare -A RUN SERVE
SUMMARY=()
for round in $(seq "$ROUNDS"); do
    for p in 1 "$N"; do
        if [ $((round % 2)) = 1 ] || [ -z "${FIELDS[dimagaz.bc]:-}" ]; then
            order="sync first"; sync_into "pace_${round}_$p" "$p"; serve "$p"
        else
            order="serving first"; serve "$p"; sync_into "pace_${round}_$p" "$p"
        fi
        echo
        echo "round $round, parallel = $p ($order); serving time: $([ "$p" = 1 ] && echo "1 stream, the sum of the times to the answers' headers" || echo "$p streams at once, the slowest stream's sum")"
        printf '  %-16s %8s  %9s %9s  %9s  %7s   %s\n' model records "serving s" "client s" "sync s" ratio "the run: waiting on Odoo, database"
        total_served=0
        for m in "${MODELS[@]}"; do
            read -r secs odoo dbt fetched status <<< "${RUN[$m]}"
            read -r served wall records _ _ <<< "${SERVE[$m]}"
            total_served=$(awk "BEGIN {print $total_served + $served}")
            ratio=$(awk "BEGIN {printf \"%.3f\", $secs / $served}")
            printf '  %-16s %8d  %9.3f %9.3f  %9.3f  %6.3fx   %.3f s, %.3f s%s\n' "$m" "$fetched" "$served" "$wall" "$secs" "$ratio" "$odoo" "$dbt" \
                "$([ "$status" = succeeded ] && [ "$fetched" = "$records" ] || echo "  (run $status, $fetched records; the client read $records)")"
            SUMMARY+=("$p $round $m $served $secs $ratio")
        done
        ratio=$(awk "BEGIN {printf \"%.3f\", $SYNC_WALL / $total_served}")
        printf '  %-16s %8s  %9.3f %9s  %9.3f  %6.3fx   (sync(): the whole call)\n' "both" "" "$total_served" "" "$SYNC_WALL" "$ratio"
        SUMMARY+=("$p $round sync() $total_served $SYNC_WALL $ratio")
        read -r ssr sall sbytes <<< "$SYNC_REQ"; read -r csr call cbytes <<< "$SERVE_REQ"
        printf '  Odoo answered the sync %d search_read of %d requests, %.1f MB; the client %d search_read of %d, %.1f MB\n' \
            "$ssr" "$sall" "$(awk "BEGIN {print $sbytes / 1048576}")" "$csr" "$call" "$(awk "BEGIN {print $cbytes / 1048576}")"
    done
done

echo
echo "summary: sync time / Odoo's serving time of the same pages (target <= 1.00x at parallel 1, <= 1.05x at parallel $N)"
printf '  %-8s %-5s %-16s %9s %9s %8s\n' parallel round what "serving s" "sync s" ratio
printf '%s\n' "${SUMMARY[@]}" | sort -n -k1,1 -s | while read -r p round what served secs ratio; do
    printf '  %-8s %-5s %-16s %9.3f %9.3f %7.3fx\n' "$p" "$round" "$what" "$served" "$secs" "$ratio"
done
if [ "$ROUNDS" -gt 1 ]; then
    echo "medians of the $ROUNDS rounds:"
    printf '%s\n' "${SUMMARY[@]}" | awk '
        { key = $1 " " $3; n[key]++; s[key, n[key]] = $4; y[key, n[key]] = $5; r[key, n[key]] = $6; if (!(key in seen)) { seen[key] = 1; order[++k] = key } }
        function median(a, key, m,   i, j, t, v) { for (i = 1; i <= m; i++) v[i] = a[key, i]
            for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++) if (v[j] < v[i]) { t = v[i]; v[i] = v[j]; v[j] = t }
            return (m % 2) ? v[(m + 1) / 2] : (v[m / 2] + v[m / 2 + 1]) / 2 }
        END { for (i = 1; i <= k; i++) { split(order[i], f, " ")
            printf "  %-8s %-5s %-16s %9.3f %9.3f %7.3fx\n", f[1], "-", f[2], median(s, order[i], n[order[i]]), median(y, order[i], n[order[i]]), median(r, order[i], n[order[i]]) } }'
fi
