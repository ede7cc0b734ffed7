#!/usr/bin/env bash
# The Django app's history endpoint and sync page on a mirror that has run for a while:
#   - GET /api/orders/<id>/history/ (its first and last page) for a record with 1,000 audit rows,
#     and for a record with 1, on two copies of one mirror: the audit log holding this mirror's
#     rows only (7,000), and LOG more rows of other records (500,000 by default);
#   - the sync page (/admin/scrap_sga/syncstatus/) and /api/sync-status/ with RUNS runs in the run
#     log (a worker's run every minute per model: 1,440 per model in the last 24 hours);
# in one process through Django's test client (no HTTP, its connection kept), and over HTTP from
# `manage.py runserver --nothreading` with CONN_MAX_AGE = 0 (a new PostgreSQL connection per
# request, Django's default) and 60 (kept). The targets are measured in turn, request by request
# (the machine is shared: what runs beside weighs on all alike). Median and 95th percentile of
# REPEAT requests after two warm-ups; then the database's own time of the history's page query,
# EXPLAIN ANALYZE, on both logs. Prints figures; asserts nothing.
# Usage: examples/django/bench/history_and_sync.sh   (LOG=500000 RUNS=10000 REPEAT=20 by default)
source "$(dirname "${BASH_SOURCE[0]}")/../../../scripts/lib.sh"
setup
install_extension
LOG=${LOG:-500000}; RUNS=${RUNS:-10000}; REPEAT=${REPEAT:-20}
# The history's page query, as Django sends it (history.entries, the first page of 50).
HISTORY_PAGE="SELECT a.*, r.trigger FROM scrap_sga.audit_log a LEFT JOIN scrap_sga.sync_run r ON r.run_id = a.run_id
    WHERE a.table_name = 'scrap_dimagaz_bc' AND a.odoo_id = 1 AND (a.table_schema = 'public' OR a.table_schema IS NULL)
    ORDER BY a.audit_id DESC LIMIT 50"

WORK=$(mktemp -d /tmp/scrap_sga_bench.XXXXXX); chmod 755 "$WORK"
PORT=$(free_port)
cleanup() {
    for pid in "${SERVERS[@]}"; do kill "$pid" 2>/dev/null || true; done
    [ -n "${SIM_PID:-}" ] && kill "$SIM_PID" 2>/dev/null
    cluster_stop "$WORK/pg"; as_root rm -rf "$WORK"
}
SERVERS=()
trap cleanup EXIT
cluster_start "$WORK/pg" "$PORT" "shared_buffers = '256MB'"
PSQL=("$PG_BIN/psql" -X -q -h 127.0.0.1 -p "$PORT" -U postgres -v ON_ERROR_STOP=1)
sim_start 1000 5000
"${PSQL[@]}" -d postgres -c "CREATE DATABASE brasg"
"${PSQL[@]}" -d brasg -c "CREATE EXTENSION scrap_sga" -c "SELECT scrap_sga.set_connection('$SIM_URL', 'dimagaz', 'admin', 'admin')" >/dev/null
"${PSQL[@]}" -d brasg -c "SELECT model, fetched, duration FROM scrap_sga.sync()"
kill "$SIM_PID"; SIM_PID=

