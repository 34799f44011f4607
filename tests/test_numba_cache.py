"""numba's on-disk cache when the installed package cannot be written (a system install, a container run as
another user): egress_sim points numba at a user cache directory, or a private temp directory, before numba
is first imported.

The decision is a pure function, tested with an injected writability check. The end-to-end tests run a real
evaluation against a copy of the package laid out as installed, on a read-only bind mount in a private mount
namespace (``unshare``): the kernel really cannot write there, even as root, which ``chmod`` could not show
(CI runs as root). Where no mount namespace can be made they are skipped.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest

from egress_sim.base.numbacache import numba_cache_dir

REPO = Path(__file__).resolve().parent.parent
PACKAGE = Path("/opt/pkg/egress_sim")


def writable_only(*allowed: str):
    return lambda path: any(str(path).startswith(a) for a in allowed)


def test_a_numba_cache_dir_set_by_the_user_is_kept():
    env = {"NUMBA_CACHE_DIR": "/mine", "HOME": "/home/u"}
    assert numba_cache_dir(PACKAGE, env, writable=writable_only()) is None


def test_a_writable_package_keeps_numbas_cache_next_to_the_source():
    assert numba_cache_dir(PACKAGE, {"HOME": "/home/u"}, writable=writable_only("/opt/pkg")) is None


def test_a_read_only_package_caches_under_xdg_cache_home():
    env = {"HOME": "/home/u", "XDG_CACHE_HOME": "/xdg"}
    assert numba_cache_dir(PACKAGE, env, writable=writable_only("/xdg", "/home/u")) == Path("/xdg/egress_sim/numba")


def test_a_read_only_package_caches_under_the_home_cache_without_xdg():
    env = {"HOME": "/home/u"}
    assert numba_cache_dir(PACKAGE, env, writable=writable_only("/home/u")) == Path("/home/u/.cache/egress_sim/numba")


def test_with_no_writable_cache_at_all_a_private_temp_dir_is_used(tmp_path):
    env = {"HOME": "/nonexistent", "TMPDIR": str(tmp_path)}
    chosen = numba_cache_dir(PACKAGE, env, writable=writable_only(str(tmp_path)), temp_root=tmp_path)
    assert chosen is not None and chosen.parent == tmp_path
    assert chosen.stat().st_mode & 0o077 == 0 and chosen.stat().st_uid == os.getuid()


def test_a_temp_dir_others_can_write_is_not_trusted(tmp_path):
    """numba's cache files are pickles: a directory another user could write is never used."""
    squatted = tmp_path / "shared"
    squatted.mkdir(mode=0o777)
    squatted.chmod(0o777)
    chosen = numba_cache_dir(PACKAGE, {"HOME": "/nonexistent"}, writable=writable_only(str(tmp_path)),
                             temp_root=tmp_path, temp_name="shared")
    assert chosen is not None and chosen != squatted and chosen.stat().st_mode & 0o077 == 0


# ------------------------------------------------------------------------------------ end to end, read-only
def _namespace_prefix() -> list[str] | None:
    """``unshare`` arguments that give a private mount namespace where bind mounts work, or None."""
    if shutil.which("unshare") is None:
        return None
    with tempfile.TemporaryDirectory() as folder:
        for prefix in (["unshare", "--mount", "--propagation", "private"],
                       ["unshare", "--user", "--map-root-user", "--mount", "--propagation", "private"]):
            probe = subprocess.run([*prefix, "sh", "-c", f"mount --bind -o ro {folder} {folder} && ! touch {folder}/x"],
                                   capture_output=True)
            if probe.returncode == 0:
                return prefix
    return None


NAMESPACE = _namespace_prefix()
needs_namespace = pytest.mark.skipif(NAMESPACE is None, reason="cannot make a private mount namespace here")

CHILD = textwrap.dedent("""
    import os, sys
    import egress_sim
    assert egress_sim.__file__.startswith(sys.argv[1]), egress_sim.__file__
    from egress_sim.cli import main
    sys.argv = ["egress-sim", "evaluate", sys.argv[2], sys.argv[3], "-o", sys.argv[4]]
    try:
        main()
    except SystemExit as exc:
        assert not exc.code, exc.code
    print(os.environ.get("NUMBA_CACHE_DIR", "-"))
""")


def run_read_only(tmp_path: Path, home_writable: bool) -> tuple[subprocess.CompletedProcess, Path, Path]:
    """Evaluate the sample flows with the installed-layout copy (and, unless ``home_writable``, HOME) mounted
    read-only; TMPDIR and the output stay writable."""
    site = tmp_path / "site"
    shutil.copytree(REPO / "egress_sim", site / "egress_sim", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(REPO / "data", site / "egress_sim" / "bundled", ignore=shutil.ignore_patterns("__pycache__"))
    home, tmp, out = tmp_path / "home", tmp_path / "tmp", tmp_path / "out"
    for folder in (home, tmp, out):
        folder.mkdir()
    read_only = [site] + ([] if home_writable else [home])
    mounts = " && ".join(f"mount --bind -o ro {p} {p}" for p in read_only)
    command = (f"{mounts} && exec \"$0\" -c \"$1\" {site} {REPO / 'data/workspaces/contoso-research.yaml'} "
               f"{REPO / 'data/flows/sample_flows.csv'} {out / 'verdicts.csv'}")
    env = {key: value for key, value in os.environ.items() if not key.startswith(("NUMBA_", "XDG_"))}
    env.update(PYTHONPATH=str(site), HOME=str(home), TMPDIR=str(tmp))
    done = subprocess.run([*NAMESPACE, "sh", "-c", command, sys.executable, CHILD], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=600)
    return done, home, tmp


@needs_namespace
def test_evaluate_runs_from_a_read_only_install_with_a_read_only_home(tmp_path):
    """Before: ``RuntimeError: cannot cache function`` (no writable __pycache__, no writable ~/.cache)."""
    done, _, tmp = run_read_only(tmp_path, home_writable=False)
    assert done.returncode == 0, done.stderr[-3000:]
    cache = Path(done.stdout.strip().splitlines()[-1])
    assert cache.parent == tmp and any(cache.rglob("*.nbi")), cache


@needs_namespace
def test_evaluate_from_a_read_only_install_caches_under_the_home_cache(tmp_path):
    done, home, _ = run_read_only(tmp_path, home_writable=True)
    assert done.returncode == 0, done.stderr[-3000:]
    assert Path(done.stdout.strip().splitlines()[-1]) == home / ".cache" / "egress_sim" / "numba"
    assert any((home / ".cache" / "egress_sim" / "numba").rglob("*.nbi"))
