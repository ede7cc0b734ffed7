"""A read-only admin for every mirrored model, its columns, filters, search and inlines chosen by
rule from the catalog (admin_for, docs/django.md "The admin"). A project replaces one model's
admin with its own through SCRAP_SGA["OVERRIDES"] (usually a subclass of admin_for(model)), or
unregisters it and registers its own, as with any Django admin."""
from functools import cache

from django.contrib import admin
from django.db import models

from . import conf, derive

# Odoo's log columns: on every model, rarely what a list is about.
LOG_DATES = ("create_date", "write_date")
MAX_CHOICES_IN_FILTER = 20


class ReadOnly:
    """The mirror is written by scrap_sga only: the admin shows, never changes."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class MirrorAdmin(ReadOnly, admin.ModelAdmin):
    pass


def _decimal(f):
    """An exact number as the mirror holds it (the admin would pad it to decimal_places)."""

    def show(obj):
        value = getattr(obj, f.attname)
        return None if value is None else f"{value:f}"

    show.short_description = f.verbose_name
    show.admin_order_field = f.name
    show.__name__ = f"{f.name}_exact"
    return show


def columns(model):
    """The list's columns, by rule: id; the fields that name a record (2 at most); the names of
    the records its many2ones point to (2); selections (2); dates other than Odoo's log dates
    (2); exact numbers, monetary first (2); and ``active``, Odoo's archive flag."""
    picked = ["id"] + derive.rec_name_fields(model)[:2]
    by_type = {}
    for f, o, first in derive.odoo_columns(model):
        if o.type == "many2one" and not first:
            by_type.setdefault("many2one", []).append(f)
        elif not first:
            continue
        elif o.type == "selection" and f.choices:
            by_type.setdefault("selection", []).append(f)
        elif o.type in ("date", "datetime") and f.column not in LOG_DATES:
            by_type.setdefault("date", []).append(f)
        elif isinstance(f, models.DecimalField):
            by_type.setdefault("decimal", []).append(f)
        elif o.type == "boolean" and f.column == "active":
            by_type.setdefault("active", []).append(f)
    by_type.get("decimal", []).sort(key=lambda f: model.odoo.fields[f.column].type != "monetary")
    for kind in ("many2one", "selection", "date", "decimal", "active"):
        for f in by_type.get(kind, [])[:2]:
            if f.name not in picked:
                picked.append(_decimal(f) if isinstance(f, models.DecimalField) else f.name)
    return picked


def list_filters(model):
    """Selections with few choices, booleans, and the dates the list shows."""
    shown = set(n for n in columns(model) if isinstance(n, str))
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
    shown = [n for n in columns(model) if isinstance(n, str)]
    many2one_names = [f.name for f, o, first in derive.odoo_columns(model) if o.type == "many2one" and not first and f.name in shown]
    return derive.rec_name_fields(model) + many2one_names


def form_fields(model):
    """Every column but the binaries (their bytes say nothing on a page); exact numbers shown
    as they are."""
    out = []
    for f in model._meta.concrete_fields:
        if isinstance(f, models.BinaryField):
            continue
        out.append(f"{f.name}_exact" if isinstance(f, models.DecimalField) else f.name)
    return out


@cache
def inline_for(parent, child):
    """The children of a record, in a table under it, titled as Odoo titles the one2many."""
    fk = child.fk
    one2many = next(f for f in parent._meta.concrete_fields if f.column == child.one2many)

    def fields(model):
        return [n for n in columns(model) if n != "id" and getattr(n, "__name__", n) != fk]

    shown = fields(child.model)
    attrs = {
        "model": child.model,
        "fk_name": fk,
        "fields": [getattr(n, "__name__", n) for n in shown],
        "readonly_fields": [getattr(n, "__name__", n) for n in shown],
        "extra": 0,
        "show_change_link": True,
        "verbose_name_plural": one2many.verbose_name,
    }
    for n in shown:
        if callable(n):
            attrs[n.__name__] = staticmethod(n)
    return type(f"{child.model.__name__}Inline", (ReadOnly, admin.TabularInline), attrs)


@cache
def admin_for(model):
    """The derived ModelAdmin of a generated model, or the project's."""
    custom = conf.override(model.odoo.model, "admin")
    if custom:
        return custom
    shown = columns(model)
    attrs = {
        "list_display": [getattr(n, "__name__", n) for n in shown],
        "list_filter": list_filters(model),
        "search_fields": search_fields(model),
        "fields": form_fields(model),
        "inlines": [inline_for(model, c) for c in derive.children(model)],
    }
    decimals = [f for f in model._meta.concrete_fields if isinstance(f, models.DecimalField)]
    attrs["readonly_fields"] = [f"{f.name}_exact" for f in decimals]
    for f in decimals:
        attrs[f"{f.name}_exact"] = staticmethod(_decimal(f))
    return type(f"{model.__name__}Admin", (MirrorAdmin,), attrs)


for _model in derive.mirror_models():
    admin.site.register(_model, admin_for(_model))
