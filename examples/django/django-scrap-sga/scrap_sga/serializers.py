"""The API's serializers, derived for each mirrored model from its generated model.

Every column is served under its Django field name (a many2one to a mirrored model under the
field's name without ``_id``, as the model has it), binaries as base64 and exact numbers
(numeric: Odoo's monetary fields and floats with digits) as decimal strings, digit for digit
what the mirror holds. The detail of a record also nests its children, where a one2many's
inverse is mirrored (derive.children); lists leave out what has no size bound (derive.heavy_fields).

A project replaces one model's serializers with its own (SCRAP_SGA["OVERRIDES"]), usually
subclasses of the derived ones: ``class OrderSerializer(serializer_for(ScrapDimagazBc)): ...``.
"""
import base64
import datetime
from functools import cache

from django.db import models
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from . import conf, derive, history

HIDDEN = derive.HIDDEN


@extend_schema_field(OpenApiTypes.BYTE)
class Base64Field(serializers.Field):
    """Binary columns (bytea) as base64 text, the way Odoo itself sends them."""

    def to_representation(self, value):
        return base64.b64encode(bytes(value)).decode()


class MirrorSerializer(serializers.ModelSerializer):
    # By column type, not by name: a binary field added in Odoo is base64 too, with no edit here.
    serializer_field_mapping = serializers.ModelSerializer.serializer_field_mapping | {models.BinaryField: Base64Field}

    def build_standard_field(self, field_name, model_field):
        field_class, kwargs = super().build_standard_field(field_name, model_field)
        if isinstance(model_field, models.DecimalField):
            # Not rounded to the model's decimal_places: the value as the mirror holds it, which
            # is Odoo's (a monetary field has its currency's decimals, not a fixed number).
            kwargs.update(max_digits=None, decimal_places=None)
        if isinstance(model_field, models.DateTimeField):
            # In UTC, as Odoo keeps them, whatever the project's TIME_ZONE (DRF would render
            # them in it).
            kwargs["default_timezone"] = datetime.timezone.utc
        return field_class, kwargs


class DetailSerializer(MirrorSerializer):
    """A record with its children nested. The derived viewset prefetches them and counts them in
    its query; a record from anywhere else (a project's own view) gets them read here."""

    def to_representation(self, instance):
        for c in derive.children(self.Meta.model):
            if not hasattr(instance, c.prefetched):
                rows = getattr(instance, c.accessor).order_by(*derive.children_order(c))
                setattr(instance, c.prefetched, list(rows[: conf.setting("NESTED_LIMIT")]))
            if not hasattr(instance, c.count_key):
                setattr(instance, c.count_key, getattr(instance, c.accessor).count())
        return super().to_representation(instance)


def _model(model):
    return derive.model_for(model) if isinstance(model, str) else model


@cache
def list_serializer_for(model):
    """What a list shows of each row: every column but the unbounded ones."""
    model = _model(model)
    custom = conf.override(model.odoo.model, "list_serializer")
    if custom:
        return custom
    meta = type("Meta", (), {"model": model, "exclude": HIDDEN + derive.heavy_fields(model)})
    return type(f"{model.__name__}ListSerializer", (MirrorSerializer,), {
        "Meta": meta, "__doc__": f"A row of {model._meta.db_table} (Odoo {model.odoo.model}) in a list.",
    })


@cache
def serializer_for(model):
    """What the detail shows: every column, and the children nested (live ones, by Odoo's
    ``sequence`` where they have one, then id; NESTED_LIMIT at most), with how many there are."""
    model = _model(model)
    custom = conf.override(model.odoo.model, "serializer")
    if custom:
        return custom
    attrs = {
        "Meta": type("Meta", (), {"model": model, "exclude": HIDDEN}),
        "__doc__": f"A row of {model._meta.db_table} (Odoo {model.odoo.model}).",
    }
    for c in derive.children(model):
        attrs[c.key] = list_serializer_for(c.model)(
            source=c.prefetched, many=True, read_only=True,
            help_text=f"The records of {c.one2many} ({c.model.odoo.model} whose {c.fk} is this one), live ones; "
                      f"the first SCRAP_SGA['NESTED_LIMIT'] (1000 by default) at most: {c.count_key} says how many there are.",
        )
        attrs[c.count_key] = serializers.IntegerField(
            read_only=True, help_text=f"How many live records {c.one2many} has: more than {c.key} holds when they are over the limit.",
        )
    return type(f"{model.__name__}Serializer", (DetailSerializer,), attrs)


