import base64

from rest_framework import serializers

from .models import ScrapDimagazBc, ScrapDimagazBcLine


class Base64Field(serializers.Field):
    """Binary columns (bytea) as base64 text, the way Odoo itself sends them."""

    def to_representation(self, value):
        return base64.b64encode(bytes(value)).decode() if value is not None else None


class LineSerializer(serializers.ModelSerializer):
    class Meta:
        model = ScrapDimagazBcLine
        exclude = ["sga_run_id"]


class OrderSerializer(serializers.ModelSerializer):
    signature = Base64Field(read_only=True)
    lines = LineSerializer(many=True, read_only=True)

    class Meta:
        model = ScrapDimagazBc
        exclude = ["sga_run_id"]


class OrderListSerializer(OrderSerializer):
    """The list leaves lines out (GET /orders/<id>/ has them): pages stay small."""

    class Meta(OrderSerializer.Meta):
        exclude = ["sga_run_id", "line_ids"]
        fields = None

    def get_fields(self):
        fields = super().get_fields()
        fields.pop("lines", None)
        return fields
