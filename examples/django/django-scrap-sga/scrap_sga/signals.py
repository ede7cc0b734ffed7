"""Django signals for what scrap_sga changed in the mirror tables.

``mirror_changed`` is sent once per model and sync run that inserted, updated, deleted or
restored rows, by ``manage.py scrap_sga_listen`` (which listens to the extension's
``NOTIFY scrap_sga``). Receivers get the payload's keys as keyword arguments: ``model``,
``table``, ``run_id``, ``trigger``, ``status``, ``inserted``, ``updated``, ``deleted``,
``restored``. The rows a run wrote are those with ``sga_run_id = run_id``.
"""
from django.dispatch import Signal

mirror_changed = Signal()