class ProgressSerializer(serializers.Serializer):
    """A run under way: a row of the extension's scrap_sga.progress (0.4.0), or, before it, what
    the run log tells of it (what it has fetched so far; phase, total and estimate null)."""

    run_id = serializers.IntegerField(help_text="The run (scrap_sga.sync_run).")
    model = serializers.CharField(help_text="The Odoo model.")
    trigger = serializers.CharField(help_text="What started it: manual, worker, resync, full_resync, reconcile, resync_failed.")
    pid = serializers.IntegerField(allow_null=True, help_text="The PostgreSQL process doing it.")
    started_at = serializers.DateTimeField(help_text="When it started.")
    phase = serializers.CharField(allow_null=True, help_text="What it is doing: full pass, window, deletion check, reconcile, retries...")
    done = serializers.IntegerField(allow_null=True, help_text="Records done so far in this phase.")
    expected = serializers.IntegerField(allow_null=True, help_text="Records this phase will do, where known.")
    percent = serializers.FloatField(allow_null=True, help_text="done / expected, in percent, where known.")
    records_per_second = serializers.FloatField(allow_null=True, help_text="Its pace so far.")
    eta = serializers.DateTimeField(allow_null=True, help_text="When it should be done, where known.")
    requests = serializers.IntegerField(allow_null=True, help_text="Requests sent to Odoo so far.")
    waits = serializers.IntegerField(allow_null=True, help_text="Answers of 429 or 503 waited for.")
    parked = serializers.IntegerField(allow_null=True, help_text="Records set aside in the retry queue.")
    resumed_from = serializers.IntegerField(allow_null=True, help_text="The id after which its full pass resumed, when it took up a pass that was cut.")
    updated_at = serializers.DateTimeField(allow_null=True, help_text="When this progress was last reported.")


class SyncStatusSerializer(serializers.Serializer):
    """A row of scrap_sga.status, with the runs of the model under way."""

    model = serializers.CharField(help_text="The Odoo model.")
    rows = serializers.IntegerField(allow_null=True, help_text="Live rows in its mirror table (null before its first sync).")
    last_run_id = serializers.IntegerField(allow_null=True, help_text="The last run (scrap_sga.sync_run).")
    last_status = serializers.CharField(allow_null=True, help_text="Status of the last run: running, succeeded or failed.")
    last_run_at = serializers.DateTimeField(allow_null=True, help_text="When the last run started.")
    last_error = serializers.CharField(allow_null=True, help_text="The last run's error, if it failed.")
    last_success_at = serializers.DateTimeField(allow_null=True, help_text="When the last successful run finished.")
    lag_seconds = serializers.FloatField(allow_null=True, help_text="Seconds since the last successful run finished.")
    waiting_retry = serializers.IntegerField(help_text="Records waiting in the retry queue.")
    worker = serializers.CharField(allow_null=True, help_text="The background worker's state.")
    next_run_at = serializers.DateTimeField(allow_null=True, help_text="When the worker runs next.")
    progress = ProgressSerializer(many=True, help_text="The model's runs under way (empty when none is).")


class ChangeSerializer(serializers.Serializer):
    """One column a write changed."""

    field = serializers.CharField(help_text="The field, by the name the record's endpoint shows it under (the column's, "
                                            "where the model no longer has it).")
    old = serializers.JSONField(allow_null=True, help_text="Its value before, as the endpoint serves it (exact numbers as "
                                                           "decimal text, datetimes in UTC); a binary as {bytes, sha256}.")
    new = serializers.JSONField(allow_null=True, help_text="Its value after, the same way.")


class HistoryEntrySerializer(serializers.Serializer):
    """A row of the audit log (scrap_sga.audit_log) of one record: a write of the sync."""

    audit_id = serializers.IntegerField(help_text="The audit row (increasing: the newest is the highest).")
    logged_at = serializers.DateTimeField(default_timezone=datetime.timezone.utc, help_text="When the run wrote it.")
    run_id = serializers.IntegerField(allow_null=True, help_text="The run that wrote it (scrap_sga.sync_run).")
    trigger = serializers.CharField(allow_null=True, help_text="What started that run (null once the run log has pruned it).")
    operation = serializers.ChoiceField(choices=list(history.OPERATIONS.items()), help_text="What the run did to the record.")
    changes = serializers.SerializerMethodField(help_text="The columns it changed, old and new values; empty for an insert "
                                                          "(the record was copied whole).")

    @extend_schema_field(ChangeSerializer(many=True))
    def get_changes(self, entry):
        return [{"field": c.field, "old": c.old, "new": c.new} for c in history.changes(self.context["model"], entry)]
