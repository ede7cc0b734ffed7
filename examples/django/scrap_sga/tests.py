"""The API against a real database: the test database gets the extension (migration 0001), is
pointed at the Odoo simulator (SGA_SIM_URL) and synced, and every answer is compared with what
the simulator holds. scrap_sga commits its syncs in a worker of its own, so they survive each
test's rollback: every test compares with the simulator's state at that moment.
"""
import datetime as dt
import io
import json
import os
import re
import urllib.parse
import urllib.request

from django.contrib.auth.models import User
from django.core.management import call_command
from django.db import connection
from django.test import TestCase

from .models import ScrapDimagazBc, ScrapDimagazBcLine

SIM = os.environ.get("SGA_SIM_URL", "http://127.0.0.1:18069")


def sim(path, body=None):
    req = urllib.request.Request(SIM + path, data=json.dumps(body).encode() if body is not None else None, method="POST" if body is not None else "GET")
    with urllib.request.urlopen(req) as r:
        return json.load(r)


def sql(query, *args):
    with connection.cursor() as cur:
        cur.execute(query, args)
        return cur.fetchall() if cur.description else None


def odoo_orders():
    return {r["id"]: r for r in sim("/sim/dump?model=dimagaz.bc")}


class MirrorApiTests(TestCase):
    @classmethod
    def setUpClass(cls):
        # Before TestCase opens its transaction: the sync runs in a worker of its own, which only
        # sees committed data (as for any application calling scrap_sga.sync() in a transaction).
        sql("SELECT scrap_sga.set_connection(%s, 'dimagaz', 'admin', 'admin')", SIM)
        sql("SELECT * FROM scrap_sga.sync()")
        super().setUpClass()

    def get(self, url):
        r = self.client.get(url)
        self.assertEqual(r.status_code, 200, r.content[:300])
        return r.json()

    def all_pages(self, url):
        out = []
        while url:
            page = self.get(url)
            out += page["results"]
            url = page["next"]
        return out

    def test_list_has_every_order_archived_included(self):
        orders = self.all_pages("/api/orders/")
        self.assertEqual(sorted(o["id"] for o in orders), sorted(odoo_orders()))
        self.assertTrue(any(o["active"] is False for o in orders), "archived orders are kept")
        self.assertNotIn("lines", orders[0])

    def test_detail_has_its_lines(self):
        odoo = odoo_orders()[1]
        body = self.get("/api/orders/1/")
        self.assertEqual(body["name"], odoo["name"])
        self.assertEqual(body["partner_id"], odoo["partner_id"][0])
        self.assertEqual(body["partner_id_display"], odoo["partner_id"][1])
        self.assertEqual(sorted(line["id"] for line in body["lines"]), sorted(odoo["line_ids"]))
        self.assertTrue(all(line["order"] == 1 for line in body["lines"]))
        self.assertEqual(self.client.get("/api/orders/999999/").status_code, 404)

    def test_filters(self):
        odoo = odoo_orders().values()
        cases = {
            "state=done": [o for o in odoo if o["state"] == "done"],
            "partner=17": [o for o in odoo if o["partner_id"] and o["partner_id"][0] == 17],
            "active=false": [o for o in odoo if o["active"] is False],
            "date_from=2025-12-31&date_to=2025-12-31": [o for o in odoo if o["date_order"][:10] == "2025-12-31"],
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
        self.assertEqual(self.client.get("/api/orders/?date_from=yesterday").status_code, 400)

    def test_pagination_and_ordering(self):
        first = self.get("/api/orders/")
        self.assertEqual(first["count"], len(odoo_orders()))
        self.assertEqual(len(first["results"]), 50)
        self.assertIsNotNone(first["next"])
        by_amount = [o["amount_total"] for o in self.get("/api/orders/?ordering=-amount_total")["results"]]
        self.assertEqual(by_amount, sorted(by_amount, reverse=True))

    def test_read_only(self):
        for method in ("post", "put", "patch", "delete"):
            for url in ("/api/orders/", "/api/orders/1/", "/api/lines/1/"):
                r = getattr(self.client, method)(url, data={"name": "x"}, content_type="application/json")
                self.assertEqual(r.status_code, 405, f"{method} {url}")
        admin = User.objects.create_superuser("admin", "admin@example.com", "x")
        self.client.force_login(admin)
        self.assertEqual(self.client.get("/admin/scrap_sga/scrapdimagazbc/").status_code, 200)
        self.assertEqual(self.client.get("/admin/scrap_sga/scrapdimagazbc/1/change/").status_code, 200)
        self.assertEqual(self.client.get("/admin/scrap_sga/scrapdimagazbc/add/").status_code, 403)

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
        self.assertEqual((body["notes"], body["amount_total"]), ("changed in Odoo", 123.45))

    def test_sync_status_endpoint(self):
        status = self.get("/api/sync-status/")
        self.assertEqual([s["model"] for s in status], ["dimagaz.bc", "dimagaz.bc.line"])
        self.assertEqual(status[0]["last_status"], "succeeded")
        self.assertEqual(status[0]["rows"], ScrapDimagazBc.objects.count())

    def test_models_match_inspectdb(self):
        """models.py is inspectdb's output plus the marked edits, nothing else."""
        out = io.StringIO()
        call_command("inspectdb", "scrap_dimagaz_bc", "scrap_dimagaz_bc_line", stdout=out)
        generated = {}
        table = None
        for line in out.getvalue().splitlines():
            m = re.match(r"class (\w+)\(models.Model\):", line)
            if m:
                table = m.group(1)
            m = re.match(r"    (\w+) = models\.(\w+)\(", line)
            if m and table:
                generated.setdefault(table, {})[m.group(1)] = m.group(2)
        edited = {"line_ids": "ArrayField", "tag_ids": "ArrayField", "tax_ids": "ArrayField", "order_id": "ForeignKey"}
        for model in (ScrapDimagazBc, ScrapDimagazBcLine):
            ours = {f.column: type(f).__name__ for f in model._meta.concrete_fields}
            theirs = {col: edited.get(col, kind) for col, kind in generated[model.__name__].items()}
            self.assertEqual(ours, theirs, f"{model.__name__}: regenerate with inspectdb (see models.py)")
