"""How the sync is doing, as the status endpoint (``/api/sync-status/``) and the admin's sync page
show it: per model its rows, last run and lag, the copies under way with their progress, the
records waiting for a retry, and the runs of the last 24 hours. Read through the mirror's
connection (scrap_sga_reader may read all of it).
"""
import datetime
from contextlib import contextmanager

from django.db import connections, transaction

from . import conf

STATUS = """
SELECT model, rows, last_run_id, last_status, last_run_at, last_error, last_success_at,
       extract(epoch FROM lag)::float8 AS lag_seconds, waiting_retry, worker, next_run_at
FROM scrap_sga.status ORDER BY model
"""
# The columns of scrap_sga.progress (extension 0.4.0): one row per run under way.
PROGRESS_COLUMNS = ("run_id", "model", "trigger", "pid", "started_at", "phase", "done", "expected", "percent",
                    "records_per_second", "eta", "requests", "waits", "parked", "resumed_from", "updated_at")
PROGRESS = f"SELECT {', '.join(PROGRESS_COLUMNS)} FROM scrap_sga.progress ORDER BY model, run_id"
# Before 0.4.0: the run log's rows of the runs under way, as far as it tells (what the run has
# fetched so far; no phase, no total, no estimate).
PROGRESS_FROM_RUN_LOG = """
SELECT r.run_id, r.model, r.trigger, r.backend_pid AS pid, r.started_at, NULL::text AS phase, r.fetched AS done,
       NULL::bigint AS expected, NULL::numeric AS percent,
       r.fetched / nullif(extract(epoch FROM clock_timestamp() - r.started_at), 0)::float8 AS records_per_second,
       NULL::timestamptz AS eta, r.requests::bigint AS requests, r.waits::bigint AS waits, r.parked,
       NULL::bigint AS resumed_from, NULL::timestamptz AS updated_at
FROM scrap_sga.sync_run r WHERE r.run_id = ANY(%s) AND r.status = 'running' ORDER BY r.model, r.run_id
"""
WAITING = """
SELECT model, odoo_id, attempts, sqlstate, error, first_failed_at, next_attempt_at, last_run_id
FROM scrap_sga.failed_record ORDER BY next_attempt_at, model, odoo_id LIMIT %s
"""
# Each model's runs of the last 24 hours (through the run log's (model, started_at) index) in
# ``slots`` equal slots: how many, the rows they wrote, how many failed, and the worst lag, a
# run's lag being how long after the model's previous successful run it finished. Gathered here:
# 1,440 runs a model a day (a worker's run a minute) would cost more to read one by one (each
# timestamp parsed) than the query itself.
LAST_DAY = """
WITH runs AS (
    SELECT m.model, r.status, r.started_at, r.finished_at, r.inserted + r.updated + r.deleted + r.restored AS written,
           coalesce(max(r.finished_at) FILTER (WHERE r.status = 'succeeded')
                        OVER (PARTITION BY m.model ORDER BY r.run_id ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING),
                    (SELECT p.finished_at FROM scrap_sga.sync_run p
                     WHERE p.model = m.model AND p.status = 'succeeded' AND p.started_at < %(since)s
                     ORDER BY p.run_id DESC LIMIT 1)) AS success_before
    FROM scrap_sga.model m
    CROSS JOIN LATERAL (SELECT * FROM scrap_sga.sync_run r WHERE r.model = m.model AND r.started_at >= %(since)s) r
)
SELECT model, least(floor(extract(epoch FROM started_at - %(since)s) / 86400 * %(slots)s), %(slots)s - 1)::int AS slot,
       count(*) AS runs, sum(written)::bigint AS written, count(*) FILTER (WHERE status = 'failed') AS failed,
       max(extract(epoch FROM finished_at - success_before))::float8 AS lag_seconds
FROM runs GROUP BY 1, 2 ORDER BY 1, 2
"""


@contextmanager
def reading():
    """A cursor on the mirror's connection, in a transaction with JIT off: the planner, misled by
    the catalog's tiny tables (too small to be analyzed, so estimated at hundreds of rows),
    expects costly queries and PostgreSQL's JIT would compile them first, a quarter of a second
    for a query of a millisecond (bench/django_api.sh)."""
    alias = conf.database()
    with transaction.atomic(using=alias), connections[alias].cursor() as cur:
        cur.execute("SET LOCAL jit = off")
        # The status view tells a run under way from a dead one by its process in
        # pg_stat_activity, which PostgreSQL copies once per transaction: read in a transaction
        # begun before the run started, it would call the run failed.
        cur.execute("SELECT pg_stat_clear_snapshot()")
        yield cur


def _dicts(cur):
    names = [c.name for c in cur.description]
    return [dict(zip(names, row)) for row in cur.fetchall()]


def status(cur):
    """scrap_sga.status, a dict per model, each with the ``progress`` of its runs under way."""
    cur.execute(STATUS)
    rows = _dicts(cur)
    by_model = {row["model"]: row | {"progress": []} for row in rows}
    for p in progress(cur, [row["last_run_id"] for row in rows if row["last_status"] == "running"]):
        if p["model"] in by_model:
            by_model[p["model"]]["progress"].append(p)
    return list(by_model.values())


def has_progress_view(cur):
    """Whether the extension has scrap_sga.progress (0.4.0 and later)."""
    cur.execute("SELECT to_regclass('scrap_sga.progress') IS NOT NULL")
    return cur.fetchone()[0]


def progress(cur, running_runs):
    """The runs under way, ``running_runs`` (the status view's last runs still running: none, and
    nothing is read): the progress view where the extension has it, else their run log rows."""
    if not running_runs:
        return []
    if has_progress_view(cur):
        cur.execute(PROGRESS)
    else:
        cur.execute(PROGRESS_FROM_RUN_LOG, [running_runs])
    return _dicts(cur)


def waiting(cur, limit):
    """The records waiting for a retry, the next due first."""
    cur.execute(WAITING, [limit])
    return _dicts(cur)


def last_day(cur, now, slots):
    """Each model's last 24 hours before ``now`` in ``slots`` slots (the model: its slots, oldest
    first, each a dict of ``slot``, ``runs``, ``written``, ``failed`` and ``lag_seconds``: None
    where no run of the slot has finished after a successful one)."""
    cur.execute(LAST_DAY, {"since": now - datetime.timedelta(hours=24), "slots": slots})
    out = {}
    for row in _dicts(cur):
        out.setdefault(row.pop("model"), []).append(row)
    return out
