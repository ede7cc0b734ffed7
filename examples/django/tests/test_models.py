"""models.py is the generator's output, and the generator follows Odoo: a new field reaches the
API by regenerating, with no edit; a model the DBA adds gets a model too."""
import difflib
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import django
import psycopg
from django.apps import apps
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import SimpleTestCase

from scrap_sga.codegen import generate

from .helpers import SIM, SyncedTestCase, sim

# The project's app that holds the generated models (manage.py scrap_sga_models odoo_mirror).
APP = Path(apps.get_app_config("odoo_mirror").path)


def changed_lines(before, after):
    """The lines a regeneration removed (-) and added (+)."""
    diff = difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=0)
    return [line for line in diff if line[:1] in "+-" and line[:3] not in ("+++", "---")]


class GeneratedModelsTests(SyncedTestCase):
    maxDiff = None

    def test_models_are_what_the_generator_writes(self):
        self.assertEqual((APP / "models.py").read_text(), generate(connection), "regenerate: manage.py scrap_sga_models")

    def test_the_migrations_know_every_model(self):
        out = io.StringIO()
        try:
            call_command("makemigrations", APP.name, "scrap_sga", "--check", "--dry-run", stdout=out)
        except SystemExit:
            self.fail(f"a model was added or removed: manage.py makemigrations {APP.name}\n{out.getvalue()}")

    def test_the_command_writes_and_checks_a_file(self):
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp, "models.py")
            call_command("scrap_sga_models", "--output", out, stdout=io.StringIO())
            self.assertEqual(out.read_text(), (APP / "models.py").read_text())
            call_command("scrap_sga_models", "--output", out, "--check", stdout=io.StringIO())
            out.write_text(out.read_text().replace("    notes = ", "    remarks = "))
            with self.assertRaisesRegex(CommandError, r"(?s)not what the catalog gives.*-    remarks = .*\+    notes = "):
                call_command("scrap_sga_models", "--output", out, "--check", stdout=io.StringIO())

    def test_the_command_replaces_startapps_models_py_but_never_models_of_the_projects_own(self):
        with tempfile.TemporaryDirectory() as tmp:
            stub = Path(tmp, "models.py")
            stub.write_text("from django.db import models\n\n# Create your models here.\n")  # what startapp writes
            call_command("scrap_sga_models", "--output", stub, stdout=io.StringIO())
            self.assertEqual(stub.read_text(), (APP / "models.py").read_text())
            own = Path(tmp, "own.py")
            own.write_text("from django.db import models\n\n\nclass Invoice(models.Model):\n    pass\n")
            with self.assertRaisesRegex(CommandError, "holds models that scrap_sga_models did not write"):
                call_command("scrap_sga_models", "--output", own, stdout=io.StringIO())
            self.assertIn("class Invoice", own.read_text())

    def test_the_models_are_never_written_into_an_installed_package(self):
        # --check: were the refusal missing, the command would compare, not write.
        installed = Path(django.__file__).parent / "models.py"
        for args, refusal in [
            (["scrap_sga"], "the models go into an app of your project"),
            (["contenttypes"], "where the next pip install would replace it"),
            (["--output", str(installed)], "where the next pip install would replace it"),
            (["no_such_app"], "no installed app is labelled 'no_such_app'"),
        ]:
            with self.subTest(args=args), self.assertRaisesRegex(CommandError, refusal):
                call_command("scrap_sga_models", *args, "--check", stdout=io.StringIO())
        self.assertFalse(installed.exists())
        # No app named: the one that holds the models now.
        self.assertIn(f"{APP / 'models.py'}: up to date", self.command_output("scrap_sga_models"))

    def command_output(self, *args):
        out = io.StringIO()
        call_command(*args, stdout=out)
        return out.getvalue()

    def test_a_model_the_dba_adds_gets_a_model(self):
        # As if the DBA had added res.partner in a schema of its own and it had been synced once.
        # Uncommitted, so the sync worker never sees it; the test's rollback removes it.
        with connection.cursor() as cur:
            cur.execute("""
                CREATE SCHEMA odoo_extra;
                CREATE TABLE odoo_extra.scrap_res_partner (
                    id integer PRIMARY KEY, name text, credit_limit numeric(12, 2),
                    parent_id integer, parent_id_display text, child_ids integer[],
                    last_bc_id integer, last_bc_id_display text,
                    sga_synced_at timestamptz NOT NULL DEFAULT now(), sga_run_id bigint, sga_deleted_at timestamptz);
                INSERT INTO scrap_sga.model (model, table_schema, table_name) VALUES ('res.partner', 'odoo_extra', 'scrap_res_partner');
                INSERT INTO scrap_sga.model_field (model, field, odoo_type, relation, label, stored, status, columns) VALUES
                    ('res.partner', 'id', 'integer', NULL, 'ID', true, 'active', '{id}'),
                    ('res.partner', 'name', 'char', NULL, 'Nom', true, 'active', '{name}'),
                    ('res.partner', 'credit_limit', 'float', NULL, 'Plafond', true, 'active', '{credit_limit}'),
                    ('res.partner', 'parent_id', 'many2one', 'res.partner', 'Société mère', true, 'active', '{parent_id,parent_id_display}'),
                    ('res.partner', 'child_ids', 'one2many', 'res.partner', 'Contacts', true, 'active', '{child_ids}'),
                    ('res.partner', 'last_bc_id', 'many2one', 'dimagaz.bc', 'Dernier BC', true, 'active', '{last_bc_id,last_bc_id_display}');
            """)
        source = generate(connection)
        partner = source[source.index("class ScrapResPartner"):]
        self.assertEqual(partner, '''\
class ScrapResPartner(MirrorModel):
    id = models.IntegerField(primary_key=True, verbose_name='ID', help_text='Odoo field id (integer).')
    child_ids = ArrayField(models.IntegerField(), blank=True, null=True, verbose_name='Contacts', help_text="Odoo field child_ids (one2many to res.partner): the records' ids.")
    credit_limit = models.DecimalField(max_digits=12, decimal_places=2, blank=True, null=True, verbose_name='Plafond', help_text='Odoo field credit_limit (float).')
    last_bc = models.ForeignKey('ScrapDimagazBc', models.DO_NOTHING, db_constraint=False, blank=True, null=True, verbose_name='Dernier BC', help_text="Odoo field last_bc_id (many2one to dimagaz.bc): the record's id.")
    last_bc_id_display = models.TextField(blank=True, null=True, verbose_name='Dernier BC (name)', help_text="Odoo field last_bc_id (many2one to dimagaz.bc): the record's name, as Odoo displayed it.")
    name = models.TextField(blank=True, null=True, verbose_name='Nom', help_text='Odoo field name (char).')
    parent = models.ForeignKey('self', models.DO_NOTHING, db_constraint=False, related_name='child_set', blank=True, null=True, verbose_name='Société mère', help_text="Odoo field parent_id (many2one to res.partner): the record's id.")
    parent_id_display = models.TextField(blank=True, null=True, verbose_name='Société mère (name)', help_text="Odoo field parent_id (many2one to res.partner): the record's name, as Odoo displayed it.")
    sga_deleted_at = models.DateTimeField(blank=True, null=True, help_text='When scrap_sga found the record deleted in Odoo; null while Odoo has it.')
    sga_run_id = models.BigIntegerField(blank=True, null=True, help_text='The scrap_sga.sync_run that last wrote the row.')
    sga_synced_at = models.DateTimeField(help_text='When scrap_sga last wrote the row.')

    odoo = Odoo('res.partner', {
        'child_ids': OdooField('one2many', 'res.partner'),
        'credit_limit': OdooField('float'),
        'id': OdooField('integer'),
        'last_bc_id': OdooField('many2one', 'dimagaz.bc'),
        'name': OdooField('char'),
        'parent_id': OdooField('many2one', 'res.partner'),
    })

    class Meta:
        managed = False
        db_table = '"odoo_extra"."scrap_res_partner"'
''')
        # Of the models already there, only what now points to the new one changes.
        self.assertEqual(changed_lines((APP / "models.py").read_text(), source.replace("\n\n" + partner, "")), [
            "-    partner_id = models.IntegerField(blank=True, null=True, verbose_name='Fournisseur', help_text=\"Odoo field partner_id (many2one to res.partner): the record's id.\")",
            "+    partner = models.ForeignKey('ScrapResPartner', models.DO_NOTHING, db_constraint=False, blank=True, null=True, verbose_name='Fournisseur', help_text=\"Odoo field partner_id (many2one to res.partner): the record's id.\")",
        ])


