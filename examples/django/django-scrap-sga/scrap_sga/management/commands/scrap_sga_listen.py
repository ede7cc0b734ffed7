"""``manage.py scrap_sga_listen``: send the ``scrap_sga.signals.mirror_changed`` signal for every
sync run that changed the mirror, as it commits (no polling). Run it as a service of its own: it
connects again by itself when its connection drops, and signals the runs it missed meanwhile."""
import logging

from django.core.management.base import BaseCommand

from scrap_sga.feed import listen


class Command(BaseCommand):
    help = "Send scrap_sga.signals.mirror_changed for each sync run that changes the mirror tables (LISTEN scrap_sga)."

    def add_arguments(self, parser):
        parser.add_argument("--database", default=None, help='the Django connection to listen through (default: SCRAP_SGA["DATABASE"])')
        parser.add_argument("--timeout", type=float, default=None, help="stop after this many seconds (default: never)")
        parser.add_argument("--count", type=int, default=None, help="stop after this many notifications")

    def handle(self, *args, database, timeout, count, **options):
        # The feed's warnings (a dropped connection, the next try) on standard error.
        handler = logging.StreamHandler(self.stderr)
        logging.getLogger("scrap_sga.feed").addHandler(handler)
        logging.getLogger("scrap_sga.feed").setLevel(logging.INFO)
        self.stdout.write("listening on channel scrap_sga; Ctrl-C stops")
        try:
            sent = listen(using=database, timeout=timeout, stop_after=count)
        except KeyboardInterrupt:
            return
        self.stdout.write(f"{sent} change(s) signalled")
