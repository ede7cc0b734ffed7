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
import threading
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
# "Under way" includes the ids just below the newest that the log does not show: a run's row is
# numbered, then committed a moment later; read in between, that run would be neither past the
# mark nor under way, and a reconnection would never tell of it. (An id whose run was rolled
# back stays missing, and is never told of.)
MARK = """
SELECT n.newest, ARRAY(
    SELECT r.run_id FROM scrap_sga.sync_run r WHERE r.status = 'running'
    UNION
    SELECT g FROM generate_series(greatest(n.newest - 100, 1), n.newest) g
    WHERE NOT EXISTS (SELECT 1 FROM scrap_sga.sync_run r WHERE r.run_id = g))
FROM (SELECT coalesce(max(run_id), 0) AS newest FROM scrap_sga.sync_run) n
"""


class _Runs:
    """Which runs were signalled, so that a run is signalled once, whether its NOTIFY arrives,
    or the run log tells of it after a reconnection, or both.

    A connection that lasts would keep one id per changing run for as long as it lasts. So every
    ``prune_every`` runs signalled, where the run log stands is read (``propose``, on a
    connection of its own) and becomes the mark once a NOTIFY is heard for a run newer than it
    (``heard``): NOTIFYs come in commit order, so by then the NOTIFY of every run that had
    finished when the log was read has been heard, and a reconnection, which reads the log past
    the mark (and the runs then under way), will not tell of them again. They are forgotten."""

    def __init__(self, prune_every):
        self.mark = None  # the run log's newest run when the mark was taken
        self.open = []  # runs under way then
        self.signalled = set()
        self.prune_every = prune_every
        self.since_mark = 0
        self.candidate = None  # (mark, open) read while listening, not yet safe to adopt

    def new(self, run_id):
        if run_id in self.signalled:
            return False
        self.signalled.add(run_id)
        self.since_mark += 1
        return True

    def due(self):
        return self.mark is not None and self.candidate is None and self.since_mark >= self.prune_every

    def propose(self, mark, open_runs):
        self.candidate = (mark, list(open_runs))

    def heard(self, run_id):
        """A NOTIFY of ``run_id`` was heard on the listening connection."""
        if self.candidate is not None and run_id > self.candidate[0]:
            self.mark, self.open = self.candidate
            self._forget_before_mark()
            self.candidate = None
            self.since_mark = 0

    def _forget_before_mark(self):
        """Runs at or before the mark and not under way then: no reconnection tells of them."""
        self.signalled = {r for r in self.signalled if r > self.mark or r in self.open}

    def listening(self, conn):
        """Called once LISTEN is in place: the runs missed since the previous connection (none
        on the first), then where the log stands now. Runs finished before the previous
        connection listened cannot be announced again: they are forgotten."""
        missed = []
        if self.mark is not None:
            missed = conn.execute(MISSED_RUNS, {"mark": self.mark, "open": self.open}).fetchall()
            self._forget_before_mark()
        self.mark, self.open = conn.execute(MARK).fetchone()
        self.candidate = None
        self.since_mark = 0
        return missed


def listen(using=None, timeout=None, stop_after=None, on_listening=None, backoff=(1, 60), stop=None):
    """Send ``mirror_changed`` for each run that changed the mirror; return how many were sent.

    ``using``: the Django connection whose settings to connect with (SCRAP_SGA["DATABASE"]);
    ``timeout``: seconds to wait in all (None: forever); ``stop_after``: return after that many
    signals; ``on_listening``: called each time LISTEN is in place (nothing sent before it is
    heard); ``backoff``: the first and the longest wait, in seconds, before connecting again;
    ``stop``: a threading.Event that ends it, within a second, between two signals (a receiver
    is never cut short). Each run heard is logged at DEBUG level, with how many receivers got it.
    """
    params = connections[using or conf.database()].get_connection_params() | {"application_name": APPLICATION_NAME}
    deadline = None if timeout is None else time.monotonic() + timeout
    stop = stop or threading.Event()
    runs = _Runs(PRUNE_EVERY)
    sent = 0
    delay = backoff[0]

    def left():
        return None if deadline is None else max(0.0, deadline - time.monotonic())

    def send(change, live):
        nonlocal sent
        if runs.new(change["run_id"]):
            # send_robust: a receiver that raises must not keep the others from this run, nor
            # end the listener (whose memory of the runs sent would go with it).
            receivers = mirror_changed.send_robust(sender=listen, **change)
            for receiver, result in receivers:
                if isinstance(result, Exception):
                    log.error("scrap_sga_listen: receiver %s failed on run %s of %s: %r",
                              getattr(receiver, "__qualname__", receiver), change["run_id"], change["model"], result,
                              exc_info=(type(result), result, result.__traceback__))
            sent += 1
            log.debug("scrap_sga_listen: %s run %s of %s (%s, %s): %s inserted, %s updated, %s deleted, %s restored; sent to %s receiver(s)",
                      "heard" if live else "caught up with", change["run_id"], change["model"], change.get("trigger"), change.get("status"),
                      change.get("inserted"), change.get("updated"), change.get("deleted"), change.get("restored"), len(receivers))
        if live:
            runs.heard(change["run_id"])
        if runs.due():
            # Not on the listening connection: its notifies() holds it. A failure only puts the
            # pruning off.
            try:
                with psycopg.connect(**params | {"application_name": f"{APPLICATION_NAME}_mark", "connect_timeout": 10}, autocommit=True) as other:
                    runs.propose(*other.execute(MARK).fetchone())
            except psycopg.Error as e:
                log.warning("scrap_sga_listen: could not read the run log (%s); trying again later", str(e).strip())
        return stop_after is not None and sent >= stop_after

    while not stop.is_set():
        try:
            with psycopg.connect(**params, autocommit=True) as conn:
                conn.execute(f"LISTEN {CHANNEL}")
                missed = runs.listening(conn)
                if on_listening:
                    on_listening()
                delay = backoff[0]
                for row in missed:
                    if send(dict(zip(PAYLOAD, row)) | {"caught_up": True}, live=False):
                        return sent
                if stop_after is not None and sent >= stop_after:
                    return sent
                # A second at a time, so that ``stop`` is seen while nothing is heard.
                while not stop.is_set() and left() != 0:
                    for note in conn.notifies(timeout=min(1.0, left() if deadline is not None else 1.0)):
                        if send(json.loads(note.payload), live=True):
                            return sent
                return sent  # stopped, or the timeout ran out
        except psycopg.OperationalError as e:
            wait = delay if deadline is None else min(delay, left())
            log.warning("scrap_sga_listen: the connection dropped (%s); listening again in %s s", str(e).strip(), wait)
            if deadline is not None and wait <= 0:
                return sent
            stop.wait(wait)
            delay = min(delay * 2, backoff[1])
    return sent
