"""The project's own filters for one model, beside the derived ones: how a project overrides a
part of the app without forking it (settings.SCRAP_SGA["OVERRIDES"]). Imported only where the
database mirrors dimagaz.bc."""
import django_filters as df
from django import forms

from scrap_sga.filters import filterset_for


class IdsFilter(df.BaseInFilter, df.NumberFilter):
    # Whole numbers: a NumberFilter alone reads decimals, and ?ids=1.5 would match nothing.
    field_class = forms.IntegerField


class OrderFilter(filterset_for("dimagaz.bc")):
    ids = IdsFilter(field_name="id", help_text="These Odoo ids only, comma-separated (3,5,8): a screen's selection in one request.")
