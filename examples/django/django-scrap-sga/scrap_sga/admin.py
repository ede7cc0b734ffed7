"""A read-only admin for every mirrored model, its columns, filters, search and inlines chosen by
rule from the catalog (admin_for, docs/django.md "The admin"), each record's history from Odoo
(the audit log, where Django's history button leads) and, where the database role may, a
"resync from Odoo" action; and the sync's own pages: the sync page (each model's rows, lag, last
run, the copies under way, the records waiting for a retry, a chart of the last 24 hours), the
run log and the retry queue.

A project replaces one model's admin with its own through SCRAP_SGA["OVERRIDES"] (usually a
subclass of admin_for(model)), or unregisters it and registers its own, as with any Django admin."""
from functools import cache

from django.contrib import admin, messages
from django.core.paginator import Paginator
from django.db import DatabaseError, connections, models, transaction
from django.http import Http404
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone

from . import chart, conf, derive, health, history
from .models import FailedRecord, SyncRun, SyncStatus

# Odoo's log fields: on every model, rarely what a list is about.
LOG_FIELDS = ("create_date", "create_uid", "write_date", "write_uid")
MAX_CHOICES_IN_FILTER = 20


class ReadOnly:
    """The mirror is written by scrap_sga only: the admin shows, never changes."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_queryset(self, request):
        return without_binaries(super().get_queryset(request))


def without_binaries(qs):
    """Binaries are shown nowhere (neither in a list nor on a record's page): not read at all. A
    real record's may weigh megabytes, and a list page has a hundred rows."""
    binaries = [f.name for f in qs.model._meta.concrete_fields if isinstance(f, models.BinaryField)]
    return qs.defer(*binaries) if binaries else qs


def can_resync():
    """Whether the mirror's database role may call scrap_sga.resync() (scrap_sga_operator may, the
    reader may not): the admin offers the action only then."""
    with connections[conf.database()].cursor() as cur:
        cur.execute("SELECT has_function_privilege('scrap_sga.resync(bigint, text)', 'EXECUTE')")
        return cur.fetchone()[0]


@admin.action(description="Resync from Odoo")
def resync_from_odoo(model_admin, request, queryset):
    """Read the selected records from Odoo now (scrap_sga.resync, one call a record), with the
    records that point to them, and say what changed."""
    model = queryset.model
    alias = conf.database()
    done, totals, failures = 0, {"inserted": 0, "updated": 0, "unchanged": 0, "deleted": 0, "restored": 0}, []
    for pk in queryset.values_list("pk", flat=True):
        try:
            with transaction.atomic(using=alias), connections[alias].cursor() as cur:
                cur.execute("SELECT inserted, updated, unchanged, deleted, restored FROM scrap_sga.resync(%s, %s)", [pk, model.odoo.model])
                for row in cur.fetchall():
                    for key, n in zip(totals, row):
                        totals[key] += n
            done += 1
        except DatabaseError as e:
            failures.append(f"{pk}: {str(e).strip().splitlines()[0]}")
    if done:
        counts = ", ".join(f"{n} {key}" for key, n in totals.items() if n)
        model_admin.message_user(request, f"Resynced {done} record(s) of {model.odoo.model} from Odoo: {counts or 'nothing to write'}.")
    if failures:
        model_admin.message_user(request, f"Odoo could not be read for {len(failures)} record(s): {'; '.join(failures[:5])}", messages.ERROR)


class MirrorAdmin(ReadOnly, admin.ModelAdmin):
    actions = [resync_from_odoo]
    history_per_page = 50

    def get_actions(self, request):
        actions = super().get_actions(request)
        if "resync_from_odoo" in actions and not can_resync():
            del actions["resync_from_odoo"]
        return actions

    def history_view(self, request, object_id, extra_context=None):
        """The record's history from Odoo (the audit log), in place of Django's log of admin
        edits, which the mirror never has. A record Odoo deleted keeps it."""
        if not self.has_view_or_change_permission(request):
            raise Http404
        try:
            obj = without_binaries(self.model.all_objects.filter(pk=object_id)).first()
        except (ValueError, TypeError):
            obj = None  # not an id
        if obj is None:
            raise Http404(f"No {self.opts.verbose_name} with the id {object_id}.")
        page = Paginator(history.entries(self.model, obj.pk), self.history_per_page).get_page(request.GET.get("p"))
        rows = [(entry, history.OPERATIONS.get(entry.operation, entry.operation),
                 [(c.label, history.shown(c.old), history.shown(c.new)) for c in history.changes(self.model, entry)])
                for entry in page]
        context = {
            **self.admin_site.each_context(request),
            "title": f"History of {obj} from Odoo",
            "subtitle": None,
            "object": obj,
            "opts": self.opts,
            "page": page,
            "rows": rows,
            "run_url": reverse(f"admin:{SyncRun._meta.app_label}_{SyncRun._meta.model_name}_changelist"),
            **(extra_context or {}),
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/scrap_sga/record_history.html", context)


def _shown(f):
    """The name a column is shown under: exact numbers through a method of the admin (below)."""
    return f"{f.name}_exact" if isinstance(f, models.DecimalField) else f.name


def _exact_numbers(model):
    """For each exact number, a method that shows it as the mirror holds it: the admin's own
    display would pad a monetary amount to the field's 6 decimal places."""

    def method(f):
        def show(obj):
            value = getattr(obj, f.attname)
            return None if value is None else f"{value:f}"

        show.short_description = f.verbose_name
        show.admin_order_field = f.name
        return staticmethod(show)

    return {_shown(f): method(f) for f in model._meta.concrete_fields if isinstance(f, models.DecimalField)}


def columns(model, leave_out=()):
    """The list's columns, by rule: id; the fields that name a record (2 at most); the names of
    the records its many2ones point to (3); selections (2); dates (2); exact numbers, monetary
    first (2); and ``active``, Odoo's archive flag; never Odoo's log fields (who wrote, when).
    ``leave_out``: Odoo fields not to show (an inline's link to its parent)."""
    picked = ["id"] + derive.rec_name_fields(model)[:2]
    by_type = {kind: [] for kind in ("many2one", "selection", "date", "decimal", "active")}
    for f, o, first in derive.odoo_columns(model):
        odoo_name = f.column if first else f.column.removesuffix("_display")
        if odoo_name in leave_out or odoo_name in LOG_FIELDS:
            continue
        if o.type == "many2one" and not first:
            by_type["many2one"].append(f)
        elif not first:
            continue
        elif o.type == "selection" and f.choices:
            by_type["selection"].append(f)
        elif o.type in ("date", "datetime"):
            by_type["date"].append(f)
        elif isinstance(f, models.DecimalField):
            by_type["decimal"].append(f)
        elif o.type == "boolean" and f.column == "active":
            by_type["active"].append(f)
    by_type["decimal"].sort(key=lambda f: model.odoo.fields[f.column].type != "monetary")
    for kind, fields in by_type.items():
        picked += [_shown(f) for f in fields[: 3 if kind == "many2one" else 2] if _shown(f) not in picked]
    return picked


def list_filters(model):
    """Selections with few choices, booleans, and the dates the list shows."""
    shown = set(columns(model))
    out = []
    for f, o, first in derive.odoo_columns(model):
        if not first:
            continue
        if (o.type == "selection" and f.choices and len(f.choices) <= MAX_CHOICES_IN_FILTER) or o.type == "boolean":
            out.append(f.name)
        elif o.type in ("date", "datetime") and f.name in shown:
            out.append(f.name)
    return out


def search_fields(model):
    """The fields that name a record, and the names of the records its shown many2ones point to."""
    shown = set(columns(model))
    many2one_names = [f.name for f, o, first in derive.odoo_columns(model) if o.type == "many2one" and not first and f.name in shown]
    return derive.rec_name_fields(model) + many2one_names


def form_fields(model):
    """Every column but the binaries (their bytes say nothing on a page)."""
    return [_shown(f) for f in model._meta.concrete_fields if not isinstance(f, models.BinaryField)]


@cache
def inline_for(parent, child):
    """The children of a record, in a table under it, titled as Odoo titles the one2many."""
    link = child.model._meta.get_field(child.fk).column
    shown = [n for n in columns(child.model, leave_out={link}) if n != "id"]
    return type(f"{child.model.__name__}Inline", (ReadOnly, admin.TabularInline), {
        "model": child.model,
        "fk_name": child.fk,
        "fields": shown,
        "readonly_fields": shown,
        "extra": 0,
        "show_change_link": True,
        "verbose_name_plural": next(f for f in parent._meta.concrete_fields if f.column == child.one2many).verbose_name,
        **_exact_numbers(child.model),
    })


@cache
def admin_for(model):
    """The derived ModelAdmin of a generated model, or the project's."""
    custom = conf.override(model.odoo.model, "admin")
    if custom:
        return custom
    exact = _exact_numbers(model)
    return type(f"{model.__name__}Admin", (MirrorAdmin,), {
        "list_display": columns(model),
        "list_filter": list_filters(model),
        "search_fields": search_fields(model),
        "fields": form_fields(model),
        "readonly_fields": list(exact),
        "inlines": [inline_for(model, c) for c in derive.children(model)],
        **exact,
    })


for _model in derive.mirror_models():
    admin.site.register(_model, admin_for(_model))


class ExtensionAdmin(ReadOnly, admin.ModelAdmin):
    """The extension's own tables: read-only lists."""

    actions = None


@admin.register(SyncRun)
class SyncRunAdmin(ExtensionAdmin):
    list_display = ["run_id", "model", "trigger", "status", "started_at", "finished_at", "fetched", "inserted", "updated",
                    "deleted", "restored", "failed", "parked", "error"]
    list_filter = ["status", "trigger", "model"]
    search_fields = ["=run_id", "model", "error"]
    ordering = ["-run_id"]


@admin.register(FailedRecord)
class FailedRecordAdmin(ExtensionAdmin):
    list_display = ["model", "odoo_id", "attempts", "sqlstate", "error", "first_failed_at", "last_failed_at", "next_attempt_at", "last_run_id"]
    # A list only: odoo_id stands for the queue's key (model, odoo_id) and finds no single row.
    list_display_links = None
    list_filter = ["model", "sqlstate"]
    search_fields = ["=odoo_id", "error"]
    ordering = ["next_attempt_at", "model", "odoo_id"]

    def get_urls(self):
        return [url for url in super().get_urls() if url.name and url.name.endswith("_changelist")]


@admin.register(SyncStatus)
class SyncPageAdmin(ExtensionAdmin):
    """The sync page, in place of a list of scrap_sga.status."""

    waiting_shown = 20

    def changelist_view(self, request, extra_context=None):
        if not self.has_view_permission(request):
            raise Http404
        with health.reading() as cur:
            status = health.status(cur)
            waiting = health.waiting(cur, self.waiting_shown)
            last_day = health.last_day(cur, timezone.now(), chart.SLOTS)
        admin_of = {m.odoo.model: m for m in derive.mirror_models()}
        for row in status:
            mirror = admin_of.get(row["model"])
            row["records_url"] = reverse(f"admin:{mirror._meta.app_label}_{mirror._meta.model_name}_changelist") if mirror else None
            row["chart"] = chart.svg(row["model"], last_day.get(row["model"], []))
            row["lag"] = chart.duration(row["lag_seconds"]) if row["lag_seconds"] is not None else None
        context = {
            **self.admin_site.each_context(request),
            "title": "Sync status",
            "subtitle": None,
            "opts": self.opts,
            "status": status,
            "running": [p for row in status for p in row["progress"]],
            "waiting": waiting,
            "waiting_total": sum(row["waiting_retry"] for row in status),
            "run_log_url": reverse(f"admin:{SyncRun._meta.app_label}_{SyncRun._meta.model_name}_changelist"),
            "queue_url": reverse(f"admin:{FailedRecord._meta.app_label}_{FailedRecord._meta.model_name}_changelist"),
            **(extra_context or {}),
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/scrap_sga/sync.html", context)
