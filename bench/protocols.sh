#!/usr/bin/env bash
# JSON-2 against JSON-RPC, side by side in one run, on the same simulated Odoo 19 (which speaks
# both): a full sync, then quiet runs (nothing changed). Rounds alternate the two protocols so
# that the machine's noise falls on both alike.
#
# Usage: bench/protocols.sh [ORDERS LINES [ROUNDS]]   (default 10000 50000 2)
# Prints figures and ratios; asserts nothing.
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"
setup
install_extension

ORDERS=${1:-10000}; LINES=${2:-50000}; ROUNDS=${3:-2}
KEY=0123456789abcdef0123456789abcdef01234567
WORK=$(mktemp -d /tmp/scrap_sga_bench.XXXXXX); chmod 755 "$WORK"
PORT=$(free_port)
cleanup() { cluster_stop "$WORK/pg"; as_root rm -rf "$WORK"; [ -n "${SIM_PID:-}" ] && kill "$SIM_PID" 2>/dev/null || true; }
trap cleanup EXIT
cluster_start "$WORK/pg" "$PORT" "shared_buffers = '256MB'"
PSQL=("$PG_BIN/psql" -X -q -h 127.0.0.1 -p "$PORT" -U postgres -v ON_ERROR_STOP=1)
now() { date +%s.%N; }

# One measurement: prints "full_s quiet_ms quiet_requests quiet_bytes quiet_db_ms".
measure() {
    local protocol=$1 db=$2
    sim_start "$ORDERS" "$LINES" 19 "$KEY"
    "${PSQL[@]}" -d postgres -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
    local login="NULL"; [ "$protocol" = jsonrpc ] && login="'admin'"
    "${PSQL[@]}" -d "$db" -c "CREATE EXTENSION scrap_sga" \
        -c "SELECT scrap_sga.set_connection('$SIM_URL', 'dimagaz', $login, '$KEY', protocol => '$protocol')" >/dev/null
    local t0 t1; t0=$(now)
    "${PSQL[@]}" -d "$db" -c "SELECT * FROM scrap_sga.sync()" >/dev/null
    t1=$(now)
    local full; full=$(awk "BEGIN {print $t1 - $t0}")
    # Quiet runs: the median of five, and what they cost Odoo and the database.
    curl -s -X POST -d '{}' "$SIM_URL/sim/stats/reset" >/dev/null
    local walls=()
    for _ in 1 2 3 4 5; do
        t0=$(now); "${PSQL[@]}" -d "$db" -c "SELECT * FROM scrap_sga.sync()" >/dev/null; t1=$(now)
        walls+=("$(awk "BEGIN {print ($t1 - $t0) * 1000}")")
    done
    local median; median=$(printf '%s\n' "${walls[@]}" | sort -n | sed -n 3p)
    local stats; stats=$(curl -s "$SIM_URL/sim/stats")
    local requests bytes
    requests=$(python3 -c 'import json,sys; s=json.loads(sys.argv[1]); print(sum(s["protocols"].values()) / 5)' "$stats")
    bytes=$(python3 -c 'import json,sys; s=json.loads(sys.argv[1]); print(s["bytes_out"] / 5)' "$stats")
    local db_ms; db_ms=$("${PSQL[@]}" -d "$db" -At -c "
        SELECT round(avg(s) * 1000, 2) FROM (SELECT sum(extract(epoch FROM db_time)) s FROM scrap_sga.sync_run
        WHERE invocation > (SELECT min(invocation) FROM scrap_sga.sync_run) GROUP BY invocation) q")
    kill "$SIM_PID"; SIM_PID=
    echo "$full $median $requests $bytes $db_ms"
}

echo "simulated Odoo 19, $ORDERS orders + $LINES lines, $ROUNDS rounds (protocols alternated)"
declare -A FULL QUIET REQ BYTES DBMS
for r in $(seq "$ROUNDS"); do
    order=(jsonrpc json2); [ $((r % 2)) -eq 0 ] && order=(json2 jsonrpc)
    for p in "${order[@]}"; do
        read -r f q n b d < <(measure "$p" "bench_${p}_$r")
        printf '  round %d %-8s full sync %6.2f s (%6.0f records/s)   quiet run %6.1f ms, %s requests, %s bytes from Odoo, %s ms of database work\n' \
            "$r" "$p" "$f" "$(awk "BEGIN {print ($ORDERS + $LINES) / $f}")" "$q" "$n" "$b" "$d"
        FULL[$p]="${FULL[$p]:-} $f"; QUIET[$p]="${QUIET[$p]:-} $q"; REQ[$p]=$n; BYTES[$p]=$b; DBMS[$p]=$d
    done
done
best() { printf '%s\n' $1 | sort -n | head -1; }
fj=$(best "${FULL[json2]}"); fr=$(best "${FULL[jsonrpc]}"); qj=$(best "${QUIET[json2]}"); qr=$(best "${QUIET[jsonrpc]}")
echo
printf 'best of %d:          JSON-2      JSON-RPC    JSON-2 / JSON-RPC\n' "$ROUNDS"
printf '  full sync        %7.2f s   %7.2f s    %.2f\n' "$fj" "$fr" "$(awk "BEGIN {print $fj / $fr}")"
printf '  quiet run        %7.1f ms  %7.1f ms   %.2f\n' "$qj" "$qr" "$(awk "BEGIN {print $qj / $qr}")"
printf '  quiet requests   %7s     %7s       %.2f\n' "${REQ[json2]}" "${REQ[jsonrpc]}" "$(awk "BEGIN {print ${REQ[json2]} / ${REQ[jsonrpc]}}")"
printf '  quiet bytes      %7s     %7s       %.2f\n' "${BYTES[json2]}" "${BYTES[jsonrpc]}" "$(awk "BEGIN {print (${BYTES[json2]} + 0.001) / (${BYTES[jsonrpc]} + 0.001)}")"
