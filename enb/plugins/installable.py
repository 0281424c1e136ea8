"""enb 1.x's installable classes: ``Installable``, ``Plugin``, ``PluginMake``, ``Template``.

Scripts and plugins subclass them as in enb 1.x: class attributes describe the installable
(``name``, ``label``, ``authors``, ``tags``, ``required_pip_modules``,
``extra_requirements_message``, ...), ``install(installation_dir)`` copies the folder of the
module that defines the class, and ``build(installation_dir)`` finishes it (``PluginMake`` runs
its Makefile). The catalogue's own entries (:mod:`enb.plugins.catalogue`) appear here as
classes too, so ``get_installable_by_name("montecarlo-pi").install(dir)`` works as in 1.x.
"""
from __future__ import annotations

import collections
import importlib
import inspect
import logging
import os
import shutil
import subprocess
import sys
import textwrap

from . import catalogue

logger = logging.getLogger("enb")
_PLATFORMS = {"linux", "macos", "darwin", "windows"}


class InstallableMeta(type):
    """Register every installable class by name (the last one defined wins) and by tag."""
    installable_file_name = "__plugin__.py"
    name_to_installable: dict = {}
    tag_to_installable: dict = collections.defaultdict(list)

    def __init__(cls, *args, **kwargs):
        super().__init__(*args, **kwargs)
        cls.name = cls.name.lower().strip() if cls.name else None
        cls.label = (cls.label or "").strip() or None
        cls.authors = [a.strip() for a in (getattr(cls, "authors", None) or [])]
        cls.tags = {str(t).lower().strip() for t in (cls.tags or ())}
        bad = set(cls.tested_on or ()) - _PLATFORMS
        if bad:
            raise SyntaxError(f"{cls.__qualname__}.tested_on has {sorted(bad)}; use some of "
                              f"{sorted(_PLATFORMS)}")
        if cls.name:
            # A project may import a plugin whose name enb also ships: it is the project's now.
            InstallableMeta.name_to_installable[cls.name] = cls
            for tag in cls.tags:
                InstallableMeta.tag_to_installable[tag].append(cls)


class Installable(metaclass=InstallableMeta):
    """Something ``enb plugin install`` can write into a folder (see the module docstring)."""
    name = None
    label = None
    authors: list = []
    tags: set = set()
    contrib_authors: list = []
    contrib_reference_urls: list = []
    contrib_download_url_name: list = []
    required_pip_modules: list = []
    extra_requirements_message = None
    tested_on: set = set()

    @classmethod
    def source_dir(cls) -> str:
        """The folder whose files this installable copies (that of its defining module)."""
        return os.path.dirname(os.path.abspath(inspect.getfile(cls)))

    @classmethod
    def install(cls, installation_dir, overwrite_destination=False):
        """Copy this installable into ``installation_dir`` (created), then build it there.

        With ``overwrite_destination`` an existing folder is replaced; its pip modules are
        installed and its downloads fetched before :meth:`build`. A failed installation
        removes a folder it created.
        """
        installation_dir = os.path.abspath(installation_dir)
        logger.info("installing %r into %s", cls.name, installation_dir)
        cls.warn_extra_requirements()
        if overwrite_destination and os.path.lexists(installation_dir):
            if os.path.isdir(installation_dir) and not os.path.islink(installation_dir):
                shutil.rmtree(installation_dir)
            else:
                os.unlink(installation_dir)
        existed = os.path.exists(installation_dir)
        try:
            cls._copy_files(installation_dir)
            cls._install_requirements(installation_dir)
            cls.build(installation_dir=installation_dir)
        except BaseException:
            if not existed:
                shutil.rmtree(installation_dir, ignore_errors=True)
            raise
        cls.report_successful_installation(installation_dir=installation_dir)

    @classmethod
    def _copy_files(cls, installation_dir: str) -> None:
        shutil.copytree(cls.source_dir(), installation_dir, dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))

    @classmethod
    def _install_requirements(cls, installation_dir: str) -> None:
        if cls.required_pip_modules:
            argv = [sys.executable, "-m", "pip", "install", *cls.required_pip_modules]
            done = subprocess.run(argv, capture_output=True, text=True)
            if done.returncode != 0:
                raise RuntimeError(f"installing the pip modules of {cls.name!r} failed "
                                   f"({' '.join(argv)}):\n{done.stdout}{done.stderr}")
        for url, file_name in cls.contrib_download_url_name:
            import urllib.request
            target = os.path.join(installation_dir, file_name)
            logger.info("downloading %s into %s", url, target)
            with urllib.request.urlopen(url) as response, open(target, "wb") as output:
                shutil.copyfileobj(response, output)

    @classmethod
    def build(cls, installation_dir):
        """Finish the installation in ``installation_dir`` (nothing by default)."""

    @classmethod
    def report_successful_installation(cls, installation_dir):
        print(f"Successfully installed {cls.name!r} into {os.path.abspath(installation_dir)!r}.")

    @classmethod
    def warn_extra_requirements(cls):
        if cls.extra_requirements_message:
            logger.warning("%s needs this besides enb:\n%s", cls.name,
                           textwrap.indent(textwrap.dedent(cls.extra_requirements_message).strip(),
                                           "    "))

    @classmethod
    def repr(cls) -> str:
        fields = ", ".join(f"{k}={v}" for k, v in sorted(vars(cls).items())
                           if not k.startswith("_") and not callable(v)
                           and not isinstance(v, (classmethod, staticmethod, property)))
        return f"{cls.__name__}({fields})"

    @classmethod
    def get_help(cls) -> str:
        return textwrap.dedent(cls.__doc__ or cls.label or "")

    @classmethod
    def print_info(cls) -> None:
        lines = [f"{cls.name}: {cls.label or ''}"]
        for title, values in (("Authors", cls.authors), ("External authors", cls.contrib_authors),
                              ("Reference URLs", cls.contrib_reference_urls),
                              ("pip modules", cls.required_pip_modules),
                              ("Tags", sorted(cls.tags)), ("Tested on", sorted(cls.tested_on))):
            if values:
                lines.append(f"  * {title}: {', '.join(map(str, values))}")
        if cls.extra_requirements_message:
            lines.append("  * Also needs: " + cls.extra_requirements_message.strip())
        print("\n".join(lines))


