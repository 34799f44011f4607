"""Shared fixtures: the bundled service tags, workspace files written on the fly, and a CLI runner."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from egress_sim.cli import main
from egress_sim.net.servicetags import ServiceTagSet, load_service_tags

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="session")
def tags() -> ServiceTagSet:
    return load_service_tags()


@pytest.fixture
def write_yaml(tmp_path: Path):
    """Write YAML text (dedented) or a dict to a file and return its path."""

    def write(content: str | dict, name: str = "workspace.yaml") -> Path:
        path = tmp_path / name
        text = yaml.safe_dump(content, sort_keys=False) if isinstance(content, dict) else textwrap.dedent(content)
        path.write_text(text)
        return path

    return write


@pytest.fixture
def cli():
    """Run ``egress-sim ARGS`` in-process; returns the click Result (exit_code, stdout, stderr)."""
    runner = CliRunner()

    def run(*args: object):
        return runner.invoke(main, [str(a) for a in args], catch_exceptions=False)

    return run


def one_error_line(result, *fragments: str) -> str:
    """Exit 2, exactly one line on stderr holding every fragment, no traceback anywhere."""
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]
