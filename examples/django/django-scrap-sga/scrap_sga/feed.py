"""The change feed: LISTEN to the extension's notifications and turn each into a Django signal.

The extension sends ``NOTIFY scrap_sga`` with a JSON payload when a run commits changed rows; a
quiet run sends nothing. Listening needs a connection of its own, outside Django's (a LISTEN
only hears while its connection stays open and idle), to the same database.

A notification sent while that connection is down is lost to it. So when the connection drops
(a restart, a failover, ``pg_terminate_backend``), the listener connects again, waiting 1, 2,
4 ... up to 60 seconds between tries, and once it listens again it reads the run log
(``scrap_sga.sync_run``, by run id) for the runs that finished while it was away, and sends
their signals too, with ``caught_up=True``: a receiver misses no run, and gets each once.
"""
import json
import logging
import time

import psycopg
from django.db import connections

from . import conf
from .signals import mirror_changed

CHANNEL = "scrap_sga"
APPLICATION_NAME = "scrap_sga_listen"
log = logging.getLogger(__name__)

# The runs a NOTIFY would have announced, with the same keys as its payload.
MISSED_RUNS = """
SELECT r.run_id, r.model, format('%%I.%%I', m.table_schema, m.table_name) AS "table", r.trigger, r.status,
       r.inserted, r.updated, r.deleted, r.restored
FROM scrap_sga.sync_run r JOIN scrap_sga.model m ON m.model = r.model
WHERE (r.run_id > %(mark)s OR r.run_id = ANY(%(open)s)) AND r.status <> 'running'
  AND r.inserted + r.updated + r.deleted + r.restored > 0
ORDER BY r.run_id
"""
PAYLOAD = ("run_id", "model", "table", "trigger", "status", "inserted", "updated", "deleted", "restored")
# Where the run log stands: its newest run, and the runs still under way (they notify later).
# Runs signalled between two moves of the mark while listening (see _Runs).
PRUNE_EVERY = 1000
MARK = "SELECT coalesce(max(run_id), 0), coalesce(array_agg(run_id) FILTER (WHERE status = 'running'), '{}') FROM scrap_sga.sync_run"


class _Runs:
    """Which runs were signalled, so that a run is signalled once, whether its NOTIFY arrives,
    or the run log tells of it after a reconnection, or both.

    Every ``prune_every`` runs signalled, the mark moves on while listening (``advance``), and
    the runs at or before the mark before it are forgotten: else a connection that lasts would
    keep one id per changing run for as long as it lasts."""

    def __init__(self, prune_every):
        self.mark = None  # the run log's newest run when the mark was last taken
        self.open = []  # runs under way then
        self.signalled = set()
        self.prune_every = prune_every
        self.since_mark = 0

    def new(self, run_id):
        if run_id in self.signalled:
            return False
        self.signalled.add(run_id)
        self.since_mark += 1
        return True

    def due(self):
        return self.mark is not None and self.since_mark >= self.prune_every

    def advance(self, fetchone):
        """While listening (``fetchone(sql)``: a row, on any connection): the run log's state now
        becomes the mark a reconnection reads from. A run at or before the previous mark and not
        under way now cannot be announced again: a reconnection reads past the new mark, and its
        one NOTIFY was heard before the ``prune_every`` runs signalled since."""
        previous = self.mark
        self.mark, self.open = fetchone(MARK)
        self.signalled = {r for r in self.signalled if r > previous or r in self.open}
        self.since_mark = 0

    def listening(self, conn):
        """Called once LISTEN is in place: the runs missed since the previous connection (none
        on the first), then where the log stands now. Runs finished before the previous
        connection listened cannot be announced again: they are forgotten."""
        missed = []
        if self.mark is not None:
            missed = conn.execute(MISSED_RUNS, {"mark": self.mark, "open": self.open}).fetchall()
            self.signalled = {r for r in self.signalled if r > self.mark or r in self.open}
        self.mark, self.open = conn.execute(MARK).fetchone()
        return missed


def listen(using=None, timeout=None, stop_after=None, on_listening=None, backoff=(1, 60)):
    """Send ``mirror_changed`` for each run that changed the mirror; return how many were sent.

    ``using``: the Django connection whose settings to connect with (SCRAP_SGA["DATABASE"]);
    ``timeout``: seconds to wait in all (None: forever); ``stop_after``: return after that many
    signals; ``on_listening``: called each time LISTEN is in place (nothing sent before it is
    heard); ``backoff``: the first and the longest wait, in seconds, before connecting again.
    """
    alias = using or conf.database()
    params = connections[alias].get_connection_params() | {"application_name": APPLICATION_NAME}
    deadline = None if timeout is None else time.monotonic() + timeout
    runs = _Runs(PRUNE_EVERY)
    sent = 0
    delay = backoff[0]

    def left():
        return None if deadline is None else max(0.0, deadline - time.monotonic())

    def send(change):
        nonlocal sent
        if runs.new(change["run_id"]):
            mirror_changed.send(sender=listen, **change)
            sent += 1
            if runs.due():
                # Not on the listening connection: its notifies() holds it.
                runs.advance(lambda query: _fetchone(alias, query))
        return stop_after is not None and sent >= stop_after

    while True:
        try:
            with psycopg.connect(**params, autocommit=True) as conn:
                conn.execute(f"LISTEN {CHANNEL}")
                missed = runs.listening(conn)
                if on_listening:
                    on_listening()
                delay = backoff[0]
                for row in missed:
                    if send(dict(zip(PAYLOAD, row)) | {"caught_up": True}):
                        return sent
                if stop_after is not None and sent >= stop_after:
                    return sent
                for note in conn.notifies(timeout=left()):
                    if send(json.loads(note.payload)):
                        return sent
                return sent  # the timeout ran out
        except psycopg.OperationalError as e:
            wait = delay if deadline is None else min(delay, left())
            log.warning("scrap_sga_listen: the connection dropped (%s); listening again in %s s", str(e).strip(), wait)
            if deadline is not None and wait <= 0:
                return sent
            time.sleep(wait)
            delay = min(delay * 2, backoff[1])


def _fetchone(alias, query):
    with connections[alias].cursor() as cur:
        cur.execute(query)
        return cur.fetchone()