class Plugin(Installable):
    """A package folder the project's scripts import (``plugins/<name>``)."""

    @classmethod
    def install(cls, installation_dir, overwrite_destination=False):
        if os.path.exists(installation_dir) and not overwrite_destination:
            raise ValueError(f"plugin {cls.name!r} cannot be installed into {installation_dir}: "
                             f"it exists (pass overwrite_destination=True to replace it)")
        super().install(installation_dir, overwrite_destination=True)

    @classmethod
    def build(cls, installation_dir):
        """Make the folder importable: an ``__init__.py`` importing its modules, if it has none."""
        if not os.path.isdir(installation_dir):
            raise ValueError(f"{installation_dir} is not a folder")
        init = os.path.join(installation_dir, "__init__.py")
        if not os.path.exists(init):
            modules = sorted(name[:-3] for name in os.listdir(installation_dir)
                             if name.endswith(".py") and not name.startswith("__"))
            with open(init, "w") as handle:
                handle.write("".join(f"from . import {m}\nfrom .{m} import *\n\n"
                                     for m in modules))


class PluginMake(Plugin):
    """A plugin built with its Makefile (``Makefile.<platform>``, else ``Makefile``)."""

    @classmethod
    def build(cls, installation_dir):
        super().build(installation_dir)
        make = shutil.which("make")
        if make is None:
            raise ValueError(f"plugin {cls.name!r} is built with make, which is not installed "
                             f"(Debian: apt-get install build-essential)")
        platform = {"win32": "windows"}.get(sys.platform, sys.platform)
        candidates = [f"Makefile.{platform}", "Makefile"]
        makefile = next((m for m in candidates
                         if os.path.exists(os.path.join(installation_dir, m))), None)
        if makefile is None:
            raise ValueError(f"plugin {cls.name!r} has no Makefile in {installation_dir}")
        done = subprocess.run([make, "-f", makefile], cwd=installation_dir, capture_output=True,
                              text=True)
        if done.returncode != 0:
            raise RuntimeError(f"building plugin {cls.name!r} with {makefile} failed (status "
                               f"{done.returncode}):\n{done.stdout}{done.stderr}")


class Template(Installable):
    """Files added to a project folder (which may exist); ``*.enbt`` files are rendered.

    ``required_fields_to_help``: fields a ``.enbt`` file needs (``{{ field }}``), given as
    ``fields`` to :meth:`install` or found in the ``[template]`` section of ``.ini`` files.
    """
    required_fields_to_help: dict = {}
    templatable_extension = ".enbt"

    @classmethod
    def install(cls, installation_dir, overwrite_destination=False, fields=None):
        from ..config import ini, options
        fields = dict(fields or {})
        for field, help_text in cls.required_fields_to_help.items():
            if field not in fields:
                try:
                    fields[field] = ini.get_key("template", field)
                except KeyError:
                    raise SyntaxError(f"template {cls.name!r} needs the field {field!r} "
                                      f"({help_text}): pass fields={{{field!r}: ...}} or set "
                                      f"it in the [template] section of an .ini file") from None
        overwrite = overwrite_destination or bool(options.force)
        source = cls.source_dir()
        planned = []
        for folder, _dirs, names in os.walk(source):
            if "__pycache__" in folder.split(os.sep):
                continue
            for name in names:
                if name == InstallableMeta.installable_file_name or name.endswith(".pyc"):
                    continue
                relative = os.path.relpath(os.path.join(folder, name), source)
                target = os.path.join(installation_dir, relative)
                if target.endswith(cls.templatable_extension):
                    target = target[:-len(cls.templatable_extension)]
                planned.append((os.path.join(folder, name), target))
        existing = [target for _, target in planned if os.path.exists(target)]
        if existing and not overwrite:
            raise ValueError(f"template {cls.name!r}: {existing[0]} exists; run with -f to "
                             f"overwrite")
        cls.warn_extra_requirements()
        for origin, target in planned:
            os.makedirs(os.path.dirname(target) or ".", exist_ok=True)
            if origin.endswith(cls.templatable_extension):
                with open(origin, encoding="utf-8") as handle:
                    text = _render(handle.read(), fields)
                with open(target, "w", encoding="utf-8") as handle:
                    handle.write(text)
                shutil.copymode(origin, target)
            else:
                shutil.copy2(origin, target)
        cls.build(installation_dir=installation_dir)
        cls.report_successful_installation(installation_dir=installation_dir)


