"""The API against a real database: the test database gets the extension (migration 0001), is
pointed at the Odoo simulator and synced, and every answer is compared with what the simulator
holds."""
import datetime as dt
from decimal import Decimal
import threading
import time
import urllib.parse
from unittest import mock

import psycopg
from django.conf import settings
from django.contrib.auth.models import User
from django.db import NotSupportedError, connections, models
from django.db.models import Sum
from django.test import TransactionTestCase

from scrap_sga.admin import admin_for
from scrap_sga.routers import MirrorRouter
from odoo_mirror.models import ScrapDimagazBc, ScrapDimagazBcLine

from .helpers import SyncedTestCase, connect_and_sync, odoo_orders, sim, sql


class MirrorApiTests(SyncedTestCase):
    def test_list_has_every_order_archived_included(self):
        orders = self.all_pages("/api/orders/")
        self.assertEqual(sorted(o["id"] for o in orders), sorted(odoo_orders()))
        self.assertTrue(any(o["active"] is False for o in orders), "archived orders are kept")
        self.assertNotIn("lines", orders[0])

    def test_a_list_does_not_read_the_columns_it_leaves_out(self):
        from django.db import connections
        from django.test.utils import CaptureQueriesContext
        from scrap_sga import derive
        from scrap_sga.serializers import list_serializer_for

        # The orders in a list, the lines nested in an order's detail.
        for model, url in ((ScrapDimagazBc, "/api/orders/"), (ScrapDimagazBcLine, "/api/orders/1/")):
            left_out = [model._meta.get_field(n).column for n in list_serializer_for(model).Meta.exclude]
            self.assertTrue(left_out, model.__name__)
            with CaptureQueriesContext(connections["mirror"]) as queries:
                self.get(url)
            table = f'FROM "{model._meta.db_table}"'
            rows = [q["sql"] for q in queries.captured_queries if table in q["sql"] and "COUNT(*)" not in q["sql"]]
            self.assertTrue(rows, queries.captured_queries)
            # Its own columns (an order's detail also counts its lines, by a subquery on them).
            for sql_text in rows:
                self.assertEqual([c for c in left_out if f'"{model._meta.db_table}"."{c}"' in sql_text], [], sql_text)
        # The detail has them.
        with CaptureQueriesContext(connections["mirror"]) as queries:
            self.get("/api/orders/1/")
        order = [q["sql"] for q in queries.captured_queries if 'FROM "scrap_dimagaz_bc" ' in q["sql"] + " "][0]
        self.assertTrue(all(f'"{c}"' in order for c in (ScrapDimagazBc._meta.get_field(n).column for n in derive.heavy_fields(ScrapDimagazBc))), order)

    def test_datetimes_are_in_utc_whatever_the_time_zone(self):
        utc = self.get("/api/orders/1/")["write_date"]
        with self.settings(TIME_ZONE="Africa/Algiers"):
            self.assertEqual(self.get("/api/orders/1/")["write_date"], utc)
        self.assertTrue(utc.endswith("Z"), utc)

    def test_detail_has_its_lines(self):
        odoo = odoo_orders()[1]
        body = self.get("/api/orders/1/")
        self.assertEqual(body["name"], odoo["name"])
        self.assertEqual(body["partner_id"], odoo["partner_id"][0])
        self.assertEqual(body["partner_id_display"], odoo["partner_id"][1])
        self.assertEqual(sorted(line["id"] for line in body["lines"]), sorted(odoo["line_ids"]))
        self.assertTrue(all(line["order"] == 1 for line in body["lines"]))
        self.assertEqual(self.client.get("/api/orders/999999/").status_code, 404)

    def test_a_detail_nests_its_children_up_to_the_limit_and_says_how_many_there_are(self):
        odoo = odoo_orders()[1]
        ids = sorted(odoo["line_ids"])
        self.assertGreater(len(ids), 2, "order 1 has lines enough for the test")
        with self.settings(SCRAP_SGA=settings.SCRAP_SGA | {"NESTED_LIMIT": 2}):
            body = self.get("/api/orders/1/")
        self.assertEqual(body["lines_count"], len(ids))
        self.assertEqual(len(body["lines"]), 2)
        every = self.get("/api/orders/1/")
        self.assertEqual((every["lines_count"], len(every["lines"])), (len(ids), len(ids)), "1000 by default")
        self.assertEqual(body["lines"], every["lines"][:2], "the first ones, in the same order")
        self.assertEqual(sorted(line["id"] for line in self.all_pages("/api/lines/?order=1")), ids, "all of them, by the list")
        # The derived serializer on a record read anywhere else (a project's own view).
        from scrap_sga.serializers import serializer_for
        with self.settings(SCRAP_SGA=settings.SCRAP_SGA | {"NESTED_LIMIT": 2}):
            alone = serializer_for(ScrapDimagazBc)(ScrapDimagazBc.objects.get(id=1)).data
        self.assertEqual((alone["lines_count"], [line["id"] for line in alone["lines"]]), (len(ids), [line["id"] for line in body["lines"]]))

    def test_filters(self):
        odoo = odoo_orders().values()
        cases = {
            "state=done": [o for o in odoo if o["state"] == "done"],
            "partner=17": [o for o in odoo if o["partner_id"] and o["partner_id"][0] == 17],
            "active=false": [o for o in odoo if o["active"] is False],
            "active=true": [o for o in odoo if o["active"] is True],
            "state=done&active=true": [o for o in odoo if o["state"] == "done" and o["active"] is True],
            "date_order_from=2025-12-31&date_order_to=2025-12-31": [o for o in odoo if o["date_order"][:10] == "2025-12-31"],
        }
        for query, want in cases.items():
            got = self.all_pages(f"/api/orders/?{query}")
            self.assertEqual(sorted(o["id"] for o in got), sorted(o["id"] for o in want), query)
        # changed since: only what was written after a point in time.
        sim("/sim/write", {"model": "dimagaz.bc", "id": 11, "values": {"notes": "recent"}})
        sql("SELECT * FROM scrap_sga.sync()")
        since = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=5)).isoformat()
        got = self.all_pages("/api/orders/?changed_since=" + urllib.parse.quote(since))
        self.assertIn(11, [o["id"] for o in got])
        self.assertLess(len(got), len(odoo))
        lines = self.all_pages("/api/lines/?order=2")
        self.assertEqual(sorted(line["id"] for line in lines), sorted(odoo_orders()[2]["line_ids"]))
        some_product = lines[0]["product_id"]
        by_product = self.all_pages(f"/api/lines/?product={some_product}")
        self.assertTrue(by_product and all(line["product_id"] == some_product for line in by_product))
        self.assertEqual(len(by_product), ScrapDimagazBcLine.objects.filter(product_id=some_product).count())

    def test_a_day_of_a_datetime_is_a_range_of_instants_an_index_can_serve(self):
        from django.db import connections
        from django.test.utils import CaptureQueriesContext

        odoo = odoo_orders().values()
        # A day in the server's time zone: in Algiers (UTC+1) 2025-12-31 runs from 23:00 UTC
        # the day before.
        start = dt.datetime(2025, 12, 30, 23, tzinfo=dt.timezone.utc)
        written = lambda o: dt.datetime.fromisoformat(o["date_order"]).replace(tzinfo=dt.timezone.utc)  # noqa: E731
        want = sorted(o["id"] for o in odoo if o["date_order"] and start <= written(o) < start + dt.timedelta(days=1))
        with self.settings(TIME_ZONE="Africa/Algiers"), CaptureQueriesContext(connections["mirror"]) as queries:
            got = self.all_pages("/api/orders/?date_order_from=2025-12-31&date_order_to=2025-12-31")
        self.assertEqual(sorted(o["id"] for o in got), want)
        self.assertTrue(want)
        for q in queries.captured_queries:
            self.assertNotIn("AT TIME ZONE", q["sql"])

    def test_the_projects_own_filter_beside_the_derived_ones(self):
        # brasg/api.py: the orders' FilterSet is the project's, a subclass of the derived one.
        self.assertEqual(sorted(o["id"] for o in self.all_pages("/api/orders/?ids=7,3,5")), [3, 5, 7])
        done = [o["id"] for o in self.all_pages("/api/orders/?state=done")]
        self.assertTrue(done)
        both = self.all_pages(f"/api/orders/?state=done&ids={done[0]},{done[0] + 1}")
        self.assertEqual([o["id"] for o in both], [i for i in (done[0], done[0] + 1) if i in done])

    def test_a_value_that_cannot_be_read_is_a_400_naming_the_parameter(self):
        for url, param in [
            ("/api/orders/?partner=abc", "partner"),
            ("/api/orders/?partner=1.5", "partner"),
            ("/api/orders/?date_order_from=yesterday", "date_order_from"),
            ("/api/orders/?date_order_to=2026-02-30", "date_order_to"),
            ("/api/orders/?state=shipped", "state"),
            ("/api/orders/?ids=1,x", "ids"),
            ("/api/orders/?changed_since=soon", "changed_since"),
            ("/api/orders/?active=yes", "active"),
            ("/api/orders/?state=done&active=1", "active"),
            ("/api/lines/?order=first", "order"),
            ("/api/lines/?product=-3x", "product"),
            ("/api/lines/?changed_since=2026-13-01T00:00:00Z", "changed_since"),
        ]:
            r = self.client.get(url)
            self.assertEqual(r.status_code, 400, url)
            self.assertEqual(list(r.json()), [param], f"{url}: {r.json()}")

    def test_pagination_and_ordering(self):
        first = self.get("/api/orders/")
        self.assertEqual(first["count"], len(odoo_orders()))
        self.assertEqual(len(first["results"]), 50)
        self.assertIsNotNone(first["next"])
        by_amount = [Decimal(str(o["amount_total"])) for o in self.get("/api/orders/?ordering=-amount_total")["results"]]
        self.assertEqual(by_amount, sorted(by_amount, reverse=True))

    def test_cursor_pages(self):
        live = sorted(ScrapDimagazBcLine.objects.values_list("id", flat=True))
        with self.settings(SCRAP_SGA=settings.SCRAP_SGA | {"PAGINATION": "cursor", "PAGE_SIZE": 40}):
            first = self.get("/api/lines/")
            self.assertNotIn("count", first)
            self.assertEqual(len(first["results"]), 40)
            self.assertEqual([line["id"] for line in self.all_pages("/api/lines/")], live)
            self.assertEqual([line["id"] for line in self.all_pages("/api/lines/?ordering=-id")], live[::-1])
            self.assertEqual([line["id"] for line in self.all_pages("/api/lines/?order=2")], sorted(odoo_orders()[2]["line_ids"]))
            r = self.client.get("/api/lines/?ordering=sequence")
            self.assertEqual((r.status_code, list(r.json())), (400, ["ordering"]))

    def test_read_only(self):
        for method in ("post", "put", "patch", "delete"):
            for url in ("/api/orders/", "/api/orders/1/", "/api/lines/1/"):
                r = getattr(self.client, method)(url, data={"name": "x"}, content_type="application/json")
                self.assertEqual(r.status_code, 405, f"{method} {url}")
        admin = User.objects.create_superuser("admin", "admin@example.com", "x")
        self.client.force_login(admin)
        changelist = self.client.get("/admin/odoo_mirror/scrapdimagazbc/?id=1")
        self.assertEqual(changelist.status_code, 200)
        # An amount as stored, not padded to the field's 6 decimal places.
        amount = ScrapDimagazBc.objects.get(id=1).amount_total
        self.assertContains(changelist, f">{amount:f}<")
        self.assertNotContains(changelist, f"{amount:.6f}")
        self.assertEqual(self.client.get("/admin/odoo_mirror/scrapdimagazbc/1/change/").status_code, 200)
        self.assertEqual(self.client.get("/admin/odoo_mirror/scrapdimagazbc/add/").status_code, 403)
        # Binaries are shown nowhere in the admin, and not read: a list, a record and its lines.
        from django.db import connections
        from django.test.utils import CaptureQueriesContext
        with CaptureQueriesContext(connections["mirror"]) as queries:
            for url in ("/admin/odoo_mirror/scrapdimagazbc/", "/admin/odoo_mirror/scrapdimagazbc/1/change/", "/admin/odoo_mirror/scrapdimagazbcline/"):
                self.assertEqual(self.client.get(url).status_code, 200, url)
        read = " ".join(q["sql"] for q in queries.captured_queries)
        self.assertIn('"scrap_dimagaz_bc"."name"', read)
        self.assertNotIn('"scrap_dimagaz_bc"."signature"', read)

    def test_the_admin_is_chosen_by_rule(self):
        # docs/django.md, "The admin", on the default schema, spelled out.
        orders = admin_for(ScrapDimagazBc)
        self.assertEqual(orders.list_display, [
            "id", "name", "company_id_display", "currency_id_display", "partner_id_display", "state",
            "date_order", "date_planned", "amount_total_exact", "amount_untaxed_exact", "active",
        ])
        self.assertEqual(orders.list_filter, ["active", "date_order", "date_planned", "is_urgent", "state"])
        self.assertEqual(orders.search_fields, ["name", "company_id_display", "currency_id_display", "partner_id_display"])
        self.assertNotIn("signature", orders.fields, "no binary on the record's page")
        [lines] = orders.inlines
        self.assertEqual((lines.model, lines.fk_name, str(lines.verbose_name_plural)), (ScrapDimagazBcLine, "order", "Lignes"))
        self.assertEqual(lines.fields, ["name", "currency_id_display", "product_id_display", "state", "date_planned", "price_subtotal_exact"])

    def test_the_models_refuse_to_write(self):
        order = ScrapDimagazBc.objects.get(id=1)
        writes = {
            "save": order.save,
            "delete": order.delete,
            "create": lambda: ScrapDimagazBc.objects.create(id=10**6),
            "update": lambda: ScrapDimagazBc.objects.filter(id=1).update(notes="x"),
            "queryset delete": lambda: ScrapDimagazBcLine.all_objects.filter(order_id=1).delete(),
            "bulk_create": lambda: ScrapDimagazBc.objects.bulk_create([ScrapDimagazBc(id=10**6)]),
        }
        before = sql("SELECT md5(string_agg(t::text, ',' ORDER BY id)) FROM scrap_dimagaz_bc t")
        for name, write in writes.items():
            with self.assertRaises(NotSupportedError, msg=name):
                write()
        self.assertEqual(sql("SELECT md5(string_agg(t::text, ',' ORDER BY id)) FROM scrap_dimagaz_bc t"), before)

    def test_soft_deleted_rows_are_hidden(self):
        line_ids = odoo_orders()[5]["line_ids"]
        sim("/sim/delete", {"model": "dimagaz.bc", "id": 5})
        sql("SELECT * FROM scrap_sga.reconcile()")
        self.assertEqual(self.client.get("/api/orders/5/").status_code, 404)
        self.assertEqual(self.all_pages("/api/lines/?order=5"), [])
        self.assertNotIn(5, [o["id"] for o in self.all_pages("/api/orders/")])
        # Still in the table, stamped, and reachable through all_objects.
        self.assertIsNotNone(ScrapDimagazBc.all_objects.get(id=5).sga_deleted_at)
        self.assertEqual(ScrapDimagazBcLine.all_objects.filter(order_id=5).count(), len(line_ids))
        sim("/sim/restore", {"model": "dimagaz.bc", "id": 5})
        for line in line_ids:
            sim("/sim/restore", {"model": "dimagaz.bc.line", "id": line})
        sql("SELECT * FROM scrap_sga.reconcile()")
        self.assertEqual(len(self.get("/api/orders/5/")["lines"]), len(line_ids))

    def test_a_change_in_odoo_reaches_the_api_after_a_sync(self):
        self.assertNotEqual(self.get("/api/orders/3/")["notes"], "changed in Odoo")
        sim("/sim/write", {"model": "dimagaz.bc", "id": 3, "values": {"notes": "changed in Odoo", "amount_total": 123.45}})
        sql("SELECT * FROM scrap_sga.sync()")
        body = self.get("/api/orders/3/")
        self.assertEqual((body["notes"], Decimal(str(body["amount_total"]))), ("changed in Odoo", Decimal("123.45")))

    def test_amounts_are_exact(self):
        # Odoo stores monetary fields as numeric, and so do the mirror and the models: a sum is
        # the sum of the decimals Odoo sent, to the last digit, and the API serves each amount
        # as the decimal text Odoo sent.
        sql("SELECT * FROM scrap_sga.sync()")
        odoo = odoo_orders()
        self.assertIsInstance(ScrapDimagazBc._meta.get_field("amount_total"), models.DecimalField)
        self.assertIsInstance(ScrapDimagazBcLine._meta.get_field("price_subtotal"), models.DecimalField)
        total = ScrapDimagazBc.objects.aggregate(total=Sum("amount_total"))["total"]
        self.assertEqual(total, sum(Decimal(str(o["amount_total"])) for o in odoo.values()))
        self.assertNotEqual(Decimal(sum(o["amount_total"] for o in odoo.values())), total, "a float sum would not be")
        for order in self.all_pages("/api/orders/")[:20]:
            self.assertIsInstance(order["amount_total"], str)
            self.assertEqual(Decimal(order["amount_total"]), Decimal(str(odoo[order["id"]]["amount_total"])))

    def test_the_router_sends_the_mirror_to_the_reader_and_nothing_else(self):
        router = MirrorRouter()
        self.assertEqual((router.db_for_read(ScrapDimagazBcLine), router.db_for_write(ScrapDimagazBc)), ("mirror", "mirror"))
        self.assertEqual((router.db_for_read(User), router.db_for_write(User)), (None, None))
        # A project's model may point to a mirrored record.
        self.assertTrue(router.allow_relation(User(), ScrapDimagazBc()))
        # Nothing is created through the reader; everything else is Django's usual choice.
        self.assertEqual([router.allow_migrate("mirror", app) for app in ("auth", "sessions", "scrap_sga")], [False, False, False])
        self.assertEqual([router.allow_migrate("default", app) for app in ("auth", "scrap_sga")], [None, None])
        self.assertEqual(ScrapDimagazBc.objects.all().db, "mirror")
        # The mirror's connection is a reader's: no superuser, scrap_sga_reader granted.
        self.assertEqual(sql("SELECT current_user, rolsuper, pg_has_role('scrap_sga_reader', 'MEMBER') FROM pg_roles WHERE rolname = current_user", using="mirror"),
                         [(settings.DATABASES["mirror"]["USER"], False, True)])

    def test_the_checks_find_a_connection_the_mirror_cannot_be_read_through(self):
        from scrap_sga.checks import settings_needed

        self.assertEqual(settings_needed(None), [])
        with self.settings(SCRAP_SGA=settings.SCRAP_SGA | {"DATABASE": "replica"}):
            self.assertEqual([e.id for e in settings_needed(None)], ["scrap_sga.E003"])
        with self.settings(DATABASE_ROUTERS=[]):
            self.assertEqual([e.id for e in settings_needed(None)], ["scrap_sga.E004"])

    def test_sync_status_endpoint(self):
        status = self.get("/api/sync-status/")
        self.assertEqual([s["model"] for s in status], ["dimagaz.bc", "dimagaz.bc.line"])
        self.assertEqual(status[0]["last_status"], "succeeded")
        self.assertEqual(status[0]["rows"], ScrapDimagazBc.objects.count())


