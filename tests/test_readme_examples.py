"""The README's examples are real: every ```text block that starts with `$ egress-sim` is run and its output
compared byte for byte.

Each block runs in a fresh directory that holds links to the checkout's `data/` and `tests/`, plus the small
files the README's prose describes (`FILES` below), with the installed `egress-sim` on PATH. stderr and stdout
are read as one stream, as a terminal shows them.

To refresh the README after a deliberate change of output: `python tests/test_readme_examples.py --update`.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
BLOCK = re.compile(r"```text\n(\$ egress-sim .*?)```\n", re.S)

# Files an example reads that the README describes in prose rather than ships.
FILES = {
    "ws.yml": (ROOT / "tests/data/workspaces/azure/ws-allow-only-approved-outbound.yml").read_text(),
    "typo.yaml": "name: ws\nmanaged_network:\n  isolaton_mode: allow_only_approved_outbound\n",
    "bad.yaml": (
        "name: ws\nlocation: eastus\nmanaged_network:\n  isolation_mode: allow_only_approved_outbound\n"
        "  outbound_rules:\n"
        "  - name: pytorch\n    type: service_tag\n    destination:\n      service_tag: DataFactory\n"
        "      protocol: TCP\n      port_ranges: 8080-80\n"
        "  - name: web\n    type: fqdn\n    destination: www.contoso.*\n"
    ),
    # `plan`: the vision team's workspace switched to approved-only with a first FQDN rule, and the research
    # team's switched back to internet outbound
    "approved.yaml": (ROOT / "data/workspaces/fabrikam-vision.yaml").read_text().replace(
        "isolation_mode: allow_internet_outbound", "isolation_mode: allow_only_approved_outbound")
    + "  - name: pypi\n    type: fqdn\n    destination: pypi.org, *.pythonhosted.org\n",
    "internet.yaml": (ROOT / "data/workspaces/contoso-research.yaml").read_text().replace(
        "isolation_mode: allow_only_approved_outbound", "isolation_mode: allow_internet_outbound"),
    # `tags diff`: the bundled service-tag file with a week's edits (made only for the blocks that name it)
    "ServiceTags_Public_next.json": lambda: _next_week_tags(),
}


def _next_week_tags() -> str:
    import json

    from test_tagdiff import BUNDLED, next_week

    with BUNDLED.open(encoding="utf-8-sig") as handle:
        return json.dumps(next_week(json.load(handle)), indent=2)


def examples() -> list[str]:
    return BLOCK.findall(README.read_text(encoding="utf-8"))


def run_block(block: str, workdir: Path) -> str:
    """Run every `$ ` line of a block in ``workdir``; the commands with their output, as the block shows them."""
    workdir.mkdir(parents=True, exist_ok=True)
    for name in ("data", "tests"):
        if not (workdir / name).exists():
            (workdir / name).symlink_to(ROOT / name)
    for name, text in FILES.items():
        if name in block:  # only the files this block reads (some are large)
            (workdir / name).write_text(text() if callable(text) else text)
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "200",
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    env.pop("EGRESS_SIM_DEBUG", None)
    out = []
    for line in block.splitlines():
        if not line.startswith("$ "):
            continue
        done = subprocess.run(["bash", "-c", line[2:]], cwd=workdir, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, timeout=600)
        out.append(line + "\n" + done.stdout)
    return "".join(out)


@pytest.mark.skipif(shutil.which("bash") is None, reason="the examples are shell lines")
@pytest.mark.parametrize("block", examples(), ids=[b.splitlines()[0][2:60] for b in examples()])
def test_a_readme_example_prints_exactly_what_the_readme_shows(block, tmp_path):
    assert run_block(block, tmp_path) == block


def update() -> None:
    """Rewrite each example block with what it prints now."""
    import tempfile

    text = README.read_text(encoding="utf-8")
    for block in examples():
        with tempfile.TemporaryDirectory() as tmp:
            text = text.replace(block, run_block(block, Path(tmp)), 1)
    README.write_text(text, encoding="utf-8")


if __name__ == "__main__" and "--update" in sys.argv:
    update()
