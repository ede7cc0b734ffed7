"""What the app needs from the project's settings, checked at start rather than found out from
a missing template or an empty schema; and whether the generated models still match the catalog,
rather than found out from an answer of 500 (a column the database no longer has)."""
import difflib
import sys
from pathlib import Path

from django.apps import apps
from django.conf import settings
from django.core import checks
from django.db import DatabaseError, connections

from . import conf, placement

ROUTER = "scrap_sga.routers.MirrorRouter"

NEEDED_APPS = {
    "rest_framework": "the browsable API's templates",
    "django_filters": "the filter forms of the browsable API",
    "drf_spectacular": "the Swagger UI at /api/docs/",
}


def settings_needed(app_configs, **kwargs):
    from drf_spectacular.openapi import AutoSchema
    from rest_framework.settings import api_settings

    errors = [
        checks.Error(f"scrap_sga needs {app!r} in INSTALLED_APPS, for {why}.", id="scrap_sga.E001")
        for app, why in NEEDED_APPS.items()
        if not apps.is_installed(app)
    ]
    alias = conf.database()
    if alias not in settings.DATABASES:
        errors.append(checks.Error(
            f'SCRAP_SGA["DATABASE"] names the connection {alias!r}, which DATABASES does not have.',
            id="scrap_sga.E003",
        ))
    elif alias != "default" and ROUTER not in settings.DATABASE_ROUTERS:
        # Without the router the models would be read through "default", not the reader.
        errors.append(checks.Error(
            f'SCRAP_SGA["DATABASE"] is {alias!r}, but the mirror models would be read through "default".',
            hint=f'Add "{ROUTER}" to DATABASE_ROUTERS.',
            id="scrap_sga.E004",
        ))
    if not issubclass(api_settings.DEFAULT_SCHEMA_CLASS, AutoSchema):
        errors.append(checks.Error(
            "scrap_sga's OpenAPI schema is drf-spectacular's.",
            hint='Set REST_FRAMEWORK["DEFAULT_SCHEMA_CLASS"] = "drf_spectacular.openapi.AutoSchema".',
            id="scrap_sga.E002",
        ))
    return errors


def models_match_catalog(app_configs, **kwargs):
    """scrap_sga.W001: the generated models differ from what the catalog gives now (a field added
    or retyped in Odoo, a model the DBA added, or models generated from another database);
    scrap_sga.W002: the catalog could not be read. Not tagged as a database check: a plain
    ``manage.py check`` runs it, reading the catalog through SCRAP_SGA["DATABASE"]."""
    from .codegen import read_catalog, render

    alias = conf.database()
    if alias not in settings.DATABASES:
        return []  # E003 says so
    try:
        mirrors = read_catalog(connections[alias])
        source = render(connections[alias], mirrors)
    except (DatabaseError, ValueError) as e:
        return [checks.Warning(
            f'could not compare the mirror models with the scrap_sga catalog through the connection {alias!r}: {str(e).strip()}',
            hint="Is the scrap_sga extension installed in that database, and scrap_sga_reader granted to its role?",
            id="scrap_sga.W002",
        )]
    modules = placement.modules()
    if not modules:
        if not mirrors:
            return []
        return [checks.Warning(
            f"the database mirrors {len(mirrors)} Odoo model(s) ({', '.join(m.model for m in mirrors)}), and no model is generated "
            "for them: the API and the admin have nothing to show.",
            hint=f"Generate them into an app of your project: {placement.fix()}, then python manage.py makemigrations <your_app>.",
            id="scrap_sga.W001",
        )]
    if not mirrors:
        return [checks.Warning(
            f"the scrap_sga catalog mirrors no table (yet), and {', '.join(modules)} define(s) mirror models: they have "
            "nothing to read.",
            hint="Has the first sync run? SELECT * FROM scrap_sga.sync(); then regenerate the models: " + placement.fix(),
            id="scrap_sga.W001",
        )]
    out = []
    for module in modules:
        path = Path(sys.modules[module].__file__)
        current = path.read_text()
        if current == source:
            continue
        changed = [line for line in difflib.unified_diff(current.splitlines(), source.splitlines(), lineterm="", n=0)
                   if line[:1] in "+-" and line[:3] not in ("+++", "---")]
        shown = "\n".join(changed[:6]) + (f"\n... ({len(changed) - 6} more lines)" if len(changed) > 6 else "")
        out.append(checks.Warning(
            f"the mirror models in {path} differ from the scrap_sga catalog (- the models, + the catalog):\n{shown}",
            hint=f"Regenerate them: {placement.fix(placement.app_label_of(module))}; then python manage.py makemigrations "
                 f"{placement.app_label_of(module) or '<your_app>'} if a model was added or removed, and restart Django.",
            id="scrap_sga.W001",
        ))
    return out
