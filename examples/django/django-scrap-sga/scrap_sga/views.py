"""A read-only API over the mirror tables: GET only, the tables belong to scrap_sga. One endpoint per
mirrored model, its filters, orderings, search and nested children derived from the catalog
(derive.py); a project may replace any of them for one model (SCRAP_SGA["OVERRIDES"])."""
from functools import cache

from django.db.models import Count, OuterRef, Prefetch, Subquery
from django.db.models.functions import Coalesce
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import extend_schema
from rest_framework import filters, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.generics import get_object_or_404
from rest_framework.pagination import CursorPagination, PageNumberPagination
from rest_framework.response import Response
from rest_framework.views import APIView

from . import conf, derive, health, history
from .filters import filterset_for
from .schema import MirrorSchema
from .serializers import HistoryEntrySerializer, SyncStatusSerializer, list_serializer_for, serializer_for


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
    keep one order from one query to the next, so that no row is lost or repeated across pages.
    A field that cannot be sorted on is a 400 naming those that can (DRF would drop it and
    answer in another order than asked), and the schema lists them."""

    def get_ordering(self, request, queryset, view):
        ordering = list(super().get_ordering(request, queryset, view) or [])
        if not {"id", "-id", "pk", "-pk"} & set(ordering):
            ordering.append("id")
        return ordering

    def remove_invalid_fields(self, queryset, fields, view, request):
        valid = [name for name, _ in self.get_valid_fields(queryset, view, {"request": request})]
        unknown = [term for term in fields if term.lstrip("-") not in valid]
        if unknown:
            raise ValidationError({self.ordering_param: [
                f"Cannot order by {', '.join(unknown)}. Order by one or more of: {', '.join(valid)} "
                "(comma-separated; a - before a field for descending)."
            ]})
        return super().remove_invalid_fields(queryset, fields, view, request)

    def get_schema_operation_parameters(self, view):
        fields = ["id"] if conf.setting("PAGINATION") == "cursor" else list(getattr(view, "ordering_fields", None) or [])
        return [{
            "name": self.ordering_param,
            "required": False,
            "in": "query",
            "description": "The fields to sort by, comma-separated, each ascending or, after a -, descending; "
                           f"id is always the last key. One or more of: {', '.join(fields)}.",
            "schema": {"type": "array", "items": {"type": "string", "enum": [v for f in fields for v in (f, f"-{f}")]}},
            "style": "form",
            "explode": False,
        }]


class NameSearchFilter(filters.SearchFilter):
    """``search``: the records whose naming fields contain a text (derive.rec_name_fields); the
    schema says which fields, and leaves the parameter out where a model has none."""

    def get_schema_operation_parameters(self, view):
        fields = self.get_search_fields(view, None)
        if not fields:
            return []
        return [{
            "name": self.search_param,
            "required": False,
            "in": "query",
            "description": f"The records whose {', '.join(fields)} contain this text (case-insensitive).",
            "schema": {"type": "string"},
        }]


class MirrorViewSet(viewsets.ReadOnlyModelViewSet):
    filter_backends = [DjangoFilterBackend, StableOrderingFilter, NameSearchFilter]
    ordering = ["id"]
    schema = MirrorSchema()

    @property
    def pagination_class(self):
        # Read at each request, as settings are: SCRAP_SGA["PAGINATION"] and ["PAGE_SIZE"]. A
        # record's history is short enough to count: page numbers whatever the setting.
        base = Pages if self.action == "history" else {"page": Pages, "cursor": Cursor}[conf.setting("PAGINATION")]
        return type(base.__name__, (base,), {"page_size": conf.setting("PAGE_SIZE")})

    @extend_schema(
        summary="The record's history: what each sync run changed in it, newest first.",
        description="From the extension's audit log (scrap_sga.audit_log): when, which run, the operation, and per "
                    "changed field its old and new value. A record Odoo deleted keeps its history.",
        responses=HistoryEntrySerializer(many=True),
    )
    @action(detail=True, methods=["get"], filter_backends=[])
    def history(self, request, pk=None):
        model = self.queryset.model
        get_object_or_404(model.all_objects.only("pk"), pk=pk)
        page = self.paginate_queryset(history.entries(model, pk))
        return self.get_paginated_response(HistoryEntrySerializer(page, many=True, context={"model": model}).data)

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
    """scrap_sga.status: per model, rows, last run, lag, retry queue, the worker, and the runs under
    way with their progress."""

    @extend_schema(responses=SyncStatusSerializer(many=True))
    def get(self, request):
        with health.reading() as cur:
            rows = health.status(cur)
        return Response(SyncStatusSerializer(rows, many=True).data)