class RegenerationTests(SimpleTestCase):
    """What a developer does when a field is added in Odoo: sync, regenerate, restart. Done on a
    database of its own (the field must not reach the other tests' tables) and on a copy of the
    project's app that holds the models (the regeneration writes its models.py)."""

    FIELD = "x_brasg_driver"

    def setUp(self):
        db = connection.settings_dict
        self.server = dict(host=db["HOST"], port=db["PORT"], user=db["USER"], password=db["PASSWORD"])
        self.dbname = db["NAME"] + "_regenerate"
        with psycopg.connect(**self.server, dbname="postgres", autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{self.dbname}" WITH (FORCE)')
            admin.execute(f'CREATE DATABASE "{self.dbname}"')
        self.addCleanup(self.drop_database)
        self.tmp = Path(tempfile.mkdtemp())
        self.addCleanup(shutil.rmtree, self.tmp)
        shutil.copytree(APP, self.tmp / APP.name, ignore=shutil.ignore_patterns("__pycache__"))

    def drop_database(self):
        with psycopg.connect(**self.server, dbname="postgres", autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{self.dbname}" WITH (FORCE)')

    def db(self, query, *args):
        with psycopg.connect(**self.server, dbname=self.dbname, autocommit=True) as conn:
            conn.execute(query, args)

    def django(self, *args):
        """manage.py in a fresh process, on this test's database, importing the copy of the app:
        its standard output."""
        return self.manage(*args).stdout

    def checked(self):
        """manage.py check: what it says on both outputs (its warnings go to standard error)."""
        done = self.manage("check")
        return done.stdout + done.stderr

    def manage(self, *args):
        project = Path(sys.modules[settings.SETTINGS_MODULE].__file__).parent.parent
        env = os.environ | {"BRASG_DB_NAME": self.dbname, "PYTHONPATH": os.pathsep.join([str(self.tmp), str(project)])}
        # Run from the copy's folder: python -m puts the working folder first on the path, and the
        # project's own app there would be imported (and regenerated) instead of the copy.
        done = subprocess.run([sys.executable, "-m", "django", *args], env=env, capture_output=True, text=True, timeout=120, cwd=self.tmp)
        self.assertEqual(done.returncode, 0, done.stderr)
        return done

    def test_a_field_added_in_odoo_is_served_after_regenerating(self):
        self.db("CREATE EXTENSION scrap_sga")
        self.db("SELECT scrap_sga.set_connection(%s, 'dimagaz', 'admin', 'admin')", SIM)
        self.db("SELECT * FROM scrap_sga.sync()")
        self.assertIn("up to date", self.django("scrap_sga_models"))
        before = (self.tmp / APP.name / "models.py").read_text()

        sim("/sim/field/add", {"model": "dimagaz.bc", "name": self.FIELD, "type": "char"})
        self.addCleanup(sim, "/sim/field/remove", {"model": "dimagaz.bc", "name": self.FIELD})
        self.db("UPDATE scrap_sga.model SET schema_refresh = '0'")
        self.db("SELECT * FROM scrap_sga.sync()")
        # Django's checks see the models behind the catalog, and say what to run.
        warned = self.checked()
        self.assertIn("(scrap_sga.W001) the mirror models in ", warned)
        self.assertIn(f"+    {self.FIELD} = models.TextField(", warned)
        self.assertIn(f"HINT: Regenerate them: python manage.py scrap_sga_models {APP.name};", warned)
        self.django("scrap_sga_models")
        after = (self.tmp / APP.name / "models.py").read_text()
        self.assertIn("System check identified no issues (0 silenced).", self.checked())

        self.assertEqual(changed_lines(before, after), [
            f"+    {self.FIELD} = models.TextField(blank=True, null=True, verbose_name='{self.FIELD}', help_text='Odoo field {self.FIELD} (char).')",
            f"+        '{self.FIELD}': OdooField('char'),",
        ])
        # Django does not follow the fields of unmanaged models: no migration to write.
        self.assertIn("No changes detected", self.django("makemigrations", APP.name, "--check", "--dry-run"))
        in_odoo = {r["id"]: r[self.FIELD] for r in sim("/sim/dump?model=dimagaz.bc")}
        served = json.loads(self.django("shell", "--no-imports", "-c", (
            "import json; from django.test import Client; c = Client();"
            "print(json.dumps([c.get('/api/orders/1/').json(), c.get('/api/orders/?ordering=id').json()['results']]))"
        )))
        detail, page = served
        self.assertEqual(detail[self.FIELD], in_odoo[1])
        self.assertEqual({o["id"]: o[self.FIELD] for o in page}, {i: in_odoo[i] for i in sorted(in_odoo)[:50]})
