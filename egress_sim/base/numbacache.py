"""Where numba keeps compiled kernels when the installed package cannot be written.

numba caches next to the source (``egress_sim/__pycache__``), else in ``~/.cache/numba``; when neither can be
written (a system install used by a container user whose home is read-only or missing) decorating a kernel
raises ``RuntimeError: cannot cache function`` and nothing runs. ``configure`` runs before numba is first
imported: if the user has not chosen ``NUMBA_CACHE_DIR`` and the package's ``__pycache__`` is not writable,
it sets it to ``$XDG_CACHE_HOME/egress_sim/numba`` (``~/.cache/egress_sim/numba`` without XDG), else to a
private directory under the system temp dir.

numba's cache files are pickles, and loading one runs code: a temp directory is used only when it is ours
and no one else can write it.
"""

from __future__ import annotations

import getpass
import os
import stat
import sys
import tempfile
from collections.abc import Callable, Mapping, MutableMapping
from pathlib import Path


def writable(folder: Path) -> bool:
    """Whether files can be created in ``folder`` (made if missing): numba's own test of a cache directory."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=folder).close()
    except OSError:
        return False
    return True


def numba_cache_dir(
    package: Path,
    env: Mapping[str, str],
    writable: Callable[[Path], bool] = writable,
    temp_root: Path | None = None,
    temp_name: str | None = None,
) -> Path | None:
    """The directory numba should cache in, or None to leave numba's choice alone."""
    if env.get("NUMBA_CACHE_DIR") or writable(package / "__pycache__"):
        return None
    xdg = env.get("XDG_CACHE_HOME")
    home = env.get("HOME") or env.get("USERPROFILE")
    for base in (Path(xdg) if xdg else None, Path(home) / ".cache" if home else None):
        if base is not None and base.is_absolute() and writable(base / "egress_sim" / "numba"):
            return base / "egress_sim" / "numba"
    return _private_temp_dir(temp_root or Path(tempfile.gettempdir()), temp_name or f"egress_sim-numba-{_user()}")


def configure(env: MutableMapping[str, str] = os.environ) -> None:
    """Set ``NUMBA_CACHE_DIR`` when the package's own cache cannot be written (see the module docstring)."""
    try:
        chosen = numba_cache_dir(Path(__file__).resolve().parent, env)
    except OSError:  # no usable temp dir either: numba will say so when it first caches
        return
    if chosen is None:
        return
    env["NUMBA_CACHE_DIR"] = str(chosen)
    numba = sys.modules.get("numba")
    if numba is not None:  # imported before egress_sim: its config has read the environment already
        numba.config.CACHE_DIR = str(chosen)


def side_cache_dir(name: str, env: Mapping[str, str] = os.environ) -> Path:
    """``name``'s folder for egress_sim's own small caches, kept where numba keeps its kernels (the directory
    ``configure`` chose, else the package's ``__pycache__``) and trusted as far as those are. It may not exist
    or be writable: a cache that cannot be read or written is simply not used."""
    chosen = env.get("NUMBA_CACHE_DIR")
    root = Path(chosen) if chosen else Path(__file__).resolve().parent.parent / "__pycache__"
    return root / "egress_sim-cache" / name


def _private_temp_dir(root: Path, name: str) -> Path:
    """``root/name`` if it is a directory of ours that no one else can write, else a fresh ``mkdtemp``."""
    folder = root / name
    try:
        folder.mkdir(mode=0o700, exist_ok=True)
        info = os.lstat(folder)
    except OSError:
        info = None
    owner_ok = info is not None and (not hasattr(os, "getuid") or info.st_uid == os.getuid())
    if info is not None and stat.S_ISDIR(info.st_mode) and owner_ok and not info.st_mode & 0o077:
        return folder
    return Path(tempfile.mkdtemp(prefix=f"{name}-", dir=root))


def _user() -> str:
    if hasattr(os, "getuid"):
        return str(os.getuid())
    try:
        return getpass.getuser()
    except (ImportError, KeyError, OSError):
        return "user"
