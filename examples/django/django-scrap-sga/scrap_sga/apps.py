from django.apps import AppConfig
from django.core import checks


class ScrapSgaConfig(AppConfig):
    name = "scrap_sga"
    verbose_name = "Odoo mirror (scrap_sga)"

    def ready(self):
        from .checks import models_match_catalog, settings_needed

        checks.register(settings_needed)
        checks.register(models_match_catalog)
