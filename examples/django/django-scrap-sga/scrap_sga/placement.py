"""Where the generated models live: in an app of the project (``manage.py startapp odoo_mirror``),
as ``inspectdb``'s output does, never in the installed scrap_sga package. A file written into
site-packages would be replaced by the next ``pip install``, which would bring back models that
no longer match the database."""
import site
import sys
import sysconfig
from pathlib import Path

from django.apps import apps

from . import derive

APP = Path(__file__).resolve().parent


class NotHere(Exception):
    """The models cannot be written there; the message says where they can."""


def modules():
    """The modules that define the generated models (one, normally: the app's models.py)."""
    return sorted({m.__module__ for m in derive.mirror_models()})


def app_label_of(module):
    config = apps.get_containing_app_config(module)
    return config.label if config else None


def fix(app_label=None):
    """The command that (re)generates the models, as a hint says it: into ``app_label``, else the
    app that holds them, else the project's only app (one not installed by pip)."""
    found = [app_label_of(m) for m in modules()] or project_apps()
    label = app_label or (found[0] if len(found) == 1 and found[0] else "<your_app>")
    return f"python manage.py scrap_sga_models {label}"


def project_apps():
    """The installed apps that are the project's own: not in site-packages."""
    return [c.label for c in apps.get_app_configs() if not installed_under(c.path)]


def models_file(app_label=None, output=None):
    """The file to write: ``output``; else ``app_label``'s models.py; else the module that holds
    the models now. Never a file of an installed package."""
    if output:
        path = Path(output)
    elif app_label:
        if app_label == "scrap_sga":
            raise NotHere("scrap_sga supplies the base classes, the API and the admin; the models go into an app of "
                          "your project: python manage.py startapp odoo_mirror, add it to INSTALLED_APPS, then "
                          "python manage.py scrap_sga_models odoo_mirror")
        try:
            path = Path(apps.get_app_config(app_label).path) / "models.py"
        except LookupError:
            raise NotHere(f"no installed app is labelled {app_label!r}: create it (python manage.py startapp {app_label}) "
                          "and add it to INSTALLED_APPS") from None
    else:
        found = modules()
        if len(found) != 1:
            held = f"they are in {', '.join(found)}" if found else "there are none yet"
            raise NotHere(f"name the app of your project to write the models into ({held}): "
                          "python manage.py scrap_sga_models <app_label>, or --output FILE")
        path = Path(sys.modules[found[0]].__file__)
    installed = installed_under(path)
    if installed:
        raise NotHere(f"{path} is inside {installed}, where the next pip install would replace it: write the models "
                      "into an app of your project (python manage.py scrap_sga_models <app_label>) or a file of yours (--output)")
    return path


def installed_under(path):
    """The installed-packages folder (or the scrap_sga package itself) that holds ``path``, if any."""
    path = Path(path).resolve()
    roots = {APP}
    for scheme_path in ("purelib", "platlib"):
        roots.add(Path(sysconfig.get_paths()[scheme_path]).resolve())
    roots |= {Path(p).resolve() for p in site.getsitepackages() + [site.getusersitepackages()]}
    return next((root for root in sorted(roots) if path.is_relative_to(root)), None)
