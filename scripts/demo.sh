#!/usr/bin/env bash
# The main job, start to finish, on a throwaway cluster:
#   build and install the extension, start PostgreSQL (15, or PG_MAJOR) with scrap_sga preloaded, point it at
#   the Odoo simulator (or at a real Odoo), sync, and show what landed.
#
# Usage: scripts/demo.sh [--keep]
#   ODOO_URL, ODOO_DB                 sync from this Odoo instead of the simulator, with
#     ODOO_API_KEY_FILE               a file holding an API key (Odoo 19+: JSON-2, no login), or
#     ODOO_LOGIN, ODOO_SECRET         a login and its password or API key (Odoo 16-18: JSON-RPC);
#                                     secrets never come from the command line, where ps shows them
#   ODOO_PROTOCOL                     auto (default), json2 or jsonrpc
#   DEMO_ODOO_VERSION                 the Odoo the simulator plays: 20 (default), 19 or 18
#   DEMO_ORDERS, DEMO_LINES           simulator size (default 1000 orders, 5000 lines)
#   PG_MAJOR                          the PostgreSQL major: 15 (default, Debian's), 16, 17 or 18
#                                     (installed under target/postgresql/ by the set-up)
#   --keep                            leave the cluster running and print how to connect
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
KEEP=0
[ "${1:-}" = "--keep" ] && KEEP=1

setup
install_extension

WORK=$(mktemp -d /tmp/scrap_sga_demo.XXXXXX)
chmod 755 "$WORK"
PORT=$(free_port)
SIM_PID=
cleanup() {
    if [ "$KEEP" -eq 0 ]; then
        cluster_stop "$WORK/pg"; as_root rm -rf "$WORK"
        [ -n "$SIM_PID" ] && kill "$SIM_PID" 2>/dev/null || true
    fi
}
trap cleanup EXIT

# The key goes to the server as a file only its OS user can read: it never appears in SQL.
KEY_FILE="$WORK/odoo-api-key"
if [ -n "${ODOO_URL:-}" ]; then
    : "${ODOO_DB:?set ODOO_DB with ODOO_URL}"
    if [ -n "${ODOO_API_KEY_FILE:-}" ]; then
        as_root install -o postgres -g postgres -m 600 "$ODOO_API_KEY_FILE" "$KEY_FILE"
    else
        : "${ODOO_LOGIN:?set ODOO_API_KEY_FILE, or ODOO_LOGIN and ODOO_SECRET}" "${ODOO_SECRET:?set ODOO_SECRET}"
    fi
    say "using the Odoo at $ODOO_URL"
else
    DEMO_ODOO_VERSION=${DEMO_ODOO_VERSION:-20}
    DEMO_KEY=$(od -An -N20 -tx1 /dev/urandom | tr -d ' \n')
    SIM_LOG="$WORK/sim.log" sim_start "${DEMO_ORDERS:-1000}" "${DEMO_LINES:-5000}" "$DEMO_ODOO_VERSION" "$DEMO_KEY"
    ODOO_URL=$SIM_URL ODOO_DB=dimagaz
    if [ "$DEMO_ODOO_VERSION" -ge 19 ]; then
        printf '%s\n' "$DEMO_KEY" | as_root install -o postgres -g postgres -m 600 /dev/stdin "$KEY_FILE"
    else
        ODOO_LOGIN=admin ODOO_SECRET=admin
    fi
    say "Odoo simulator playing Odoo $DEMO_ODOO_VERSION at $ODOO_URL (${DEMO_ORDERS:-1000} orders, ${DEMO_LINES:-5000} lines)"
fi

say "starting PostgreSQL $PG_MAJOR on 127.0.0.1:$PORT with shared_preload_libraries = 'scrap_sga'"
cluster_start "$WORK/pg" "$PORT" "shared_preload_libraries = 'scrap_sga'" "scrap_sga.database = 'postgres'"
PSQL=("$PG_BIN/psql" -X -h 127.0.0.1 -p "$PORT" -U postgres -d postgres -v ON_ERROR_STOP=1)

say "CREATE EXTENSION scrap_sga; scrap_sga.set_connection(...)"
if [ -f "$KEY_FILE" ]; then
    "${PSQL[@]}" -q -c "CREATE EXTENSION scrap_sga" \
        -v url="$ODOO_URL" -v db="$ODOO_DB" -v file="$KEY_FILE" -v protocol="${ODOO_PROTOCOL:-auto}" -v login="${ODOO_LOGIN:-}" -f - <<'SQL'
SELECT scrap_sga.set_connection(:'url', :'db', nullif(:'login', ''), secret_file => :'file', protocol => :'protocol');
SQL
else
    "${PSQL[@]}" -q -c "CREATE EXTENSION scrap_sga" \
        -v url="$ODOO_URL" -v db="$ODOO_DB" -v login="$ODOO_LOGIN" -v secret="$ODOO_SECRET" -v protocol="${ODOO_PROTOCOL:-auto}" -f - <<'SQL'
SELECT scrap_sga.set_connection(:'url', :'db', :'login', :'secret', protocol => :'protocol');
SQL
fi

say "SELECT * FROM scrap_sga.sync();"
"${PSQL[@]}" -c "\timing on" -c "SELECT * FROM scrap_sga.sync()"

say "what landed"
"${PSQL[@]}" <<'SQL'
SELECT 'scrap_dimagaz_bc' AS "table", count(*) AS rows, count(*) FILTER (WHERE NOT active) AS archived FROM scrap_dimagaz_bc
UNION ALL
SELECT 'scrap_dimagaz_bc_line', count(*), NULL FROM scrap_dimagaz_bc_line;

SELECT id, name, state, partner_id, partner_id_display, amount_total, date_order, active, line_ids
FROM scrap_dimagaz_bc ORDER BY id LIMIT 5;

SELECT id, order_id, order_id_display, product_id_display, product_qty, price_unit, price_subtotal
FROM scrap_dimagaz_bc_line ORDER BY id LIMIT 5;

SELECT field, odoo_type, status, columns, pg_types FROM scrap_sga.model_field WHERE model = 'dimagaz.bc' ORDER BY status, field;

SELECT run_id, model, trigger, status, odoo_version, protocol, fetched, inserted, updated, unchanged, requests,
       finished_at - started_at AS duration
FROM scrap_sga.sync_run ORDER BY run_id;
SQL

say "a second sync: nothing changed, nothing is written"
"${PSQL[@]}" -c "SELECT model, status, fetched, inserted, updated, unchanged, duration FROM scrap_sga.sync()"

say "the background worker takes over from here (scrap_sga.status)"
for _ in $(seq 30); do
    [ "$("${PSQL[@]}" -Atc "SELECT count(*) FROM scrap_sga.worker_state WHERE state IN ('idle', 'running')")" = 1 ] && break
    sleep 0.5
done
"${PSQL[@]}" -c "SELECT model, rows, last_status, lag, waiting_retry, worker, next_run_at FROM scrap_sga.status"

if [ "$KEEP" -eq 1 ]; then
    say "the cluster keeps running: ${PSQL[*]}"
    say "stop it with: runuser -u postgres -- $PG_BIN/pg_ctl -D $WORK/pg/data stop; kill ${SIM_PID:-}"
fi
