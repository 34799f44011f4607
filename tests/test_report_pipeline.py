"""The reports as the commands write them: ``demo`` always, ``evaluate`` and ``replay`` with ``--report DIR``,
``egress-sim report`` over their outputs; and host names crafted in real log formats (a Zeek ssl.log, an Azure
Firewall log), shown as text in the page a browser renders."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CONTOSO = ROOT / "data" / "workspaces" / "contoso-research.yaml"
NSG_LOGS = ROOT / "data" / "logs" / "nsg-contoso"
FLEET = ROOT / "data" / "logs" / "contoso-fleet.yaml"
FILES = ("report.json", "report.md", "report.html")
HOSTILE = ['<script>document.title="pwned"</script>', '"><img src=x onerror="document.body.id=\'pwned\'">',
           "<b id=pwned>bold</b>"]


def _report(folder: Path) -> dict:
    assert all((folder / name).is_file() for name in FILES), sorted(p.name for p in folder.iterdir())
    data = json.loads((folder / "report.json").read_text())
    assert data["schema"] == "egress-sim-report" and data["version"] == 1
    return data


def test_demo_writes_all_three_reports_and_approved_only_shows_exfiltration_through_open_channels(cli, tmp_path):
    out = tmp_path / "demo"
    result = cli("demo", "--flows", "20000", "--out", out)
    assert result.exit_code == 0, result.output
    data = _report(out)
    modes = {m["mode"]: m for m in data["modes"]}
    assert set(modes) == {"disabled", "allow_internet_outbound", "allow_only_approved_outbound"}
    approved = modes["allow_only_approved_outbound"]["exfiltration"]
    assert approved["allowed"] > 0  # contoso's github and huggingface rules are any-tenant channels
    assert 0 < approved["allowed_flagged"] <= approved["allowed"]
    page = (out / "report.html").read_text()
    assert "exfiltration allowed for" in page and "flagged" in page
    assert not re.search(r'(src|href)="(?!data:|#)', page)  # fetches nothing


def test_replay_with_report_writes_all_three_on_the_bundled_nsg_sample(cli, tmp_path):
    result = cli("replay", CONTOSO, NSG_LOGS, "--inventory", FLEET, "-o", tmp_path / "verdicts.parquet",
                 "--report", tmp_path / "reports")
    assert result.exit_code == 0, result.output
    data = _report(tmp_path / "reports")
    assert data["modes"][0]["flows"] > 0 and data["modes"][0]["mode"] == "allow_only_approved_outbound"


def test_evaluate_with_report_and_the_report_command_agree(cli, tmp_path):
    flows = tmp_path / "flows.parquet"
    assert cli("simulate", CONTOSO, "--flows", "5000", "-o", flows).exit_code == 0
    assert cli("evaluate", CONTOSO, flows, "-o", tmp_path / "v.parquet", "--report", tmp_path / "a").exit_code == 0
    result = cli("report", tmp_path / "v.parquet", "--workspace", CONTOSO, "-o", tmp_path / "b")
    assert result.exit_code == 0, result.output
    a, b = _report(tmp_path / "a"), _report(tmp_path / "b")
    assert a["modes"] == b["modes"] and a["rules"] == b["rules"]


def test_the_report_command_reads_a_demo_directory_and_a_whatif_file(cli, tmp_path):
    assert cli("demo", "--flows", "5000", "--out", tmp_path / "demo").exit_code == 0
    flows = tmp_path / "demo" / "flows.parquet"
    cli("whatif", CONTOSO, flows, "--to-mode", "allow_internet_outbound", "-o", tmp_path / "changed.parquet")
    result = cli("report", tmp_path / "demo", tmp_path / "changed.parquet", "--workspace", CONTOSO,
                 "-o", tmp_path / "r", "--json")
    assert result.exit_code == 0, result.output
    data = _report(tmp_path / "r")
    assert len(data["modes"]) == 3 and data["whatif"]["changed"] > 0


def test_a_file_that_is_no_result_is_one_error_line(cli, tmp_path):
    bad = tmp_path / "flows.csv"
    bad.write_text("a,b\n1,2\n")
    result = cli("report", bad, "--workspace", CONTOSO, "-o", tmp_path / "r")
    assert result.exit_code == 2 and "not a verdict file" in result.stderr


# --- crafted host names from real log formats, in a real browser --------------------------------------------------

def _zeek_logs(folder: Path) -> Path:
    folder.mkdir()
    head = "#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n"
    conn = head + ("#path\tconn\n#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tservice\t"
                   "orig_bytes\tresp_bytes\n#types\ttime\tstring\taddr\tport\taddr\tport\tenum\tstring\tcount\tcount\n")
    ssl = head + ("#path\tssl\n#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tserver_name\n"
                  "#types\ttime\tstring\taddr\tport\taddr\tport\tstring\n")
    for k, name in enumerate(HOSTILE):
        uid = f"Cevil{k}"
        conn += f"17000000{k}0.1\t{uid}\t10.0.8.4\t5000{k}\t203.0.113.{k + 1}\t443\ttcp\tssl\t900\t100\n"
        ssl += f"17000000{k}0.2\t{uid}\t10.0.8.4\t5000{k}\t203.0.113.{k + 1}\t443\t{name}\n"
    (folder / "conn.log").write_text(conn)
    (folder / "ssl.log").write_text(ssl)
    return folder


def _firewall_log(path: Path) -> Path:
    lines = []
    for k, name in enumerate(HOSTILE):
        record = {"category": "AZFWApplicationRule", "time": f"2024-03-02T08:00:0{k}Z", "properties": {
            "Protocol": "HTTPS", "SourceIp": "10.0.8.4", "SourcePort": 50100 + k, "Fqdn": name,
            "DestinationPort": 443, "Action": "Deny"}}
        lines.append(json.dumps(record))
    path.write_text("\n".join(lines) + "\n")
    return path


BROWSER = os.environ.get("EGRESS_SIM_CHROMIUM") or next(
    (found for name in ("chromium", "chromium-browser", "google-chrome") if (found := shutil.which(name))), None)


@pytest.mark.skipif(BROWSER is None, reason="no Chromium binary found (install Debian's `chromium` package, or set "
                    "EGRESS_SIM_CHROMIUM): the real-browser injection test is skipped")
@pytest.mark.parametrize("kind", ["zeek", "azfw"])
def test_crafted_host_names_in_logs_render_as_text_in_the_browser(cli, tmp_path, kind):
    logs = _zeek_logs(tmp_path / "zeek") if kind == "zeek" else _firewall_log(tmp_path / "fw.json")
    reports = tmp_path / "reports"
    result = cli("replay", CONTOSO, logs, "--compute", "compute_instance", "-o", tmp_path / "v.csv",
                 "--report", reports)
    assert result.exit_code == 0, result.output
    page = reports / "report.html"
    text = page.read_text()
    assert all(name not in text for name in HOSTILE)  # never written raw
    # the policy off: escaping alone must keep them inert
    bare = tmp_path / "bare.html"
    bare.write_text(re.sub(r'<meta http-equiv="Content-Security-Policy"[^>]*>', "", text))
    done = subprocess.run([BROWSER, "--headless", "--disable-gpu", "--no-sandbox", "--no-first-run",
                           f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=3000", "--dump-dom",
                           bare.as_uri()], capture_output=True, text=True, timeout=60)
    dom = done.stdout
    assert done.returncode == 0 and "</html>" in dom, done.stderr[-1000:]
    assert 'id="pwned"' not in dom and "<title>pwned" not in dom and "<b id=" not in dom
    assert "&lt;script&gt;" in dom or "&lt;b id=pwned&gt;" in dom  # shown, as text


def test_whatif_with_report_writes_the_change(cli, tmp_path):
    flows = tmp_path / "flows.parquet"
    assert cli("simulate", CONTOSO, "--flows", "3000", "-o", flows).exit_code == 0
    result = cli("whatif", CONTOSO, flows, "--to-mode", "allow_internet_outbound", "--report", tmp_path / "r",
                 "--fail-on", "newly-denied")
    assert result.exit_code == 0, result.output
    data = _report(tmp_path / "r")
    assert data["whatif"]["changed"] > 0 and data["whatif"]["newly_allowed"] == data["whatif"]["changed"]
    assert data["rules"]  # the workspace's rules, scored


def test_suggest_with_report_lists_the_fixes(cli, tmp_path):
    flows = tmp_path / "flows.parquet"
    fabrikam = ROOT / "data" / "workspaces" / "fabrikam-vision.yaml"
    assert cli("simulate", fabrikam, "--flows", "3000", "-o", flows).exit_code == 0
    result = cli("suggest", fabrikam, flows, "--report", tmp_path / "r", "--json")
    assert result.exit_code == 0, result.output
    data = _report(tmp_path / "r")
    assert {s["name"] for s in data["suggestions"]} == {r["name"] for r in json.loads(result.stdout)["rules"]}
    assert "spark_enabled" in (tmp_path / "r" / "report.html").read_text()


def test_a_verdicts_only_file_cannot_be_reported_and_says_why(cli, tmp_path):
    flows = tmp_path / "flows.parquet"
    assert cli("simulate", CONTOSO, "--flows", "500", "-o", flows).exit_code == 0
    assert cli("evaluate", CONTOSO, flows, "-o", tmp_path / "v.parquet", "--verdicts-only").exit_code == 0
    result = cli("report", tmp_path / "v.parquet", "--workspace", CONTOSO, "-o", tmp_path / "r")
    assert result.exit_code == 2 and "--verdicts-only" in result.stderr
    both = cli("evaluate", CONTOSO, flows, "-o", tmp_path / "w.parquet", "--verdicts-only", "--report", tmp_path / "r")
    assert both.exit_code == 2 and not (tmp_path / "w.parquet").exists()


def test_a_mistyped_result_path_is_named(cli, tmp_path):
    result = cli("report", tmp_path / "evv.csv", "--workspace", CONTOSO, "-o", tmp_path / "r")
    assert result.exit_code == 2 and "evv.csv: no such result file" in result.stderr
