import difflib
import re
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db import connections

from scrap_sga import conf
from scrap_sga.codegen import HEADER, generate
from scrap_sga.placement import NotHere, fix, models_file


class Command(BaseCommand):
    help = (
        "Write the models of the mirrored Odoo models, from the scrap_sga catalog, into an app of "
        "your project (its models.py) or a file you name: one unmanaged, read-only model per "
        "mirrored Odoo model. Run it again when fields change in Odoo."
    )
    # The models being replaced may be the ones that no longer fit: checking them first would
    # stop the command that fixes them.
    requires_system_checks = []

    def add_arguments(self, parser):
        parser.add_argument("app_label", nargs="?", help="the app of your project to write the models of (its models.py); "
                                                         "default: the app that holds them already")
        parser.add_argument("--database", default=None, help='the connection to read the catalog through (default: SCRAP_SGA["DATABASE"])')
        parser.add_argument("--output", help="the file to write instead, or - for standard output")
        parser.add_argument("--check", action="store_true", help="write nothing; fail, showing the diff, if the file is not what would be written")

    def handle(self, *args, app_label, database, output, check, **options):
        try:
            source = generate(connections[database or conf.database()])
        except ValueError as e:
            raise CommandError(str(e)) from e
        if output == "-":
            self.stdout.write(source, ending="")
            return
        try:
            path = models_file(app_label, output)
        except NotHere as e:
            raise CommandError(str(e)) from e
        current = path.read_text() if path.exists() else ""
        if re.search(r"^class ", current, re.M) and not current.startswith(HEADER):
            # startapp's models.py has no class: replaced; a file with models of the project's own is not.
            raise CommandError(f"{path} holds models that scrap_sga_models did not write: the mirror models need an app of their own "
                               "(python manage.py startapp odoo_mirror) or a file of their own (--output)")
        if current == source:
            self.stdout.write(f"{path}: up to date")
            return
        diff = "".join(difflib.unified_diff(current.splitlines(True), source.splitlines(True), f"{path} (current)", f"{path} (from the catalog)"))
        if check:
            raise CommandError(f"{path} is not what the catalog gives; run {fix(app_label)}\n{diff}")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(source)
        self.stdout.write(diff)
        self.stdout.write(f"{path}: written; restart Django to use it")
