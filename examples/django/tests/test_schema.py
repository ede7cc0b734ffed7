"""The OpenAPI schema on the simulator's default schema: valid, warning-free, and complete (every
endpoint, filter and field). test_derived.py checks the same rules on any schema; here the
names are spelled out, as a client sees them."""
import io
import tempfile
from pathlib import Path

import yaml
from django.core.management import call_command
from django.test import TestCase
from drf_spectacular.validation import validate_schema

from odoo_mirror.models import ScrapDimagazBc, ScrapDimagazBcLine
from scrap_sga.serializers import list_serializer_for, serializer_for
from scrap_sga.urls import router


class SchemaTests(TestCase):
    maxDiff = None
    databases = {"default", "mirror"}

    @classmethod
    def setUpTestData(cls):
        with tempfile.TemporaryDirectory() as tmp:
            # --fail-on-warn: a field or filter drf-spectacular had to guess fails the test.
            out = Path(tmp, "schema.yaml")
            call_command("spectacular", "--validate", "--fail-on-warn", "--file", out, stdout=io.StringIO(), stderr=io.StringIO())
            cls.generated = yaml.safe_load(out.read_text())

    def setUp(self):
        r = self.client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
        self.assertEqual(r.status_code, 200)
        self.schema = r.json()

    def test_the_served_schema_is_valid_openapi_3(self):
        validate_schema(self.schema)  # raises on any violation of the OpenAPI 3.0 JSON schema
        self.assertTrue(self.schema["openapi"].startswith("3."))
        self.assertEqual(self.schema, self.generated)

    def test_every_endpoint_is_described(self):
        self.assertEqual(sorted(self.schema["paths"]), [
            "/api/lines/", "/api/lines/{id}/", "/api/lines/{id}/history/",
            "/api/orders/", "/api/orders/{id}/", "/api/orders/{id}/history/", "/api/sync-status/",
        ])
        for path, operations in self.schema["paths"].items():
            self.assertEqual(list(operations), ["get"], f"{path} is read-only")

    def test_every_list_endpoint_documents_its_filters(self):
        # By Odoo type: many2one by id (named without _id), dates from/to, selections, booleans,
        # many2many by an id they hold, changed_since; and the project's own ids (brasg/api.py).
        dates = lambda *names: {f"{n}_{side}" for n in names for side in ("from", "to")}  # noqa: E731
        wanted = {
            "orders": {"active", "is_urgent", "state", "company", "create_uid", "currency", "partner", "user", "write_uid", "tag",
                       "changed_since", "ids"} | dates("create_date", "date_order", "date_planned", "write_date"),
            "lines": {"state", "create_uid", "currency", "order", "product", "write_uid", "tax", "changed_since"}
                     | dates("create_date", "date_planned", "write_date"),
        }
        for prefix, viewset, _ in router.registry:
            filters = set(viewset.filterset_class.base_filters)
            self.assertEqual(filters, wanted[prefix])
            params = {p["name"]: p for p in self.schema["paths"][f"/api/{prefix}/"]["get"]["parameters"]}
            self.assertEqual(set(params), filters | {"ordering", "page", "search"}, prefix)
            for name in filters:
                self.assertTrue(params[name].get("description"), f"{prefix}: {name} has a description")
        # The types the filters validate, so a client can check a value before sending it.
        types = {(p["name"], p["schema"]["type"], p["schema"].get("format")) for p in self.schema["paths"]["/api/orders/"]["get"]["parameters"]}
        self.assertLessEqual({
            ("partner", "integer", None), ("active", "boolean", None), ("tag", "integer", None),
            ("date_order_from", "string", "date"), ("changed_since", "string", "date-time"),
        }, types)
        lines = {p["name"]: p["schema"] for p in self.schema["paths"]["/api/lines/"]["get"]["parameters"]}
        self.assertEqual((lines["order"]["type"], lines["product"]["type"]), ("integer", "integer"))
        self.assertEqual(lines["state"]["enum"], sorted(c for c, _ in ScrapDimagazBcLine._meta.get_field("state").choices))

    def test_every_field_is_described_the_nested_lines_included(self):
        components = self.schema["components"]["schemas"]
        for name, serializer in [
            ("ScrapDimagazBc", serializer_for(ScrapDimagazBc)), ("ScrapDimagazBcList", list_serializer_for(ScrapDimagazBc)),
            ("ScrapDimagazBcLine", serializer_for(ScrapDimagazBcLine)), ("ScrapDimagazBcLineList", list_serializer_for(ScrapDimagazBcLine)),
        ]:
            properties = components[name]["properties"]
            self.assertEqual(set(properties), set(serializer().fields), name)
            undescribed = [f for f, p in properties.items() if not p.get("description")]
            self.assertEqual(undescribed, [], name)
        lines = components["ScrapDimagazBc"]["properties"]["lines"]
        self.assertEqual((lines["type"], lines["items"]), ("array", {"$ref": "#/components/schemas/ScrapDimagazBcLineList"}))
        self.assertNotIn("lines", components["ScrapDimagazBcList"]["properties"])
        self.assertNotIn("line_ids", components["ScrapDimagazBcList"]["properties"])
        detail = self.schema["paths"]["/api/orders/{id}/"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
        self.assertEqual(detail, {"$ref": "#/components/schemas/ScrapDimagazBc"})
        # A selection is an enum of its own per model and field, its labels in its description.
        state = components["ScrapDimagazBcStateEnum"]
        choices = ScrapDimagazBc._meta.get_field("state").choices
        self.assertEqual(state["enum"], [c for c, _ in choices])
        for value, label in choices:
            self.assertIn(f"`{value}` - {label}", state["description"])
        # Exact numbers are decimal strings, not floats.
        amount = components["ScrapDimagazBc"]["properties"]["amount_total"]
        self.assertEqual((amount["type"], amount.get("format")), ("string", "decimal"))

    def test_the_swagger_ui_loads_the_schema(self):
        r = self.client.get("/api/docs/")
        self.assertEqual(r.status_code, 200)
        self.assertIn(b'"/api/schema/"', r.content)
