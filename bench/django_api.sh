#!/usr/bin/env bash
# The Django API over a large mirror: ORDERS + LINES records (default 100,000 + 500,000) synced from
# the simulator, RUNS rows in the run log (default 10,000), JIT on (PostgreSQL's default):
#   - list and detail latency and SQL queries per request, orders and lines, the first page and a
#     deep page (the 1,000th), with the app's default pagination (page numbers) and with cursor
#     pagination (SCRAP_SGA["PAGINATION"] = "cursor");
#   - GET /api/sync-status/, and scrap_sga.status itself with its plan.
# Requests go through Django's test client in one process (Django, DRF and the database; no HTTP
# server), the mirror read through the reader role as in the example project. Median and 95th
# percentile of REPEAT requests after two warm-ups.
# Usage: bench/django_api.sh [ORDERS LINES]. Prints figures; asserts nothing.
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"
setup
install_extension
ORDERS=${1:-100000}; LINES=${2:-500000}; RUNS=${RUNS:-10000}; REPEAT=${REPEAT:-20}

WORK=$(mktemp -d /tmp/scrap_sga_bench.XXXXXX); chmod 755 "$WORK"
PORT=$(free_port)
cleanup() { cluster_stop "$WORK/pg"; as_root rm -rf "$WORK"; [ -n "${SIM_PID:-}" ] && kill "$SIM_PID" 2>/dev/null || true; }
trap cleanup EXIT
cluster_start "$WORK/pg" "$PORT" "shared_buffers = '512MB'"
PSQL=("$PG_BIN/psql" -X -q -h 127.0.0.1 -p "$PORT" -U postgres -v ON_ERROR_STOP=1)
sim_start "$ORDERS" "$LINES"
"${PSQL[@]}" -d postgres -c "CREATE DATABASE brasg"
"${PSQL[@]}" -d brasg -c "CREATE EXTENSION scrap_sga" -c "SELECT scrap_sga.set_connection('$SIM_URL', 'dimagaz', 'admin', 'admin')" >/dev/null
say "syncing $ORDERS orders + $LINES lines"
"${PSQL[@]}" -d brasg -c "SELECT model, fetched, duration FROM scrap_sga.sync()"
kill "$SIM_PID"; SIM_PID=
# The run log of a mirror that has been running for a while: RUNS rows, as many per model, the
# quiet runs of a worker every minute (only the last ones differ from these).
"${PSQL[@]}" -d brasg -c "
    INSERT INTO scrap_sga.sync_run (invocation, model, trigger, status, started_at, finished_at, mode)
    SELECT nextval('scrap_sga.invocation_seq'), m.model, 'worker', 'succeeded',
           now() - (n || ' minutes')::interval, now() - (n || ' minutes')::interval + interval '50 ms', 'incremental'
    FROM generate_series($RUNS / 2, 1, -1) n CROSS JOIN scrap_sga.model m;
    ANALYZE scrap_sga.sync_run;" >/dev/null
"${PSQL[@]}" -d brasg -At -c "SELECT 'run log: ' || count(*) || ' runs; jit = ' || current_setting('jit') FROM scrap_sga.sync_run"
"${PSQL[@]}" -d brasg -c "VACUUM ANALYZE scrap_dimagaz_bc" -c "VACUUM ANALYZE scrap_dimagaz_bc_line" >/dev/null

say "scrap_sga.status itself (EXPLAIN ANALYZE, JIT on)"
# The top node's estimate (what decides JIT: jit_above_cost), then JIT's own time; then the same
# with JIT off, as the API runs it.
"${PSQL[@]}" -d brasg -c "EXPLAIN (ANALYZE, SUMMARY ON) SELECT * FROM scrap_sga.status" |
    grep -E "^ [A-Z].*cost=|JIT|Functions|Timing|Execution Time" | head -6 || true
"${PSQL[@]}" -d brasg -c "SET jit = off" -c "EXPLAIN (ANALYZE, SUMMARY ON) SELECT * FROM scrap_sga.status" | grep -E "Execution Time" || true

