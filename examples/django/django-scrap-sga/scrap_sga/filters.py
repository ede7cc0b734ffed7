"""The API's filters. A value that cannot be read is a 400 naming the parameter (django-filter
through DRF), and drf-spectacular documents each one in the schema, its description from its
help_text."""
import django_filters as df
from django import forms
from drf_spectacular.utils import extend_schema_field

from .models import ScrapDimagazBc, ScrapDimagazBcLine


class OdooIdFilter(df.NumberFilter):
    # A NumberFilter alone reads decimals: ?partner=1.5 would be accepted and match nothing.
    field_class = forms.IntegerField

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # drf-spectacular takes a NumberFilter's type from the model field, and a many2one to a
        # mirrored model is a ForeignKey, documented as "number". Stated here instead; a stated
        # type replaces the description too, so it is restated.
        extend_schema_field({"type": "integer", "description": self.extra.get("help_text", "")})(self)


class TrueFalseField(forms.Field):
    def to_python(self, value):
        if value in self.empty_values:
            return None
        try:
            return {"true": True, "false": False}[value.lower()]
        except KeyError:
            raise forms.ValidationError("Expected true or false.", code="invalid") from None


class TrueFalseFilter(df.Filter):
    # django-filter's BooleanFilter turns a value it cannot read into "no filter": ?active=yes
    # would silently answer every row.
    field_class = TrueFalseField


class ChangedSinceFilterSet(df.FilterSet):
    changed_since = df.IsoDateTimeFilter(
        field_name="write_date", lookup_expr="gte",
        help_text="Written in Odoo at or after this ISO 8601 date-time (write_date), e.g. 2026-01-31T08:00:00Z.",
    )


class OrderFilter(ChangedSinceFilterSet):
    state = df.CharFilter(help_text="Odoo state, e.g. draft, confirmed, done, cancel.")
    partner = OdooIdFilter(field_name="partner_id", help_text="Odoo id of the partner (partner_id).")
    date_from = df.DateFilter(field_name="date_order", lookup_expr="date__gte", help_text="date_order on or after this day (YYYY-MM-DD, in the server's time zone).")
    date_to = df.DateFilter(field_name="date_order", lookup_expr="date__lte", help_text="date_order on or before this day (YYYY-MM-DD, in the server's time zone).")
    active = TrueFalseFilter(help_text="true: active orders only; false: archived ones only. Both when absent.")

    class Meta:
        model = ScrapDimagazBc
        fields = []


class LineFilter(ChangedSinceFilterSet):
    order = OdooIdFilter(field_name="order_id", help_text="Odoo id of the order (order_id).")
    product = OdooIdFilter(field_name="product_id", help_text="Odoo id of the product (product_id).")

    class Meta:
        model = ScrapDimagazBcLine
        fields = []
