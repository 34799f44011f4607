"""The command line's fixed start-up: listing the commands or printing the version loads none of the heavy
libraries (each command imports what it uses when it runs), and the service-tag file's full check runs once
per distinct file. How long start-up takes is measured by ``benchmarks/startup.py``, not here."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from egress_sim.base.errors import ServiceTagError
from egress_sim.net import servicetags
from egress_sim.net.servicetags import bundled_service_tags_path, load_service_tags, service_tags_from_document

HEAVY = ("pandas", "pyarrow", "numpy", "numba", "yaml", "matplotlib")
REPO = Path(__file__).resolve().parent.parent
WS = str(REPO / "data" / "workspaces" / "contoso-research.yaml")


def _loaded_after(args: list[str]) -> tuple[int, list[str], str]:
    """(exit code, heavy modules loaded, stdout) of ``main(args)`` in a fresh interpreter."""
    script = ("import json, sys\n"
              "from egress_sim.cli import main\n"
              "try:\n    main(sys.argv[1:])\nexcept SystemExit as e:\n    code = e.code\n"
              f"print(json.dumps([code, [m for m in {HEAVY!r} if m in sys.modules]]))\n")
    done = subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True, timeout=120)
    code, loaded = json.loads(done.stdout.strip().splitlines()[-1])
    return code, loaded, done.stdout


@pytest.mark.parametrize("args", [["--help"], ["--version"], [], ["no-such-command"]])
def test_listing_the_commands_loads_no_heavy_library(args):
    code, loaded, out = _loaded_after(args)
    assert loaded == [], f"egress-sim {' '.join(args)} imported {loaded}"
    assert code in (0, 2)


def test_a_command_still_loads_what_it_needs_and_shows_its_options():
    code, loaded, out = _loaded_after(["replay", "--help"])
    assert code == 0 and "--format" in out and "nsg" in out and "default: 250000" in out
    code, loaded, out = _loaded_after(["validate", WS])
    assert code == 0 and "valid" in out and "pandas" not in loaded and "numba" not in loaded


# ------------------------------------------------------------------------------------ service-tag pass marks
@pytest.fixture()
def cache_dir(tmp_path, monkeypatch):
    """Marks go under NUMBA_CACHE_DIR when it is set (as ``numbacache.configure`` does for read-only installs)."""
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def _marks(cache: Path) -> list[Path]:
    return sorted(cache.rglob("*.passed"))


def test_a_file_that_passed_is_only_indexed_the_next_time_and_gives_the_same_tags(cache_dir, monkeypatch):
    first = load_service_tags(None)
    assert len(_marks(cache_dir)) == 1
    document = json.loads(bundled_service_tags_path().read_text("utf-8-sig"))
    assert first == service_tags_from_document(document, first.source)

    def no_check(*_a, **_k):
        raise AssertionError("the full check ran again")

    monkeypatch.setattr(servicetags, "service_tags_from_document", no_check)
    assert load_service_tags(None) == first


def test_a_file_that_fails_leaves_no_mark_and_changed_bytes_are_checked_again(cache_dir, tmp_path):
    good = tmp_path / "tags.json"
    good.write_bytes(bundled_service_tags_path().read_bytes())
    load_service_tags(good)
    assert len(_marks(cache_dir)) == 1
    text = good.read_text("utf-8-sig")
    good.write_text(text.replace('"addressPrefixes": [\n', '"addressPrefixes": [\n"10.0.0.1/8",\n', 1), "utf-8")
    with pytest.raises(ServiceTagError, match="host bits"):
        load_service_tags(good)
    with pytest.raises(ServiceTagError, match="host bits"):  # and again: a failure is never remembered
        load_service_tags(good)
    assert len(_marks(cache_dir)) == 1


def test_a_cache_that_cannot_be_written_only_costs_the_check(tmp_path, monkeypatch):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(blocker))
    assert load_service_tags(None) == load_service_tags(None)
