"""The project's receiver of the change feed: ``manage.py scrap_sga_listen`` sends
``scrap_sga.signals.mirror_changed`` once per model and run that changed rows, in this process,
and this function gets it (connected when the app is ready, in apps.py).

It only logs what it gets; a project would refresh a cache, notify a screen, start a task. It
reads no model of one particular Odoo: the rows a run wrote are those whose ``sga_run_id`` is
the run's, on the model whose Odoo name the signal gives."""
import logging

from django.dispatch import receiver

from scrap_sga import derive
from scrap_sga.signals import mirror_changed

log = logging.getLogger(__name__)


@receiver(mirror_changed, dispatch_uid="odoo_mirror.receivers.log_change")
def log_change(sender, model, run_id, inserted, updated, deleted, restored, caught_up=False, **change):
    mirror = derive.model_for(model)
    written = mirror.all_objects.filter(sga_run_id=run_id).count() if mirror is not None else None
    log.info(
        "odoo_mirror: %s changed in run %s (%s): %s inserted, %s updated, %s deleted, %s restored; %s row(s) now from this run%s",
        model, run_id, change.get("trigger"), inserted, updated, deleted, restored, written, " (caught up after a reconnection)" if caught_up else "",
    )
