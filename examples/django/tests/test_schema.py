"""The OpenAPI schema: valid, warning-free, and complete (every endpoint, filter and field)."""
import io
import tempfile
from pathlib import Path

import yaml
from django.core.management import call_command
from django.test import TestCase
from drf_spectacular.validation import validate_schema

from scrap_sga.serializers import LineSerializer, OrderListSerializer, OrderSerializer
from scrap_sga.urls import router


class SchemaTests(TestCase):
    maxDiff = None

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
        self.assertEqual(sorted(self.schema["paths"]), ["/api/lines/", "/api/lines/{id}/", "/api/orders/", "/api/orders/{id}/", "/api/sync-status/"])
        for path, operations in self.schema["paths"].items():
            self.assertEqual(list(operations), ["get"], f"{path} is read-only")

    def test_every_list_endpoint_documents_its_filters(self):
        wanted = {
            "orders": {"state", "partner", "date_from", "date_to", "changed_since", "active"},
            "lines": {"order", "product", "changed_since"},
        }
        for prefix, viewset, _ in router.registry:
            filters = set(viewset.filterset_class.base_filters)
            self.assertEqual(filters, wanted[prefix])
            params = {p["name"]: p for p in self.schema["paths"][f"/api/{prefix}/"]["get"]["parameters"]}
            self.assertEqual(set(params), filters | {"ordering", "page"}, prefix)
            for name in filters:
                self.assertTrue(params[name].get("description"), f"{prefix}: {name} has a description")
        # The types the filters validate, so a client can check a value before sending it.
        types = {(p["name"], p["schema"]["type"], p["schema"].get("format")) for p in self.schema["paths"]["/api/orders/"]["get"]["parameters"]}
        self.assertLessEqual({
            ("partner", "integer", None), ("active", "boolean", None),
            ("date_from", "string", "date"), ("changed_since", "string", "date-time"),
        }, types)
        lines = {p["name"]: p["schema"]["type"] for p in self.schema["paths"]["/api/lines/"]["get"]["parameters"]}
        self.assertEqual((lines["order"], lines["product"]), ("integer", "integer"))

    def test_every_field_is_described_the_nested_lines_included(self):
        components = self.schema["components"]["schemas"]
        for name, serializer in [("Order", OrderSerializer), ("OrderList", OrderListSerializer), ("Line", LineSerializer)]:
            properties = components[name]["properties"]
            self.assertEqual(set(properties), set(serializer().fields), name)
            undescribed = [f for f, p in properties.items() if not p.get("description")]
            self.assertEqual(undescribed, [], name)
        lines = components["Order"]["properties"]["lines"]
        self.assertEqual((lines["type"], lines["items"]), ("array", {"$ref": "#/components/schemas/Line"}))
        self.assertNotIn("lines", components["OrderList"]["properties"])
        detail = self.schema["paths"]["/api/orders/{id}/"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
        self.assertEqual(detail, {"$ref": "#/components/schemas/Order"})

    def test_the_swagger_ui_loads_the_schema(self):
        r = self.client.get("/api/docs/")
        self.assertEqual(r.status_code, 200)
        self.assertIn(b'"/api/schema/"', r.content)
