"""The API's filters, derived for each mirrored model from its Odoo field types (derive.filter_specs).
A value that cannot be read is a 400 naming the parameter (django-filter through DRF), and
drf-spectacular documents each one in the schema, its description from its help_text.

A project replaces one model's FilterSet with its own (SCRAP_SGA["OVERRIDES"]), usually a
subclass of the derived one: ``class OrderFilter(filterset_for("dimagaz.bc")): ...``.
"""
import datetime
from functools import cache

import django_filters as df
from django import forms
from django.utils import timezone
from drf_spectacular.utils import extend_schema_field

from . import derive


class OdooIdFilter(df.NumberFilter):
    # A NumberFilter alone reads decimals: ?partner=1.5 would be accepted and match nothing.
    field_class = forms.IntegerField

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # drf-spectacular takes a NumberFilter's type from the model field, and a many2one to a
        # mirrored model is a ForeignKey, documented as "number". Stated here instead; a stated
        # type replaces the description too, so it is restated.
        extend_schema_field({"type": "integer", "description": self.extra.get("help_text", "")})(self)


class OdooIdInFilter(OdooIdFilter):
    """A many2many: the records whose id list holds this id."""

    def filter(self, qs, value):
        if value is None:
            return qs
        return qs.filter(**{f"{self.field_name}__contains": [value]})


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


class DayFilter(df.DateFilter):
    """A datetime on or after (``gte``), or on or before (``lte``), a day in the server's time
    zone, as a range of instants: its column's index serves it. (Django's ``__date`` lookup
    compares ``(column AT TIME ZONE ...)::date``, which no index serves: a scan of the table.)"""

    def filter(self, qs, value):
        if value in self.field.empty_values:
            return qs
        tz = timezone.get_current_timezone()
        start = lambda day: timezone.make_aware(datetime.datetime.combine(day, datetime.time.min), tz)  # noqa: E731
        if self.lookup_expr == "gte":
            return qs.filter(**{f"{self.field_name}__gte": start(value)})
        return qs.filter(**{f"{self.field_name}__lt": start(value + datetime.timedelta(days=1))})


def _label(model, field_name):
    f = model._meta.get_field(field_name)
    return f"{f.verbose_name} ({f.column})"


def _filter(model, spec):
    label = _label(model, spec.field)
    if spec.kind == "many2one":
        return OdooIdFilter(field_name=spec.field, lookup_expr="exact", help_text=f"Odoo id of {label}.")
    if spec.kind == "many2many":
        return OdooIdInFilter(field_name=spec.field, help_text=f"Records whose {label} include this Odoo id.")
    if spec.kind == "date":
        side = "on or after" if spec.lookup.endswith("gte") else "on or before"
        if spec.lookup.startswith("date__"):
            return DayFilter(field_name=spec.field, lookup_expr=spec.lookup.removeprefix("date__"),
                             help_text=f"{label} {side} this day (YYYY-MM-DD, in the server's time zone).")
        return df.DateFilter(field_name=spec.field, lookup_expr=spec.lookup, help_text=f"{label} {side} this day (YYYY-MM-DD).")
    if spec.kind == "selection":
        f = model._meta.get_field(spec.field)
        values = ", ".join(f"{value} ({text})" for value, text in f.choices)
        # The answer to a value that is not a choice lists them (the form's message would not).
        allowed = ", ".join(str(value) for value, _ in f.choices).replace("%", "%%")
        return df.ChoiceFilter(field_name=spec.field, choices=f.choices, help_text=f"{label}, one of: {values}.",
                               error_messages={"invalid_choice": f"%(value)s is not one of the choices: {allowed}."})
    if spec.kind == "boolean":
        return TrueFalseFilter(field_name=spec.field, help_text=f"{label}: true or false (both when absent).")
    if spec.kind == "changed_since":
        return df.IsoDateTimeFilter(field_name=spec.field, lookup_expr="gte", help_text=(
            f"Written in Odoo at or after this ISO 8601 date-time ({spec.field}), e.g. 2026-01-31T08:00:00Z."
        ))
    raise ValueError(spec.kind)


@cache
def filterset_for(model):
    """The derived FilterSet of a generated model (or of an Odoo model name)."""
    if isinstance(model, str):
        model = derive.model_for(model)
    attrs = {spec.name: _filter(model, spec) for spec in derive.filter_specs(model)}
    attrs["Meta"] = type("Meta", (), {"model": model, "fields": []})
    return type(f"{model.__name__}Filter", (df.FilterSet,), attrs)
