"""A read-only API over the mirror tables: GET only, the tables belong to scrap_sga."""
from django.db import connection
from django.db.models import Prefetch
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import extend_schema
from rest_framework import filters, viewsets
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response
from rest_framework.views import APIView

from .filters import LineFilter, OrderFilter
from .models import ScrapDimagazBc, ScrapDimagazBcLine
from .serializers import LineSerializer, OrderListSerializer, OrderSerializer, SyncStatusSerializer


class Pages(PageNumberPagination):
    # Set here rather than left to the project's REST_FRAMEWORK settings: without a page size
    # there, DRF would answer every order in one response.
    page_size = 50


class MirrorViewSet(viewsets.ReadOnlyModelViewSet):
    filter_backends = [DjangoFilterBackend, filters.OrderingFilter]
    pagination_class = Pages
    ordering = ["id"]


class OrderViewSet(MirrorViewSet):
    """Purchase orders (Odoo dimagaz.bc), archived ones included. The list leaves the lines out;
    one order has them."""

    queryset = ScrapDimagazBc.objects.all()
    filterset_class = OrderFilter
    ordering_fields = ["id", "name", "date_order", "amount_total", "write_date"]

    def get_serializer_class(self):
        return OrderListSerializer if self.action == "list" else OrderSerializer

    def get_queryset(self):
        qs = super().get_queryset()
        if self.action != "list":
            qs = qs.prefetch_related(Prefetch("line_set", queryset=ScrapDimagazBcLine.objects.order_by("sequence", "id")))
        return qs


class LineViewSet(MirrorViewSet):
    """Order lines (Odoo dimagaz.bc.line)."""

    queryset = ScrapDimagazBcLine.objects.all()
    serializer_class = LineSerializer
    filterset_class = LineFilter
    ordering_fields = ["id", "order", "sequence", "price_subtotal", "write_date"]


class SyncStatusView(APIView):
    """scrap_sga.status: per model, rows, last run, lag, retry queue, the worker."""

    @extend_schema(responses=SyncStatusSerializer(many=True))
    def get(self, request):
        with connection.cursor() as cur:
            cur.execute(
                "SELECT model, rows, last_status, last_run_at, last_success_at, extract(epoch FROM lag)::float8 AS lag_seconds,"
                " waiting_retry, worker, next_run_at FROM scrap_sga.status ORDER BY model"
            )
            names = [c.name for c in cur.description]
            rows = [dict(zip(names, row)) for row in cur.fetchall()]
        return Response(SyncStatusSerializer(rows, many=True).data)
