"""Output folders that belong to sdnet: a manifest, a lock, and results that appear whole.

Every writer of a folder (a study, a report, ``sdnet run``, ``sdnet ensemble``) goes through
:func:`output_folder`, which gives these guarantees:

* **Whole or nothing.** The writer fills a staging folder beside the target; only when it has
  finished is the staging folder renamed into place. A writer that fails or is killed midway
  leaves the target as it was, never a mix of old and new files.
* **A manifest.** ``sdnet-manifest.json`` in the folder lists every file sdnet wrote there, with
  what wrote them (the output's *kind*, e.g. ``"study"``, and its *identity*, e.g. a hash of
  the study's spec). Only files in a manifest are ever removed: files a user adds to a results
  folder survive a rewrite (they are carried into the new folder).
* **A lock.** A lock file beside the target refuses a second writer with an error naming the
  folder and the process that holds it. The operating system releases the lock when its holder
  dies, so a lock left by a killed process never blocks anyone.
* **No surprises.** A folder sdnet did not write (no manifest) is used only when it is empty; a
  folder holding another output (another study, or another command's output) is replaced only
  when asked (``overwrite=True``, ``--overwrite``).

Names beside a target ``PARENT/NAME``: ``.NAME.sdnet-lock`` (the lock), ``.NAME.sdnet-new-*``
(staging), ``.NAME.sdnet-old-*`` (the previous folder, for the instant of the swap) and
``.NAME.sdnet-work`` (work kept across attempts, such as a study's finished chunks).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import uuid
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any

from sdnet.errors import (
    OutputFolderError,
    OutputFolderLockedError,
    SdnetWarning,
)

__all__ = [
    "MANIFEST",
    "Manifest",
    "Staging",
    "check_disk_space",
    "output_folder",
    "read_manifest",
]

#: The manifest's file name, in every folder sdnet writes.
MANIFEST = "sdnet-manifest.json"
_FORMAT = 1
#: What each kind of output is called in messages.
_KIND_WORDS = {"study": "a study", "report": "a report", "run": "the output of `sdnet run`",
               "calibration": "a calibration", "point_fit": "a point fit",
               "ensemble": "an ensemble", "work": "sdnet's work files"}


@dataclass(frozen=True)
class Manifest:
    """What sdnet wrote into one folder.

    Attributes
    ----------
    kind : str
        What wrote it: ``"study"``, ``"report"``, ``"run"``, ``"ensemble"``.
    identity : str
        What makes two outputs of one kind "the same" (a study's spec hash, a report's
        results folder, a run's model file): a folder is rewritten without ``overwrite`` only
        by an output of the same kind and identity.
    label : str
        The output in words, for messages (``"study 'sustaining_levers'"``).
    files : tuple of str
        Every file sdnet wrote, as POSIX paths relative to the folder.
    written : str
        When (ISO 8601, UTC).
    sdnet_version : str
        The version of sdnet that wrote it.
    """

    kind: str
    identity: str
    label: str
    files: tuple[str, ...] = ()
    written: str = ""
    sdnet_version: str = ""

    def to_dict(self) -> dict[str, Any]:
        """Plain data, as stored in ``sdnet-manifest.json``."""
        return {"sdnet_manifest": _FORMAT, "kind": self.kind, "identity": self.identity,
                "label": self.label, "written": self.written,
                "sdnet_version": self.sdnet_version, "files": list(self.files)}


@dataclass(frozen=True)
class Staging:
    """Where a writer puts an output before it is published (see :func:`output_folder`).

    Attributes
    ----------
    target : Path
        The folder the output becomes when the writer finishes.
    path : Path
        The staging folder to write into (empty when the writer starts).
    previous : Manifest or None
        The manifest of what the target held before, if sdnet wrote it.
    """

    target: Path
    path: Path
    previous: Manifest | None

    @property
    def work(self) -> Path:
        """The work folder beside the target: kept when a writer fails, so that a later
        attempt can reuse finished pieces; removed (its recorded files) on success."""
        return _beside(self.target, "work")

    def work_file(self, relative: str) -> Path:
        """The path of a work file (e.g. ``"chunks/sobol_000000000.npz"``), recorded in the
        work folder's manifest before it is written, so that only sdnet's files are removed."""
        _safe_relative(relative, self.work)
        manifest = _read_work_manifest(self.work)
        if relative not in manifest.files:
            self.work.mkdir(parents=True, exist_ok=True)
            _write_json(self.work / MANIFEST, Manifest(
                "work", "", f"work files of {self.target}",
                files=(*manifest.files, relative), written=_now()).to_dict())
        path = self.work / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        return path


def read_manifest(folder: str | Path) -> Manifest | None:
    """The manifest of a folder sdnet wrote, or None when the folder has none.

    Raises
    ------
    OutputFolderError
        The manifest exists but cannot be read, or lists a path outside the folder: then
        nobody can tell which of its files sdnet wrote, and none of them is touched.
    """
    folder = Path(folder)
    file = folder / MANIFEST
    if not file.is_file():
        return None
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
        if not isinstance(data, dict) or data.get("sdnet_manifest") != _FORMAT:
            raise ValueError(f"not an sdnet manifest of format {_FORMAT}")
        files = data["files"]
        if not isinstance(files, list) or not all(isinstance(f, str) for f in files):
            raise ValueError("'files' is not a list of paths")
        for relative in files:
            _safe_relative(relative, folder)
        return Manifest(kind=str(data["kind"]), identity=str(data["identity"]),
                        label=str(data.get("label", "")), files=tuple(files),
                        written=str(data.get("written", "")),
                        sdnet_version=str(data.get("sdnet_version", "")))
    except (OSError, UnicodeDecodeError, ValueError, KeyError) as error:
        raise OutputFolderError(
            f"cannot tell which files in {folder} sdnet wrote: its {MANIFEST} is unreadable "
            f"({error}); move or delete the folder yourself, or choose another output folder",
            path=folder) from error


@contextlib.contextmanager
def output_folder(
    target: str | Path, *, kind: str, identity: str, label: str, overwrite: bool = False,
) -> Iterator[Staging]:
    """Write an output folder whole, under a lock, recording what sdnet wrote.

    Use it as ``with output_folder(out, kind="run", identity=..., label=...) as staging:``
    and write every file under ``staging.path``. When the block ends normally the files are
    published as ``target`` (with a manifest listing them); when it raises, the target is left
    as it was and the staging folder is removed (the work folder is kept).

    Parameters
    ----------
    target : str or Path
        The output folder (created with its parents if needed).
    kind, identity, label : str
        See :class:`Manifest`.
    overwrite : bool
        Replace an output of another kind or identity (only its recorded files are removed).

    Raises
    ------
    OutputFolderError
        ``target`` is a file, a folder sdnet did not write that is not empty, or holds
        another output and ``overwrite`` is false. Raised before the block runs, so nothing
        has been computed or written.
    OutputFolderLockedError
        Another sdnet process is writing ``target``.
    """
    target = Path(os.path.abspath(target))
    if target.is_symlink():  # write beside the folder the link names; the link stays
        target = target.resolve()
    _check_target(target)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OutputFolderError(
            f"cannot make the output folder {target}: {error.strerror or error} (at "
            f"{error.filename or target.parent})", path=target) from error
    with _locked(target, label=label):
        _recover(target)
        previous = _replaceable(target, kind=kind, identity=identity, label=label,
                                overwrite=overwrite)
        staging = Staging(target=target, path=_beside(target, f"new-{_token()}"),
                          previous=previous)
        staging.path.mkdir()
        try:
            yield staging
            _write_manifest(staging.path, Manifest(kind, identity, label))
        except BaseException:
            shutil.rmtree(staging.path, ignore_errors=True)
            raise
        _publish(staging)
        _remove_work(staging.work)


# ---- checks before writing ------------------------------------------------------------------


def check_disk_space(target: str | Path, needed: int, *, what: str = "the output") -> int:
    """Free bytes on the disk of ``target``'s folder; raise when ``needed`` does not fit.

    Called before anything is computed, so a study or an ensemble that cannot be written
    fails in a second rather than after an hour with a full disk.

    Raises
    ------
    DiskSpaceError
        Naming the folder, the bytes needed and the bytes free.
    """
    from sdnet.errors import DiskSpaceError

    folder = Path(os.path.abspath(target))
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    free = shutil.disk_usage(folder).free
    if needed > free:
        raise DiskSpaceError(
            f"{what} needs up to {needed / 1e9:.2f} GB in {target} but only "
            f"{free / 1e9:.2f} GB are free on that disk; free some space, write elsewhere "
            "(--out), keep fewer variables (--vars) or store float32 (--dtype float32)",
            path=target, needed=int(needed), free=int(free))
    return int(free)



def _check_target(target: Path) -> None:
    if target.is_file() or (target.exists() and not target.is_dir()):
        raise OutputFolderError(
            f"the output folder {target} is a file; give the path of a folder (a new one, or "
            "one sdnet wrote)", path=target)


def _replaceable(target: Path, *, kind: str, identity: str, label: str,
                 overwrite: bool) -> Manifest | None:
    """The target's manifest when the new output may replace it; raise when it may not."""
    if not target.exists():
        return None
    previous = read_manifest(target)
    if previous is None:
        foreign = sorted(p.name for p in target.iterdir())
        if not foreign:
            return None
        shown = ", ".join(foreign[:5]) + (f" and {len(foreign) - 5} more" if len(foreign) > 5
                                          else "")
        raise OutputFolderError(
            f"{target} holds files sdnet did not write ({shown}); sdnet writes only into a new "
            "folder, an empty one or one it wrote itself, and never removes your files: "
            "choose another output folder", path=target)
    if overwrite or (previous.kind == kind and previous.identity == identity):
        return previous
    held = f"another {kind}" if previous.kind == kind else _KIND_WORDS.get(previous.kind,
                                                                            previous.kind)
    when = previous.written[:16].replace("T", " ")
    details = ", ".join(d for d in (previous.label, when and f"written {when} UTC") if d)
    raise OutputFolderError(
        f"{target} holds {held}" + (f" ({details})" if details else "")
        + f"; pass --overwrite (overwrite=True) to replace it with {label} (only the files "
        "sdnet wrote there are removed), or choose another output folder", path=target)


# ---- publishing -----------------------------------------------------------------------------


def _publish(staging: Staging) -> None:
    """Rename the finished staging folder into place; an earlier output is swapped out whole
    and then removed file by file from its manifest, the user's files carried over."""
    target = staging.target
    old = _beside(target, f"old-{_token()}")
    if _holds_the_current_folder(target):
        # a shell inside the folder would be left in a removed one: swap what it holds instead
        # (entry by entry, so not in one step; the new output is complete before it starts)
        old.mkdir()
        for entry in sorted(target.iterdir()):
            entry.rename(old / entry.name)
        for entry in sorted(staging.path.iterdir()):
            entry.rename(target / entry.name)
        staging.path.rmdir()
        _retire(old, target)
        return
    if target.is_dir() and not any(target.iterdir()):
        target.rmdir()
    if not target.exists():
        staging.path.rename(target)
        return
    target.rename(old)
    staging.path.rename(target)
    _retire(old, target)


def _holds_the_current_folder(target: Path) -> bool:
    try:
        here = Path.cwd().resolve()
    except FileNotFoundError:
        return False
    return target.exists() and (here == target.resolve() or target.resolve() in here.parents)


def _retire(old: Path, target: Path) -> None:
    """Carry the user's files from a replaced folder into ``target``, remove sdnet's files
    (by the manifests), and remove ``old`` when nothing else is left in it."""
    kept: list[str] = []
    for relative in _foreign_entries(old):
        _carry(old / relative, target / relative, relative.as_posix(), kept)
    _remove_recorded(old)
    for here, _dirs, _files in os.walk(old, topdown=False):  # folders emptied by the above
        if Path(here).is_dir() and not any(Path(here).iterdir()):
            Path(here).rmdir()
    if kept:
        warnings.warn(
            f"files you added to {target} clash with files of the new output and were kept "
            f"in {old}: {', '.join(kept)}", SdnetWarning, stacklevel=4)


def _carry(source: Path, destination: Path, relative: str, kept: list[str]) -> None:
    """Move a user's file or folder to ``destination``; folders merge, files never clobber."""
    if destination.is_dir() and not destination.is_symlink() and source.is_dir() \
            and not source.is_symlink():
        for child in sorted(source.iterdir()):
            _carry(child, destination / child.name, f"{relative}/{child.name}", kept)
        return
    if destination.exists() or destination.is_symlink():
        kept.append(relative)
        return
    destination.parent.mkdir(parents=True, exist_ok=True)
    source.rename(destination)


def _recover(target: Path) -> None:
    """Finish what a killed writer of ``target`` left beside it (we hold the lock)."""
    for staging in _siblings(target, "new-"):
        shutil.rmtree(staging, ignore_errors=True)  # a staging folder holds only sdnet's files
    olds = _siblings(target, "old-")
    if olds and not target.exists():
        # killed between the two renames of a swap: the old folder is the output
        olds[0].rename(target)
        olds = olds[1:]
    for old in olds:
        _retire(old, target)


def _foreign_entries(folder: Path) -> list[Path]:
    """Paths (relative to ``folder``) of files and folders sdnet did not write there: neither in
    its manifest nor in the manifest of a nested output (e.g. a study's ``report/``)."""
    manifest = _manifest_or_none(folder)
    recorded = set(manifest.files) if manifest else set()
    if manifest is not None:
        recorded.add(MANIFEST)
    return _foreign_below(folder, PurePosixPath(), recorded, _parents(recorded))


def _foreign_below(root: Path, here: PurePosixPath, recorded: set[str],
                   parents: set[str]) -> list[Path]:
    found: list[Path] = []
    for entry in sorted((root / here).iterdir()):
        relative = here / entry.name
        key = relative.as_posix()
        if key in recorded:
            continue
        if entry.is_dir() and not entry.is_symlink():
            if key in parents:  # a folder sdnet wrote files into: look inside
                found += _foreign_below(root, relative, recorded, parents)
                continue
            if _manifest_or_none(entry) is not None:  # a nested output
                found += [Path(key) / p for p in _foreign_entries(entry)]
                continue
        found.append(Path(key))
    return found


def _remove_recorded(folder: Path) -> None:
    """Remove the files that a folder's manifest and the manifests of nested outputs list,
    then the folders left empty; anything else stays."""
    manifest = _manifest_or_none(folder)
    if manifest is None:
        return
    root = folder.resolve()
    recorded = set(manifest.files)
    for nested in _nested_outputs(folder, PurePosixPath(), recorded, _parents(recorded)):
        _remove_recorded(nested)
    for relative in manifest.files:
        path = folder / relative
        if path.parent.resolve().is_relative_to(root) and (path.is_symlink() or path.is_file()):
            path.unlink()
    (folder / MANIFEST).unlink(missing_ok=True)
    owned = sorted((folder / p for p in _parents(set(manifest.files)) if p != "."),
                   key=lambda p: len(p.parts), reverse=True)
    for path in [*owned, folder]:
        if path.is_dir() and not path.is_symlink() and not any(path.iterdir()):
            path.rmdir()


def _nested_outputs(root: Path, here: PurePosixPath, recorded: set[str],
                    parents: set[str]) -> list[Path]:
    """Folders with a manifest of their own (e.g. a study's ``report/``), found where sdnet
    wrote: at the top of ``root`` or in the folders its recorded files are in."""
    found: list[Path] = []
    for entry in sorted((root / here).iterdir()):
        key = (here / entry.name).as_posix()
        if key in recorded or not entry.is_dir() or entry.is_symlink():
            continue
        if key in parents:
            found += _nested_outputs(root, here / entry.name, recorded, parents)
        elif _manifest_or_none(entry) is not None:
            found.append(entry)
    return found


def _parents(files: set[str]) -> set[str]:
    return {str(p) for f in files for p in PurePosixPath(f).parents}


def _manifest_or_none(folder: Path) -> Manifest | None:
    try:
        return read_manifest(folder)
    except OutputFolderError:
        return None  # unreadable: nobody can tell what sdnet wrote there, so it is not ours


def _write_manifest(folder: Path, manifest: Manifest) -> None:
    from sdnet import __version__

    files = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*")
                   if p.is_file() or p.is_symlink())
    full = Manifest(manifest.kind, manifest.identity, manifest.label, files=tuple(files),
                    written=_now(), sdnet_version=__version__)
    _write_json(folder / MANIFEST, full.to_dict())


