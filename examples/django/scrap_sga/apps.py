from django.apps import AppConfig


class ScrapSgaConfig(AppConfig):
    name = "scrap_sga"
    verbose_name = "Odoo mirror (scrap_sga)"
