"""A mirrored record's history, from the extension's audit log (scrap_sga.audit_log): when, which
run, the operation, and per changed column its old and new value. The API's
``/api/<model>/<id>/history/`` and the admin's history page of a record both show this.

The log keeps only the columns a write changed (both NULL for an insert: the row held the values),
as ``to_jsonb`` renders them; each value is given back here as the API serves the column: exact
numbers as decimal text, datetimes in UTC, binaries by size and digest.
"""
import datetime
import hashlib
import json
from dataclasses import dataclass
from decimal import Decimal

from django.db import models
from django.db.models import F, Q

from .mirror import table_of
from .models import AuditLog

OPERATIONS = {
    "insert": "copied from Odoo",
    "update": "changed in Odoo",
    "soft_delete": "deleted in Odoo",
    "restore": "back in Odoo",
}


def entries(model, odoo_id):
    """The audit rows of one record, newest first, each with its run's trigger (None once the run
    has been pruned from the run log, whose retention is its own). Found through the log's index
    on (table_name, odoo_id); rows logged before extension 0.3.0 have no schema and are taken."""
    schema, table = table_of(model)
    return (
        AuditLog.objects.filter(table_name=table, odoo_id=odoo_id)
        .filter(Q(table_schema=schema) | Q(table_schema__isnull=True))
        .annotate(trigger=F("run__trigger"))
        .order_by("-audit_id")
    )


@dataclass(frozen=True)
class Change:
    field: str  # the name the API shows the column under (the column, where the model has no field)
    label: str  # the admin's
    old: object
    new: object


def changes(model, entry):
    """What one audit row changed, column by column, in the model's field order."""
    fields = {f.column: f for f in model._meta.concrete_fields}
    order = {column: i for i, column in enumerate(fields)}
    old, new = entry.old_values or {}, entry.new_values or {}
    out = []
    for column in sorted(old.keys() | new.keys(), key=lambda c: (order.get(c, len(order)), c)):
        f = fields.get(column)
        out.append(Change(
            field=f.name if f else column,
            label=str(f.verbose_name) if f else column,
            old=value(f, old.get(column)),
            new=value(f, new.get(column)),
        ))
    return out


def value(f, logged):
    """A logged value as the API serves its column."""
    if logged is None:
        return None
    if isinstance(f, models.BinaryField):
        return binary(logged)
    if isinstance(f, models.DecimalField) and isinstance(logged, (int, Decimal)):
        return f"{Decimal(logged):f}"
    if isinstance(f, models.DateTimeField) and isinstance(logged, str):
        try:
            when = datetime.datetime.fromisoformat(logged)
        except ValueError:
            return logged
        return when.astimezone(datetime.timezone.utc).isoformat().replace("+00:00", "Z")
    return _plain(logged)


def binary(logged):
    """A binary by its size and SHA-256. From extension 0.4.0 on the log holds just that
    (``{"bytes": N, "sha256": "..."}``); older rows hold the bytes as to_jsonb's hex text
    (``\\x89504e47...``), summed up here the same way. Anything else is shown as it is."""
    if isinstance(logged, str) and logged.startswith("\\x"):
        try:
            raw = bytes.fromhex(logged[2:])
        except ValueError:
            return logged
        return {"bytes": len(raw), "sha256": hashlib.sha256(raw).hexdigest()}
    return _plain(logged)


def _plain(logged):
    """Numbers with a fraction were read as Decimal (models.ExactNumbers); outside exact columns
    they are floats, as the API serves them."""
    if isinstance(logged, Decimal):
        return float(logged)
    if isinstance(logged, list):
        return [_plain(v) for v in logged]
    if isinstance(logged, dict):
        return {k: _plain(v) for k, v in logged.items()}
    return logged


def shown(v):
    """A value as the admin prints it."""
    if v is None:
        return "—"
    if isinstance(v, dict) and set(v) == {"bytes", "sha256"}:
        return f"{v['bytes']:,} bytes, sha256 {str(v['sha256'])[:16]}…"
    if isinstance(v, str):
        return v
    return json.dumps(v, ensure_ascii=False)
