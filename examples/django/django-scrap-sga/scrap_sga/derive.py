"""The rules that turn a generated model (its Django fields and its ``odoo`` description, both
from the catalog) into the API's filters, orderings, search, nested children and endpoint, and
the admin's columns. Every mirrored model goes through the same rules: nothing here knows the
fields of one particular Odoo. docs/django.md states the rules; tests/test_derived.py checks
them against the catalog itself.
"""
from dataclasses import dataclass
from functools import cache

from django.apps import apps
from django.contrib.postgres.fields import ArrayField
from django.db import models

from . import conf
from .mirror import REC_NAMES, TEXT_TYPES, MirrorModel

# Odoo's own naming conventions (the framework's, not one database's): its ordering handle, and
# its last-write stamp (the fields that name a record are mirror.REC_NAMES).
SEQUENCE = "sequence"
WRITE_DATE = "write_date"
# Never served (which run wrote a row is the change feed's business), so neither sorted on.
HIDDEN = ["sga_run_id"]
# Query parameters the API uses itself: no filter may take these names.
RESERVED = {"ordering", "page", "search", "cursor", "format"}


def mirror_models():
    """Every generated model, whichever app of the project holds them, by Odoo model name."""
    return sorted((m for m in apps.get_models() if issubclass(m, MirrorModel)), key=lambda m: m.odoo.model)


def model_for(odoo_model):
    return next((m for m in mirror_models() if m.odoo.model == odoo_model), None)


def odoo_columns(model):
    """(Django field, Odoo field, first column?) for every column of an Odoo field."""
    out = []
    for f in model._meta.concrete_fields:
        odoo_field, first = model.odoo.field_of(f)
        if odoo_field is not None:
            out.append((f, odoo_field, first))
    return out


def is_scalar(f):
    """A column one can sort on: not a list, a JSON document or bytes."""
    return not isinstance(f, (ArrayField, models.JSONField, models.BinaryField))


@cache
def rec_name_fields(model):
    """The fields that name a record: Odoo's display name where copied, else its _rec_name
    (name, or x_name on a custom model); with none of these, every char field."""
    by_column = {f.column: (f, o) for f, o, first in odoo_columns(model) if first}
    named = [by_column[n][0].name for n in REC_NAMES if n in by_column and by_column[n][1].type in TEXT_TYPES]
    if named:
        return named
    return [f.name for f, o in sorted(by_column.values(), key=lambda p: p[0].column) if o.type == "char"]


@dataclass(frozen=True)
class FilterSpec:
    """One derived filter: its query parameter, the model field, the lookup, and its kind
    (many2one, many2many, date, selection, boolean, changed_since)."""

    name: str
    field: str
    lookup: str
    kind: str


@cache
def filter_specs(model):
    """The filters, by Odoo type (docs/django.md, "Filters"):

    - many2one: by id, named after the field without ``_id`` (partner_id: ``partner``);
    - many2many: records that have this id among theirs, named the same way (``tag_ids``: ``tag``);
    - date and datetime: ``<field>_from`` and ``<field>_to``, inclusive days;
    - selection: exact, one of its choices; boolean: true or false;
    - ``changed_since``: ``write_date`` at or after a date-time.

    A preferred name that is another field's name, a parameter the API uses, or another
    filter's, falls back to ``<column>__<lookup>``, which no field can be called.
    """
    columns = odoo_columns(model)
    taken = set(RESERVED)
    own = {}
    for f in model._meta.concrete_fields:
        for name in {f.name, f.column, f.attname}:
            own.setdefault(name, set()).add(f)
    specs = []

    def add(candidates, field, lookup, kind):
        for name in candidates:
            if name not in taken and own.get(name, {field}) <= {field}:
                taken.add(name)
                specs.append(FilterSpec(name, field.name, lookup, kind))
                return

    for f, o, first in sorted(columns, key=lambda c: c[0].column):
        if not first:
            continue
        col = f.column
        if o.type == "many2one":
            add([_strip(col, "_id"), col, f"{col}__exact"], f, "exact", "many2one")
        elif o.type == "many2many" and isinstance(f, ArrayField):
            add([_strip(_strip(col, "_ids"), "_id"), col, f"{col}__contains"], f, "contains", "many2many")
        elif o.type in ("date", "datetime"):
            day = "date__" if o.type == "datetime" else ""
            add([f"{col}_from", f"{col}__gte"], f, f"{day}gte", "date")
            add([f"{col}_to", f"{col}__lte"], f, f"{day}lte", "date")
        elif o.type == "selection" and f.choices:
            add([col, f"{col}__exact"], f, "exact", "selection")
        elif o.type == "boolean":
            add([col, f"{col}__exact"], f, "exact", "boolean")
    write_date = next((f for f, o, first in columns if f.column == WRITE_DATE and o.type == "datetime"), None)
    if write_date is not None:
        add(["changed_since", f"{WRITE_DATE}__gte"], write_date, "gte", "changed_since")
    return specs


