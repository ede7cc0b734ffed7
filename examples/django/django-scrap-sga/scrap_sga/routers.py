"""The database router of the two-role set-up: Django's own tables (sessions, auth, admin log, the
project's models) on the "default" connection, whose role owns them; the mirror through the
connection named by SCRAP_SGA["DATABASE"], which logs in as a role granted scrap_sga_reader
and so can only read it (docs/django.md, "Two roles").

    DATABASE_ROUTERS = ["scrap_sga.routers.MirrorRouter"]
"""
from . import conf
from .mirror import ReadOnlyModel


def _is_mirror(model):
    """The mirror models and the extension's own tables (the run log, the audit log...)."""
    return isinstance(model, type) and issubclass(model, ReadOnlyModel)


class MirrorRouter:
    def db_for_read(self, model, **hints):
        return conf.database() if _is_mirror(model) else None

    def db_for_write(self, model, **hints):
        # Writes to the mirror go where the reader role refuses them (the models refuse them
        # first): never to the connection that may write Django's tables.
        return conf.database() if _is_mirror(model) else None

    def allow_relation(self, obj1, obj2, **hints):
        # A project's model may point to a mirrored one (order = ForeignKey(ScrapDimagazBc, ...)):
        # both connections reach one database, only with other roles.
        if _is_mirror(type(obj1)) or _is_mirror(type(obj2)):
            return True
        return None

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        # Nothing is created through the reader's connection (it could not): every migration,
        # the app's own included (CREATE EXTENSION IF NOT EXISTS, and state only), runs on the
        # default connection.
        if db == conf.database() and db != "default":
            return False
        return None
