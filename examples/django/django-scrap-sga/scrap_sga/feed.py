"""The change feed: LISTEN to the extension's notifications and turn each into a Django signal.

The extension sends ``NOTIFY scrap_sga`` with a JSON payload when a run commits changed rows; a
quiet run sends nothing. Listening needs a connection of its own, outside Django's (a LISTEN
only hears while its connection stays open and idle), to the same database.
"""
import json

import psycopg
from django.db import connections

from .signals import mirror_changed

CHANNEL = "scrap_sga"


def listen(using="default", timeout=None, stop_after=None, on_listening=None):
    """Send ``mirror_changed`` for each notification; return how many were sent.

    ``timeout``: seconds to wait in all (None: forever); ``stop_after``: return after that many
    notifications; ``on_listening``: called once LISTEN is in place (nothing sent before it is
    heard).
    """
    params = connections[using].get_connection_params()
    sent = 0
    with psycopg.connect(**params, autocommit=True) as conn:
        conn.execute(f"LISTEN {CHANNEL}")
        if on_listening:
            on_listening()
        for note in conn.notifies(timeout=timeout, stop_after=stop_after):
            mirror_changed.send(sender=listen, **json.loads(note.payload))
            sent += 1
    return sent
