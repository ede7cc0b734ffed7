"""What the app derives from the catalog, checked on whatever the database mirrors: this module
names no field and no model. It runs here on the simulator's default schema, and
test_schemas.py runs it again on other schemas (other field names and types, res.partner as a
real Odoo 19 has it), each with its models generated anew.

For every mirrored model: the filters are those the catalog's types give (restated here from
scrap_sga.model_field, not taken from the app), every endpoint, filter, ordering and admin page
answers, each filter answers what its rule says (computed here in Python from every row), paging
through any ordering returns every row once, and no ORM write path writes.
"""
import datetime as dt
import hashlib
import io
import shutil
import tempfile
import threading
import time
import urllib.parse
from decimal import Decimal
from pathlib import Path

import psycopg
import yaml
from asgiref.sync import async_to_sync
from django.conf import settings
from django.contrib.auth.models import User
from django.contrib.staticfiles.testing import StaticLiveServerTestCase
from django.core.management import call_command
from django.db import DatabaseError, NotSupportedError, ProgrammingError, connections, models, transaction
from django.db.models.deletion import Collector
from django.db.models.sql import DeleteQuery, UpdateQuery
from django.test import SimpleTestCase
from django.utils import timezone
from psycopg import sql as pgsql
from selenium.webdriver.common.by import By
from selenium.webdriver.support.wait import WebDriverWait

from scrap_sga import admin as mirror_admin
from scrap_sga import derive
from scrap_sga.mirror import REC_NAMES, Odoo, OdooField

from .helpers import SyncedTestCase, chromium, connect_and_sync, sim, sql

MIRROR = "mirror"


def catalog_filters(odoo_model):
    """The filter names the documented rules give, from scrap_sga.model_field alone."""
    rows = sql(
        "SELECT field, odoo_type, columns, to_jsonb(mf) -> 'selection' FROM scrap_sga.model_field mf"
        " WHERE model = %s AND columns <> '{}' ORDER BY field", odoo_model,
    )
    names = set()
    for field, odoo_type, columns, selection in rows:
        col = columns[0]
        if odoo_type == "many2one":
            names.add(col.removesuffix("_id") if col.endswith("_id") else col)
        elif odoo_type == "many2many":
            names.add(col.removesuffix("_ids").removesuffix("_id"))
        elif odoo_type in ("date", "datetime"):
            names |= {f"{col}_from", f"{col}_to"}
        elif odoo_type in ("selection", "boolean") and (odoo_type == "boolean" or selection):
            names.add(col)
        if field == "write_date" and odoo_type == "datetime":
            names.add("changed_since")
    return names


def rows_of(model):
    return list(model.objects.all())


def text_field(model):
    """A text field of the model to change in Odoo: the first by name, those that name a record last."""
    chars = [f for f in model._meta.concrete_fields if model.odoo.fields.get(f.column, OdooField("")).type in ("char", "text")]
    return sorted(chars, key=lambda f: (f.column in REC_NAMES, f.column))[0]


def mirror_table(model):
    return sql("SELECT table_name FROM scrap_sga.model WHERE model = %s", model.odoo.model)[0][0]


def dba(statement, role):
    """A statement of the DBA's on roles, committed at once (roles are the cluster's)."""
    params = connections["default"].get_connection_params() | {"dbname": "postgres"}
    with psycopg.connect(**params, autocommit=True) as conn:
        conn.execute(pgsql.SQL(statement).format(pgsql.Identifier(role)))