def _read_work_manifest(work: Path) -> Manifest:
    try:
        found = read_manifest(work)
    except OutputFolderError:
        found = None  # an unreadable work manifest: start a new one (its files stay)
    return found or Manifest("work", "", "")


def _remove_work(work: Path) -> None:
    if work.is_dir() and _read_work_manifest(work).files:
        _remove_recorded(work)


# ---- the lock -------------------------------------------------------------------------------


@contextlib.contextmanager
def _locked(target: Path, *, label: str) -> Iterator[None]:
    """Hold the lock of ``target`` (an OS lock on ``.NAME.sdnet-lock``, released by the
    operating system if this process dies)."""
    path = _beside(target, "lock")
    holder = {"pid": os.getpid(), "host": socket.gethostname(), "started": _now(),
              "writing": label}
    while True:
        handle = path.open("a+", encoding="utf-8")
        if not _try_lock(handle):
            handle.seek(0)
            text = handle.read()
            handle.close()
            raise _locked_error(target, path, text)
        try:
            same = os.fstat(handle.fileno()).st_ino == path.stat().st_ino
        except FileNotFoundError:
            same = False
        if same:  # else the last holder removed the file as we opened it: lock the new one
            break
        handle.close()
    try:
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps(holder))
        handle.flush()
        yield
    finally:
        with contextlib.suppress(OSError):  # Windows keeps an open file; the lock then
            path.unlink(missing_ok=True)   # goes with the handle
        handle.close()  # closing releases the OS lock


