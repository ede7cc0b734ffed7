"""Settings of the example backend ("BRASG"). The database is the one where scrap_sga runs."""
import os

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "example-only-not-a-secret")
DEBUG = os.environ.get("DJANGO_DEBUG", "") == "1"
ALLOWED_HOSTS = ["*"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "scrap_sga",  # pip install ./django-scrap-sga (see requirements.txt)
    # The project's app for the mirror models: manage.py scrap_sga_models odoo_mirror writes its
    # models.py; its receivers.py gets the change feed's signals.
    "odoo_mirror",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]

ROOT_URLCONF = "brasg.urls"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {"context_processors": ["django.template.context_processors.request", "django.contrib.auth.context_processors.auth", "django.contrib.messages.context_processors.messages"]},
    }
]

_DATABASE = {
    "ENGINE": "django.db.backends.postgresql",
    "NAME": os.environ.get("BRASG_DB_NAME", "brasg"),
    "HOST": os.environ.get("BRASG_DB_HOST", "127.0.0.1"),
    "PORT": os.environ.get("BRASG_DB_PORT", "5432"),
    # Seconds a connection is kept for the next request (docs/django.md, "Performance"): 0, Django's
    # default, opens one per request, which costs more than most of the API's queries.
    "CONN_MAX_AGE": int(os.environ.get("BRASG_CONN_MAX_AGE", "0")),
}
# Two connections to one database, with two roles (docs/django.md, "Two roles"): Django's own
# tables through the role that owns them, the mirror through a role granted scrap_sga_reader,
# which the database lets read it and nothing else.
DATABASES = {
    "default": _DATABASE | {
        "USER": os.environ.get("BRASG_DB_USER", "postgres"),
        "PASSWORD": os.environ.get("BRASG_DB_PASSWORD", ""),
    },
    "mirror": _DATABASE | {
        "USER": os.environ.get("BRASG_MIRROR_USER", "brasg_reader"),
        "PASSWORD": os.environ.get("BRASG_MIRROR_PASSWORD", ""),
    },
}
DATABASE_ROUTERS = ["scrap_sga.routers.MirrorRouter"]
SCRAP_SGA = {
    "DATABASE": "mirror",
    # The project's own filters for the orders: the derived ones, and ?ids= (brasg/api.py).
    "OVERRIDES": {"dimagaz.bc": {"filterset": "brasg.api.OrderFilter"}},
}
# Creates the reader role in the test cluster, as the DBA does in production.
TEST_RUNNER = "brasg.test_runner.TwoRoleRunner"

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
TIME_ZONE = "UTC"
STATIC_URL = "static/"

# What the change feed's receiver (odoo_mirror/receivers.py) logs, on standard error.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"odoo_mirror": {"handlers": ["console"], "level": "INFO"}},
}

REST_FRAMEWORK = {
    # Who may read is the project's decision; the example lets anyone (the API only reads).
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.AllowAny"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "BRASG: Odoo mirror API",
    "DESCRIPTION": "Read-only access to the Odoo records mirrored by the scrap_sga PostgreSQL extension.",
    "VERSION": "1",
    # The schema view itself is not part of the API it describes.
    "SERVE_INCLUDE_SCHEMA": False,
}
