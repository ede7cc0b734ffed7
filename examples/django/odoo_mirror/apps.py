from django.apps import AppConfig


class OdooMirrorConfig(AppConfig):
    """The project's app that holds the mirror models (models.py, written by
    ``manage.py scrap_sga_models odoo_mirror``) and its receivers of the change feed."""

    name = "odoo_mirror"
    verbose_name = "Odoo mirror"

    def ready(self):
        # Connects the receivers: manage.py scrap_sga_listen sends them a signal per changing run.
        from . import receivers  # noqa: F401
