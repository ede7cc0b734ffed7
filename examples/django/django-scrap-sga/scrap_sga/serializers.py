import base64

from django.db import models
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from .models import ScrapDimagazBc, ScrapDimagazBcLine


@extend_schema_field(OpenApiTypes.BYTE)
class Base64Field(serializers.Field):
    """Binary columns (bytea) as base64 text, the way Odoo itself sends them."""

    def to_representation(self, value):
        return base64.b64encode(bytes(value)).decode()


class MirrorSerializer(serializers.ModelSerializer):
    # By column type, not by name: a binary field added in Odoo is base64 too, with no edit here.
    serializer_field_mapping = serializers.ModelSerializer.serializer_field_mapping | {models.BinaryField: Base64Field}


class LineSerializer(MirrorSerializer):
    class Meta:
        model = ScrapDimagazBcLine
        exclude = ["sga_run_id"]


class OrderSerializer(MirrorSerializer):
    lines = LineSerializer(source="line_set", many=True, read_only=True, help_text="The order's lines (live ones), by sequence.")

    class Meta:
        model = ScrapDimagazBc
        exclude = ["sga_run_id"]


class OrderListSerializer(MirrorSerializer):
    """The list leaves lines out (GET /orders/<id>/ has them): pages stay small."""

    class Meta:
        model = ScrapDimagazBc
        exclude = ["sga_run_id", "line_ids"]


class SyncStatusSerializer(serializers.Serializer):
    """A row of scrap_sga.status."""

    model = serializers.CharField(help_text="The Odoo model.")
    rows = serializers.IntegerField(allow_null=True, help_text="Live rows in its mirror table (null before its first sync).")
    last_status = serializers.CharField(allow_null=True, help_text="Status of the last run: running, succeeded or failed.")
    last_run_at = serializers.DateTimeField(allow_null=True, help_text="When the last run started.")
    last_success_at = serializers.DateTimeField(allow_null=True, help_text="When the last successful run finished.")
    lag_seconds = serializers.FloatField(allow_null=True, help_text="Seconds since the last successful run finished.")
    waiting_retry = serializers.IntegerField(help_text="Records waiting in the retry queue.")
    worker = serializers.CharField(allow_null=True, help_text="The background worker's state.")
    next_run_at = serializers.DateTimeField(allow_null=True, help_text="When the worker runs next.")
