#!/usr/bin/env bash
# Background-worker benchmark: freshness (from a change in the simulator to its row in Postgres,
# with no SQL call) at the default interval (60 s) and at 1 s, and the scheduler's CPU time per
# idle hour, extrapolated from IDLE_MINUTES of idling. Prints figures; asserts nothing.
# Usage: bench/worker.sh [SAMPLES_AT_60S IDLE_MINUTES]   (default 3 3)
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"
setup
install_extension
SAMPLES=${1:-3}; IDLE_MIN=${2:-3}

WORK=$(mktemp -d /tmp/scrap_sga_bench.XXXXXX); chmod 755 "$WORK"
PORT=$(free_port)
cleanup() { cluster_stop "$WORK/pg"; as_root rm -rf "$WORK"; [ -n "${SIM_PID:-}" ] && kill "$SIM_PID" 2>/dev/null || true; }
trap cleanup EXIT
sim_start 1000 5000
cluster_start "$WORK/pg" "$PORT" "shared_preload_libraries = 'scrap_sga'" "scrap_sga.database = 'postgres'"
PSQL=("$PG_BIN/psql" -X -q -At -h 127.0.0.1 -p "$PORT" -U postgres -d postgres -v ON_ERROR_STOP=1)
"${PSQL[@]}" -c "CREATE EXTENSION scrap_sga" -c "SELECT scrap_sga.set_connection('$SIM_URL', 'dimagaz', 'admin', 'admin')" >/dev/null
until [ "$("${PSQL[@]}" -c "SELECT count(*) FROM scrap_sga.sync_run WHERE status = 'succeeded' AND model = 'dimagaz.bc.line'")" -ge 1 ]; do sleep 0.5; done
echo "the worker made the first copy by itself: $("${PSQL[@]}" -c "SELECT count(*) FROM scrap_dimagaz_bc_line") lines"

freshness() { # freshness N: N changes, one at a time, each timed until its row shows it
    local i id t0 t1 out=()
    for i in $(seq "$1"); do
        id=$((RANDOM % 1000 + 1))
        t0=$(date +%s.%N)
        curl -s -X POST "$SIM_URL/sim/write" -d "{\"model\": \"dimagaz.bc\", \"id\": $id, \"values\": {\"notes\": \"bench $i $t0\"}}" >/dev/null
        until [ "$("${PSQL[@]}" -c "SELECT notes FROM scrap_dimagaz_bc WHERE id = $id")" = "bench $i $t0" ]; do sleep 0.05; done
        t1=$(date +%s.%N)
        out+=("$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.2f", b - a}')")
    done
    echo "${out[*]}"
}
cpu_ticks() { awk '{print $14 + $15}' "/proc/$("${PSQL[@]}" -c "SELECT pid FROM pg_stat_activity WHERE backend_type = 'scrap_sga scheduler'")/stat"; }
HZ=$(getconf CLK_TCK)

echo "interval 60 s (default):"
f=$(freshness "$SAMPLES"); echo "  freshness, $SAMPLES changes: $f s (mean $(echo "$f" | tr ' ' '\n' | awk '{s+=$1} END {printf "%.1f", s/NR}') s)"
c0=$(cpu_ticks); sleep $((IDLE_MIN * 60)); c1=$(cpu_ticks)
awk -v d=$((c1 - c0)) -v hz="$HZ" -v m="$IDLE_MIN" 'BEGIN {printf "  scheduler CPU while idle: %.2f s in %d min = %.1f s per hour\n", d / hz, m, d / hz * 60 / m}'

"${PSQL[@]}" -c "ALTER SYSTEM SET scrap_sga.interval = 1" -c "SELECT pg_reload_conf()" >/dev/null
sleep 3
echo "interval 1 s:"
f=$(freshness 10); echo "  freshness, 10 changes: $f s (mean $(echo "$f" | tr ' ' '\n' | awk '{s+=$1} END {printf "%.2f", s/NR}') s)"
c0=$(cpu_ticks); sleep 60; c1=$(cpu_ticks)
awk -v d=$((c1 - c0)) -v hz="$HZ" 'BEGIN {printf "  scheduler CPU while idle: %.2f s in 1 min = %.1f s per hour (a sync of 6,000 records every second)\n", d / hz, d / hz * 60}'
