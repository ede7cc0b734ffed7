"""``manage.py scrap_sga_listen``: send the ``scrap_sga.signals.mirror_changed`` signal for every
sync run that changed the mirror, as it commits (no polling). Run it as a service of its own: it
connects again by itself when its connection drops, and signals the runs it missed meanwhile.
``-v 2`` logs each run heard; SIGTERM (a service manager's stop) or Ctrl-C ends it cleanly,
between two signals."""
import logging
import signal
import threading

from django.core.management.base import BaseCommand

from scrap_sga.feed import listen
from scrap_sga.signals import mirror_changed


class Command(BaseCommand):
    help = "Send scrap_sga.signals.mirror_changed for each sync run that changes the mirror tables (LISTEN scrap_sga)."

    def add_arguments(self, parser):
        parser.add_argument("--database", default=None, help='the Django connection to listen through (default: SCRAP_SGA["DATABASE"])')
        parser.add_argument("--timeout", type=float, default=None, help="stop after this many seconds (default: never)")
        parser.add_argument("--count", type=int, default=None, help="stop after this many notifications")

    def handle(self, *args, database, timeout, count, verbosity, **options):
        # The feed's log on standard error: dropped connections always, each run heard at -v 2.
        feed_log = logging.getLogger("scrap_sga.feed")
        handler = logging.StreamHandler(self.stderr)
        feed_log.addHandler(handler)
        feed_log.setLevel(logging.DEBUG if verbosity >= 2 else logging.INFO)
        if not mirror_changed.has_listeners():
            self.stderr.write(
                "scrap_sga_listen: no receiver is connected to scrap_sga.signals.mirror_changed: the runs heard go nowhere. "
                "Connect one in an app of the project, imported from its AppConfig.ready() (docs/django.md, \"The change feed\")."
            )
        stop = threading.Event()
        stopped_by = []

        def on_signal(number, frame):
            stopped_by.append(signal.Signals(number).name)
            stop.set()

        previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
        try:
            sent = listen(using=database, timeout=timeout, stop_after=count, stop=stop, on_listening=self.listening)
        finally:
            for s, handler_before in previous.items():
                signal.signal(s, handler_before)
            feed_log.removeHandler(handler)
        ending = f"stopped by {stopped_by[0]}: " if stopped_by else ""
        self.stdout.write(f"{ending}{sent} change(s) signalled")

    def listening(self):
        self.stdout.write("listening on channel scrap_sga (SIGTERM or Ctrl-C stops)")
        self.stdout.flush()
