"""The app on Odoos whose fields it has never seen: the simulator serves another schema, and what a
Django developer does is done, each step in a process of its own on a database of its own and a
copy of the project's app that holds the models: sync, generate the models, makemigrations,
check, and then every test of test_derived.py (every endpoint, filter, ordering and admin page,
the records' history, the sync page, the browser) on it.

- variant: dimagaz.bc / dimagaz.bc.line with other names and types (no date_order, the line's
  link to its order under another name, no product, an in-table binary, numerics with digits, a
  many2many to partner tags, a selection, a one2many with its inverse);
- partner: res.partner with the field set of a real Odoo 19 (core/fixtures/odoo19/08_fields_get_full.txt),
  added by the DBA with scrap_sga.add_model().

The simulator is started here, from SGA_SIM_BIN (scripts/test.sh passes the one it built).
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from django.apps import apps
from django.conf import settings
from django.db import connection
from django.test import SimpleTestCase

from .helpers import MirroredDatabase

# The project's app that holds the generated models: each schema regenerates a copy of it.
APP = Path(apps.get_app_config("odoo_mirror").path)
PROJECT = Path(sys.modules[settings.SETTINGS_MODULE].__file__).parent.parent


class OtherSchemasTests(MirroredDatabase, SimpleTestCase):
    maxDiff = None

    def django(self, env, *args, timeout=600):
        # From the copy's folder (PYTHONPATH's first): python -m puts the working folder first on
        # the path, and the project's own app there would be imported instead of the copy.
        done = subprocess.run([sys.executable, "-m", "django", *args], env=env, capture_output=True, text=True, timeout=timeout,
                              cwd=env["PYTHONPATH"].split(os.pathsep)[0])
        output = done.stdout + done.stderr
        self.assertEqual(done.returncode, 0, f"manage.py {' '.join(args)}:\n{output[-6000:]}")
        return output

    def run_schema(self, schema):
        # The database Django's test runner will find (--keepdb) once named BRASG_DB_NAME=base.
        base = f"{connection.settings_dict['NAME']}_{schema}"
        test_db = f"test_{base}"
        sim = self.mirrored_database(schema, test_db)
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
