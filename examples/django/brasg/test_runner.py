"""The test runner of the two-role set-up: the reader role the "mirror" connection logs in as is
created in the test cluster (as a DBA creates it in production) and granted scrap_sga_reader once
the test database has the extension (its first migration creates that role)."""
import psycopg
from django.db import connections
from django.test.runner import DiscoverRunner
from psycopg import sql


class TwoRoleRunner(DiscoverRunner):
    def setup_databases(self, **kwargs):
        reader = connections["mirror"].settings_dict["USER"]
        with self._admin() as admin:
            exists = admin.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [reader]).fetchone()
            if not exists:
                admin.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(reader)))
        config = super().setup_databases(**kwargs)
        with self._admin() as admin:
            admin.execute(sql.SQL("GRANT scrap_sga_reader TO {}").format(sql.Identifier(reader)))
        return config

    @staticmethod
    def _admin():
        params = connections["default"].get_connection_params() | {"dbname": "postgres"}
        return psycopg.connect(**params, autocommit=True)
