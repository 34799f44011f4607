"""The report renderers: one report dict (schema egress-sim-report, version 1) becomes report.json, report.md and
report.html, written together; the Markdown fits a pull-request comment and renders (through GitHub's own
cmark-gfm) without any value becoming markup; the HTML page holds every section and plot, fetches nothing, and
shows every hostile value as text."""

from __future__ import annotations

import base64
import copy
import hashlib
import io
import json
import re
from html.parser import HTMLParser

import cmarkgfm
import matplotlib.image
import pytest
from cmarkgfm.cmark import Options
from report_samples import ANSI, HOSTILE, IMG_ONERROR, PIPE, SCRIPT_TAG, sample_report

from egress_sim.base.errors import OutputFileError
from egress_sim.base.outputs import Outputs
from egress_sim.report import document
from egress_sim.report.document import render_html, render_markdown, write_reports
from egress_sim.report.page import SCRIPT, SECTIONS

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
ANSI_SHOWN = ANSI.replace("\x1b", "\\x1b")  # how a report shows the escape character: written out


# ----------------------------------------------------------------------------------------------------- helpers
class Page(HTMLParser):
    """What a browser would build from the page: elements with their attributes, the text, the script bodies."""

    def __init__(self, text: str):
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.scripts: list[str] = []
        self.styles: list[str] = []
        self._in: str | None = None
        self.sections: dict[str, list[str]] = {}  # section id -> its text
        self._section: str | None = None
        self.feed(text)
        self.close()

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        self.elements.append((tag, attributes))
        if tag in ("script", "style"):
            self._in = tag
            (self.scripts if tag == "script" else self.styles).append("")
        if tag == "section":
            self._section = attributes.get("id")
            self.sections[self._section] = []

    def handle_endtag(self, tag):
        if tag in ("script", "style"):
            self._in = None
        if tag == "section":
            self._section = None

    def handle_data(self, data):
        if self._in == "script":
            self.scripts[-1] += data
        elif self._in == "style":
            self.styles[-1] += data
        else:
            self.text.append(data)
            if self._section:
                self.sections[self._section].append(data)

    def tags(self) -> set[str]:
        return {tag for tag, _ in self.elements}

    def all_text(self) -> str:
        return "".join(self.text)


def github_html(markdown: str) -> str:
    """The comment as GitHub's Markdown engine (cmark-gfm with its extensions) renders it, raw HTML let through:
    if escaping failed, a value would come out as markup here."""
    return cmarkgfm.github_flavored_markdown_to_html(markdown, options=Options.CMARK_OPT_UNSAFE)


def plots(page: Page) -> list[bytes]:
    found = []
    for tag, attrs in page.elements:
        if tag == "img":
            prefix = "data:image/png;base64,"
            assert attrs["src"].startswith(prefix), attrs["src"][:40]
            found.append(base64.b64decode(attrs["src"][len(prefix):], validate=True))
    return found


@pytest.fixture(scope="module")
def report() -> dict:
    return sample_report(hostile=True, decisions=True)


@pytest.fixture(scope="module")
def page_text(report) -> str:
    return render_html(report)


@pytest.fixture(scope="module")
def page(page_text) -> Page:
    return Page(page_text)


# ------------------------------------------------------------------------------------------------------- files
def test_the_three_files_are_written_into_the_directory_which_is_created(tmp_path, report):
    paths = write_reports(report, tmp_path / "report")
    assert paths == {"json": tmp_path / "report/report.json", "markdown": tmp_path / "report/report.md",
                     "html": tmp_path / "report/report.html"}
    assert sorted(p.name for p in (tmp_path / "report").iterdir()) == ["report.html", "report.json", "report.md"]
    assert all(p.stat().st_size > 0 for p in paths.values())


def test_a_report_directory_in_a_directory_that_does_not_exist_is_refused(tmp_path, report):
    """A typo in a path is an error, not a new tree of directories (the rule every output follows)."""
    from egress_sim.base.errors import OutputFileError
    with pytest.raises(OutputFileError, match="does not exist"):
        write_reports(report, tmp_path / "nope" / "report")
    assert not (tmp_path / "nope").exists()