say "a virtual environment with the example project's requirements"
python3 -m venv "$WORK/venv"
(cd "$ROOT/examples/django" && "$WORK/venv/bin/pip" install -q --disable-pip-version-check -r requirements.txt)
export BRASG_DB_HOST=127.0.0.1 BRASG_DB_PORT=$PORT BRASG_DB_NAME=brasg
"${PSQL[@]}" -d postgres -c "CREATE ROLE brasg_reader LOGIN; GRANT scrap_sga_reader TO brasg_reader" >/dev/null
(cd "$ROOT/examples/django" && "$WORK/venv/bin/python" manage.py migrate -v 0)

say "requests (median / 95th percentile of $REPEAT, after 2 warm-ups; queries per request)"
cat > "$WORK/requests.py" <<'PY'
import base64, os, statistics, time, urllib.parse
from django.conf import settings
from django.db import connections
from django.test import Client
from django.test.utils import CaptureQueriesContext, override_settings
from odoo_mirror.models import ScrapDimagazBc as Orders, ScrapDimagazBcLine as Lines

repeat = int(os.environ["REPEAT"])
client = Client()

def measure(label, url):
    for _ in range(2):
        assert client.get(url).status_code == 200, url
    times = []
    for _ in range(repeat):
        with CaptureQueriesContext(connections["mirror"]) as mirror, CaptureQueriesContext(connections["default"]) as default:
            start = time.perf_counter()
            r = client.get(url)
            times.append((time.perf_counter() - start) * 1000)
        assert r.status_code == 200, (url, r.content[:200])
    times.sort()
    p95 = times[min(len(times) - 1, int(0.95 * len(times)))]
    print(f"  {label:44s} {statistics.median(times):8.1f} ms {p95:8.1f} ms  {len(mirror) + len(default):2d} queries  {len(r.content):8d} bytes")

def cursor_at(model, position):
    """The cursor DRF hands out for the page after the row with this id (ordering by id)."""
    return urllib.parse.quote(base64.b64encode(f"p={position}".encode()).decode())

size = 50
deep = min(1000, Orders.objects.count() // size)
order_mid = Orders.objects.order_by("id").values_list("id", flat=True)[Orders.objects.count() // 2]
line_mid = Lines.objects.order_by("id").values_list("id", flat=True)[Lines.objects.count() // 2]
print(f"  {'request':44s} {'median':>11s} {'p95':>11s}")
measure("GET /api/orders/ (page 1)", "/api/orders/")
measure(f"GET /api/orders/?page={deep}", f"/api/orders/?page={deep}")
measure(f"GET /api/orders/{order_mid}/ (its lines nested)", f"/api/orders/{order_mid}/")
measure("GET /api/lines/ (page 1)", "/api/lines/")
measure(f"GET /api/lines/?page={deep}", f"/api/lines/?page={deep}")
measure(f"GET /api/lines/{line_mid}/", f"/api/lines/{line_mid}/")
measure(f"GET /api/lines/?page={deep}&ordering=sequence", f"/api/lines/?page={deep}&ordering=sequence")
measure("GET /api/sync-status/", "/api/sync-status/")
with override_settings(SCRAP_SGA=settings.SCRAP_SGA | {"PAGINATION": "cursor"}):
    print("  cursor pagination:")
    order_at = Orders.objects.order_by("id").values_list("id", flat=True)[(deep - 1) * size - 1]
    line_at = Lines.objects.order_by("id").values_list("id", flat=True)[(deep - 1) * size - 1]
    measure("GET /api/orders/ (first page)", "/api/orders/")
    measure(f"GET /api/orders/?cursor=<page {deep}>", f"/api/orders/?cursor={cursor_at(Orders, order_at)}")
    measure("GET /api/lines/ (first page)", "/api/lines/")
    measure(f"GET /api/lines/?cursor=<page {deep}>", f"/api/lines/?cursor={cursor_at(Lines, line_at)}")
PY
cd "$ROOT/examples/django" && REPEAT=$REPEAT "$WORK/venv/bin/python" manage.py shell -c "$(cat "$WORK/requests.py")"
