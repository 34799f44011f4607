"""report.html in a real browser (headless Chromium): every section is in the DOM after the page's script ran,
every plot decodes to a picture of non-zero size, no value from the data ran as script, sorting works, and a
screenshot is a real PNG. Skipped, saying why, only when no Chromium binary is found (``.ci/run`` installs
Debian's ``chromium`` package when it can).

Chromium runs three times, each with a fresh profile directory and no network need (the page fetches nothing):
``--dump-dom`` of the page as written (its Content-Security-Policy on: the script must run under it, allowed by
its hash), ``--dump-dom`` of a copy without the policy and with a test script appended that clicks a header
(escaping alone must keep the hostile values inert, and the sort must reorder rows), and ``--screenshot``.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from report_samples import sample_report

from egress_sim.report.document import write_reports
from egress_sim.report.page import CSP, SECTIONS

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")
TIMEOUT = 60  # seconds per run; each takes about one on this machine


def _browser() -> str | None:
    explicit = os.environ.get("EGRESS_SIM_CHROMIUM")
    if explicit:
        return explicit
    return next((found for name in BROWSERS if (found := shutil.which(name))), None)


BROWSER = _browser()
pytestmark = pytest.mark.skipif(BROWSER is None, reason="no Chromium binary found (install Debian's `chromium` "
                                "package, or set EGRESS_SIM_CHROMIUM): the real-browser tests are skipped")

# The test's own script, appended to a copy of the page: after load, click the "flows" header of the first
# top-risky table and write the first column, in the order shown, into an attribute that --dump-dom shows.
SORT_PROBE = """<script>
window.addEventListener("load", function () {
  var table = document.querySelector("#risky table");
  var heads = table.tHead.rows[0].cells, flows = -1;
  for (var i = 0; i < heads.length; i++) { if (heads[i].textContent === "flows") { flows = i; } }
  var order = function () {
    return Array.prototype.map.call(table.tBodies[0].rows, function (r) { return r.cells[flows].textContent; });
  };
  var before = order();
  heads[flows].click();
  var first = order();
  heads[flows].click();
  document.body.setAttribute("data-probe", JSON.stringify([before, first, order()]));
});
</script>"""


def _run(*args: str, profile: Path) -> subprocess.CompletedProcess:
    command = [BROWSER, "--headless", "--disable-gpu", "--no-sandbox", "--no-first-run", "--no-default-browser-check",
               "--disable-extensions", "--disable-background-networking", f"--user-data-dir={profile}", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT)


def _dump(page: Path, profile: Path) -> str:
    done = _run("--virtual-time-budget=5000", "--dump-dom", page.as_uri(), profile=profile)
    assert done.returncode == 0 and "</html>" in done.stdout, done.stderr[-2000:]
    return done.stdout


@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> dict:
    """The hostile sample report written to disk, and Chromium's view of it (DOM with and without the policy)."""
    root = tmp_path_factory.mktemp("browser")
    report = sample_report(hostile=True, decisions=True)
    risky = report["modes"][0]["top_risky"]
    report["modes"][0]["top_risky"] = [risky[1], risky[2], risky[0]]  # flows 701, 44, 1500: neither way sorted
    paths = write_reports(report, root / "report")
    page = paths["html"].read_text("utf-8")
    assert CSP in page
    unguarded = root / "unguarded.html"
    unguarded.write_text(page.replace(f'<meta http-equiv="Content-Security-Policy" content="{CSP}">\n', "")
                         .replace("</body>", SORT_PROBE + "\n</body>"), "utf-8")
    assert "Content-Security-Policy" not in unguarded.read_text("utf-8")
    return {"paths": paths, "root": root,
            "dom": _dump(paths["html"], root / "profile-1"),
            "unguarded": _dump(unguarded, root / "profile-2")}


def _attribute(dom: str, element: str, name: str) -> str | None:
    match = re.search(rf"<{element}\b[^>]*\s{name}=\"([^\"]*)\"", dom)
    return match.group(1) if match else None


def test_the_pages_own_script_runs_under_its_content_security_policy(rendered):
    assert _attribute(rendered["dom"], "html", "data-script") == "ran"


@pytest.mark.parametrize("view", ["dom", "unguarded"])
def test_every_section_is_in_the_rendered_dom_with_its_heading(rendered, view):
    dom = rendered[view]
    for sid, heading in SECTIONS.items():
        assert re.search(rf'<section id="{sid}">\s*<h2>{re.escape(heading)}</h2>', dom), sid


@pytest.mark.parametrize("view", ["dom", "unguarded"])
def test_every_plot_decoded_to_a_picture_of_non_zero_size(rendered, view):
    images = re.findall(r"<img\b[^>]*>", rendered[view])
    assert len(images) == 5
    for image in images:
        size = re.search(r'data-rendered="(\d+)x(\d+)"', image)
        assert size, f"the page's script did not measure {image[:80]}"
        assert int(size.group(1)) > 300 and int(size.group(2)) > 100


@pytest.mark.parametrize("view", ["dom", "unguarded"])
def test_no_value_from_the_data_ran_as_script(rendered, view):
    dom = rendered[view]
    title = html.unescape(re.search(r"<title>(.*?)</title>", dom, re.S).group(1))
    assert title == "egress_sim report: " + sample_report()["title"]  # unchanged, the payload in it as text
    assert not re.search(r"<body[^>]*\bid=\"pwned\"", dom)
    assert 'id="pwned"' not in dom
    assert "<img src=\"x\"" not in dom and "<img src=x" not in dom  # the injected image is text, not an element
    assert "&lt;script&gt;document.title='pwned'&lt;/script&gt;" in dom


def test_clicking_a_header_sorts_the_table_by_that_column(rendered):
    probe = _attribute(rendered["unguarded"], "body", "data-probe")
    assert probe, "the sort probe did not run"
    before, first, second = json.loads(html.unescape(probe))
    numbers = [[int(cell.replace(",", "")) for cell in order] for order in (before, first, second)]
    assert numbers[0] == [701, 44, 1500]
    assert numbers[1] == sorted(numbers[0], reverse=True)  # numbers sort largest first on the first click
    assert numbers[2] == sorted(numbers[0])


def test_a_screenshot_of_the_page_is_a_non_empty_png(rendered):
    shot = rendered["root"] / "report.png"
    done = _run("--hide-scrollbars", f"--screenshot={shot}", "--window-size=1280,4000",
                rendered["paths"]["html"].as_uri(), profile=rendered["root"] / "profile-3")
    assert done.returncode == 0, done.stderr[-2000:]
    data = shot.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 50_000
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert (width, height) == (1280, 4000)
    if os.environ.get("EGRESS_SIM_REPORT_SCREENSHOT"):
        shutil.copyfile(shot, os.environ["EGRESS_SIM_REPORT_SCREENSHOT"])
