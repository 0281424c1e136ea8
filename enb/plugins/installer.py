"""Copy a template's files (and those of the templates it requires) into a folder.

Installing never half-overwrites a project: every destination path is checked before the first
file is written, and each file is written to a temporary name and renamed into place.
"""
from __future__ import annotations

import os
import tempfile
from importlib import resources
from pathlib import Path

from enb.plugins.catalogue import CATALOGUE as TEMPLATES
from enb.plugins.catalogue import Entry

#: Package folder that holds one sub-folder of files per template.
TEMPLATES_PACKAGE_DIR = "templates"


class InstallError(Exception):
    """A template could not be installed; the message says why and what to do."""


class UnknownTemplateError(InstallError, KeyError):
    """No template has the requested name."""

    def __init__(self, name: str):
        self.name = name
        self.known = tuple(TEMPLATES)
        super().__init__(f"unknown plugin {name!r}; available plugins: {', '.join(self.known)}")

    def __str__(self) -> str:  # KeyError would otherwise quote the whole message
        return self.args[0]


class DestinationExistsError(InstallError):
    """Installing would overwrite files that already exist (use force to allow it)."""

    def __init__(self, paths: list[Path]):
        self.paths = paths
        listing = "\n".join(f"  {p}" for p in paths)
        super().__init__(f"refusing to overwrite {len(paths)} existing "
                         f"path{'s' if len(paths) != 1 else ''}:\n{listing}\n"
                         "Use --force (-f) to overwrite them.")


def template(name: str) -> Entry:
    """Return the template called ``name``; raise :class:`UnknownTemplateError` if none is."""
    try:
        return TEMPLATES[name]
    except KeyError:
        raise UnknownTemplateError(name) from None


def default_destination(name: str) -> str:
    """Return the folder enb 1.x installs into when none is given: ``plugins/<name>``."""
    return os.path.join("plugins", name)


def available(name: str) -> bool:
    """Tell whether the files of catalogue entry ``name`` ship with this enb."""
    return template(name).available


def planned_files(name: str) -> dict[str, bytes]:
    """Return ``{relative path: contents}`` of everything installing ``name`` writes.

    Required templates come first; a file of ``name`` itself replaces a required one of the same
    path. Raise :class:`UnknownTemplateError` for an unknown name.
    """
    files: dict[str, bytes] = {}
    for each in _with_requirements(name):
        root = resources.files("enb.plugins").joinpath(TEMPLATES_PACKAGE_DIR, each.files_folder)
        if not root.is_dir():
            raise InstallError(f"{each.name!r} is in enb's catalogue but its files are not in "
                               f"this enb yet (expected {root}); `enb plugin list` shows what "
                               f"can be installed")
        files.update(_read_tree(root, ""))
    return files


def install(name: str, destination: str | os.PathLike, *, force: bool = False) -> list[Path]:
    """Install template ``name`` into folder ``destination``, created if needed.

    Refuse, before writing anything, when a file to be written already exists, unless ``force``.
    Return the paths written, in order. Raise :class:`UnknownTemplateError`,
    :class:`DestinationExistsError` or :class:`InstallError`.
    """
    files = planned_files(name)
    destination = Path(destination)
    if destination.exists() and not destination.is_dir():
        raise InstallError(f"destination {destination} exists and is not a folder")
    targets = [(destination / relative, contents) for relative, contents in files.items()]
    existing = [path for path, _ in targets if path.exists() or path.is_symlink()]
    if existing and not force:
        raise DestinationExistsError(existing)
    folders_in_the_way = [path for path in existing if path.is_dir() and not path.is_symlink()]
    if folders_in_the_way:
        raise InstallError("cannot overwrite folders with files, not even with --force: "
                           + ", ".join(str(p) for p in folders_in_the_way))
    for path, contents in targets:
        _write_atomically(path, contents)
    return [path for path, _ in targets]


def _with_requirements(name: str, seen: tuple[str, ...] = ()) -> list[Entry]:
    """Return the templates to install for ``name``: requirements first, each once."""
    if name in seen:
        raise InstallError(f"templates require each other in a cycle: {' -> '.join(seen + (name,))}")
    chosen = template(name)
    ordered: list[Entry] = []
    for requirement in chosen.requires:
        for each in _with_requirements(requirement, seen + (name,)):
            if each not in ordered:
                ordered.append(each)
    ordered.append(chosen)
    return ordered


def _read_tree(folder, prefix: str) -> dict[str, bytes]:
    """Return ``{relative path: contents}`` of the files under a package-data folder."""
    files: dict[str, bytes] = {}
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name == "__pycache__":
            continue
        relative = f"{prefix}{entry.name}"
        if entry.is_dir():
            files.update(_read_tree(entry, relative + "/"))
        else:
            files[relative] = entry.read_bytes()
    return files


def _write_atomically(path: Path, contents: bytes) -> None:
    """Write ``contents`` to ``path`` through a temporary file renamed into place.

    Scripts (contents starting with ``#!``) are made executable, as enb 1.x ships them.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(descriptor, "wb") as stream:
            stream.write(contents)
        os.chmod(temporary, 0o755 if contents.startswith(b"#!") else 0o644)
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise
