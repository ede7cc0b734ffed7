"""A read-only API over the mirror tables: GET only, the tables belong to scrap_sga. One endpoint per
mirrored model, its filters, orderings, search and nested children derived from the catalog
(derive.py); a project may replace any of them for one model (SCRAP_SGA["OVERRIDES"])."""
from functools import cache

from django.db import connections, transaction
from django.db.models import Count, OuterRef, Prefetch, Subquery
from django.db.models.functions import Coalesce
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import extend_schema
from rest_framework import filters, viewsets
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import CursorPagination, PageNumberPagination
from rest_framework.response import Response
from rest_framework.views import APIView

from . import conf, derive
from .filters import filterset_for
from .schema import MirrorSchema
from .serializers import SyncStatusSerializer, list_serializer_for, serializer_for


class Pages(PageNumberPagination):
    # Set here rather than left to the project's REST_FRAMEWORK settings: without a page size
    # there, DRF would answer every row in one response.
    page_size = 50


class Cursor(CursorPagination):
    """Constant time at any depth, no count: each page continues from the last row's id (keyset
    paging). By id only (``ordering=id`` or ``-id``): DRF's cursor keeps the first ordering
    key's value, which on another column would need offsets within its repeated values and
    cannot hold a NULL."""

    page_size = 50
    ordering = "id"

    def get_ordering(self, request, queryset, view):
        requested = super().get_ordering(request, queryset, view)
        if requested[0] not in ("id", "-id"):
            raise ValidationError({"ordering": ["Pages by cursor are ordered by id only: id, or -id for the newest first."]})
        return requested[:1]


class StableOrderingFilter(filters.OrderingFilter):
    """Every ordering ends with ``id``, the primary key: rows that tie on the requested columns
    keep one order from one query to the next, so that no row is lost or repeated across pages."""

    def get_ordering(self, request, queryset, view):
        ordering = list(super().get_ordering(request, queryset, view) or [])
        if not {"id", "-id", "pk", "-pk"} & set(ordering):
            ordering.append("id")
        return ordering


class MirrorViewSet(viewsets.ReadOnlyModelViewSet):
    filter_backends = [DjangoFilterBackend, StableOrderingFilter, filters.SearchFilter]
    ordering = ["id"]
    schema = MirrorSchema()

    @property
    def pagination_class(self):
        # Read at each request, as settings are: SCRAP_SGA["PAGINATION"] and ["PAGE_SIZE"].
        base = {"page": Pages, "cursor": Cursor}[conf.setting("PAGINATION")]
        return type(base.__name__, (base,), {"page_size": conf.setting("PAGE_SIZE")})

    def get_serializer_class(self):
        return self.list_serializer_class if self.action == "list" else self.serializer_class

    def get_queryset(self):
        qs = super().get_queryset()
        if self.action == "list":
            return qs.defer(*unshown(self.list_serializer_class))
        limit = conf.setting("NESTED_LIMIT")
        for c in derive.children(self.queryset.model):
            rows = c.model.objects.defer(*unshown(list_serializer_for(c.model))).order_by(*derive.children_order(c))
            # A slice of a prefetch is one query still (ROW_NUMBER() per parent).
            qs = qs.prefetch_related(Prefetch(c.accessor, queryset=rows[:limit], to_attr=c.prefetched))
            live = c.model.objects.filter(**{c.fk: OuterRef("pk")}).order_by().values(c.fk).annotate(n=Count("pk")).values("n")
            qs = qs.annotate(**{c.count_key: Coalesce(Subquery(live), 0)})
        return qs


def unshown(serializer):
    """The columns a serializer leaves out (its Meta.exclude): not read at all. A list page read
    every binary and id array of its rows only to drop them."""
    meta = getattr(serializer, "Meta", None)
    names = {f.name for f in meta.model._meta.concrete_fields} if meta is not None else set()
    return [name for name in getattr(meta, "exclude", None) or () if name in names and name != "id"]


@cache
def viewset_for(model):
    """The derived viewset of a generated model (or of an Odoo model name), or the project's."""
    model = derive.model_for(model) if isinstance(model, str) else model
    custom = conf.override(model.odoo.model, "viewset")
    if custom:
        return custom
    nested = ", ".join(f"{c.key} ({c.model.odoo.model})" for c in derive.children(model))
    doc = f"Odoo {model.odoo.model} (table {model._meta.db_table}): live records, archived ones included."
    if nested:
        doc += f" One record nests its {nested}."
    return type(f"{model.__name__}ViewSet", (MirrorViewSet,), {
        "__doc__": doc,
        "queryset": model.objects.all(),
        "serializer_class": serializer_for(model),
        "list_serializer_class": list_serializer_for(model),
        "filterset_class": conf.override(model.odoo.model, "filterset") or filterset_for(model),
        "ordering_fields": derive.ordering_fields(model),
        "search_fields": derive.rec_name_fields(model),
    })


class SyncStatusView(APIView):
    """scrap_sga.status: per model, rows, last run, lag, retry queue, the worker."""

    @extend_schema(responses=SyncStatusSerializer(many=True))
    def get(self, request):
        alias = conf.database()
        with transaction.atomic(using=alias), connections[alias].cursor() as cur:
            # The query takes about a millisecond, but the planner, misled by the catalog's tiny
            # tables (too small to be analyzed, so estimated at hundreds of rows), expects a
            # costly one and PostgreSQL's JIT compiles it first: a quarter of a second (bench/django_api.sh).
            cur.execute("SET LOCAL jit = off")
            cur.execute(
                "SELECT model, rows, last_status, last_run_at, last_success_at, extract(epoch FROM lag)::float8 AS lag_seconds,"
                " waiting_retry, worker, next_run_at FROM scrap_sga.status ORDER BY model"
            )
            names = [c.name for c in cur.description]
            rows = [dict(zip(names, row)) for row in cur.fetchall()]
        return Response(SyncStatusSerializer(rows, many=True).data)