class DerivedApiTests(SyncedTestCase):
    maxDiff = None

    @classmethod
    def setUpTestData(cls):
        cls.models = derive.mirror_models()
        cls.admin = User.objects.create_superuser("admin", "admin@example.com", "x")

    def test_there_is_something_to_check(self):
        self.assertTrue(self.models, "the database mirrors models, and they are generated")
        for model in self.models:
            self.assertGreater(model.objects.count(), 0, model.odoo.model)

    def test_check_is_clean(self):
        out = io.StringIO()
        call_command("check", fail_level="WARNING", stdout=out, stderr=out)
        self.assertIn("no issues", out.getvalue())

    def test_the_filters_are_the_catalogs(self):
        for model in self.models:
            with self.subTest(model.odoo.model):
                viewset = self.viewset(model)
                derived = {s.name for s in derive.filter_specs(model)}
                self.assertEqual(derived, catalog_filters(model.odoo.model))
                # A project's override may add filters, never lose the derived ones.
                self.assertLessEqual(derived, set(viewset.filterset_class.base_filters))

    def test_every_endpoint_lists_every_live_row_and_each_detail(self):
        for model in self.models:
            with self.subTest(model.odoo.model):
                url = self.url(model)
                ids = self.ids(url)
                self.assertEqual(sorted(ids), sorted(model.objects.values_list("id", flat=True)))
                self.assertEqual(len(ids), len(set(ids)))
                for pk in ids[:3]:
                    body = self.get(f"{url}{pk}/")
                    self.assertEqual(body["id"], pk)
                self.assertEqual(self.client.get(f"{url}{max(ids) + 1000}/").status_code, 404)

    def test_the_api_root_lists_every_endpoint(self):
        root = self.get("/api/")
        self.assertEqual(sorted(root), sorted(derive.endpoint(m) for m in self.models))

    def test_sync_status_lists_every_mirrored_model(self):
        status = {s["model"]: s for s in self.get("/api/sync-status/")}
        self.assertEqual(sorted(status), sorted(m.odoo.model for m in self.models))
        for model in self.models:
            self.assertEqual((status[model.odoo.model]["rows"], status[model.odoo.model]["last_status"]),
                             (model.objects.count(), "succeeded"), model.odoo.model)

    def test_children_are_nested_in_the_detail(self):
        for model in self.models:
            for c in derive.children(model):
                with self.subTest(model.odoo.model, children=c.key):
                    parent_ids = list(c.model.objects.exclude(**{f"{c.fk}__isnull": True}).values_list(c.fk, flat=True)[:3])
                    self.assertTrue(parent_ids, f"{c.model.odoo.model} has rows pointing to {model.odoo.model}")
                    for pk in parent_ids:
                        body = self.client.get(f"{self.url(model)}{pk}/")
                        if body.status_code == 404:
                            continue  # a child whose parent Odoo deleted
                        want = sorted(c.model.objects.filter(**{c.fk: pk}).values_list("id", flat=True))
                        self.assertEqual(sorted(child["id"] for child in body.json()[c.key]), want)

    def test_each_filter_answers_what_its_rule_says(self):
        tz = timezone.get_current_timezone()
        for model in self.models:
            rows = rows_of(model)
            for spec in derive.filter_specs(model):
                f = model._meta.get_field(spec.field)
                values = [(r.pk, getattr(r, f.attname)) for r in rows]
                present = [v for _, v in values if v not in (None, [], "")]
                with self.subTest(model.odoo.model, filter=spec.name):
                    if spec.kind == "many2one":
                        pick = max(set(present), key=present.count) if present else 1
                        cases = {str(pick): lambda v, p=pick: v == p}
                    elif spec.kind == "many2many":
                        flat = [i for v in present for i in v]
                        pick = max(set(flat), key=flat.count) if flat else 1
                        cases = {str(pick): lambda v, p=pick: v is not None and p in v}
                    elif spec.kind == "date":
                        days = sorted({(v.astimezone(tz).date() if isinstance(v, dt.datetime) else v) for v in present})
                        pick = days[len(days) // 2] if days else dt.date(2026, 1, 1)
                        day = lambda v: v.astimezone(tz).date() if isinstance(v, dt.datetime) else v  # noqa: E731
                        if spec.lookup.endswith("gte"):
                            cases = {pick.isoformat(): lambda v, p=pick: v is not None and day(v) >= p}
                        else:
                            cases = {pick.isoformat(): lambda v, p=pick: v is not None and day(v) <= p}
                    elif spec.kind == "selection":
                        cases = {choice: lambda v, c=choice: v == c for choice, _ in f.choices}
                    elif spec.kind == "boolean":
                        cases = {"true": lambda v: v is True, "false": lambda v: v is False}
                    elif spec.kind == "changed_since":
                        stamps = sorted(present)
                        pick = stamps[len(stamps) // 2]
                        cases = {pick.isoformat(): lambda v, p=pick: v is not None and v >= p}
                    for value, keep in cases.items():
                        got = self.ids(f"{self.url(model)}?{urllib.parse.urlencode({spec.name: value})}")
                        want = [pk for pk, v in values if keep(v)]
                        self.assertEqual(sorted(got), sorted(want), f"{spec.name}={value}")

    def test_a_value_that_cannot_be_read_is_a_400_naming_the_parameter(self):
        bad = {"many2one": "abc", "many2many": "1.5", "date": "2026-02-30", "selection": "not-a-choice",
               "boolean": "yes", "changed_since": "soon"}
        for model in self.models:
            for spec in derive.filter_specs(model):
                with self.subTest(model.odoo.model, filter=spec.name):
                    r = self.client.get(f"{self.url(model)}?{urllib.parse.urlencode({spec.name: bad[spec.kind]})}")
                    self.assertEqual(r.status_code, 400, r.content[:300])
                    self.assertEqual(list(r.json()), [spec.name])
                    if spec.kind == "selection":
                        # The answer says which values are allowed.
                        choices = [c for c, _ in model._meta.get_field(spec.field).choices]
                        self.assertTrue(r.json()[spec.name][0].endswith(f"one of the choices: {', '.join(choices)}."), r.json())

    def test_an_unknown_ordering_is_a_400_naming_the_fields_allowed(self):
        for model in self.models:
            with self.subTest(model.odoo.model):
                allowed = derive.ordering_fields(model)
                for ordering in ("no_such_field", f"-{allowed[-1]},no_such_field", "sga_run_id"):
                    r = self.client.get(f"{self.url(model)}?ordering={ordering}")
                    self.assertEqual(r.status_code, 400, f"{ordering}: {r.content[:300]}")
                    [message] = r.json()["ordering"]
                    self.assertIn(f"Order by one or more of: {', '.join(allowed)} (", message)
                    self.assertTrue(message.startswith(f"Cannot order by {ordering.split(',')[-1]}."), message)

    def test_a_record_is_named_as_odoo_names_it(self):
        for model in self.models:
            with self.subTest(model.odoo.model):
                named = [n for n in REC_NAMES if model.odoo.fields.get(n) and model.odoo.fields[n].type in ("char", "text")]
                for row in model.objects.order_by("id")[:5]:
                    value = getattr(row, model._meta.get_field(named[0]).attname) if named else None
                    self.assertEqual(str(row), str(value) if value else f"{model.odoo.model},{row.pk}")

    def test_search_finds_by_the_fields_that_name_a_record(self):
        for model in self.models:
            fields = derive.rec_name_fields(model)
            # The rule, restated from the catalog: Odoo's naming fields, else the char fields.
            named = [n for n in REC_NAMES if model.odoo.fields.get(n) and model.odoo.fields[n].type in ("char", "text")]
            chars = sorted(n for n, o in model.odoo.fields.items() if o.type == "char")
            self.assertEqual([model._meta.get_field(f).column for f in fields], named or chars, model.odoo.model)
            if not fields:
                continue
            with self.subTest(model.odoo.model):
                rows = rows_of(model)
                sample = next(str(getattr(r, fields[0])) for r in rows if getattr(r, fields[0]))
                term = sample[: max(3, len(sample) // 2)]
                got = self.ids(f"{self.url(model)}?{urllib.parse.urlencode({'search': term})}")
                want = [r.pk for r in rows if any(term.lower() in str(getattr(r, n) or "").lower() for n in fields)]
                self.assertTrue(want)
                self.assertEqual(sorted(got), sorted(want))

    def test_paging_through_any_ordering_returns_every_row_once(self):
        for model in self.models:
            total = model.objects.count()
            values = {f: dict(model.objects.values_list("id", f)) for f in derive.ordering_fields(model)}
            for name in derive.ordering_fields(model):
                f = model._meta.get_field(name)
                for ordering in (name, f"-{name}"):
                    with self.subTest(model.odoo.model, ordering=ordering):
                        ids = self.ids(f"{self.url(model)}?ordering={ordering}")
                        self.assertEqual(len(ids), total)
                        self.assertEqual(len(set(ids)), total, "no row twice")
                        if not isinstance(f, (models.TextField, models.CharField)):  # text: the collation's order
                            self.assertEqual(ids, self.sorted_ids(values[name], ordering.startswith("-")))

    @staticmethod
    def sorted_ids(value_of, descending):
        """PostgreSQL's order: NULLs last ascending (first descending), ties by id ascending."""
        present = [(v, pk) for pk, v in value_of.items() if v is not None]
        ids = [pk for _, pk in sorted(present, key=(lambda p: (_neg(p[0]), p[1])) if descending else None)]
        nulls = sorted(pk for pk, v in value_of.items() if v is None)
        return nulls + ids if descending else ids + nulls

    def test_the_admin_pages_answer(self):
        self.client.force_login(self.admin)
        for model in self.models:
            with self.subTest(model.odoo.model):
                base = f"/admin/{model._meta.app_label}/{model._meta.model_name}/"
                model_admin = mirror_admin.admin_for(model)
                urls = [base, f"{base}?q=a", f"{base}?all=", f"{base}add/"]
                urls += [f"{base}?o={i}" for i in range(1, len(model_admin.list_display) + 1)]
                urls += [f"{base}?o=-{i}" for i in range(1, len(model_admin.list_display) + 1)]
                first = model.objects.order_by("id").first()
                with_children = [c.model.objects.exclude(**{f"{c.fk}__isnull": True}).values_list(c.fk, flat=True).first()
                                 for c in derive.children(model)]
                for pk in {first.pk, *[p for p in with_children if p]}:
                    urls.append(f"{base}{pk}/change/")
                for url in urls:
                    r = self.client.get(url)
                    want = 403 if url.endswith("add/") else 200
                    self.assertEqual(r.status_code, want, url)
                # Every list filter, with every value it offers.
                changelist = self.client.get(base)
                for spec in changelist.context["cl"].filter_specs:
                    for choice in spec.choices(changelist.context["cl"]):
                        url = base + choice["query_string"]
                        self.assertEqual(self.client.get(url).status_code, 200, url)

    def test_the_schema_is_valid_and_documents_every_filter(self):
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp, "schema.yaml")
            call_command("spectacular", "--validate", "--fail-on-warn", "--file", out, stdout=io.StringIO(), stderr=io.StringIO())
            schema = yaml.safe_load(out.read_text())
        for model in self.models:
            with self.subTest(model.odoo.model):
                path = f"/api/{derive.endpoint(model)}/"
                self.assertEqual(list(schema["paths"][path]), ["get"])
                self.assertEqual(list(schema["paths"][f"{path}{{id}}/"]), ["get"])
                params = {p["name"]: p for p in schema["paths"][path]["get"]["parameters"]}
                filters = set(self.viewset(model).filterset_class.base_filters)
                paging = {"page"} if "page" in params else {"cursor"}
                searching = {"search"} if derive.rec_name_fields(model) else set()
                self.assertEqual(set(params), filters | {"ordering"} | paging | searching)
                for name in filters:
                    self.assertTrue(params[name].get("description"), name)
                # The orderings a client may ask for, and the fields search looks in.
                orderings = derive.ordering_fields(model)
                self.assertEqual(params["ordering"]["schema"]["items"]["enum"], [o for f in orderings for o in (f, f"-{f}")])
                self.assertIn(f"One or more of: {', '.join(orderings)}.", params["ordering"]["description"])
                if searching:
                    self.assertIn(f"whose {', '.join(derive.rec_name_fields(model))} contain", params["search"]["description"])
                history = schema["paths"][f"{path}{{id}}/history/"]["get"]
                self.assertEqual({p["name"] for p in history["parameters"]}, {"id", "page"})
                for spec in derive.filter_specs(model):
                    if spec.kind in ("many2one", "many2many"):
                        self.assertEqual(params[spec.name]["schema"]["type"], "integer", spec.name)
                    if spec.kind == "selection":
                        choices = [c for c, _ in model._meta.get_field(spec.field).choices]
                        self.assertEqual(params[spec.name]["schema"]["enum"], sorted(choices), spec.name)

    def test_a_records_history_shows_what_changed_in_odoo(self):
        # One record of each model changed in Odoo, one sync: the API's history and the admin's.
        changed = {}
        for model in self.models:
            field = text_field(model)
            row = model.objects.order_by("id").first()
            value = f"changed in Odoo for its history {dt.datetime.now().isoformat()}"
            changed[model] = (row.pk, field, getattr(row, field.attname), value)
            sim("/sim/write", {"model": model.odoo.model, "id": row.pk, "values": {field.column: value}})
        sql("SELECT * FROM scrap_sga.sync()")
        self.client.force_login(self.admin)
        for model, (pk, field, old, new) in changed.items():
            with self.subTest(model.odoo.model):
                run_id = sql("SELECT max(run_id) FROM scrap_sga.sync_run WHERE model = %s", model.odoo.model)[0][0]
                entries = self.get(f"{self.url(model)}{pk}/history/")
                latest = entries["results"][0]
                self.assertEqual((latest["operation"], latest["run_id"], latest["trigger"]), ("update", run_id, "manual"))
                self.assertIn({"field": field.name, "old": old, "new": new}, latest["changes"])
                # Every audit row of the record, newest first; the oldest, its first copy.
                logged = sql("SELECT audit_id, operation FROM scrap_sga.audit_log WHERE table_name = %s AND odoo_id = %s ORDER BY audit_id DESC",
                             mirror_table(model), pk)
                every = self.all_pages(f"{self.url(model)}{pk}/history/")
                self.assertEqual([(e["audit_id"], e["operation"]) for e in every], logged)
                self.assertEqual((every[-1]["operation"], every[-1]["changes"]), ("insert", []))
                # The admin's history button leads to the same, the field by its label.
                admin_url = f"/admin/{model._meta.app_label}/{model._meta.model_name}/{pk}/"
                page = self.client.get(f"{admin_url}history/")
                self.assertEqual(page.status_code, 200)
                shown_old = "—" if old is None else old
                self.assertContains(page, f'<td class="field">{field.verbose_name}</td><td class="old">{shown_old}</td><td class="new">{new}</td>', html=True)
                self.assertContains(page, f'href="/admin/scrap_sga/syncrun/{run_id}/change/"')
                self.assertContains(self.client.get(f"{admin_url}change/"), f'<a href="{admin_url}history/" class="historylink">History</a>', html=True)
                # No such record: no history.
                missing = max(model.all_objects.values_list("id", flat=True)) + 1000
                self.assertEqual(self.client.get(f"{self.url(model)}{missing}/history/").status_code, 404)
                self.assertEqual(self.client.get(f"{self.url(model)}abc/history/").status_code, 404)
                self.assertEqual(self.client.get(f"/admin/{model._meta.app_label}/{model._meta.model_name}/{missing}/history/").status_code, 404)

    def test_a_binary_change_is_shown_by_its_size_and_digest(self):
        binaries = [(m, f) for m in self.models for f in m._meta.concrete_fields
                    if isinstance(f, models.BinaryField) and m.odoo.fields.get(f.column, OdooField("")).type == "binary"]
        for model, field in binaries:
            pk = model.objects.order_by("id").first().pk
            sim("/sim/heavy", {"model": model.odoo.model, "field": field.column, "ids": [pk], "bytes": 3000})
            self.addCleanup(sim, "/sim/heavy", {"model": model.odoo.model, "field": field.column, "ids": [pk], "bytes": 0})
        sql("SELECT * FROM scrap_sga.sync()")
        for model, field in binaries:
            with self.subTest(model.odoo.model, field=field.name):
                pk = model.objects.order_by("id").first().pk
                stored = bytes(model.all_objects.filter(pk=pk).values_list(field.name, flat=True)[0])
                self.assertEqual(len(stored), 3000)
                [change] = [c for c in self.get(f"{self.url(model)}{pk}/history/")["results"][0]["changes"] if c["field"] == field.name]
                self.assertEqual(change["new"], {"bytes": 3000, "sha256": hashlib.sha256(stored).hexdigest()})

    def test_resync_from_odoo_is_offered_to_a_role_that_may_resync_only(self):
        self.client.force_login(self.admin)
        model = self.models[0]
        changelist = f"/admin/{model._meta.app_label}/{model._meta.model_name}/"
        field = text_field(model)
        pk = model.objects.order_by("id").first().pk
        value = f"resynced {dt.datetime.now().isoformat()}"
        sim("/sim/write", {"model": model.odoo.model, "id": pk, "values": {field.column: value}})
        self.assertNotIn("resync_from_odoo", self.actions(changelist), "the reader may not resync")
        # The DBA grants scrap_sga_operator to the mirror's role (cluster-wide, so committed at once).
        reader = settings.DATABASES[MIRROR]["USER"]
        dba("GRANT scrap_sga_operator TO {}", reader)
        self.addCleanup(dba, "REVOKE scrap_sga_operator FROM {}", reader)
        self.assertIn("resync_from_odoo", self.actions(changelist))
        done = self.client.post(changelist, {"action": "resync_from_odoo", "_selected_action": [pk], "index": 0}, follow=True)
        self.assertContains(done, f"Resynced 1 record(s) of {model.odoo.model} from Odoo: ")
        self.assertEqual(getattr(model.objects.get(pk=pk), field.attname), value)
        self.assertEqual(self.get(f"{self.url(model)}{pk}/history/")["results"][0]["trigger"], "resync")

    def test_the_sync_page_lists_every_model(self):
        self.client.force_login(self.admin)
        page = self.client.get("/admin/scrap_sga/syncstatus/")
        self.assertEqual(page.status_code, 200)
        for model in self.models:
            self.assertContains(page, f'<tr class="model" data-model="{model.odoo.model}">')
            self.assertContains(page, f'<td class="rows">{model.objects.count()}</td>', html=True)
            self.assertContains(page, f'aria-label="{model.odoo.model}, last 24 hours: ')
        for url in ("/admin/scrap_sga/syncrun/", "/admin/scrap_sga/failedrecord/", "/admin/scrap_sga/syncrun/?status__exact=succeeded"):
            self.assertEqual(self.client.get(url).status_code, 200, url)
        run = sql("SELECT max(run_id) FROM scrap_sga.sync_run")[0][0]
        self.assertContains(self.client.get(f"/admin/scrap_sga/syncrun/{run}/change/"), f"run {run} (")
        self.assertEqual(self.client.get("/admin/scrap_sga/syncrun/add/").status_code, 403)

    def test_a_copy_under_way_shows_its_progress(self):
        # A full resync that takes a few seconds (Odoo slowed down), in a connection of its own:
        # the status endpoint and the sync page show it while it runs.
        model = self.models[0]
        per_record_us = 4_000_000 // model.all_objects.count()
        sim("/sim/cost", {"model": model.odoo.model, "per_record_us": per_record_us})
        self.addCleanup(sim, "/sim/cost", {"model": model.odoo.model, "per_record_us": 0})
        params = connections["default"].get_connection_params()
        copy = threading.Thread(target=lambda: psycopg.connect(**params, autocommit=True).execute(
            "SELECT * FROM scrap_sga.full_resync(%s)", [model.odoo.model]).close())
        copy.start()
        self.addCleanup(copy.join, 60)
        deadline = time.monotonic() + 30
        while not (progress := {s["model"]: s["progress"] for s in self.get("/api/sync-status/")}[model.odoo.model]):
            self.assertLess(time.monotonic(), deadline, "the copy under way never showed")
            time.sleep(0.05)
        self.client.force_login(self.admin)
        page = self.client.get("/admin/scrap_sga/syncstatus/")
        [shown] = progress
        run_id, trigger, pid, started_at = sql("SELECT run_id, trigger, backend_pid, started_at FROM scrap_sga.sync_run WHERE run_id = %s", shown["run_id"])[0]
        self.assertEqual((shown["model"], shown["trigger"], shown["pid"]), (model.odoo.model, "full_resync", pid))
        self.assertEqual(dt.datetime.fromisoformat(shown["started_at"].replace("Z", "+00:00")), started_at)
        # Before its first step (phase "starting") a run has no count of records done yet.
        self.assertTrue(shown["done"] >= 0 if shown["done"] is not None else shown["phase"] == "starting", shown)
        self.assertContains(page, f'<tr class="progress" data-model="{model.odoo.model}">')
        self.assertContains(page, f'href="/admin/scrap_sga/syncrun/{run_id}/change/">{run_id}</a> (full_resync)')
        copy.join(60)
        self.assertEqual({s["model"]: s["progress"] for s in self.get("/api/sync-status/")}[model.odoo.model], [])

    def test_no_orm_write_path_writes(self):
        for model in self.models:
            with self.subTest(model.odoo.model):
                self.assert_read_only(model)

    def assert_read_only(self, model):
        table = model._meta.db_table
        checksum = f"SELECT md5(string_agg(t::text, ',' ORDER BY id)) FROM {table} t"
        before = sql(checksum)
        row = model.all_objects.order_by("id").first()
        pk = row.pk
        text = next((f.name for f in model._meta.concrete_fields if isinstance(f, models.TextField)), None)
        change = {text: "x"} if text else {"sga_synced_at": timezone.now()}
        fresh = lambda: model(id=10**9, sga_synced_at=timezone.now())  # noqa: E731
        writes = {
            "save": row.save,
            "save_base": lambda: row.save_base(raw=True),
            "delete": row.delete,
            "asave": lambda: async_to_sync(row.asave)(),
            "create": lambda: model.objects.create(id=10**9, sga_synced_at=timezone.now()),
            "get_or_create": lambda: model.objects.get_or_create(id=10**9, defaults={"sga_synced_at": timezone.now()}),
            "update_or_create": lambda: model.objects.update_or_create(id=pk, defaults=change),
            "select_for_update": lambda: list(model.objects.select_for_update().filter(id=pk)),
            "bulk_create": lambda: model.objects.bulk_create([fresh()]),
            "bulk_update": lambda: model.objects.bulk_update([row], list(change)),
            "update": lambda: model.objects.filter(id=pk).update(**change),
            "aupdate": lambda: async_to_sync(model.objects.filter(id=pk).aupdate)(**change),
            "queryset delete": lambda: model.objects.filter(id=pk).delete(),
            "all_objects update": lambda: model.all_objects.filter(id=pk).update(**change),
            "all_objects delete": lambda: model.all_objects.filter(id=pk).delete(),
            "_base_manager update": lambda: model._base_manager.filter(id=pk).update(**change),
            "_base_manager delete": lambda: model._base_manager.filter(id=pk).delete(),
            "_base_manager bulk_create": lambda: model._base_manager.bulk_create([fresh()]),
            "_base_manager _update": lambda: model._base_manager.filter(id=pk)._update(
                [(model._meta.get_field(name), None, value) for name, value in change.items()]),
            "_base_manager _insert": lambda: model._base_manager._insert([fresh()], fields=[model._meta.pk], using=MIRROR),
            "_default_manager _raw_delete": lambda: model._default_manager.filter(id=pk)._raw_delete(MIRROR),
        }
        # Django's own machinery, below the managers and querysets: the database refuses it, as
        # the reader role the mirror connection logs in as may only read.
        below = {
            "Collector.delete": lambda: self.collector_delete(row),
            "UpdateQuery": lambda: self.update_query(model, pk, change),
            "DeleteQuery": lambda: DeleteQuery(model).delete_batch([pk], MIRROR),
        }
        for c in derive.children(model):
            writes[f"{c.accessor}.add"] = lambda c=c: getattr(row, c.accessor).add(c.model.all_objects.first(), bulk=True)
            writes[f"{c.accessor}.clear"] = lambda c=c: getattr(row, c.accessor).clear()
            writes[f"{c.accessor}.set"] = lambda c=c: getattr(row, c.accessor).set([])
        for name, write in writes.items():
            with self.subTest(model.odoo.model, write=name):
                with self.assertRaises(NotSupportedError), transaction.atomic(using=MIRROR):
                    write()
        for name, write in below.items():
            with self.subTest(model.odoo.model, write=name):
                with self.assertRaisesRegex(ProgrammingError, "permission denied"), transaction.atomic(using=MIRROR):
                    write()
        self.assertEqual(sql(checksum), before)

    @staticmethod
    def collector_delete(row):
        collector = Collector(using=MIRROR)
        collector.collect([row])
        collector.delete()

    @staticmethod
    def update_query(model, pk, change):
        query = UpdateQuery(model)
        query.update_batch([pk], change, MIRROR)

    # helpers

    def actions(self, changelist):
        page = self.client.get(changelist)
        self.assertEqual(page.status_code, 200)
        return [name for name, _ in page.context["action_form"].fields["action"].choices] if page.context.get("action_form") else []

    def viewset(self, model):
        from scrap_sga.views import viewset_for

        return viewset_for(model)

    def url(self, model):
        return f"/api/{derive.endpoint(model)}/"

    def get(self, url):
        r = self.client.get(url)
        self.assertEqual(r.status_code, 200, f"{url}: {r.content[:300]}")
        return r.json()

    def ids(self, url):
        out = []
        while url:
            page = self.get(url)
            out += [row["id"] for row in page["results"]]
            url = page["next"]
        return out


def _neg(value):
    """A key that sorts descending what sorts ascending."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, (int, float, Decimal)):
        return -value
    if isinstance(value, dt.datetime):
        return -value.timestamp()
    if isinstance(value, dt.date):
        return -value.toordinal()
    raise TypeError(value)


class SyncInABrowserTests(StaticLiveServerTestCase):
    """The sync page and a record's history as a browser shows them (Debian's chromium, headless,
    through Django's live server): a record changed in Odoo, one Odoo cannot read (it waits for
    a retry), and a run that failed."""

    databases = {"default", "mirror"}
    host = "127.0.0.1"

    @classmethod
    def setUpClass(cls):
        connect_and_sync()
        super().setUpClass()
        cls.browser, profile = chromium()
        cls.addClassCleanup(shutil.rmtree, profile, True)
        cls.addClassCleanup(cls.browser.quit)

    def test_the_sync_page_and_a_records_history_show_what_happened(self):
        models_ = derive.mirror_models()
        model = models_[0]
        changed, unreadable = model.objects.order_by("id").values_list("id", flat=True)[:2]
        field = text_field(model)
        old = getattr(model.objects.get(pk=changed), field.attname)
        new = f"seen in a browser {dt.datetime.now().isoformat()}"
        self.addCleanup(self.odoo_well_again, model, unreadable)
        sim("/sim/write", {"model": model.odoo.model, "id": changed, "values": {field.column: new}})
        sim("/sim/poison", {"model": model.odoo.model, "ids": [unreadable], "kind": "error"})
        sql("SELECT * FROM scrap_sga.sync()")
        self.assertEqual(sql("SELECT odoo_id FROM scrap_sga.failed_record WHERE model = %s", model.odoo.model), [(unreadable,)])
        # Odoo answers nothing but errors: the next run fails.
        sim("/sim/fault", {"kind": "http500", "count": -1})
        with self.assertRaises(DatabaseError):
            sql("SELECT * FROM scrap_sga.sync()")
        failed = sql("SELECT model, error FROM scrap_sga.sync_run WHERE status = 'failed' ORDER BY run_id DESC LIMIT 1")[0]

        User.objects.create_superuser("browser", "browser@example.com", "browser-password")
        b = self.browser
        b.get(f"{self.live_server_url}/admin/login/?next=/admin/scrap_sga/syncstatus/")
        b.find_element(By.ID, "id_username").send_keys("browser")
        b.find_element(By.ID, "id_password").send_keys("browser-password")
        b.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
        WebDriverWait(b, 20).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#models tr.model"))

        rows = {tr.get_attribute("data-model"): tr for tr in b.find_elements(By.CSS_SELECTOR, "#models tr.model")}
        self.assertEqual(sorted(rows), sorted(m.odoo.model for m in models_))
        for m in models_:
            cell = lambda name, m=m: rows[m.odoo.model].find_element(By.CSS_SELECTOR, f"td.{name}").text  # noqa: E731
            self.assertEqual(cell("rows"), str(m.objects.count()), m.odoo.model)
            self.assertEqual(cell("waiting"), "1" if m is model else "0", m.odoo.model)
        status = rows[failed[0]].find_element(By.CSS_SELECTOR, "td.status")
        self.assertEqual(status.text, f"failed: {failed[1]}")
        self.assertTrue(rows[failed[0]].find_elements(By.CSS_SELECTOR, "svg.scrap-sga-chart rect.failed"), "the chart shows the failed run")
        retries = b.find_elements(By.CSS_SELECTOR, "#waiting tr.retry")
        self.assertEqual([(r.get_attribute("data-model"), r.get_attribute("data-odoo-id")) for r in retries], [(model.odoo.model, str(unreadable))])
        self.assertIn("ValueError", retries[0].find_element(By.CSS_SELECTOR, "td.error").text)

        b.get(f"{self.live_server_url}/admin/{model._meta.app_label}/{model._meta.model_name}/{changed}/change/")
        b.find_element(By.CSS_SELECTOR, "a.historylink").click()
        WebDriverWait(b, 20).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#history-list tr.change"))
        shown = [[td.text for td in tr.find_elements(By.CSS_SELECTOR, "td.field, td.old, td.new")]
                 for tr in b.find_elements(By.CSS_SELECTOR, "#history-list tr.change[data-operation=update]")]
        self.assertIn([str(field.verbose_name), "—" if old is None else old, new], shown)
        self.assertEqual(b.find_elements(By.CSS_SELECTOR, "#history-list tr.change")[-1].get_attribute("data-operation"), "insert")

    @staticmethod
    def odoo_well_again(model, unreadable):
        sim("/sim/faults/clear", {})
        sim("/sim/poison", {"model": model.odoo.model, "ids": [unreadable], "kind": "none"})
        sql("SELECT * FROM scrap_sga.resync_failed()")
        sql("SELECT * FROM scrap_sga.sync()")


class FilterNamesTests(SimpleTestCase):
    """The fallback of a filter name that is taken, on a model made up for it."""

    def test_a_taken_name_falls_back_to_the_column_and_lookup(self):
        def field(kind, name, **kwargs):
            f = kind(**kwargs)
            f.set_attributes_from_name(name)
            return f

        class Made:
            class _meta:
                concrete_fields = [
                    field(models.IntegerField, "id"),
                    field(models.BooleanField, "partner"),  # its filter is "partner"
                    field(models.IntegerField, "partner_id"),  # a many2one: "partner" is taken
                    field(models.TextField, "page", choices=[("a", "A")]),  # a parameter of the API
                    field(models.DateField, "due"),
                    field(models.TextField, "due_from"),  # a field of that name
                ]

            odoo = Odoo("made.up", {
                "id": OdooField("integer"), "partner": OdooField("boolean"), "partner_id": OdooField("many2one", "res.partner"),
                "page": OdooField("selection"), "due": OdooField("date"), "due_from": OdooField("char"),
            })

        names = {(s.name, s.field, s.lookup) for s in derive.filter_specs(Made)}
        self.assertEqual(names, {
            ("partner", "partner", "exact"), ("partner_id", "partner_id", "exact"), ("page__exact", "page", "exact"),
            ("due__gte", "due", "gte"), ("due_to", "due", "lte"),
        })