class ProgressViewTests(TransactionTestCase):
    """An extension before 0.4.0 has no scrap_sga.progress: the run log stands in for it."""

    databases = {"default", "mirror"}

    def setUp(self):
        connect_and_sync()

    def test_before_the_progress_view_the_run_log_shows_a_copy_under_way(self):
        # A full resync slowed down (about 4 s), in a connection of its own, read as an extension
        # without the view would be: what the run fetched so far, no phase, no total, no estimate.
        model = "dimagaz.bc"
        per_record_us = 4_000_000 // ScrapDimagazBc.all_objects.count()
        sim("/sim/cost", {"model": model, "per_record_us": per_record_us})
        self.addCleanup(sim, "/sim/cost", {"model": model, "per_record_us": 0})
        params = connections["default"].get_connection_params()
        copy = threading.Thread(target=lambda: psycopg.connect(**params, autocommit=True).execute(
            "SELECT * FROM scrap_sga.full_resync(%s)", [model]).close())
        with mock.patch("scrap_sga.health.has_progress_view", return_value=False):
            copy.start()
            self.addCleanup(copy.join, 60)
            deadline = time.monotonic() + 30
            while not (progress := {s["model"]: s["progress"] for s in self.client.get("/api/sync-status/").json()}[model]):
                self.assertLess(time.monotonic(), deadline, "the copy under way never showed")
                time.sleep(0.05)
            [shown] = progress
            run_id, pid = sql("SELECT run_id, backend_pid FROM scrap_sga.sync_run WHERE model = %s AND status = 'running'", model)[0]
            self.assertEqual((shown["run_id"], shown["trigger"], shown["pid"]), (run_id, "full_resync", pid))
            self.assertEqual({k: shown[k] for k in ("phase", "expected", "percent", "eta", "resumed_from", "updated_at")},
                             dict.fromkeys(("phase", "expected", "percent", "eta", "resumed_from", "updated_at")), shown)
            self.assertGreaterEqual(shown["done"], 0, shown)
            copy.join(60)
            self.assertEqual({s["model"]: s["progress"] for s in self.client.get("/api/sync-status/").json()}[model], [])
