"""`egress-sim tags diff OLD NEW`: what changed between two weekly service-tag files.

The diff is the plain set difference of (tag, prefix) pairs: prefixes as written, keyed by tag name. The
comparison partner in the first tests is exactly that, computed with `json.load` and `set` from the two files.
"""

from __future__ import annotations

import copy
import json
import time
from pathlib import Path

import pytest

from conftest import one_error_line
from egress_sim.analysis.tagdiff import diff_service_tags, workspace_tag_names
from egress_sim.base.errors import ServiceTagError
from egress_sim.model import read_workspace
from egress_sim.net.servicetags import bundled_service_tags_path, load_service_tags

BUNDLED = bundled_service_tags_path()
REPO = Path(__file__).resolve().parent.parent
CONTOSO = REPO / "data" / "workspaces" / "contoso-research.yaml"  # eastus, approved-only, rule on DataFactory
FABRIKAM = REPO / "data" / "workspaces" / "fabrikam-vision.yaml"  # allow_internet_outbound
CONTOSO_TAGS = ["AzureActiveDirectory", "AzureFrontDoor.FirstParty", "AzureMachineLearning", "AzureMonitor",
                "AzureResourceManager", "BatchNodeManagement.EastUS", "DataFactory", "MicrosoftContainerRegistry"]


@pytest.fixture(scope="module")
def bundled_doc() -> dict:
    with BUNDLED.open(encoding="utf-8-sig") as handle:
        return json.load(handle)


def props(doc: dict, name: str) -> dict:
    return next(v["properties"] for v in doc["values"] if v["name"] == name)


def next_week(doc: dict) -> dict:
    """The bundled file with a week's worth of edits: prefixes removed from some tags and added to others
    (IPv4 and IPv6, from the documentation ranges), a tag added, a tag removed, change numbers raised."""
    doc = copy.deepcopy(doc)
    doc["changeNumber"] += 1
    edits = {  # tag: (prefixes removed by position, prefixes added)
        "DataFactory": ([0, 1, 2, 3, 4], ["192.0.2.0/25", "192.0.2.128/26", "2001:db8:1::/48"]),
        "AzureMachineLearning": ([-1, -2], ["198.51.100.16/28"]),
        "BatchNodeManagement.EastUS": ([0], ["203.0.113.0/27", "2001:db8:2::/64"]),
        "AzureCloud.eastus": (list(range(10)), []),
        "Storage.WestEurope": ([], ["2001:db8:3::/56", "2001:db8:4::/56"]),
    }
    for name, (drop, extra) in edits.items():
        p = props(doc, name)
        prefixes = p["addressPrefixes"]
        gone = {prefixes[i] for i in drop}
        p["addressPrefixes"] = [x for x in prefixes if x not in gone] + extra
        p["changeNumber"] += 1
    doc["values"] = [v for v in doc["values"] if v["name"] != "ActionGroup"]
    doc["values"].append({"name": "ContosoInference", "id": "ContosoInference", "properties": {
        "changeNumber": 1, "region": "", "regionId": 0, "platform": "Azure", "systemService": "ContosoInference",
        "addressPrefixes": ["198.51.100.128/25", "203.0.113.64/26", "2001:db8:5::/48"], "networkFeatures": []}})
    return doc


