#!/usr/bin/env bash
# Display names that follow their records (issue 31): what the check costs.
#   1. a quiet run with the check not due, then with it due and nothing renamed: requests and
#      database time side by side (what a quiet run adds: one small request per related model);
#   2. every partner renamed, so that ORDERS rows show another name: the run that refreshes
#      them, its duration, database time, rows updated (audit on);
#   3. the same renames, silent (write_date unmoved): the reconcile that repairs them.
# The simulator serves the variant schema (another customer's field names) with PARTNERS
# partners its orders point to.
# Usage: bench/display.sh [ORDERS PARTNERS]   (default 10000 100)
# Prints figures; asserts nothing (timings on a shared machine are not test material).
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"
setup
install_extension
ORDERS=${1:-10000}; PARTNERS=${2:-100}

WORK=$(mktemp -d /tmp/scrap_sga_bench.XXXXXX); chmod 755 "$WORK"
PORT=$(free_port)
cleanup() { cluster_stop "$WORK/pg"; as_root rm -rf "$WORK"; [ -n "${SIM_PID:-}" ] && kill "$SIM_PID" 2>/dev/null || true; }
trap cleanup EXIT
cluster_start "$WORK/pg" "$PORT" "shared_buffers = '256MB'"
PSQL=("$PG_BIN/psql" -X -q -h 127.0.0.1 -p "$PORT" -U postgres -v ON_ERROR_STOP=1)
SIM_OPTS="--schema variant" sim_start "$ORDERS" 10
post() { curl -sf -X POST "$SIM_URL$1" -H 'Content-Type: application/json' -d "$2" >/dev/null; }
post /sim/model/load "{\"model\": \"res.partner\", \"label\": \"Contact\", \"records\": $PARTNERS, \"fields\": {\"name\": {\"type\": \"char\", \"string\": \"Name\", \"store\": true}}}"
"${PSQL[@]}" -d postgres -c "CREATE DATABASE bench_display"
q() { "${PSQL[@]}" -d bench_display -At -F ' ' -c "$1"; }
q "CREATE EXTENSION scrap_sga" >/dev/null
q "SELECT scrap_sga.set_connection('$SIM_URL', 'dimagaz', 'admin', 'admin')" >/dev/null
q "SELECT count(*) FROM scrap_sga.sync()" >/dev/null
q "SELECT count(*) FROM scrap_sga.sync()" >/dev/null
requests() { curl -sf "$SIM_URL/sim/stats" | python3 -c 'import json,sys; r=json.load(sys.stdin)["requests"]; print(sum(n for m, n in r.items() if m not in ("authenticate", "version")))'; }
due() { q "UPDATE scrap_sga.model_field SET display_checked_at = display_checked_at - interval '1 hour' WHERE display_checked_at IS NOT NULL" >/dev/null; }
# One sync() call: its requests to Odoo, its runs' duration and database time, rows updated.
measure() { # measure LABEL SQL
    post /sim/stats/reset '{}'
    q "$2" >/dev/null
    local req; req=$(requests)
    q "SELECT round(1000 * extract(epoch FROM max(finished_at) - min(started_at)))::int, round(1000 * extract(epoch FROM sum(db_time)))::int, sum(updated)
       FROM scrap_sga.sync_run WHERE invocation = (SELECT max(invocation) FROM scrap_sga.sync_run)" | {
        read -r wall dbms updated
        printf '  %-52s %4d requests, %6d ms in all, %6d ms database work, %6d rows updated\n' "$1" "$req" "$wall" "$dbms" "$updated"
    }
}
related=$(q "SELECT count(DISTINCT relation) FROM scrap_sga.model_field WHERE odoo_type = 'many2one' AND status = 'active'")
referencing=$(q "SELECT count(*) FROM scrap_dimagaz_bc WHERE partner_id IS NOT NULL")
echo "variant schema, $ORDERS orders ($referencing pointing to one of $PARTNERS partners), 2 models, $related related models"
measure "a quiet run, the check not due" "SELECT count(*) FROM scrap_sga.sync()"
due; measure "a quiet run, the check due, nothing renamed" "SELECT count(*) FROM scrap_sga.sync()"
for p in $(seq 1 "$PARTNERS"); do post /sim/write "{\"model\": \"res.partner\", \"id\": $p, \"values\": {\"name\": \"Renamed $p\"}}"; done
due; measure "every partner renamed: the check" "SELECT count(*) FROM scrap_sga.sync()"
for p in $(seq 1 "$PARTNERS"); do post /sim/write "{\"model\": \"res.partner\", \"id\": $p, \"values\": {\"name\": \"Silently $p\"}, \"silent\": true}"; done
measure "every partner renamed silently: reconcile()" "SELECT count(*) FROM scrap_sga.reconcile()"
echo "  audit rows of the renames: $(q "SELECT count(*) FROM scrap_sga.audit_log WHERE new_values ? 'partner_id_display'")"
