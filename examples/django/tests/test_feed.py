"""The change feed against a real sync: a run that changes rows reaches a receiver of
``mirror_changed`` through LISTEN/NOTIFY; a quiet run sends nothing."""
import threading

from django.test import TransactionTestCase

from scrap_sga.feed import listen
from scrap_sga.signals import mirror_changed

from .helpers import SIM, sim, sql


class ChangeFeedTests(TransactionTestCase):
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

    def test_a_quiet_run_sends_nothing(self):
        sent = self.listen_during(lambda: sql("SELECT * FROM scrap_sga.sync()"), timeout=3)
        self.assertEqual((sent, self.received), (0, []))