def _render(text: str, fields: dict) -> str:
    """Render a ``.enbt`` file: with jinja2 when it is installed, else ``{{ field }}`` only."""
    try:
        import jinja2
    except ImportError:
        import re
        return re.sub(r"\{\{\s*(\w+)\s*\}\}", lambda m: str(fields.get(m.group(1), m.group(0))),
                      text)
    return jinja2.Environment(keep_trailing_newline=True).from_string(text).render(**fields)


# -- the catalogue as classes ------------------------------------------------------------
_CATALOGUE_CLASSES: dict = {}


def catalogue_class(name: str) -> type:
    """Return the installable class of the catalogue entry ``name`` (made once)."""
    if name not in _CATALOGUE_CLASSES:
        entry = catalogue.CATALOGUE[name]

        def install(cls, installation_dir, overwrite_destination=False, fields=None):
            from . import installer
            installer.install(entry.name, installation_dir, force=overwrite_destination)
            cls.report_successful_installation(installation_dir=installation_dir)

        base = Plugin if entry.kind == "plugin" else Template
        _CATALOGUE_CLASSES[name] = type(
            f"{''.join(p.capitalize() for p in name.replace('.', '-').split('-'))}Installable",
            (base,), {"name": entry.name, "label": entry.description, "tags": set(entry.tags),
                      "install": classmethod(install), "__module__": __name__,
                      "__doc__": entry.description})
    return _CATALOGUE_CLASSES[name]


def import_all_installables() -> None:
    """Make every catalogue entry available as a class (enb 1.x imported their modules)."""
    for name in catalogue.CATALOGUE:
        if name not in InstallableMeta.name_to_installable:
            catalogue_class(name)


def list_all_installables(base_class=Installable, ignored_classes=()) -> list:
    """Return every known installable class that derives from ``base_class``, by name."""
    import_all_installables()
    chosen = {cls.name: cls for cls in InstallableMeta.name_to_installable.values()
              if issubclass(cls, base_class) and cls not in ignored_classes and cls.name}
    return [chosen[name] for name in sorted(chosen, key=str.lower)]


def get_installable_by_name(name: str) -> type:
    """Return the installable called ``name``; raise KeyError if there is none."""
    import_all_installables()
    try:
        return InstallableMeta.name_to_installable[name]
    except KeyError:
        from .installer import UnknownTemplateError
        raise UnknownTemplateError(name) from None


def install(name: str, target_dir=None, overwrite: bool = False, automatic_import: bool = True):
    """Install ``name`` into ``target_dir`` (default ``plugins/<name>``), as enb 1.x does.

    A relative ``target_dir`` is the project's. Nothing happens when it exists and
    ``overwrite`` is false, so scripts can call this on every run. With ``automatic_import``
    the installed folder is imported as a module (``plugins/zip`` -> ``plugins.zip``) when it
    is a package. Return the paths written (empty when nothing was).
    """
    from ..config import options
    from . import installer
    given = os.path.join("plugins", name) if target_dir is None else os.fspath(target_dir)
    destination = options.project_path(given)
    written: list = []
    if overwrite or not os.path.exists(destination):
        if name in catalogue.CATALOGUE and \
                InstallableMeta.name_to_installable.get(name) in (None, _CATALOGUE_CLASSES.get(name)):
            written = installer.install(name, destination, force=overwrite)
        else:
            get_installable_by_name(name).install(destination, overwrite_destination=overwrite)
            written = [destination]
    elif name not in catalogue.CATALOGUE:
        get_installable_by_name(name)  # an unknown name is still an error
    if automatic_import:
        _import_installed(destination)
    return written


def _import_installed(destination: str) -> None:
    from ..config import options
    if not os.path.exists(os.path.join(destination, "__init__.py")):
        return  # a template's files, not a package
    relative = os.path.relpath(destination, options.project_root)
    parts = relative.split(os.sep)
    if relative.startswith(os.pardir) or not all(p.isidentifier() for p in parts):
        logger.debug("%s is not importable by name from the project root", destination)
        return
    if options.project_root not in sys.path:
        sys.path.insert(0, options.project_root)
    importlib.import_module(".".join(parts))
