"""Outputs that are never destructive.

A command's output files are written under temporary names and become visible under the names asked for
only once the whole command has succeeded:

- before any work, ``check_outputs`` refuses an output whose directory is missing or not writable, that is a
  directory, that is the same file as one of the command's inputs (same device and inode: symlinks, hard
  links and ``./x`` against ``x`` are all caught), or that is the same file as another output;
- each output is written to a hidden sibling, ``.NAME.tmp-PID-RANDOM.EXT``, in the same directory (so the final
  rename never crosses file systems), created exclusively: two runs writing one output each get their own;
- on success the temporaries are flushed to disk (``fsync``) and then renamed onto their names
  (``os.replace``, atomic on POSIX and Windows): a reader sees the old file or the new one, never a mix;
- on any failure, ``KeyboardInterrupt`` or ``SystemExit`` the temporaries are removed and a file already
  standing at a name is left exactly as it was.

``kill -9`` (or a power cut) cannot be cleaned up after: it can leave a ``.NAME.tmp-*`` file, never a partial
file under NAME. A device or pipe named as an output (``/dev/null``, ``/dev/stdout``) is written in place:
there is nothing to rename. A symbolic link named as an output is followed: the file it points to is replaced.

This module knows nothing of flows: it is the one place that turns a path into a safe place to write.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from collections.abc import Iterable, Iterator
from pathlib import Path
from types import TracebackType

from .errors import OutputFileError

PathLike = str | os.PathLike
TEMP_MARK = ".tmp-"
_NAME_KEPT = 180  # characters of the output's name kept in its temporary's name (NAME_MAX is 255 bytes)


_COMPRESSED = {".gz", ".bz2", ".xz", ".zst"}


def temp_path(target: Path) -> Path:
    """A fresh hidden name beside ``target``: ``.NAME.tmp-PID-RANDOM.EXT`` (the pid says which run left it; the
    extension, ``.csv.gz`` say, keeps the file readable by anything that goes by it, this program included)."""
    suffixes = target.suffixes[-2:] if target.suffix.lower() in _COMPRESSED else target.suffixes[-1:]
    extension = "".join(suffixes) if len("".join(suffixes)) < 16 else ""
    return target.with_name(f".{target.name[:_NAME_KEPT]}{TEMP_MARK}{os.getpid()}-{secrets.token_hex(4)}{extension}")


def check_outputs(outputs: Iterable[PathLike | None], inputs: Iterable[PathLike | None] = ()) -> None:
    """Refuse, before any work, every output that cannot be written or would destroy an input.

    ``None`` entries are ignored (an optional output not asked for). Inputs that do not exist, or are not
    regular files (directories, patterns, devices), are not compared: the readers report them."""
    taken: dict[object, Path] = {}  # (dir inode, name) and (file inode) of each output -> the output
    sources = {_identity(s): Path(s) for s in _regular_files(inputs)}
    for raw in outputs:
        if raw is None:
            continue
        if not os.fspath(raw).strip():  # before Path(), which reads "" as "."
            raise OutputFileError("an empty output path was given")
        out = Path(raw)
        keys = _check_one(out)
        for key in keys:
            if key in taken:
                raise OutputFileError(f"{out}: given twice as an output (the same file as {taken[key]})", file=str(out))
            if key in sources:
                raise OutputFileError(
                    f"{out}: is the same file as the input {sources[key]}; write the output to another file",
                    file=str(out))
        taken.update((key, out) for key in keys)


def _regular_files(paths: Iterable[PathLike | None]) -> Iterator[Path]:
    for raw in paths:
        if raw is None or not str(raw).strip():
            continue
        try:
            if stat.S_ISREG(os.stat(raw).st_mode):
                yield Path(raw)
        except (OSError, ValueError):
            continue


def _identity(path: PathLike) -> tuple[int, int]:
    status = os.stat(path)
    return status.st_dev, status.st_ino


def _target(path: Path) -> Path:
    """The file a write to ``path`` lands in: a symbolic link is followed to the file it names."""
    return Path(os.path.realpath(path)) if path.is_symlink() else path


def _check_one(out: Path) -> list[object]:
    """Check one output; return the keys that identify it (its directory entry, and its inode if it exists)."""
    def refuse(why: str) -> OutputFileError:
        return OutputFileError(f"{out}: cannot write: {why}", file=str(out))

    try:
        target = _target(out)
        status = _stat_or_none(target)
    except (OSError, ValueError) as exc:
        raise refuse(_why(exc)) from None
    if status is not None and stat.S_ISDIR(status.st_mode):
        raise refuse("it is a directory")
    if status is not None and not stat.S_ISREG(status.st_mode):
        return []  # a device or pipe, written in place
    parent = target.parent
    try:
        parent_status = _stat_or_none(parent)
    except (OSError, ValueError) as exc:
        raise refuse(f"directory {parent}: {_why(exc)}") from None
    if parent_status is None:
        raise refuse(f"directory {parent} does not exist")
    if not stat.S_ISDIR(parent_status.st_mode):
        raise refuse(f"{parent} is not a directory")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise refuse(f"directory {parent} is not writable")
    if status is not None and not os.access(target, os.W_OK):
        raise refuse("the file is read-only")
    keys: list[object] = [(parent_status.st_dev, parent_status.st_ino, os.path.normcase(target.name))]
    if status is not None:
        keys.append((status.st_dev, status.st_ino))
    return keys


def _stat_or_none(path: Path) -> os.stat_result | None:
    try:
        return os.stat(path)
    except FileNotFoundError:
        return None


def _why(exc: BaseException) -> str:
    return exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)


class OutputFile:
    """One output of a command: its bytes go to ``temp`` until ``publish`` renames them onto ``path``."""

    def __init__(self, path: PathLike):
        self.path = Path(path)
        self.target = _target(self.path)
        status = _stat_or_none(self.target)
        self.in_place = status is not None and not stat.S_ISREG(status.st_mode)  # a device or pipe
        self.temp = self.target if self.in_place else temp_path(self.target)
        self.absent = False  # the output turned out to be "no file" (see ``Outputs.remove``)
        self._created = False

    def create(self) -> None:
        """Claim the temporary name (exclusively: no other run can be writing it)."""
        if self.in_place or self._created:
            return
        try:
            os.close(os.open(self.temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        except OSError as exc:
            raise OutputFileError(f"{self.path}: cannot write: {_why(exc)}", file=str(self.path)) from None
        self._created = True

    def sync(self) -> None:
        """Flush the finished temporary to disk, so the rename never exposes a file whose data is not there."""
        if self.in_place or self.absent:
            return
        flags = os.O_RDWR if os.name == "nt" else os.O_RDONLY  # Windows commits only through a writable handle
        try:
            fd = os.open(self.temp, flags)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as exc:
            raise OutputFileError(f"{self.path}: cannot write: {_why(exc)}", file=str(self.path)) from None

    def publish(self) -> None:
        """Make the output visible under its name, replacing what stood there (keeping that file's mode)."""
        if self.in_place:
            return
        if self.absent:
            self.discard()
            with contextlib.suppress(FileNotFoundError):
                if stat.S_ISREG(os.lstat(self.target).st_mode):
                    os.unlink(self.target)
            return
        try:
            with contextlib.suppress(FileNotFoundError):
                os.chmod(self.temp, stat.S_IMODE(os.stat(self.target).st_mode))
            os.replace(self.temp, self.target)
        except OSError as exc:
            raise OutputFileError(f"{self.path}: cannot write: {_why(exc)}", file=str(self.path)) from None
        self._created = False
        _sync_directory(self.target.parent)

    def discard(self) -> None:
        """Remove the temporary, if any; whatever stands under the final name is not touched."""
        if self._created:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.temp)
        self._created = False


