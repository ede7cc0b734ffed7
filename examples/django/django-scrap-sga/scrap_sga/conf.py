"""The app's settings: ``SCRAP_SGA`` in the project's settings, a dict; every key is optional.

``DATABASE``    the connection alias the mirror is read through (the router sends the mirror
                models there, the status view and the code generator use it): "default" unless
                the project has a connection for the reader role (see routers.py).
``ENDPOINTS``   Odoo model -> the API path segment of its endpoint. A model not listed gets its
                name with dots as dashes (res.partner: /api/res-partner/). The two models the
                extension mirrors out of the box keep the paths they have always had.
``PAGINATION``  "page" (page numbers, the default) or "cursor" (no count, constant time at any
                depth; ordering by id only). See docs/django.md for when to choose which.
``PAGE_SIZE``   rows per page (50).
``NESTED_LIMIT`` children nested per one2many in a detail, at most (1000): an order of 50,000
                lines is not one answer of 50,000 rows. ``<key>_count`` says how many there are;
                the children's list filtered by the parent has them all.
``OVERRIDES``   Odoo model -> {"filterset", "serializer", "list_serializer", "viewset", "admin"}:
                dotted paths to a project's own classes, used instead of the derived ones for
                that model. An override for a model that is not mirrored does nothing, so one
                settings module serves databases that mirror different models.
"""
from django.conf import settings
from django.utils.module_loading import import_string

DEFAULTS = {
    "DATABASE": "default",
    "ENDPOINTS": {"dimagaz.bc": "orders", "dimagaz.bc.line": "lines"},
    "PAGINATION": "page",
    "PAGE_SIZE": 50,
    "NESTED_LIMIT": 1000,
    "OVERRIDES": {},
}


def setting(name):
    value = getattr(settings, "SCRAP_SGA", {}).get(name, DEFAULTS[name])
    if name == "ENDPOINTS":
        return DEFAULTS["ENDPOINTS"] | value
    return value


def database():
    return setting("DATABASE")


def override(odoo_model, kind):
    """The project's class for this model and kind, or None."""
    path = setting("OVERRIDES").get(odoo_model, {}).get(kind)
    return import_string(path) if path else None
