"""A read-only API over the mirror tables: GET only, the tables belong to scrap_sga."""
from django.db import connection
from django.db.models import Prefetch
from django.utils.dateparse import parse_date, parse_datetime
from rest_framework import filters, viewsets
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from .models import ScrapDimagazBc, ScrapDimagazBcLine
from .serializers import LineSerializer, OrderListSerializer, OrderSerializer


def _param(request, name, parse):
    raw = request.query_params.get(name)
    if raw in (None, ""):
        return None
    value = parse(raw)
    if value is None:
        raise ValidationError({name: f"cannot read {raw!r}"})
    return value


def _changed_since(request, qs):
    since = _param(request, "changed_since", parse_datetime)
    return qs.filter(write_date__gte=since) if since else qs


class OrderViewSet(viewsets.ReadOnlyModelViewSet):
    """Purchase orders. Filters: state, partner (Odoo partner id), date_from / date_to (on
    date_order, YYYY-MM-DD), changed_since (write_date, ISO datetime), active (true/false).
    Ordering: ?ordering=-date_order (id, name, date_order, amount_total, write_date)."""

    filter_backends = [filters.OrderingFilter]
    ordering_fields = ["id", "name", "date_order", "amount_total", "write_date"]
    ordering = ["id"]

    def get_serializer_class(self):
        return OrderListSerializer if self.action == "list" else OrderSerializer

    def get_queryset(self):
        qs = ScrapDimagazBc.objects.all()
        if self.action != "list":
            qs = qs.prefetch_related(Prefetch("lines", queryset=ScrapDimagazBcLine.objects.order_by("sequence", "id")))
        p = self.request.query_params
        if p.get("state"):
            qs = qs.filter(state=p["state"])
        partner = _param(self.request, "partner", lambda v: int(v) if v.isdigit() else None)
        if partner is not None:
            qs = qs.filter(partner_id=partner)
        date_from = _param(self.request, "date_from", parse_date)
        if date_from:
            qs = qs.filter(date_order__date__gte=date_from)
        date_to = _param(self.request, "date_to", parse_date)
        if date_to:
            qs = qs.filter(date_order__date__lte=date_to)
        if p.get("active") in ("true", "false"):
            qs = qs.filter(active=p["active"] == "true")
        return _changed_since(self.request, qs)


class LineViewSet(viewsets.ReadOnlyModelViewSet):
    """Order lines. Filters: order (Odoo order id), product (Odoo product id), changed_since."""

    serializer_class = LineSerializer
    filter_backends = [filters.OrderingFilter]
    ordering_fields = ["id", "order", "sequence", "price_subtotal", "write_date"]
    ordering = ["id"]

    def get_queryset(self):
        qs = ScrapDimagazBcLine.objects.all()
        order = _param(self.request, "order", lambda v: int(v) if v.isdigit() else None)
        if order is not None:
            qs = qs.filter(order_id=order)
        product = _param(self.request, "product", lambda v: int(v) if v.isdigit() else None)
        if product is not None:
            qs = qs.filter(product_id=product)
        return _changed_since(self.request, qs)


class SyncStatusView(APIView):
    """scrap_sga.status: per model, rows, last run, lag, retry queue, the worker."""

    def get(self, request):
        with connection.cursor() as cur:
            cur.execute(
                "SELECT model, rows, last_status, last_run_at, last_success_at, extract(epoch FROM lag) AS lag_seconds,"
                " waiting_retry, worker, next_run_at FROM scrap_sga.status ORDER BY model"
            )
            names = [c.name for c in cur.description]
            return Response([dict(zip(names, row)) for row in cur.fetchall()])
