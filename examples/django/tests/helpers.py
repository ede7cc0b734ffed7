"""What the tests share: the Odoo simulator (SGA_SIM_URL), raw SQL, and a test case whose
database is synced from the simulator before it starts.

scrap_sga commits its syncs in a worker of its own, so they survive each test's rollback: every
test compares with the simulator's state at that moment.
"""
import json
import os
import socket
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

import psycopg
from django.db import connection, connections
from django.test import TestCase

SIM = os.environ.get("SGA_SIM_URL", "http://127.0.0.1:18069")


def sim(path, body=None):
    req = urllib.request.Request(SIM + path, data=json.dumps(body).encode() if body is not None else None, method="POST" if body is not None else "GET")
    with urllib.request.urlopen(req) as r:
        return json.load(r)


def sql(query, *args, using="default"):
    """A statement on the default connection (the test cluster's superuser, standing for the DBA),
    or on another."""
    with connections[using].cursor() as cur:
        cur.execute(query, args)
        return cur.fetchall() if cur.description else None


def odoo_orders():
    return {r["id"]: r for r in sim("/sim/dump?model=dimagaz.bc")}


def connect_and_sync():
    """The test database pointed at the simulator, and synced."""
    sql("SELECT scrap_sga.set_connection(%s, 'dimagaz', 'admin', 'admin')", SIM)
    sql("SELECT * FROM scrap_sga.sync()")


def chromium(*arguments):
    """Debian's chromium, headless, through its chromedriver (apt-get install chromium
    chromium-driver; SGA_CHROMIUM and SGA_CHROMEDRIVER name others), with a profile of its own
    and nothing it would fetch by itself."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    binary = os.environ.get("SGA_CHROMIUM", "/usr/bin/chromium")
    driver = os.environ.get("SGA_CHROMEDRIVER", "/usr/bin/chromedriver")
    for path in (binary, driver):
        if not os.path.exists(path):
            raise RuntimeError(f"{path} is missing: apt-get install chromium chromium-driver (scripts/test.sh does)")
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    profile = tempfile.mkdtemp(prefix="scrap_sga_chromium.")
    for argument in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                     "--disable-background-networking", "--disable-component-update", "--disable-sync",
                     f"--user-data-dir={profile}", *arguments):
        options.add_argument(argument)
    browser = webdriver.Chrome(service=Service(driver), options=options)
    return browser, profile


class SyncedTestCase(TestCase):
    # The mirror is read through its own connection, as a role granted scrap_sga_reader.
    databases = {"default", "mirror"}

    @classmethod
    def setUpClass(cls):
        # Before TestCase opens its transaction: the sync runs in a worker of its own, which only
        # sees committed data (as for any application calling scrap_sga.sync() in a transaction).
        connect_and_sync()
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


# The simulator's other schemas: (its sizes, what the DBA does before the first sync, once
# connected). The first set_connection() registers the two dimagaz models, which the DBA may
# then remove.
SCHEMAS = {
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


class MirroredDatabase:
    """For a test case that needs a database of its own mirroring one of the simulator's other
    schemas, from a simulator of its own (SGA_SIM_BIN: scripts/test.sh passes the one it built)."""

    def setUp(self):
        super().setUp()
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

    def mirrored_database(self, schema, dbname):
        """A new database ``dbname`` (dropped at the end) mirroring ``schema`` as the DBA sets it
        up: the extension, the connection, the models, a first sync. Returns the simulator's URL."""
        sizes, dba = SCHEMAS[schema]
        sim = self.start_simulator(schema, sizes)
        self.drop(dbname)
        with self.admin("postgres") as admin:
            admin.execute(f'CREATE DATABASE "{dbname}"')
        self.addCleanup(self.drop, dbname)
        with self.admin(dbname) as db:
            db.execute("CREATE EXTENSION scrap_sga")
            db.execute("SELECT scrap_sga.set_connection(%s, 'dimagaz', 'admin', 'admin')", [sim])
            for statement in dba:
                db.execute(statement)
            db.execute("SELECT * FROM scrap_sga.sync()")
        return sim
