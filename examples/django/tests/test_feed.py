"""The change feed against a real sync: a run that changes rows reaches a receiver of
``mirror_changed`` through LISTEN/NOTIFY; a quiet run sends nothing; a dropped connection is
taken up again and the runs missed meanwhile are signalled from the run log; the command, as a
service runs it, logs what it hears, its project's receiver gets it, and SIGTERM stops it."""
import io
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from unittest import mock

import psycopg
from django.conf import settings
from django.core.management import call_command
from django.db import connections
from django.test import TransactionTestCase

from scrap_sga.feed import APPLICATION_NAME, MARK, MISSED_RUNS, _Runs, listen
from scrap_sga.signals import mirror_changed

from .helpers import SIM, sim, sql

PROJECT = Path(sys.modules[settings.SETTINGS_MODULE].__file__).parent.parent


class Lines:
    """The lines a process writes to a pipe, gathered as they come."""

    def __init__(self, pipe):
        self.lines = []
        self.thread = threading.Thread(target=lambda: [self.lines.append(line.rstrip("\n")) for line in pipe], daemon=True)
        self.thread.start()


class ChangeFeedTests(TransactionTestCase):
    databases = {"default", "mirror"}

    def setUp(self):
        sql("SELECT scrap_sga.set_connection(%s, 'dimagaz', 'admin', 'admin')", SIM)
        sql("SELECT * FROM scrap_sga.sync()")
        self.received = []
        receiver = lambda sender, **change: self.received.append(change)  # noqa: E731
        mirror_changed.connect(receiver, weak=False, dispatch_uid="test_feed")
        self.addCleanup(mirror_changed.disconnect, dispatch_uid="test_feed")

    def listen_during(self, action, timeout, stop_after=None):
        ready = threading.Event()
        result = {}
        thread = threading.Thread(target=lambda: result.update(sent=listen(timeout=timeout, stop_after=stop_after, on_listening=ready.set)))
        thread.start()
        self.assertTrue(ready.wait(10), "LISTEN in place")
        action()
        thread.join(timeout + 5)
        return result.get("sent")

    def test_a_changing_run_is_signalled_with_its_counts(self):
        def change():
            sim("/sim/write", {"model": "dimagaz.bc", "id": 3, "values": {"notes": "feed"}})
            sql("SELECT * FROM scrap_sga.sync('dimagaz.bc')")

        sent = self.listen_during(change, timeout=20, stop_after=1)
        self.assertEqual(sent, 1)
        change = self.received[0]
        run_id = sql("SELECT max(run_id) FROM scrap_sga.sync_run WHERE model = 'dimagaz.bc'")[0][0]
        self.assertEqual((change["model"], change["table"], change["run_id"], change["updated"]), ("dimagaz.bc", "public.scrap_dimagaz_bc", run_id, 1))
        self.assertEqual(sql("SELECT count(*) FROM scrap_dimagaz_bc WHERE sga_run_id = %s", run_id)[0][0], 1, "the rows the run wrote")

    def test_a_receiver_that_raises_neither_stops_the_others_nor_the_listener(self):
        def broken(sender, **change):
            raise RuntimeError(f"broken receiver, run {change['run_id']}")

        # The broken one first (Django calls receivers in the order they connected): the test's
        # receiver, connected again after it, comes second.
        mirror_changed.disconnect(dispatch_uid="test_feed")
        mirror_changed.connect(broken, weak=False, dispatch_uid="test_feed_broken")
        self.addCleanup(mirror_changed.disconnect, dispatch_uid="test_feed_broken")
        mirror_changed.connect(lambda sender, **change: self.received.append(change), weak=False, dispatch_uid="test_feed")

        def two_changes():
            for order_id in (3, 4):
                sim("/sim/write", {"model": "dimagaz.bc", "id": order_id, "values": {"notes": f"robust {time.time()}"}})
                sql("SELECT * FROM scrap_sga.sync('dimagaz.bc')")

        with self.assertLogs("scrap_sga.feed", "ERROR") as logged:
            sent = self.listen_during(two_changes, timeout=20, stop_after=2)
        self.assertEqual(sent, 2, "the listener went on after the first failure")
        self.assertEqual([c["updated"] for c in self.received], [1, 1], "the other receiver got both runs")
        failures = [r for r in logged.records if "failed on run" in r.getMessage()]
        self.assertEqual(len(failures), 2, [r.getMessage() for r in logged.records])
        self.assertIn("broken receiver", failures[0].getMessage())
        self.assertIsNotNone(failures[0].exc_info, "with its traceback")

    def test_a_quiet_run_sends_nothing(self):
        sent = self.listen_during(lambda: sql("SELECT * FROM scrap_sga.sync()"), timeout=3)
        self.assertEqual((sent, self.received), (0, []))

    def test_a_dropped_connection_is_taken_up_again_and_nothing_is_missed(self):
        listening = []
        done = {}

        def run():
            done["sent"] = listen(timeout=40, stop_after=3, on_listening=lambda: listening.append(time.monotonic()), backoff=(5, 5))

        thread = threading.Thread(target=run)
        thread.start()
        self.addCleanup(thread.join, 45)
        self.wait_for(lambda: len(listening) == 1, "LISTEN in place")

        def change(order_id):
            sim("/sim/write", {"model": "dimagaz.bc", "id": order_id, "values": {"notes": f"feed {time.time()}"}})
            sql("SELECT * FROM scrap_sga.sync('dimagaz.bc')")
            return sql("SELECT max(run_id) FROM scrap_sga.sync_run WHERE model = 'dimagaz.bc'")[0][0]

        heard = change(3)
        self.wait_for(lambda: len(self.received) == 1, "the first run signalled")
        # The listener's backend goes away; two runs commit before it listens again (5 s later).
        killed = sql("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = %s", APPLICATION_NAME)[0][0]
        self.assertEqual(killed, 1)
        missed = [change(4), change(5)]
        self.assertEqual(len(listening), 1, "still away while the runs happened")
        self.wait_for(lambda: len(listening) == 2, "listening again")
        thread.join(45)
        runs = sql("SELECT run_id, status, inserted + updated + deleted + restored, started_at, finished_at FROM scrap_sga.sync_run ORDER BY run_id")
        self.assertEqual(done.get("sent"), 3, f"heard {heard}, missed {missed}, received {self.received}, runs {runs}")
        self.assertEqual([c["run_id"] for c in self.received], [heard, *missed])
        self.assertEqual([c.get("caught_up", False) for c in self.received], [False, True, True])
        self.assertEqual({c["model"] for c in self.received}, {"dimagaz.bc"})
        self.assertEqual([c["updated"] for c in self.received], [1, 1, 1])

    @mock.patch("scrap_sga.feed.PRUNE_EVERY", 1)
    def test_a_run_heard_and_read_again_is_signalled_once(self):
        # The run log read after a reconnection holds runs the listener heard before its
        # connection dropped (and runs that commit between LISTEN and that read): each is
        # signalled once. The log is also read for a new mark after each run (PRUNE_EVERY).
        listening = []
        done = {}
        thread = threading.Thread(target=lambda: done.update(sent=listen(
            timeout=30, stop_after=2, on_listening=lambda: listening.append(1), backoff=(1, 1))))
        thread.start()
        self.addCleanup(thread.join, 35)
        self.wait_for(lambda: listening, "LISTEN in place")
        runs = []
        for order_id in (6, 7):
            sim("/sim/write", {"model": "dimagaz.bc", "id": order_id, "values": {"notes": f"once {time.time()}"}})
            sql("SELECT * FROM scrap_sga.sync('dimagaz.bc')")
            runs.append(sql("SELECT max(run_id) FROM scrap_sga.sync_run WHERE model = 'dimagaz.bc'")[0][0])
            self.wait_for(lambda n=len(runs): len(self.received) >= n, "signalled")
            if order_id == 6:
                sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s", APPLICATION_NAME)
                self.wait_for(lambda: len(listening) == 2, "listening again")
        thread.join(35)
        self.assertEqual(done.get("sent"), 2)
        self.assertEqual([c["run_id"] for c in self.received], runs)

    def test_runs_signalled_long_ago_are_forgotten_once_a_newer_run_is_heard(self):
        runs = _Runs(prune_every=2)
        runs.mark, runs.open = 10, [9]  # as LISTEN left it
        for run in (11, 12):
            self.assertTrue(runs.new(run))
            runs.heard(run)
        self.assertTrue(runs.due())
        # The run log read meanwhile: 14 the newest (finished, its NOTIFY not heard yet), 13
        # under way. Not adopted before a NOTIFY of a run newer than 14: until then a drop must
        # still catch up from 10.
        runs.propose(14, [13])
        self.assertFalse(runs.due(), "one read at a time")
        for run in (14, 13):
            runs.new(run)
            runs.heard(run)
            self.assertEqual(runs.mark, 10, f"after {run}")
        runs.new(15)
        runs.heard(15)
        self.assertEqual((runs.mark, runs.open), (14, [13]))
        # 11, 12 and 14 cannot be told of again (finished by 14, at or before the mark);
        # 13 was under way then: a reconnection reads it again, and it is known.
        self.assertEqual(runs.signalled, {13, 15})
        self.assertFalse(runs.new(13))

    def test_a_run_numbered_but_not_yet_committed_when_the_log_is_read_counts_as_under_way(self):
        # A run's row is numbered, then committed a moment later: a mark read in between must
        # still lead a reconnection to it.
        params = connections["default"].get_connection_params()
        with psycopg.connect(**params) as slow:
            late = slow.execute("INSERT INTO scrap_sga.sync_run (invocation, model, trigger) VALUES (0, 'dimagaz.bc.line', 'manual') RETURNING run_id").fetchone()[0]
            sim("/sim/write", {"model": "dimagaz.bc", "id": 16, "values": {"notes": f"after {time.time()}"}})
            sql("SELECT * FROM scrap_sga.sync('dimagaz.bc')")
            mark, open_runs = sql(MARK)[0]
            self.assertGreater(mark, late)
            self.assertIn(late, open_runs)
            slow.execute("UPDATE scrap_sga.sync_run SET status = 'succeeded', updated = 1 WHERE run_id = %s", (late,))
        with connections["default"].cursor() as cur:
            cur.execute(MISSED_RUNS, {"mark": mark, "open": open_runs})
            self.assertIn(late, [r[0] for r in cur.fetchall()], "told of after a reconnection")

    def test_the_command_logs_what_it_hears_the_receiver_gets_it_and_sigterm_stops_it(self):
        # manage.py scrap_sga_listen -v 2 as a service runs it, on this test's database; the
        # project's receiver (odoo_mirror/receivers.py) logs what it gets.
        db = connections["default"].settings_dict["NAME"]
        listener = subprocess.Popen([sys.executable, "manage.py", "scrap_sga_listen", "-v", "2"], cwd=PROJECT,
                                    env=os.environ | {"BRASG_DB_NAME": db}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.addCleanup(listener.kill)
        out, err = Lines(listener.stdout), Lines(listener.stderr)
        self.wait_for(lambda: any(line.startswith("listening on channel scrap_sga") for line in out.lines), f"listening: {out.lines} {err.lines}")
        sim("/sim/write", {"model": "dimagaz.bc", "id": 8, "values": {"notes": f"heard {time.time()}"}})
        sql("SELECT * FROM scrap_sga.sync('dimagaz.bc')")
        run_id = sql("SELECT max(run_id) FROM scrap_sga.sync_run WHERE model = 'dimagaz.bc'")[0][0]
        heard = f"scrap_sga_listen: heard run {run_id} of dimagaz.bc (manual, succeeded): 0 inserted, 1 updated, 0 deleted, 0 restored; sent to "
        received = f"odoo_mirror: dimagaz.bc changed in run {run_id} (manual): 0 inserted, 1 updated, 0 deleted, 0 restored; 1 row(s) now from this run"
        self.wait_for(lambda: any(line.startswith(heard) for line in err.lines) and received in err.lines, f"heard and received: {err.lines}")
        listener.send_signal(signal.SIGTERM)
        self.assertEqual(listener.wait(10), 0, err.lines)
        out.thread.join(5)
        self.assertEqual(out.lines[-1], "stopped by SIGTERM: 1 change(s) signalled")
        self.assertFalse([line for line in err.lines if "Traceback" in line], err.lines)

    def test_the_command_says_when_no_receiver_would_get_a_signal(self):
        out, err = io.StringIO(), io.StringIO()
        with mock.patch.object(mirror_changed, "receivers", []), mock.patch.object(mirror_changed, "sender_receivers_cache", {}):
            call_command("scrap_sga_listen", "--timeout", "0.5", stdout=out, stderr=err)
        self.assertIn("no receiver is connected to scrap_sga.signals.mirror_changed", err.getvalue())
        self.assertEqual(out.getvalue().splitlines()[-1], "0 change(s) signalled")

    def wait_for(self, condition, what, seconds=20):
        end = time.monotonic() + seconds
        while not condition():
            self.assertLess(time.monotonic(), end, f"waited {seconds} s for: {what}")
            time.sleep(0.05)