say "a record with 1,000 audit rows (order 1: 999 updates after its insert), and a run log of $RUNS runs"
# Each update changes a text, an amount and write_date, as the extension logs them.
"${PSQL[@]}" -d brasg -c "
    INSERT INTO scrap_sga.audit_log (logged_at, run_id, table_schema, table_name, odoo_id, operation, old_values, new_values)
    SELECT now() - (1000 - g) * interval '1 minute', 1, 'public', 'scrap_dimagaz_bc', 1, 'update',
           jsonb_build_object('notes', 'note ' || (g - 1), 'amount_total', 100.25 + g - 1, 'write_date', now() - (1001 - g) * interval '1 minute'),
           jsonb_build_object('notes', 'note ' || g, 'amount_total', 100.25 + g, 'write_date', now() - (1000 - g) * interval '1 minute')
    FROM generate_series(1, 999) g;
    INSERT INTO scrap_sga.sync_run (invocation, model, trigger, status, started_at, finished_at, mode, fetched, updated, error)
    SELECT nextval('scrap_sga.invocation_seq'), m.model, 'worker', CASE WHEN n % 97 = 0 THEN 'failed' ELSE 'succeeded' END,
           now() - (n || ' minutes')::interval, now() - (n || ' minutes')::interval + interval '50 ms', 'incremental',
           n % 7, n % 7, CASE WHEN n % 97 = 0 THEN 'Odoo answered HTTP 502' END
    FROM generate_series($RUNS / 2, 1, -1) n CROSS JOIN scrap_sga.model m;
    ANALYZE scrap_sga.audit_log; ANALYZE scrap_sga.sync_run;" >/dev/null
"${PSQL[@]}" -d brasg -At -c "SELECT 'audit log: ' || count(*) || ' rows; run log: ' || (SELECT count(*) FROM scrap_sga.sync_run) || ' runs' FROM scrap_sga.audit_log"

"${PSQL[@]}" -d postgres -c "CREATE DATABASE brasg_large TEMPLATE brasg"
"${PSQL[@]}" -d brasg_large -c "
    INSERT INTO scrap_sga.audit_log (logged_at, run_id, table_schema, table_name, odoo_id, operation, old_values, new_values)
    SELECT now() - g * interval '1 second', 1, 'public', CASE WHEN g % 5 = 0 THEN 'scrap_dimagaz_bc' ELSE 'scrap_dimagaz_bc_line' END,
           3 + g % 4997, 'update', jsonb_build_object('notes', 'old ' || g), jsonb_build_object('notes', 'new ' || g)
    FROM generate_series(1, $LOG) g" -c "VACUUM ANALYZE scrap_sga.audit_log" >/dev/null
for db in brasg brasg_large; do
    "${PSQL[@]}" -d $db -At -c "SELECT '$db: audit log ' || count(*) || ' rows, ' || pg_size_pretty(pg_total_relation_size('scrap_sga.audit_log')) || '; run log ' || (SELECT count(*) FROM scrap_sga.sync_run) || ' runs' FROM scrap_sga.audit_log"
done

say "a virtual environment with the example project's requirements"
python3 -m venv "$WORK/venv"
(cd "$ROOT/examples/django" && "$WORK/venv/bin/pip" install -q --disable-pip-version-check -r requirements.txt)
export BRASG_DB_HOST=127.0.0.1 BRASG_DB_PORT=$PORT
"${PSQL[@]}" -d postgres -c "DO \$\$ BEGIN CREATE ROLE brasg_reader LOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END \$\$" -c "GRANT scrap_sga_reader TO brasg_reader" >/dev/null
cd "$ROOT/examples/django"
for db in brasg brasg_large; do
    BRASG_DB_NAME=$db "$WORK/venv/bin/python" manage.py migrate -v 0
    BRASG_DB_NAME=$db "$WORK/venv/bin/python" manage.py shell --no-imports -c "from django.contrib.auth.models import User; User.objects.create_superuser('bench', 'bench@example.com', 'bench')"
done
serve() {  # serve DB CONN_MAX_AGE: a runserver; its address in SERVER
    local port; port=$(free_port)
    BRASG_DB_NAME=$1 BRASG_CONN_MAX_AGE=$2 "$WORK/venv/bin/python" manage.py runserver "127.0.0.1:$port" --nothreading --noreload >"$WORK/server-$port.log" 2>&1 &
    SERVERS+=($!)
    for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$port/api/" && break; sleep 0.1; done
    SERVER="http://127.0.0.1:$port"
}
serve brasg 60; SMALL_60=$SERVER
serve brasg_large 60; LARGE_60=$SERVER
serve brasg_large 0; LARGE_0=$SERVER

