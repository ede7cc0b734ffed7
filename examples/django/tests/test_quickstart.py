"""The README's quick start for Django developers, run as written: its shell blocks line by line,
its Python blocks appended to the files they name, in a fresh virtual environment and a new
project, against a database that mirrors res.partner (not the simulator's default models). Read
from the README itself, so that the test follows it when it changes.

What the test adds to the README's steps, and nothing else: the database's address (the README's
is db.example.com) appended to the settings after the README's block, an address for runserver,
and a `manage.py check` before the models are generated (it must name the fix). Then every
endpoint, the schema and the admin's login answer 200, the installed package has not changed (its
files are those pip's RECORD lists), and the models are in the project's app.
"""
import base64
import csv
import hashlib
import json
import os
import re
import shlex
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from django.conf import settings
from django.db import connection
from django.test import SimpleTestCase

from .helpers import MirroredDatabase, free_port

PROJECT = Path(sys.modules[settings.SETTINGS_MODULE].__file__).parent.parent
REPOSITORY = PROJECT.parent.parent
SECTION = "## For Django developers"


def quick_start(readme):
    """The section's fenced blocks, in order: ("sh", lines) and ("python", path, text)."""
    section = readme[readme.index(SECTION):]
    section = section[: section.index("\n## ", len(SECTION))]
    blocks = []
    for kind, body in re.findall(r"^```(\w+)\n(.*?)^```", section, re.M | re.S):
        if kind == "sh":
            blocks.append(("sh", [line for line in body.splitlines() if line.strip() and not line.lstrip().startswith("#")]))
        elif kind == "python":
            first = body.splitlines()[0]
            path = re.match(r"# ([\w./]+)[,:]", first)
            assert path and "at the end" in first, f"a Python block says which file it ends: {first!r}"
            blocks.append(("python", path.group(1), body))
    return blocks