def test_report_json_is_the_dict_itself_with_its_schema_and_version(tmp_path, report):
    paths = write_reports(report, tmp_path)
    loaded = json.loads(paths["json"].read_text("utf-8"))
    assert loaded == report
    assert (loaded["schema"], loaded["version"]) == ("egress-sim-report", 1)
    assert SCRIPT_TAG in paths["json"].read_text("utf-8")  # data, kept as it is (ensure_ascii=False)


def test_a_dict_of_another_schema_or_version_is_refused_and_nothing_is_written(tmp_path, report):
    for change in ({"version": 2}, {"schema": "egress-sim-demo"}):
        with pytest.raises(ValueError, match="egress-sim-report version 1"):
            write_reports({**report, **change}, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_a_failure_while_writing_leaves_the_earlier_report_exactly_as_it_was(tmp_path, report, monkeypatch):
    write_reports(sample_report(hostile=False, decisions=False), tmp_path)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    real_write = Outputs.write_text

    def fail_on_html(self, path, text):
        if str(path).endswith(".html"):
            raise OutputFileError(f"{path}: cannot write: disk full")
        real_write(self, path, text)

    monkeypatch.setattr(Outputs, "write_text", fail_on_html)
    with pytest.raises(OutputFileError, match="disk full"):
        write_reports(report, tmp_path)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before  # no temporaries left either


def test_with_the_callers_outputs_the_files_appear_only_when_its_block_succeeds(tmp_path, report):
    with Outputs() as outputs:
        paths = write_reports(report, tmp_path, outputs=outputs)
        assert not any(p.exists() for p in paths.values())
    assert all(p.exists() for p in paths.values())


def test_a_report_file_that_is_one_of_the_inputs_is_refused(tmp_path, report):
    source = tmp_path / "report.json"
    source.write_text("{}")
    with pytest.raises(OutputFileError, match="same file as the input"):
        write_reports(report, tmp_path, inputs=(source,))
    assert source.read_text() == "{}"


# ---------------------------------------------------------------------------------------------------- Markdown
def test_markdown_opens_with_each_modes_exfiltration_and_bytes_at_risk(report):
    text = render_markdown(report)
    assert "- `allow_internet_outbound`: **18.6 GB at risk**; exfiltration allowed for 204 of 340 labelled flows " \
           "(60.0%), 168 of those flagged by a risk signal." in text
    assert text.index("`disabled`: **31.0 GB at risk**") < text.index("| isolation mode |")


def test_markdown_says_so_when_no_flow_is_labelled(report):
    unlabelled = copy.deepcopy(report)
    for mode in unlabelled["modes"]:
        mode["exfiltration"] = None
    text = render_markdown(unlabelled)
    assert "- `disabled`: **31.0 GB at risk**; no flow is labelled as exfiltration." in text


def test_markdown_fits_a_pull_request_comment_even_for_a_large_report(report):
    large = copy.deepcopy(report)
    for mode in large["modes"]:
        mode["top_risky"] = mode["top_risky"] * 7
    large["rules"] = [dict(rule, name=f"rule-{i}") for i, rule in enumerate(large["rules"] * 12)]
    large["notes"] = [f"note {i}" for i in range(8)]
    text = render_markdown(large)
    assert len(text.splitlines()) < 60
    assert "… and 14 more in report.html." in text and "… and 5 more notes in report.html." in text


def test_markdown_lists_five_risky_destinations_of_the_configured_mode_and_only_critical_or_high_rules(report):
    many = copy.deepcopy(report)
    many["modes"][1]["top_risky"] = [dict(many["modes"][1]["top_risky"][1], destination=f"h{i}.example")
                                     for i in range(9)]
    rendered = github_html(render_markdown(many))
    risky = rendered.split("<h3>Top risky destinations (<code>allow_internet_outbound</code>)</h3>")[1]
    risky = risky.split("</table>")[0]
    assert re.findall(r"<code>(h\d)\.example</code>", risky) == ["h0", "h1", "h2", "h3", "h4"]
    rules = rendered.split("<h3>Rules rated critical or high</h3>")[1].split("</table>")[0]
    assert "storage-any" in rules and "critical" in rules and "high" in rules
    assert "kv-endpoint" not in rules and "medium" not in rules and "pypi" not in rules


def test_markdown_shows_whatif_and_suggestions_only_when_the_report_has_them(report):
    with_them = render_markdown(report)
    assert "**What-if** `contoso-research.yaml` → `newa|b.yaml`: 640 flows change verdict" in with_them
    assert "**Suggested fixes:** 2" in with_them
    without = render_markdown(sample_report(decisions=False))
    assert "What-if" not in without and "Suggested fixes" not in without


def test_no_hostile_value_becomes_markup_in_the_rendered_comment(report):
    rendered = github_html(render_markdown(report))
    parsed = Page(rendered)
    assert parsed.tags() <= {"h2", "h3", "p", "ul", "li", "strong", "code", "table", "thead", "tbody", "tr", "th",
                             "td", "sub", "em"}, parsed.tags()
    text = parsed.all_text()
    for hostile in (SCRIPT_TAG, IMG_ONERROR, f"new{PIPE}.yaml", f"t{PIPE}.dns.example"):
        assert hostile in text
    assert "\x1b" not in rendered and f"contoso-research{ANSI_SHOWN}" in text


def test_a_pipe_in_a_value_never_splits_a_table_row(report):
    text = render_markdown(report)
    tables = [line for line in text.splitlines() if line.startswith("|")]
    assert any(PIPE.replace("|", "\\|") in line for line in tables)
    for block in text.split("\n\n"):
        rows = [line for line in block.splitlines() if line.startswith("|")]
        if rows:  # every row has its header's number of unescaped pipes (cmark-gfm pads or drops cells silently)
            assert {len(re.findall(r"(?<!\\)\|", row)) for row in rows} == {len(re.findall(r"\|", rows[0]))}
    cells = re.findall(r"<td[^>]*>(.*?)</td>", github_html(text))
    assert f"<code>t{PIPE}.dns.example</code>" in cells and "" not in cells


def test_markdown_escapes_prose_and_breaks_mentions(report):
    noisy = copy.deepcopy(report)
    noisy["cannot_see"] = ["@octocat [click](javascript:alert(1)) **bold** ![x](x.png) # not a heading",
                           "1. not a list"]
    text = render_markdown(noisy)
    rendered = github_html(text)
    assert "<a " not in rendered and "<img" not in rendered and "<strong>bold" not in rendered
    assert "<ol" not in rendered
    assert "@\u2060octocat" in text  # GitHub links @name even when escaped; a word joiner stops it


# -------------------------------------------------------------------------------------------------------- HTML
def test_every_section_is_present_with_its_heading_in_page_order(page, report):
    ids = [attrs["id"] for tag, attrs in page.elements if tag == "section"]
    assert ids == list(SECTIONS)
    assert page.tags() >= {"h1", "h2", "table", "figure", "img", "nav"}
    assert "Verdicts by isolation mode and compute type" in "".join(page.sections["verdicts"])


def test_whatif_and_suggestions_sections_appear_only_when_the_report_has_them(report):
    plain = Page(render_html({**sample_report(hostile=False, decisions=False), "notes": []}))
    ids = [attrs["id"] for tag, attrs in plain.elements if tag == "section"]
    assert ids == [sid for sid in SECTIONS if sid not in ("whatif", "suggestions", "notes")]


def test_every_plot_is_an_inline_png_that_decodes_to_a_picture(page):
    pictures = plots(page)
    assert len(pictures) == 5  # verdicts, top denied for the two modes that deny, bytes at risk, heat map
    for png in pictures:
        assert png.startswith(PNG_SIGNATURE)
        pixels = matplotlib.image.imread(io.BytesIO(png))
        assert pixels.shape[0] > 100 and pixels.shape[1] > 300
        assert pixels.std() > 0.05  # not a blank canvas


def test_each_plot_sits_in_the_section_it_belongs_to(page_text):
    for sid, expected in (("verdicts", 1), ("denied", 2), ("bytes-at-risk", 1), ("heatmap", 1), ("risky", 0)):
        section = page_text.split(f'<section id="{sid}">')[1].split("</section>")[0]
        assert section.count('<img class="plot"') == expected, sid


def test_the_page_references_nothing_outside_itself(page):
    for tag, attrs in page.elements:
        for name, value in attrs.items():
            if name in ("src", "href", "action", "formaction", "poster", "srcset", "data", "background",
                        "xlink:href", "ping", "manifest"):
                assert value is not None and (value.startswith("#") or value.startswith("data:")), (tag, name, value)
    css = "".join(page.styles)
    assert "url(" not in css and "@import" not in css


def test_a_content_security_policy_allows_only_the_pages_own_script_and_data_images(page):
    policy = next(attrs["content"] for tag, attrs in page.elements
                  if tag == "meta" and attrs.get("http-equiv") == "Content-Security-Policy")
    assert policy.startswith("default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'sha256-")
    digest = re.search(r"'sha256-([^']+)'", policy).group(1)
    assert base64.b64decode(digest) == hashlib.sha256(page.scripts[0].encode()).digest()


def test_hostile_values_are_text_never_markup(page, page_text):
    assert page.scripts == [SCRIPT]  # the page's own script, nothing else
    assert not [(tag, name) for tag, attrs in page.elements for name in attrs if name.startswith("on")]
    imgs = [attrs for tag, attrs in page.elements if tag == "img"]
    assert all(attrs.get("class") == "plot" for attrs in imgs)
    text = page.all_text()
    for hostile in (SCRIPT_TAG, IMG_ONERROR, f"files.{PIPE}.example", f"new{PIPE}.yaml"):
        assert hostile in text
    assert "\x1b" not in page_text and ANSI_SHOWN in text
    title = page_text.split("<title>")[1].split("</title>")[0]
    assert title == "egress_sim report: contoso-research: demo, 20,000 simulated flows &quot;&gt;&lt;img src=x " \
                    "onerror=&quot;document.body.id=&#x27;pwned&#x27;&quot;&gt;"


def test_bidi_overrides_and_other_invisible_characters_are_written_out():
    report = sample_report(hostile=False, decisions=False)
    report["modes"][0]["top_risky"][0]["destination"] = "evil\u202egpj.exe\u200b.example"
    text = Page(render_html(report)).all_text()
    assert "evil\\u202egpj.exe\\u200b.example" in text
    markdown = render_markdown({**report, "workspace": {**report["workspace"], "isolation_mode": "disabled"}})
    assert "evil\\u202egpj.exe\\u200b.example" in markdown


def test_tables_carry_sort_keys_so_numbers_sort_as_numbers(page_text):
    rules = page_text.split('<section id="rules">')[1].split("</section>")[0]
    assert '<td class="num" data-sort="5120">5,120</td>' in rules
    assert '<td class="num" data-sort="-1">-</td>' in rules  # hits not known


def test_a_mode_without_allowed_flows_or_denials_still_renders(report):
    empty = copy.deepcopy(report)
    mode = empty["modes"][2]
    mode.update(top_denied=[], top_risky=[], by_compute=[], by_channel=[],
                heatmap={"computes": [], "channels": [], "flows": []})
    page = Page(render_html(empty))
    assert "no flow goes to a risky destination." in page.all_text().lower()
    assert len(plots(page)) == 4


@pytest.mark.parametrize("hostile", HOSTILE)
def test_a_hostile_plot_label_draws_without_error(hostile, report):
    from egress_sim.report import plots as drawing
    mode = copy.deepcopy(report["modes"][1])
    mode["top_denied"][0]["destination"] = hostile + "$\\frac{1}{$"  # unbalanced TeX: mathtext must be off
    mode["heatmap"]["computes"][0] = hostile
    assert drawing.top_denied(mode).startswith(PNG_SIGNATURE)
    assert drawing.heatmap([mode]).startswith(PNG_SIGNATURE)


def test_rendering_is_a_pure_function_of_the_dict(report):
    before = copy.deepcopy(report)
    assert render_markdown(report) == render_markdown(report)
    render_html(report)
    assert report == before
    assert document.render_json(report) == json.dumps(report, indent=2, ensure_ascii=False) + "\n"


def test_loading_the_report_module_does_not_load_matplotlib():
    import subprocess
    import sys
    script = "import sys, egress_sim.report.document; print('matplotlib' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "False", done.stderr