def write(tmp_path: Path, doc: dict, name: str = "ServiceTags_Public_next.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(doc, indent=2))
    return path


def pairs(doc: dict) -> set[tuple[str, str]]:
    return {(v["name"], p) for v in doc["values"] for p in v["properties"]["addressPrefixes"]}


def names(doc: dict) -> set[str]:
    return {v["name"] for v in doc["values"]}


def json_pairs(out: dict, which: str) -> set[tuple[str, str]]:
    """The (tag, prefix) pairs a `--json` diff says were added or removed, tags added/removed whole included."""
    whole = out["tags_added" if which == "added" else "tags_removed"]
    return ({(c["tag"], p) for c in out["changed"] for fam in ("ipv4", "ipv6") for p in c[fam][which]}
            | {(t["tag"], p) for t in whole for fam in ("ipv4", "ipv6") for p in t[fam]})


# The must-show: the diff equals a plain set difference of the two JSON documents.

def test_the_diff_is_the_set_difference_of_the_two_json_documents(tmp_path, tags, bundled_doc):
    new_path = write(tmp_path, next_week(bundled_doc))
    with new_path.open() as handle:
        new_doc = json.load(handle)
    result = diff_service_tags(tags, load_service_tags(new_path))
    assert result.added_pairs() == pairs(new_doc) - pairs(bundled_doc)
    assert result.removed_pairs() == pairs(bundled_doc) - pairs(new_doc)
    assert {t.tag for t in result.tags_added} == names(new_doc) - names(bundled_doc) == {"ContosoInference"}
    assert {t.tag for t in result.tags_removed} == names(bundled_doc) - names(new_doc) == {"ActionGroup"}


def test_the_json_output_is_the_set_difference_of_the_two_json_documents(cli, tmp_path, bundled_doc):
    new_doc = next_week(bundled_doc)
    result = cli("tags", "diff", BUNDLED, write(tmp_path, new_doc), "--json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert json_pairs(out, "added") == pairs(new_doc) - pairs(bundled_doc)
    assert json_pairs(out, "removed") == pairs(bundled_doc) - pairs(new_doc)
    assert [t["tag"] for t in out["tags_added"]] == ["ContosoInference"]
    assert [t["tag"] for t in out["tags_removed"]] == ["ActionGroup"]
    assert out["unchanged"] == len(names(bundled_doc) & names(new_doc)) - 5


def test_totals_count_the_pairs_of_each_family(tmp_path, tags, bundled_doc):
    new_doc = next_week(bundled_doc)
    totals = diff_service_tags(tags, load_service_tags(write(tmp_path, new_doc))).totals()
    for family, is_family in (("ipv4", lambda p: ":" not in p), ("ipv6", lambda p: ":" in p)):
        assert totals[family]["added"] == sum(1 for _, p in pairs(new_doc) - pairs(bundled_doc) if is_family(p))
        assert totals[family]["removed"] == sum(1 for _, p in pairs(bundled_doc) - pairs(new_doc) if is_family(p))


# Per tag.

def test_ipv4_and_ipv6_prefixes_are_counted_apart(tmp_path, tags, bundled_doc):
    result = diff_service_tags(tags, load_service_tags(write(tmp_path, next_week(bundled_doc))))
    factory = next(c for c in result.changed if c.tag == "DataFactory")
    assert factory.ipv4.added == ("192.0.2.0/25", "192.0.2.128/26")
    assert factory.ipv6.added == ("2001:db8:1::/48",)
    assert factory.ipv4.removed == tuple(props(bundled_doc, "DataFactory")["addressPrefixes"][:5])
    assert factory.ipv6.removed == ()
    added = next(t for t in result.tags_added if t.tag == "ContosoInference")
    assert (added.ipv4, added.ipv6) == (("198.51.100.128/25", "203.0.113.64/26"), ("2001:db8:5::/48",))


def test_prefixes_are_compared_as_written_so_a_split_prefix_is_one_removed_and_two_added(tmp_path, tags, bundled_doc):
    doc = copy.deepcopy(bundled_doc)
    p = props(doc, "AzureMonitor")["addressPrefixes"]
    whole = next(x for x in p if x.endswith("/24") and ":" not in x)
    base = whole.rsplit(".", 1)[0]
    p[p.index(whole)] = f"{base}.0/25"
    p.append(f"{base}.128/25")
    change = diff_service_tags(tags, load_service_tags(write(tmp_path, doc))).changed[0]
    assert change.tag == "AzureMonitor"
    assert change.ipv4.removed == (whole,)
    assert change.ipv4.added == (f"{base}.0/25", f"{base}.128/25")


def test_reordered_or_repeated_prefixes_are_no_change(tmp_path, tags, bundled_doc):
    doc = copy.deepcopy(bundled_doc)
    p = props(doc, "AzureMonitor")
    p["addressPrefixes"] = list(reversed(p["addressPrefixes"])) + p["addressPrefixes"][:3]
    result = diff_service_tags(tags, load_service_tags(write(tmp_path, doc)))
    assert result.changed == () and result.tags_added == () and result.tags_removed == ()
    assert result.unchanged == len(tags)


def test_tags_are_keyed_by_the_name_as_written(tmp_path, tags, bundled_doc):
    doc = copy.deepcopy(bundled_doc)
    entry = next(v for v in doc["values"] if v["name"] == "AzureMonitor")
    entry["name"] = "azuremonitor"
    result = diff_service_tags(tags, load_service_tags(write(tmp_path, doc)))
    assert [t.tag for t in result.tags_added] == ["azuremonitor"]
    assert [t.tag for t in result.tags_removed] == ["AzureMonitor"]


def test_each_tags_change_number_is_given_from_both_files(tmp_path, tags, bundled_doc):
    result = diff_service_tags(tags, load_service_tags(write(tmp_path, next_week(bundled_doc))))
    batch = next(c for c in result.changed if c.tag == "BatchNodeManagement.EastUS")
    was = props(bundled_doc, "BatchNodeManagement.EastUS")["changeNumber"]
    assert (batch.old_change_number, batch.new_change_number) == (was, was + 1)
    assert result.new.change_number == result.old.change_number + 1 == bundled_doc["changeNumber"] + 1


def test_changed_tags_come_biggest_change_first(tmp_path, tags, bundled_doc):
    result = diff_service_tags(tags, load_service_tags(write(tmp_path, next_week(bundled_doc))))
    assert [(c.tag, c.size) for c in result.changed] == [
        ("AzureCloud.eastus", 10), ("DataFactory", 8), ("AzureMachineLearning", 3),
        ("BatchNodeManagement.EastUS", 3), ("Storage.WestEurope", 2)]


def test_a_file_against_itself_changes_nothing_and_counts_every_tag(tags):
    result = diff_service_tags(tags, load_service_tags(BUNDLED))
    assert (result.changed, result.tags_added, result.tags_removed) == ((), (), ())
    assert result.unchanged == len(tags) == 3039


def test_the_diff_takes_well_under_a_second_when_every_tag_changed(tmp_path, tags, bundled_doc):
    doc = copy.deepcopy(bundled_doc)
    for entry in doc["values"]:
        entry["properties"]["addressPrefixes"] = entry["properties"]["addressPrefixes"][1:]
    new = load_service_tags(write(tmp_path, doc))
    start = time.perf_counter()
    result = diff_service_tags(tags, new)
    elapsed = time.perf_counter() - start
    assert len(result.removed_pairs()) == sum(1 for v in bundled_doc["values"] if v["properties"]["addressPrefixes"])
    assert elapsed < 0.5, elapsed


# --workspace: only the tags the workspace's rules stand on.

def test_a_workspace_restricts_the_diff_to_the_tags_its_rules_use(tmp_path, tags, bundled_doc):
    new = load_service_tags(write(tmp_path, next_week(bundled_doc)))
    used = workspace_tag_names(read_workspace(CONTOSO).workspace, tags, new, str(CONTOSO))
    result = diff_service_tags(tags, new, used)
    assert sorted(used) == CONTOSO_TAGS
    assert list(result.restricted_to) == CONTOSO_TAGS
    assert [c.tag for c in result.changed] == ["DataFactory", "AzureMachineLearning", "BatchNodeManagement.EastUS"]
    assert result.tags_added == result.tags_removed == ()
    assert result.unchanged == len(CONTOSO_TAGS) - 3


def test_location_picks_the_regional_batch_tag(cli, tmp_path, bundled_doc):
    result = cli("tags", "diff", BUNDLED, write(tmp_path, next_week(bundled_doc)), "--workspace", CONTOSO,
                 "--location", "westeurope", "--json")
    out = json.loads(result.stdout)
    assert "BatchNodeManagement.WestEurope" in out["restricted_to"]
    assert "BatchNodeManagement.EastUS" not in out["restricted_to"]
    assert "BatchNodeManagement.EastUS" not in [c["tag"] for c in out["changed"]]


def test_a_rule_with_address_prefixes_names_no_tag(write_yaml, tags):
    ws = write_yaml("""\
        name: ws
        location: eastus
        managed_network:
          isolation_mode: allow_only_approved_outbound
          outbound_rules:
          - name: dns
            type: service_tag
            destination: {service_tag: Storage, protocol: UDP, port_ranges: "53", address_prefixes: ["168.63.129.16"]}
          - name: sql
            type: service_tag
            destination: {service_tag: Sql, protocol: TCP, port_ranges: "1433"}
        """)
    used = workspace_tag_names(read_workspace(ws).workspace, tags, tags, str(ws))
    assert "Sql" in used
    assert "Storage" not in used


def test_a_used_tag_gone_from_the_new_file_is_reported_removed(cli, tmp_path, bundled_doc):
    doc = copy.deepcopy(bundled_doc)
    doc["values"] = [v for v in doc["values"] if v["name"] != "DataFactory"]
    out = json.loads(cli("tags", "diff", BUNDLED, write(tmp_path, doc), "--workspace", CONTOSO, "--json").stdout)
    assert [t["tag"] for t in out["tags_removed"]] == ["DataFactory"]
    assert "DataFactory" in out["restricted_to"]
    assert out["changed"] == []


def test_a_workspace_outside_approved_only_is_read_as_approved_only_and_says_so(cli, tmp_path, bundled_doc):
    """The tags a workspace depends on once isolated: its required and own service-tag rules, whatever its mode."""
    result = cli("tags", "diff", BUNDLED, write(tmp_path, next_week(bundled_doc)), "--workspace", FABRIKAM, "--json")
    assert result.exit_code == 0
    out = json.loads(result.stdout)
    assert "AzureActiveDirectory" in out["restricted_to"]
    assert out["workspace"]["isolation_mode"] == "allow_internet_outbound"
    assert [f["code"] for f in out["findings"]] == ["not_approved_only"]


def test_without_a_location_the_global_batch_tag_is_used_and_said(cli, tmp_path):
    ws = tmp_path / "ws.yaml"
    ws.write_text(CONTOSO.read_text().replace("location: eastus\n", ""))
    out = json.loads(cli("tags", "diff", BUNDLED, BUNDLED, "--workspace", ws, "--json").stdout)
    assert "BatchNodeManagement" in out["restricted_to"]
    assert out["workspace"]["location"] is None
    assert "no_location" in [f["code"] for f in out["findings"]]


def test_a_tag_in_neither_file_is_an_error_naming_the_workspace(cli, write_yaml):
    ws = write_yaml("""\
        name: ws
        location: eastus
        managed_network:
          isolation_mode: allow_only_approved_outbound
          outbound_rules:
          - name: factory
            type: service_tag
            destination: {service_tag: DataFactorry, protocol: TCP, port_ranges: "443"}
        """)
    one_error_line(cli("tags", "diff", BUNDLED, BUNDLED, "--workspace", ws), str(ws), "'DataFactorry'",
                   "did you mean 'DataFactory'")


def test_workspace_tag_names_raises_for_a_region_with_no_batch_tag(tags):
    ws = read_workspace(CONTOSO, "atlantis").workspace
    with pytest.raises(ServiceTagError, match="contoso-research.yaml: location 'atlantis'"):
        workspace_tag_names(ws, tags, tags, str(CONTOSO))


# The command line.

def test_the_text_output_has_a_line_per_changed_tag_and_totals(cli, tmp_path, bundled_doc):
    result = cli("tags", "diff", BUNDLED, write(tmp_path, next_week(bundled_doc)))
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    table = lines[lines.index("") + 3: lines.index("", lines.index("") + 1)]
    assert [line.split()[0] for line in table] == ["ActionGroup", "AzureCloud.eastus", "DataFactory",
                                                  "AzureMachineLearning", "BatchNodeManagement.EastUS",
                                                  "ContosoInference", "Storage.WestEurope"]
    assert table[0].split()[:7] == ["ActionGroup", "tag", "removed", "0", "181", "0", "143"]
    assert table[2].split()[:6] == ["DataFactory", "changed", "2", "5", "1", "0"]
    assert "+192.0.2.0/25 +192.0.2.128/26 +2001:db8:1::/48 (+5 more)" in table[2]
    assert "changed: 5 tags, added: 1, removed: 1, unchanged: 3,033" in lines
    assert lines[-1].startswith("prefixes: IPv4 +")


def test_text_output_names_the_tags_looked_at(cli, tmp_path, bundled_doc):
    result = cli("tags", "diff", BUNDLED, write(tmp_path, next_week(bundled_doc)), "--workspace", CONTOSO)
    looked = ("tags looked at (8, used by contoso-research in eastus, allow_only_approved_outbound): "
              + ", ".join(CONTOSO_TAGS))
    assert looked in result.stdout.splitlines()


def test_a_bad_new_file_is_one_error_line_naming_it(cli, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"changeNumber": 1, "values": [{"name": "X", "properties": {"addressPrefixes": ["10.0.0.1/8"]}}]}')
    one_error_line(cli("tags", "diff", BUNDLED, bad), str(bad), "host bits")


def test_a_missing_old_file_is_one_error_line_naming_it(cli, tmp_path):
    one_error_line(cli("tags", "diff", tmp_path / "nope.json", BUNDLED), str(tmp_path / "nope.json"))


def test_location_without_a_workspace_is_a_usage_error(cli):
    one_error_line(cli("tags", "diff", BUNDLED, BUNDLED, "--location", "eastus"), "--location needs --workspace")


def test_the_loader_keeps_each_tags_change_number(tags, bundled_doc):
    assert tags.get("ActionGroup").change_number == props(bundled_doc, "ActionGroup")["changeNumber"]


def test_the_json_output_has_the_documented_shape(cli, tmp_path, bundled_doc):
    out = json.loads(cli("tags", "diff", BUNDLED, write(tmp_path, next_week(bundled_doc)), "--json").stdout)
    assert list(out) == ["old", "new", "workspace", "restricted_to", "tags_added", "tags_removed", "changed",
                         "unchanged", "totals", "flows", "findings"]
    assert out["old"] == {"file": str(BUNDLED), "change_number": 374, "cloud": "Public", "tags": 3039}
    assert out["workspace"] is None and out["restricted_to"] is None and out["flows"] is None
    assert set(out["changed"][0]) == {"tag", "change_number", "ipv4", "ipv6"}
    assert set(out["tags_added"][0]) == {"tag", "change_number", "ipv4", "ipv6"}


def test_flows_list_what_a_tag_update_changes_as_whatif_does(cli, tmp_path, bundled_doc):
    """--flows: the flows whose verdict changes from OLD to NEW are whatif --to-service-tags's, and a flow that
    becomes denied exits 1."""
    flows = tmp_path / "flows.parquet"
    assert cli("simulate", CONTOSO, "--flows", "3000", "--seed", "2", "-o", flows).exit_code == 0
    doc = json.loads(json.dumps(bundled_doc))
    for tag in doc["values"]:
        if tag["name"].startswith("DataFactory"):
            tag["properties"]["addressPrefixes"] = ["192.0.2.0/32"]
    new = tmp_path / "new.json"
    new.write_text(json.dumps(doc))
    result = cli("tags", "diff", BUNDLED, new, "--workspace", CONTOSO, "--flows", flows, "--json")
    assert result.exit_code == 1
    got = json.loads(result.stdout)["flows"]
    expected = json.loads(cli("whatif", CONTOSO, flows, "--to-service-tags", new, "--json").stdout)
    assert got["totals"] == expected["totals"] and got["totals"]["newly_denied"] > 0
    assert got["groups"] == expected["groups"]


def test_flows_need_a_workspace(cli, tmp_path):
    result = cli("tags", "diff", BUNDLED, BUNDLED, "--flows", tmp_path / "f.parquet")
    assert result.exit_code == 2 and "--workspace" in result.stderr


if __name__ == "__main__":  # python tests/test_tagdiff.py OUT.json: the README's edited file, to try tags diff on
    import sys

    with BUNDLED.open(encoding="utf-8-sig") as handle:
        Path(sys.argv[1] if len(sys.argv) > 1 else "ServiceTags_Public_next.json").write_text(
            json.dumps(next_week(json.load(handle)), indent=2))