def _try_lock(handle: Any) -> bool:
    try:
        import fcntl
    except ImportError:  # Windows
        import msvcrt

        handle.seek(0)
        try:
            msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    return True


def _locked_error(target: Path, path: Path, text: str) -> OutputFolderLockedError:
    try:
        holder = json.loads(text)
        if not isinstance(holder, dict):
            raise ValueError(text)
    except ValueError:
        holder = {}
    who = f"process {holder.get('pid', '?')} on {holder.get('host', '?')}"
    since = str(holder.get("started", ""))[:19].replace("T", " ")
    what = f" ({holder['writing']}" + (f", since {since} UTC)" if since else ")") \
        if holder.get("writing") else ""
    return OutputFolderLockedError(
        f"{target} is being written by another sdnet command ({who}{what}); wait for it to "
        f"finish, or choose another output folder (lock file {path})", path=target,
        holder=holder)


# ---- small helpers --------------------------------------------------------------------------


def _beside(target: Path, what: str) -> Path:
    return target.parent / f".{target.name}.sdnet-{what}"


def _siblings(target: Path, prefix: str) -> list[Path]:
    return sorted(target.parent.glob(f".{_glob_escape(target.name)}.sdnet-{prefix}*"))


def _glob_escape(name: str) -> str:
    return "".join(f"[{c}]" if c in "*?[]" else c for c in name)


def _safe_relative(relative: str, folder: Path) -> None:
    """Refuse a recorded path that could reach outside its folder."""
    pure = PurePosixPath(relative)
    if not relative or pure.is_absolute() or ".." in pure.parts or "\\" in relative \
            or ":" in relative:
        raise ValueError(f"path {relative!r} is not inside {folder}")


def _token() -> str:
    return f"{os.getpid()}-{uuid.uuid4().hex[:8]}"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _write_json(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.{_token()}")
    tmp.write_text(json.dumps(data, indent=1), encoding="utf-8")
    tmp.replace(path)