def _sync_directory(directory: Path) -> None:
    """Make a rename durable (POSIX); Windows has no directory handles to flush, and some file systems refuse."""
    if os.name == "nt":
        return
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


class Outputs:
    """The output files of one command, published together when its ``with`` block succeeds.

    ``Outputs(paths, inputs)`` checks the paths (``check_outputs``) before anything is created; entering the
    block claims a temporary for each; ``file(path)`` / ``temp(path)`` give where to write. On a clean exit
    every temporary is synced, then all are renamed, one after the other; on any exception (including
    ``KeyboardInterrupt`` and ``SystemExit``) every temporary is removed and nothing under the final names
    changes. Paths added later with ``file`` are checked against those already declared."""

    def __init__(self, paths: Iterable[PathLike | None] = (), inputs: Iterable[PathLike | None] = ()):
        declared = [p for p in paths if p is not None]
        check_outputs(declared, inputs)
        self._files: list[OutputFile] = [OutputFile(p) for p in declared]
        self._entered = False

    def __enter__(self) -> Outputs:
        self._entered = True
        try:
            for output in self._files:
                output.create()
        except BaseException:
            self.discard()
            raise
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if exc_type is None:
            self.publish()
        else:
            self.discard()

    def file(self, path: PathLike) -> OutputFile:
        """The output at ``path``, declared now if it was not yet."""
        path = Path(path)
        for output in self._files:
            if output.path == path:
                return output
        check_outputs([*(o.path for o in self._files), path])
        output = OutputFile(path)
        self._files.append(output)
        if self._entered:
            output.create()
        return output

    def temp(self, path: PathLike) -> Path:
        """Where to write the output that will appear at ``path``."""
        return self.file(path).temp

    def write_text(self, path: PathLike, text: str) -> None:
        """Write a whole small text output (UTF-8)."""
        output = self.file(path)
        try:
            with open(output.temp, "w", encoding="utf-8", newline="") as handle:
                handle.write(text)
        except OSError as exc:
            raise OutputFileError(f"{path}: cannot write: {_why(exc)}", file=str(path)) from None

    def remove(self, path: PathLike) -> None:
        """This output is "no file": on success a file standing at ``path`` is removed (a stale rejects file
        from an earlier run), not replaced; on failure it stays."""
        self.file(path).absent = True

    def publish(self) -> None:
        """Sync every temporary, then rename each onto its name; what is not renamed is removed."""
        try:
            for output in self._files:
                output.sync()
            for output in self._files:
                output.publish()
        finally:
            self.discard()

    def discard(self) -> None:
        for output in self._files:
            output.discard()


def staged(outputs: Outputs | None, paths: Iterable[PathLike | None],
           inputs: Iterable[PathLike | None] = ()) -> contextlib.AbstractContextManager[Outputs]:
    """The caller's ``outputs`` with ``paths`` declared in it (the caller publishes them with its others), or,
    without one, a new ``Outputs`` for ``paths`` that the ``with`` block publishes itself."""
    if outputs is None:
        return Outputs(paths, inputs)
    paths = [p for p in paths if p is not None]
    check_outputs(paths, inputs)
    for path in paths:
        outputs.file(path)
    return contextlib.nullcontext(outputs)


def write_text_atomic(path: PathLike, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` all at once: a reader sees the old file or the whole new one;
    a failure leaves the old one as it was. Raises ``OutputFileError`` naming the path."""
    with Outputs([path]) as outputs:
        outputs.write_text(path, text)
