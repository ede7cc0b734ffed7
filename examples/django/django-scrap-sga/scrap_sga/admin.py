from django.apps import apps
from django.contrib import admin

from .models import ScrapDimagazBc, ScrapDimagazBcLine


class ReadOnly:
    """The mirror is written by scrap_sga only: the admin shows, never changes."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ReadOnlyAdmin(ReadOnly, admin.ModelAdmin):
    pass


class LineInline(ReadOnly, admin.TabularInline):
    model = ScrapDimagazBcLine
    fields = ["sequence", "product_id_display", "name", "product_qty", "price_unit", "price_subtotal"]
    readonly_fields = fields
    extra = 0


@admin.register(ScrapDimagazBc)
class OrderAdmin(ReadOnlyAdmin):
    list_display = ["id", "name", "state", "partner_id_display", "date_order", "amount_total", "active"]
    list_filter = ["state", "active"]
    search_fields = ["name", "partner_id_display"]
    inlines = [LineInline]


@admin.register(ScrapDimagazBcLine)
class LineAdmin(ReadOnlyAdmin):
    list_display = ["id", "order_id_display", "product_id_display", "product_qty", "price_subtotal"]
    search_fields = ["order_id_display", "product_id_display"]


# Any other mirrored model the generator wrote (one the DBA added to scrap_sga.model) is shown
# too, with Django's default columns.
for model in apps.get_app_config("scrap_sga").get_models():
    if not admin.site.is_registered(model):
        admin.site.register(model, ReadOnlyAdmin)
