"""What every generated model shares (the models module of your app is generated; this is not).

The mirror tables belong to the extension: a row changed here would be overwritten by the next
sync, and a row deleted here would come back. So writes are refused before they reach the
database, and rows Odoo deleted (soft-deleted, ``sga_deleted_at`` set) are hidden by default.

Each generated model also carries what the catalog (``scrap_sga.model_field``) says of it and
Django's field types cannot: its Odoo model name and, per Odoo field, its type, relation and a
one2many's inverse (``Model.odoo``). The API, the filters and the admin are derived from that and
from the fields themselves, never from the names of one particular Odoo's fields.
"""
from dataclasses import dataclass, field

from django.db import NotSupportedError, models


# The fields that name a record, in the order Odoo prefers them: its display name (only where a
# DBA copied it: Odoo computes it without storing it), then its _rec_name (name, or x_name on a
# custom model). Odoo's conventions, not one database's fields.
REC_NAMES = ("display_name", "complete_name", "name", "x_name")
TEXT_TYPES = ("char", "text")


def _refuse(what):
    raise NotSupportedError(f"{what}: the scrap_sga mirror tables are written by the extension only")


class MirrorQuerySet(models.QuerySet):
    # create() and get_or_create() go through Model.save(), refused below;
    # the async variants (aupdate(), adelete(), ...) call these. The underscored ones are the
    # internal paths Model.save_base() and Django's deletion collector take.
    def update(self, **kwargs):
        _refuse("update()")

    def delete(self):
        _refuse("delete()")

    def bulk_create(self, objs, *args, **kwargs):
        _refuse("bulk_create()")

    def bulk_update(self, objs, fields, batch_size=None):
        _refuse("bulk_update()")

    def update_or_create(self, *args, **kwargs):
        # It locks the row (SELECT ... FOR UPDATE) before its save(), refused anyway.
        _refuse("update_or_create()")

    def select_for_update(self, *args, **kwargs):
        # Not a write, but a row lock held by Django would hold the sync back.
        _refuse("select_for_update()")

    def _update(self, values):
        _refuse("_update()")

    _update.queryset_only = False

    def _insert(self, *args, **kwargs):
        _refuse("_insert()")

    _insert.queryset_only = False

    def _raw_delete(self, using):
        _refuse("_raw_delete()")


class LiveManager(models.Manager.from_queryset(MirrorQuerySet)):
    """Rows Odoo still has. Reverse relations use it too: ``order.line_set`` has live lines only."""

    def get_queryset(self):
        return super().get_queryset().filter(sga_deleted_at__isnull=True)


@dataclass(frozen=True)
class OdooField:
    """A row of scrap_sga.model_field, as far as Django needs it."""

    type: str
    relation: str | None = None
    # A one2many's inverse: the many2one on ``relation`` that points back (Odoo's relation_field).
    inverse: str | None = None


@dataclass(frozen=True)
class Odoo:
    """The catalog's view of a mirrored model: its Odoo name and its fields by Odoo name."""

    model: str
    fields: dict = field(default_factory=dict)

    @property
    def str_field(self):
        """The field __str__ shows: the first of REC_NAMES the model has, as text."""
        return next((n for n in REC_NAMES if n in self.fields and self.fields[n].type in TEXT_TYPES), None)

    def field_of(self, django_field):
        """The Odoo field a Django field holds (a many2one's id or its ``_display`` name), and
        whether it is that field's first column (its value rather than a name beside it)."""
        column = django_field.column
        if column in self.fields:
            return self.fields[column], True
        if column.endswith("_display") and self.fields.get(column.removesuffix("_display"), OdooField("")).type == "many2one":
            return self.fields[column.removesuffix("_display")], False
        return None, False


def table_of(model):
    """(schema, table) of a model's table: ``db_table`` as the generator writes it (codegen.Mirror),
    a plain name in ``public`` or ``"schema"."table"``."""
    name = model._meta.db_table
    if name.startswith('"') and '"."' in name:
        schema, table = name[1:-1].split('"."', 1)
        return schema, table
    return "public", name


class ReadOnlyModel(models.Model):
    """A table the extension writes and Django only reads: the mirror tables (MirrorModel) and the
    extension's own (scrap_sga.models: the run log, the retry queue, the audit log). The router
    sends them all through the reader's connection."""

    objects = models.Manager.from_queryset(MirrorQuerySet)()

    class Meta:
        abstract = True
        # Django's base manager (related objects, the deletion collector) would otherwise be a
        # plain Manager, which writes.
        base_manager_name = "objects"

    def save(self, *args, **kwargs):
        _refuse("save()")

    def save_base(self, *args, **kwargs):
        _refuse("save_base()")

    def delete(self, *args, **kwargs):
        _refuse("delete()")


class MirrorModel(ReadOnlyModel):
    # The first manager is the default one (admin, API, reverse relations): live rows only.
    objects = LiveManager()
    all_objects = models.Manager.from_queryset(MirrorQuerySet)()
    odoo = Odoo("")  # each generated model has its own

    class Meta:
        abstract = True
        # The generated models' own Meta does not repeat it: Django takes a parent's base manager.
        base_manager_name = "all_objects"

    def __str__(self):
        column = self.odoo.str_field
        attname = next((f.attname for f in self._meta.concrete_fields if f.column == column), None)
        value = getattr(self, attname) if attname else None
        # Odoo's own fallback for a record without a name: "model,id".
        return str(value) if value not in (None, "") else f"{self.odoo.model},{self.pk}"
