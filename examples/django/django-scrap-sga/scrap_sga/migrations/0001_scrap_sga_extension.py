"""Creates the scrap_sga extension where it is missing (Django's test database, a fresh dev DB).

Only that: the connection to Odoo, the roles and the worker settings belong to the DBA, and the
mirror tables are created by the extension's first sync, not by Django (the models are
unmanaged). Needs a superuser, as CREATE EXTENSION does; in production the DBA has run it
already and this is a no-op.
"""
from django.db import migrations


class Migration(migrations.Migration):
    initial = True
    dependencies = []
    operations = [
        migrations.RunSQL("CREATE EXTENSION IF NOT EXISTS scrap_sga", reverse_sql=migrations.RunSQL.noop),
    ]
