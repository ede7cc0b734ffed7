"""A read-only admin for every mirrored model, its columns, filters, search and inlines chosen by
rule from the catalog (admin_for, docs/django.md "The admin"). A project replaces one model's
admin with its own through SCRAP_SGA["OVERRIDES"] (usually a subclass of admin_for(model)), or
unregisters it and registers its own, as with any Django admin."""
from functools import cache

from django.contrib import admin
from django.db import models

from . import conf, derive

# Odoo's log fields: on every model, rarely what a list is about.
LOG_FIELDS = ("create_date", "create_uid", "write_date", "write_uid")
MAX_CHOICES_IN_FILTER = 20


class ReadOnly:
    """The mirror is written by scrap_sga only: the admin shows, never changes."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_queryset(self, request):
        # Binaries are shown nowhere (neither in a list nor on a record's page): not read at all.
        # A real record's may weigh megabytes, and a list page has a hundred rows.
        qs = super().get_queryset(request)
        binaries = [f.name for f in qs.model._meta.concrete_fields if isinstance(f, models.BinaryField)]
        return qs.defer(*binaries) if binaries else qs


class MirrorAdmin(ReadOnly, admin.ModelAdmin):
    pass


def _shown(f):
    """The name a column is shown under: exact numbers through a method of the admin (below)."""
    return f"{f.name}_exact" if isinstance(f, models.DecimalField) else f.name


def _exact_numbers(model):
    """For each exact number, a method that shows it as the mirror holds it: the admin's own
    display would pad a monetary amount to the field's 6 decimal places."""

    def method(f):
        def show(obj):
            value = getattr(obj, f.attname)
            return None if value is None else f"{value:f}"

        show.short_description = f.verbose_name
        show.admin_order_field = f.name
        return staticmethod(show)

    return {_shown(f): method(f) for f in model._meta.concrete_fields if isinstance(f, models.DecimalField)}


def columns(model, leave_out=()):
    """The list's columns, by rule: id; the fields that name a record (2 at most); the names of
    the records its many2ones point to (3); selections (2); dates (2); exact numbers, monetary
    first (2); and ``active``, Odoo's archive flag; never Odoo's log fields (who wrote, when).
    ``leave_out``: Odoo fields not to show (an inline's link to its parent)."""
    picked = ["id"] + derive.rec_name_fields(model)[:2]
    by_type = {kind: [] for kind in ("many2one", "selection", "date", "decimal", "active")}
    for f, o, first in derive.odoo_columns(model):
        odoo_name = f.column if first else f.column.removesuffix("_display")
        if odoo_name in leave_out or odoo_name in LOG_FIELDS:
            continue
        if o.type == "many2one" and not first:
            by_type["many2one"].append(f)
        elif not first:
            continue
        elif o.type == "selection" and f.choices:
            by_type["selection"].append(f)
        elif o.type in ("date", "datetime"):
            by_type["date"].append(f)
        elif isinstance(f, models.DecimalField):
            by_type["decimal"].append(f)
        elif o.type == "boolean" and f.column == "active":
            by_type["active"].append(f)
    by_type["decimal"].sort(key=lambda f: model.odoo.fields[f.column].type != "monetary")
    for kind, fields in by_type.items():
        picked += [_shown(f) for f in fields[: 3 if kind == "many2one" else 2] if _shown(f) not in picked]
    return picked


def list_filters(model):
    """Selections with few choices, booleans, and the dates the list shows."""
    shown = set(columns(model))
    out = []
    for f, o, first in derive.odoo_columns(model):
        if not first:
            continue
        if (o.type == "selection" and f.choices and len(f.choices) <= MAX_CHOICES_IN_FILTER) or o.type == "boolean":
            out.append(f.name)
        elif o.type in ("date", "datetime") and f.name in shown:
            out.append(f.name)
    return out


def search_fields(model):
    """The fields that name a record, and the names of the records its shown many2ones point to."""
    shown = set(columns(model))
    many2one_names = [f.name for f, o, first in derive.odoo_columns(model) if o.type == "many2one" and not first and f.name in shown]
    return derive.rec_name_fields(model) + many2one_names


def form_fields(model):
    """Every column but the binaries (their bytes say nothing on a page)."""
    return [_shown(f) for f in model._meta.concrete_fields if not isinstance(f, models.BinaryField)]


@cache
def inline_for(parent, child):
    """The children of a record, in a table under it, titled as Odoo titles the one2many."""
    link = child.model._meta.get_field(child.fk).column
    shown = [n for n in columns(child.model, leave_out={link}) if n != "id"]
    return type(f"{child.model.__name__}Inline", (ReadOnly, admin.TabularInline), {
        "model": child.model,
        "fk_name": child.fk,
        "fields": shown,
        "readonly_fields": shown,
        "extra": 0,
        "show_change_link": True,
        "verbose_name_plural": next(f for f in parent._meta.concrete_fields if f.column == child.one2many).verbose_name,
        **_exact_numbers(child.model),
    })


@cache
def admin_for(model):
    """The derived ModelAdmin of a generated model, or the project's."""
    custom = conf.override(model.odoo.model, "admin")
    if custom:
        return custom
    exact = _exact_numbers(model)
    return type(f"{model.__name__}Admin", (MirrorAdmin,), {
        "list_display": columns(model),
        "list_filter": list_filters(model),
        "search_fields": search_fields(model),
        "fields": form_fields(model),
        "readonly_fields": list(exact),
        "inlines": [inline_for(model, c) for c in derive.children(model)],
        **exact,
    })


for _model in derive.mirror_models():
    admin.site.register(_model, admin_for(_model))