def _strip(name, suffix):
    return name.removesuffix(suffix) if name.endswith(suffix) and name != suffix else name


@cache
def ordering_fields(model):
    """Every stored scalar column, by the name the API shows it under. The API adds ``id`` as the
    last key of every ordering (views.StableOrderingFilter)."""
    return [f.name for f in model._meta.concrete_fields if is_scalar(f) and f.name not in HIDDEN]


@dataclass(frozen=True)
class Children:
    """A one2many whose inverse many2one is mirrored: shown nested in the parent's detail."""

    key: str  # the key in the parent's detail
    one2many: str  # the Odoo field
    model: type  # the child model
    accessor: str  # the parent's reverse accessor (order.line_set)
    fk: str  # the child's ForeignKey field name
    count_key: str  # the key of how many there are, in the parent's detail

    @property
    def prefetched(self):
        """The attribute of the parent the detail's prefetch puts the nested children in (a
        sliced prefetch must have one of its own: Django filters a manager's queryset again)."""
        return f"scrap_sga_nested_{self.key}"


@cache
def children(model):
    """Nested children: for each one2many of the model whose inverse (Odoo's relation_field) is
    a ForeignKey of a mirrored model back to this one. The key is the one2many's name with
    ``_ids`` as ``s`` (line_ids: ``lines``), or ``<name>_records`` where that would not do; how
    many there are is ``<key>_count`` (``<name>_records_count`` where that would not do)."""
    out = []
    names = {f.name for f in model._meta.get_fields()} | {f.attname for f in model._meta.concrete_fields}
    for name, o in sorted(model.odoo.fields.items()):
        if o.type != "one2many" or not o.inverse:
            continue
        child = model_for(o.relation)
        if child is None:
            continue
        fk = next((f for f in child._meta.concrete_fields if f.column == o.inverse and f.is_relation and f.related_model is model), None)
        if fk is None:
            continue
        key = name.removesuffix("_ids") + "s" if name.endswith("_ids") else f"{name}_records"
        taken = names | {k for c in out for k in (c.key, c.count_key)}
        key = _free(taken, key, f"{name}_records")
        count_key = _free(taken | {key}, f"{key}_count", f"{name}_records_count")
        out.append(Children(key, name, child, fk.remote_field.get_accessor_name(), fk.name, count_key))
    return out


def _free(taken, *wanted):
    """The first of ``wanted`` not taken, else the last one numbered from 2 on."""
    return next(k for k in (*wanted, *(f"{wanted[-1]}_{i}" for i in range(2, 1000))) if k not in taken)


def children_order(c):
    """How nested children are ordered: by Odoo's ``sequence`` where the child has one, then id."""
    return [f for f in (sequence_field(c.model), "id") if f]


def heavy_fields(model):
    """What lists leave out (the detail has it): one2many id lists and binaries, whose size
    has no bound."""
    heavy = []
    for f, o, first in odoo_columns(model):
        if isinstance(f, models.BinaryField) or (o.type == "one2many" and first):
            heavy.append(f.name)
    return heavy


def endpoint(model):
    """The API path segment: the ENDPOINTS setting, else the Odoo model with dots as dashes."""
    return conf.setting("ENDPOINTS").get(model.odoo.model) or model.odoo.model.replace(".", "-")


def sequence_field(model):
    """Odoo's ordering handle (an integer ``sequence``), where the model has one."""
    o = model.odoo.fields.get(SEQUENCE)
    return SEQUENCE if o is not None and o.type == "integer" else None
