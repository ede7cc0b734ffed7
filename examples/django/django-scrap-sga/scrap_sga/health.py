"""How the sync is doing, as the status endpoint (``/api/sync-status/``) and the admin's sync page
show it: per model its rows, last run and lag, the copies under way with their progress, the
records waiting for a retry, and the runs of the last 24 hours. Read through the mirror's
connection (scrap_sga_reader may read all of it).
"""
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
# Each model's runs of the last 24 hours (through the run log's (model, started_at) index), and
# when its last success before them finished: the lag of the first of them.
LAST_DAY = """
SELECT m.model, r.run_id, r.status, r.started_at, r.finished_at, r.inserted + r.updated + r.deleted + r.restored AS written,
       NULL::timestamptz AS success_before
FROM scrap_sga.model m
CROSS JOIN LATERAL (SELECT * FROM scrap_sga.sync_run r WHERE r.model = m.model AND r.started_at >= now() - interval '24 hours') r
UNION ALL
SELECT m.model, NULL, NULL, NULL, NULL, NULL,
       (SELECT r.finished_at FROM scrap_sga.sync_run r
        WHERE r.model = m.model AND r.status = 'succeeded' AND r.started_at < now() - interval '24 hours'
        ORDER BY r.run_id DESC LIMIT 1)
FROM scrap_sga.model m
ORDER BY 1, 2 NULLS FIRST
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


def progress(cur, running_runs):
    """The runs under way: the progress view where the extension has it (0.4.0), else the run
    log's rows of ``running_runs`` (the status view's last runs still running)."""
    cur.execute("SELECT to_regclass('scrap_sga.progress') IS NOT NULL")
    if cur.fetchone()[0]:
        cur.execute(PROGRESS)
    elif running_runs:
        cur.execute(PROGRESS_FROM_RUN_LOG, [running_runs])
    else:
        return []
    return _dicts(cur)


def waiting(cur, limit):
    """The records waiting for a retry, the next due first."""
    cur.execute(WAITING, [limit])
    return _dicts(cur)


def last_day(cur):
    """Each model's runs of the last 24 hours, oldest first, each with ``written`` (rows inserted,
    updated, deleted or restored) and ``lag``: how long after the model's previous successful
    run it finished (the age of the mirror just before it), None while it runs."""
    cur.execute(LAST_DAY)
    runs, success = {}, {}
    for row in _dicts(cur):
        model = row.pop("model")
        if row["run_id"] is None:
            success[model] = row["success_before"]
            runs.setdefault(model, [])
            continue
        before = success.get(model)
        row["lag"] = row["finished_at"] - before if row["finished_at"] and before else None
        if row["status"] == "succeeded":
            success[model] = row["finished_at"]
        runs[model].append(row)
    return runs
