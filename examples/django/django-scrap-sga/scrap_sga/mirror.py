"""What every generated model shares (models.py is generated; this is not).

The mirror tables belong to the extension: a row changed here would be overwritten by the next
sync, and a row deleted here would come back. So writes are refused before they reach the
database, and rows Odoo deleted (soft-deleted, ``sga_deleted_at`` set) are hidden by default.
"""
from django.db import NotSupportedError, models


def _refuse(what):
    raise NotSupportedError(f"{what}: the scrap_sga mirror tables are written by the extension only")


class MirrorQuerySet(models.QuerySet):
    # create(), get_or_create() and update_or_create() go through Model.save(), refused below.
    def update(self, **kwargs):
        _refuse("update()")

    def delete(self):
        _refuse("delete()")

    def bulk_create(self, objs, *args, **kwargs):
        _refuse("bulk_create()")

    def bulk_update(self, objs, fields, batch_size=None):
        _refuse("bulk_update()")


class LiveManager(models.Manager.from_queryset(MirrorQuerySet)):
    """Rows Odoo still has. Reverse relations use it too: ``order.line_set`` has live lines only."""

    def get_queryset(self):
        return super().get_queryset().filter(sga_deleted_at__isnull=True)


class MirrorModel(models.Model):
    # The first manager is the default one (admin, API, reverse relations): live rows only.
    objects = LiveManager()
    all_objects = models.Manager.from_queryset(MirrorQuerySet)()

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        _refuse("save()")

    def delete(self, *args, **kwargs):
        _refuse("delete()")
