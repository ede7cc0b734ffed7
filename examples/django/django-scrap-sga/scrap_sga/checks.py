"""What the app needs from the project's settings, checked at start rather than found out from
a missing template or an empty schema."""
from django.apps import apps
from django.conf import settings
from django.core import checks

from . import conf

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