cat > "$WORK/measure.py" <<'PY'
"""Each request on each target in turn, REPEAT rounds: the test client in this process (its
database: BRASG_DB_NAME) or a server over HTTP, with the admin's session cookie."""
import http.client, os, statistics, time, urllib.parse
from django.test import Client

repeat = int(os.environ["REPEAT"])
client = Client()
client.login(username="bench", password="bench")
targets = [("in one process, 507,000-row log", None)] + [tuple(t.rsplit("=", 1)) for t in os.environ["TARGETS"].split(";")]
requests = [
    ("history, 1,000 rows: page 1", "/api/orders/1/history/"),
    ("history, 1,000 rows: page 20 (the last)", "/api/orders/1/history/?page=20"),
    ("history, 1 row", "/api/orders/2/history/"),
    ("admin history page, 1,000 rows: page 1", "/admin/odoo_mirror/scrapdimagazbc/1/history/"),
    ("sync page (admin)", "/admin/scrap_sga/syncstatus/"),
    ("GET /api/sync-status/", "/api/sync-status/"),
]
def get(base, url):
    if base is None:
        r = client.get(url)
        return r.status_code, len(r.content)
    parts = urllib.parse.urlsplit(base)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    conn.request("GET", url, headers={"Cookie": os.environ["COOKIE_" + str(parts.port)]})
    r = conn.getresponse()
    body = r.read()
    conn.close()
    return r.status, len(body)

print(f"  {'request':42s} {'target':44s} {'median':>9s} {'p95':>9s}")
for label, url in requests:
    times = {t: [] for t in targets}
    for rnd in range(repeat + 2):
        for t in targets:
            start = time.perf_counter()
            status, size = get(t[1], url)
            elapsed = (time.perf_counter() - start) * 1000
            assert status == 200, (t, url, status)
            if rnd >= 2:
                times[t].append(elapsed)
    for t in targets:
        ts = sorted(times[t])
        print(f"  {label:42s} {t[0]:44s} {statistics.median(ts):6.1f} ms {ts[min(len(ts) - 1, int(0.95 * len(ts)))]:6.1f} ms", flush=True)
PY
cookie() {  # a session cookie of the admin user on database $1
    BRASG_DB_NAME=$1 "$WORK/venv/bin/python" manage.py shell --no-imports -c "
from django.test import Client
c = Client(); c.login(username='bench', password='bench'); print('sessionid=' + c.cookies['sessionid'].value)"
}
export COOKIE_${SMALL_60##*:}="$(cookie brasg)" COOKIE_${LARGE_60##*:}="$(cookie brasg_large)" COOKIE_${LARGE_0##*:}="$(cookie brasg_large)"

say "requests, each target in turn (median / 95th percentile of $REPEAT)"
BRASG_DB_NAME=brasg_large REPEAT=$REPEAT \
    TARGETS="over HTTP, 7,000-row log, CONN_MAX_AGE = 60=$SMALL_60;over HTTP, 507,000-row log, CONN_MAX_AGE = 60=$LARGE_60;over HTTP, 507,000-row log, CONN_MAX_AGE = 0=$LARGE_0" \
    "$WORK/venv/bin/python" manage.py shell --no-imports -c "$(cat "$WORK/measure.py")"
for pid in "${SERVERS[@]}"; do kill "$pid" 2>/dev/null || true; done

say "the database's time of the history's page query (EXPLAIN ANALYZE, 5 runs, the last shown)"
for db in brasg brasg_large; do
    for _ in 1 2 3 4; do "${PSQL[@]}" -d $db -c "$HISTORY_PAGE" >/dev/null; done
    echo "$db:"; "${PSQL[@]}" -d $db -c "EXPLAIN (ANALYZE) $HISTORY_PAGE" | grep -E "Index|Execution Time"
done