class QuickStartTests(MirroredDatabase, SimpleTestCase):
    maxDiff = None

    def test_the_readme_quick_start_works_as_written(self):
        blocks = quick_start((REPOSITORY / "README.md").read_text())
        commands = [line for block in blocks if block[0] == "sh" for line in block[1]]
        self.assertIn("pip install ../scrap_sga/examples/django/django-scrap-sga", commands)
        dbname = f"{connection.settings_dict['NAME']}_quickstart"
        self.login_role("brasg")  # first: it is dropped after the database it owns tables in
        self.mirrored_database("partner", dbname)
        with self.admin(dbname) as db:
            db.execute("GRANT CREATE ON SCHEMA public TO brasg")

        work = Path(tempfile.mkdtemp(prefix="scrap_sga_quickstart."))
        self.addCleanup(subprocess.run, ["rm", "-rf", str(work)])
        (work / "scrap_sga").symlink_to(REPOSITORY)  # "beside a clone of this repository"
        (work / "project").mkdir()
        port = free_port()
        db = connection.settings_dict
        script = ["set -euo pipefail", "cd project"]
        for block in blocks:
            if block[0] == "python":
                _, path, text = block
                script.append(f"cat >> {shlex.quote(path)} <<'README_BLOCK'\n{text}README_BLOCK")
                if path.endswith("settings.py"):
                    # The test's own: the test cluster, not db.example.com.
                    script.append(f"cat >> {shlex.quote(path)} <<'TEST_ONLY'\n"
                                  f"for _alias in DATABASES.values():\n"
                                  f"    _alias.update(HOST={db['HOST']!r}, PORT={str(db['PORT'])!r}, NAME={dbname!r})\n"
                                  "TEST_ONLY")
                continue
            for line in block[1]:
                command = line.split("#")[0].strip()
                if "scrap_sga_models" in command:
                    script.append("python manage.py check > ../check-before.txt 2>&1")
                if command.endswith("manage.py runserver"):
                    script.append(f"{command} 127.0.0.1:{port} --noreload > ../runserver.txt 2>&1 &")
                    script.append("echo $! > ../runserver.pid")
                    continue
                script.append(line)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "PYTHON", "DJANGO", "BRASG"))}
        env["PATH"] = os.pathsep.join(p for p in env["PATH"].split(os.pathsep) if not p.startswith(sys.prefix))
        done = subprocess.run(["bash", "-c", "\n".join(script)], cwd=work, env=env, capture_output=True, text=True, timeout=900)
        self.addCleanup(self.stop_server, work / "runserver.pid")
        output = done.stdout + done.stderr
        self.assertEqual(done.returncode, 0, output[-6000:])

        # Before the models were generated, check said what to do.
        before = (work / "check-before.txt").read_text()
        self.assertIn("scrap_sga.W001", before)
        self.assertIn("python manage.py scrap_sga_models odoo_mirror", before)
        # After, the README's check found nothing.
        self.assertIn("System check identified no issues (0 silenced).", output)
        models_py = (work / "project" / "odoo_mirror" / "models.py").read_text()
        self.assertIn("class ScrapResPartner(MirrorModel):", models_py)
        self.assertNotIn("class ScrapDimagazBc", models_py)
        self.assert_package_unchanged(work / "project" / ".venv")

        base = f"http://127.0.0.1:{port}"
        self.wait_for_server(base, work / "runserver.txt")
        root = self.get_json(f"{base}/api/")
        self.assertEqual(sorted(root), ["res-partner"])
        rows = self.get_json(f"{base}/api/res-partner/")
        with self.admin(dbname) as check:
            live = check.execute("SELECT count(*) FROM scrap_res_partner WHERE sga_deleted_at IS NULL").fetchone()[0]
        self.assertEqual(rows["count"], live)
        pk = rows["results"][0]["id"]
        self.assertEqual(self.get_json(f"{base}/api/res-partner/{pk}/")["id"], pk)
        history = self.get_json(f"{base}/api/res-partner/{pk}/history/")
        self.assertEqual(history["results"][-1]["operation"], "insert")
        self.assertEqual([s["model"] for s in self.get_json(f"{base}/api/sync-status/")], ["res.partner"])
        for url in ("/api/schema/", "/api/docs/", "/admin/login/"):
            with urllib.request.urlopen(base + url, timeout=30) as r:
                self.assertEqual(r.status, 200, url)

    def login_role(self, role):
        """The README's roles (docs/django.md, "Two roles"): brasg owns Django's tables (created
        here if the cluster lacks it), brasg_reader reads the mirror (the test runner has
        created it and granted it scrap_sga_reader)."""
        with self.admin("postgres") as admin:
            if not admin.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role]).fetchone():
                admin.execute(f'CREATE ROLE "{role}" LOGIN')
                self.addCleanup(self.drop_role, role)

    def drop_role(self, role):
        with self.admin("postgres") as admin:
            admin.execute(f'DROP ROLE IF EXISTS "{role}"')

    def assert_package_unchanged(self, venv):
        """Every file of the installed scrap_sga is the one pip installed (its RECORD's digest),
        and none was added beside them (bytecode aside)."""
        site = next(venv.glob("lib/python*/site-packages"))
        [dist] = site.glob("django_scrap_sga-*.dist-info")
        recorded = {}
        with open(dist / "RECORD", newline="") as f:
            for path, digest, _ in csv.reader(f):
                if path.startswith("scrap_sga/") and digest:
                    recorded[path] = digest
        present = {str(p.relative_to(site)) for p in (site / "scrap_sga").rglob("*")
                   if p.is_file() and "__pycache__" not in p.parts}
        self.assertEqual(present, set(recorded), "files added to or removed from the installed package")
        for path, digest in recorded.items():
            algorithm, expected = digest.split("=", 1)
            actual = base64.urlsafe_b64encode(hashlib.new(algorithm, (site / path).read_bytes()).digest()).rstrip(b"=").decode()
            self.assertEqual(actual, expected, f"{path} changed after pip installed it")

    def wait_for_server(self, base, log):
        for _ in range(300):
            try:
                urllib.request.urlopen(f"{base}/api/", timeout=2)
                return
            except OSError:
                time.sleep(0.1)
        self.fail(f"runserver did not answer: {log.read_text()[-3000:]}")

    def get_json(self, url):
        with urllib.request.urlopen(url, timeout=30) as r:
            self.assertEqual(r.status, 200, url)
            return json.load(r)

    @staticmethod
    def stop_server(pid_file):
        if pid_file.exists():
            subprocess.run(["kill", pid_file.read_text().strip()], check=False)
