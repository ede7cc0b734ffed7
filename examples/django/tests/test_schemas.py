"""The app on Odoos whose fields it has never seen: the simulator serves another schema, and what a
Django developer does is done, each step in a process of its own on a database of its own and a
copy of the project's app that holds the models: sync, generate the models, makemigrations,
check, and then every test of test_derived.py (every endpoint, filter, ordering and admin page,
the records' history, the sync page, the browser) on it.

- variant: dimagaz.bc / dimagaz.bc.line with other names and types (no date_order, the line's
  link to its order under another name, no product, an in-table binary, numerics with digits, a
  many2many to partner tags, a selection, a one2many with its inverse);
- partner: res.partner with the field set of a real Odoo 19 (tests/fixtures/odoo19/08_fields_get_full.txt),
  added by the DBA with scrap_sga.add_model().

The simulator is started here, from SGA_SIM_BIN (scripts/test.sh passes the one it built).
"""
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import psycopg
from django.apps import apps
from django.conf import settings
from django.db import connection
from django.test import SimpleTestCase

# The project's app that holds the generated models: each schema regenerates a copy of it.
APP = Path(apps.get_app_config("odoo_mirror").path)
PROJECT = Path(sys.modules[settings.SETTINGS_MODULE].__file__).parent.parent

SCHEMAS = {
    # schema: (simulator sizes, what the DBA does before the first sync, once connected)
    "variant": (["--orders", "60", "--lines", "300"], []),
    "partner": (["--records", "150"], [
        "DELETE FROM scrap_sga.model WHERE model LIKE 'dimagaz.%'",
        "SELECT scrap_sga.add_model('res.partner')",
    ]),
}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class OtherSchemasTests(SimpleTestCase):
    maxDiff = None

    def setUp(self):
        binary = os.environ.get("SGA_SIM_BIN")
        self.assertTrue(binary and Path(binary).exists(), "SGA_SIM_BIN names the simulator's binary (scripts/test.sh sets it)")
        self.binary = binary
        db = connection.settings_dict
        self.server = dict(host=db["HOST"], port=db["PORT"], user=db["USER"], password=db["PASSWORD"])

    def start_simulator(self, schema, sizes):
        port = free_port()
        proc = subprocess.Popen([self.binary, "--port", str(port), "--schema", schema, "--odoo-version", "18", *sizes],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.addCleanup(proc.wait, 10)
        self.addCleanup(proc.kill)
        url = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                urllib.request.urlopen(url + "/sim/stats", timeout=1)
                return url
            except OSError:
                time.sleep(0.1)
        self.fail(f"the simulator did not start with --schema {schema}")

    def admin(self, dbname):
        return psycopg.connect(**self.server, dbname=dbname, autocommit=True)

    def drop(self, dbname):
        with self.admin("postgres") as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')

    def django(self, env, *args, timeout=600):
        # From the copy's folder (PYTHONPATH's first): python -m puts the working folder first on
        # the path, and the project's own app there would be imported instead of the copy.
        done = subprocess.run([sys.executable, "-m", "django", *args], env=env, capture_output=True, text=True, timeout=timeout,
                              cwd=env["PYTHONPATH"].split(os.pathsep)[0])
        output = done.stdout + done.stderr
        self.assertEqual(done.returncode, 0, f"manage.py {' '.join(args)}:\n{output[-6000:]}")
        return output

    def run_schema(self, schema):
        sizes, dba = SCHEMAS[schema]
        sim = self.start_simulator(schema, sizes)
        # The database Django's test runner will find (--keepdb) once named BRASG_DB_NAME=base.
        base = f"{connection.settings_dict['NAME']}_{schema}"
        test_db = f"test_{base}"
        with self.admin("postgres") as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{test_db}" WITH (FORCE)')
            admin.execute(f'CREATE DATABASE "{test_db}"')
        self.addCleanup(self.drop, test_db)
        with self.admin(test_db) as db:
            db.execute("CREATE EXTENSION scrap_sga")
            # The connection first: it registers the two dimagaz models the DBA may then remove.
            db.execute("SELECT scrap_sga.set_connection(%s, 'dimagaz', 'admin', 'admin')", [sim])
            for statement in dba:
                db.execute(statement)
            db.execute("SELECT * FROM scrap_sga.sync()")
        tmp = Path(tempfile.mkdtemp())
        self.addCleanup(shutil.rmtree, tmp)
        shutil.copytree(APP, tmp / APP.name, ignore=shutil.ignore_patterns("__pycache__"))
        env = os.environ | {"SGA_SIM_URL": sim, "PYTHONPATH": os.pathsep.join([str(tmp), str(PROJECT)])}

        # What the README says to do after the DBA changed what is mirrored.
        self.django(env | {"BRASG_DB_NAME": test_db}, "scrap_sga_models", APP.name)
        self.django(env | {"BRASG_DB_NAME": test_db}, "makemigrations", APP.name)
        checked = self.django(env | {"BRASG_DB_NAME": test_db}, "check", "--fail-level", "WARNING")
        self.assertIn("System check identified no issues (0 silenced).", checked)
        models_py = (tmp / APP.name / "models.py").read_text()

        tests = self.django(env | {"BRASG_DB_NAME": base}, "test", "tests.test_derived", "--keepdb", "--noinput", "-v", "1")
        ran = re.search(r"^Ran (\d+) tests?", tests, re.M)
        self.assertTrue(ran and int(ran.group(1)) > 0, tests[-3000:])
        self.assertRegex(tests, r"(?m)^OK$")
        return models_py

    def test_variant(self):
        source = self.run_schema("variant")
        # Other names and types than the default schema's, as generated.
        for line in [
            "    bc = models.ForeignKey('ScrapDimagazBc', models.DO_NOTHING, db_constraint=False, related_name='ligne_set',",
            "    x_scan = models.BinaryField(",
            "    prix = models.DecimalField(max_digits=16, decimal_places=2,",
            "    montant = models.DecimalField(max_digits=28, decimal_places=6,",
            "    tag_ids = ArrayField(models.IntegerField(),",
        ]:
            self.assertIn(line, source)
        self.assertNotIn("date_order", source)

    def test_partner(self):
        source = self.run_schema("partner")
        # add_model('res.partner') named its table after the model.
        self.assertIn("class ScrapResPartner(MirrorModel):", source)
        self.assertIn("        db_table = 'scrap_res_partner'\n", source)
        self.assertNotIn("class ScrapDimagazBc", source)
        self.assertIn("    parent = models.ForeignKey('self', models.DO_NOTHING, db_constraint=False, related_name='child_set',", source)
