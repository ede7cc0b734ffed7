from django.contrib import admin

from .models import ScrapDimagazBc, ScrapDimagazBcLine


class ReadOnlyAdmin(admin.ModelAdmin):
    """The mirror is written by scrap_sga only: the admin shows, never changes."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class LineInline(admin.TabularInline):
    model = ScrapDimagazBcLine
    fields = ["sequence", "product_id_display", "name", "product_qty", "price_unit", "price_subtotal"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


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
