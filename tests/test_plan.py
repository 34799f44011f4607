"""``egress-sim plan OLD NEW``: what applying NEW over OLD would do in Azure (spec §1, §4, §5).

The bundled workspaces (data/workspaces/) are the starting points; each test copies one into tmp_path and edits
the copy, so every case reads as "this workspace, with this change".
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import yaml

from egress_sim.analysis.plan import plan
from egress_sim.app.validate import check_transition
from egress_sim.model import IsolationMode, mode_transition, read_workspace
from conftest import one_error_line

WORKSPACES = Path(__file__).resolve().parents[1] / "data" / "workspaces"
CONTOSO = WORKSPACES / "contoso-research.yaml"      # approved-only: 5 FQDN rules, a service tag, 2 endpoints
FABRIKAM = WORKSPACES / "fabrikam-vision.yaml"      # internet outbound: 2 endpoints, public access disabled
NORTHWIND = WORKSPACES / "northwind-sandbox.yaml"   # disabled, no rules

AIO, AOAO, DISABLED = "allow_internet_outbound", "allow_only_approved_outbound", "disabled"
DATALAKE = ("/subscriptions/00000000-1111-2222-3333-444444444444/resourceGroups/data/providers/"
            "Microsoft.Storage/storageAccounts/contosodatalake")


def doc(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def rules(document: dict) -> list[dict]:
    return document["managed_network"].setdefault("outbound_rules", [])


def without(document: dict, *names: str) -> dict:
    document = copy.deepcopy(document)
    document["managed_network"]["outbound_rules"] = [r for r in rules(document) if r["name"] not in names]
    return document


def with_mode(document: dict, mode: str) -> dict:
    document = copy.deepcopy(document)
    document["managed_network"]["isolation_mode"] = mode
    return document


def fqdn(name: str, destination: str) -> dict:
    return {"name": name, "type": "fqdn", "destination": destination}


def endpoint(name: str, resource: str = DATALAKE, sub: str = "queue", spark: bool = False) -> dict:
    return {"name": name, "type": "private_endpoint",
            "destination": {"service_resource_id": resource, "subresource_target": sub, "spark_enabled": spark}}


@pytest.fixture
def save(tmp_path):
    """Write a workspace document to tmp_path/NAME and return the path."""
    def write(document: dict, name: str) -> Path:
        path = tmp_path / name
        path.write_text(yaml.safe_dump(document, sort_keys=False))
        return path
    return write


@pytest.fixture
def plan_of(cli, save):
    """Run ``plan OLD NEW --json`` on two documents (or bundled paths): (exit code, JSON output)."""
    def run(old: dict | Path, new: dict | Path):
        old_path = old if isinstance(old, Path) else save(old, "old.yaml")
        new_path = new if isinstance(new, Path) else save(new, "new.yaml")
        result = cli("plan", old_path, new_path, "--json")
        return result.exit_code, json.loads(result.stdout)
    return run


def names(items: list[dict]) -> list[str]:
    return [i["name"] for i in items]


# ------------------------------------------------------------------------------------------- isolation mode
@pytest.mark.parametrize("old, new, allowed", [
    (DISABLED, DISABLED, True), (DISABLED, AIO, True), (DISABLED, AOAO, True),
    (AIO, DISABLED, False), (AIO, AIO, True), (AIO, AOAO, True),
    (AOAO, DISABLED, False), (AOAO, AIO, False), (AOAO, AOAO, True),
])
def test_the_transition_table_is_spec_section_1_and_validate_uses_it(old, new, allowed):
    a, b = IsolationMode.parse(old), IsolationMode.parse(new)
    assert mode_transition(a, b).allowed is allowed
    assert any(f.level == "error" for f in check_transition(a, b)) is (not allowed)


def test_plan_refuses_approved_only_back_to_internet_outbound(cli, save):
    new = with_mode(without(doc(CONTOSO), "pypi", "conda", "pytorch", "huggingface", "github", "datafactory"), AIO)
    result = cli("plan", CONTOSO, save(new, "new.yaml"))
    assert result.exit_code == 1
    assert "Azure would REFUSE this change" in result.stdout
    assert ("isolation mode cannot change from allow_only_approved_outbound to allow_internet_outbound: "
            "approved-only outbound cannot go back to internet outbound") in result.stdout


@pytest.mark.parametrize("source", [CONTOSO, FABRIKAM])
def test_plan_refuses_any_change_back_to_disabled(cli, save, source):
    result = cli("plan", source, save(with_mode(doc(source), DISABLED), "new.yaml"))
    assert result.exit_code == 1
    assert "managed network isolation cannot be turned off once enabled" in result.stdout


@pytest.mark.parametrize("mode", [AIO, AOAO])
def test_turning_isolation_on_is_accepted(plan_of, mode):
    code, out = plan_of(NORTHWIND, with_mode(doc(NORTHWIND), mode))
    assert code == 0 and out["accepted"] and out["refused"] == []
    assert out["mode"] == {**out["mode"], "from": DISABLED, "to": mode, "changed": True, "allowed": True}


def test_internet_to_approved_only_is_accepted_with_the_doc_conflict_noted(plan_of):
    code, out = plan_of(FABRIKAM, with_mode(doc(FABRIKAM), AOAO))
    assert code == 0 and out["mode"]["allowed"]
    assert [w["code"] for w in out["warnings"]].count("doc_conflict") == 1


# ---------------------------------------------------------------------------------------- other refusals
def test_an_fqdn_rule_in_internet_outbound_is_refused_once(plan_of):
    new = doc(FABRIKAM)
    rules(new).append(fqdn("pypi", "pypi.org"))
    code, out = plan_of(FABRIKAM, new)
    assert code == 1
    assert [(r["code"], r["rule"]) for r in out["refused"]] == [("rule_not_allowed_in_mode", "pypi")]
    assert "spec §1" in out["refused"][0]["why"]


def test_what_validate_calls_an_error_in_new_is_a_refusal_not_bad_input(plan_of):
    new = doc(CONTOSO)
    rules(new)[5]["destination"]["service_tag"] = "DataFactry"
    code, out = plan_of(CONTOSO, new)
    assert code == 1
    assert [(r["code"], r["rule"]) for r in out["refused"]] == [("unknown_service_tag", "datafactory")]


def test_a_new_file_that_does_not_load_is_refused_with_its_errors(cli, save):
    new = doc(CONTOSO)
    rules(new)[5]["destination"]["port_ranges"] = "8080-80"
    result = cli("plan", CONTOSO, save(new, "new.yaml"))
    assert result.exit_code == 1 and "port range '8080-80' is reversed" in result.stderr


# ----------------------------------------------------------------------------------------- bad input: exit 2
@pytest.mark.parametrize("missing", ["old", "new"])
def test_an_unreadable_file_is_one_error_line_naming_it(cli, tmp_path, missing):
    gone = tmp_path / "gone.yaml"
    args = (gone, CONTOSO) if missing == "old" else (CONTOSO, gone)
    one_error_line(cli("plan", *args), str(gone), "cannot read workspace file")


def test_an_old_file_that_does_not_load_is_bad_input(cli, save):
    old = doc(CONTOSO)
    rules(old)[0]["type"] = "fqdnn"
    result = cli("plan", save(old, "old.yaml"), CONTOSO)
    assert result.exit_code == 2 and "old.yaml" in result.stderr


# ---------------------------------------------------------------------------------------------------- rules
def test_created_removed_and_changed_rules_are_listed(plan_of):
    new = without(doc(CONTOSO), "github")
    rules(new).append(fqdn("gitlab", "gitlab.com"))
    rules(new)[4]["destination"]["port_ranges"] = "443"  # datafactory, after github went
    code, out = plan_of(CONTOSO, new)
    assert code == 0
    assert names(out["rules"]["created"]) == ["gitlab"]
    assert names(out["rules"]["removed"]) == ["github"]
    assert out["rules"]["changed"] == [{
        "name": "datafactory", "type": "service_tag", "destination": "DataFactory TCP 443",
        "changes": [{"field": "port_ranges", "old": "80, 8080-8089", "new": "443"}],
        "why": out["rules"]["changed"][0]["why"]}]


def test_rule_names_match_case_insensitively(plan_of):
    old, new = doc(CONTOSO), doc(CONTOSO)
    rules(old)[0]["name"], rules(new)[0]["name"] = "PYPI", "PyPI"
    code, out = plan_of(old, new)
    assert out["rules"]["created"] == [] and out["rules"]["removed"] == []
    assert out["rules"]["changed"][0]["changes"] == [{"field": "name", "old": "PYPI", "new": "PyPI"}]


def test_a_different_spelling_of_the_same_rule_is_no_change(plan_of):
    new = doc(CONTOSO)
    rules(new)[0]["destination"] = "*.pythonhosted.org,PYPI.org"
    rules(new)[5]["destination"]["port_ranges"] = "80,8080-8089"
    rules(new)[6]["destination"]["service_resource_id"] = DATALAKE.upper()
    code, out = plan_of(CONTOSO, new)
    assert out["rules"] == {"created": [], "removed": [], "changed": []}


def test_a_changed_private_endpoint_lists_each_field_old_and_new(plan_of):
    new = doc(CONTOSO)
    rules(new)[7]["destination"].update(subresource_target="file", spark_enabled=True)
    code, out = plan_of(CONTOSO, new)
    assert out["rules"]["changed"][0]["changes"] == [
        {"field": "subresource_target", "old": "blob", "new": "file"},
        {"field": "spark_enabled", "old": "false", "new": "true"}]


def test_azure_s_own_rules_listed_in_a_file_are_not_user_rules(plan_of):
    new = doc(CONTOSO)
    rules(new).append({"name": "__SYS_ST_AzureActiveDirectory_TCP", "type": "service_tag", "category": "required",
                       "destination": {"service_tag": "AzureActiveDirectory", "protocol": "TCP",
                                       "port_ranges": "80, 443"}})
    code, out = plan_of(CONTOSO, new)
    assert out["rules"]["created"] == [] and out["required_added"] == []


# ----------------------------------------------------------------------------------- rules Azure adds itself
def test_turning_on_approved_only_lists_the_required_rules_azure_adds(plan_of):
    code, out = plan_of(NORTHWIND, with_mode(doc(NORTHWIND), AOAO))
    added = names(out["required_added"])
    assert "__SYS_ST_AzureActiveDirectory_TCP" in added and "__SYS_ST_BatchNodeManagement.EastUS2_TCP" in added
    assert {"required-workspace", "required-storage-blob", "required-storage-file", "required-keyvault",
            "required-registry"} <= set(added)


@pytest.mark.parametrize("access, expected", [("Disabled", ["required-workspace"]), ("Enabled", [])])
def test_internet_outbound_adds_endpoints_only_for_resources_with_public_access_disabled(plan_of, access, expected):
    new = with_mode(doc(NORTHWIND), AIO)
    new["public_network_access"] = access
    code, out = plan_of(NORTHWIND, new)
    assert names(out["required_added"]) == expected


def test_internet_to_approved_only_adds_service_tags_and_the_default_resources_endpoints(plan_of):
    code, out = plan_of(FABRIKAM, with_mode(doc(FABRIKAM), AOAO))
    added = names(out["required_added"])
    assert "required-workspace" not in added  # already there: public network access is disabled
    assert {"required-storage-blob", "__SYS_ST_AzureMachineLearning_UDP"} <= set(added)


# -------------------------------------------------------------------------------------------- the firewall
def test_plan_lists_the_firewall_creation_for_the_first_fqdn_rule(cli, save):
    fqdn_rules = ("pypi", "conda", "pytorch", "huggingface", "github")
    old = save(without(doc(CONTOSO), *fqdn_rules), "old.yaml")
    new = without(doc(CONTOSO), *fqdn_rules[1:])
    del new["managed_network"]["firewall_sku"]
    new_path = save(new, "new.yaml")
    result = cli("plan", old, new_path)
    assert result.exit_code == 0
    assert "managed Azure Firewall\n  created, SKU Standard, with the FQDN rules pypi" in result.stdout
    out = json.loads(cli("plan", old, new_path, "--json").stdout)
    assert out["firewall"]["action"] == "create" and out["firewall"]["sku"] == "Standard"
    assert out["firewall"]["rules"] == ["pypi"]
    assert "billed" in out["firewall"]["why"] and "10 minutes" in out["firewall"]["why"]


def test_the_new_firewall_takes_the_sku_new_names(plan_of):
    old = without(doc(CONTOSO), "pypi", "conda", "pytorch", "huggingface", "github")
    new = doc(CONTOSO)
    new["managed_network"]["firewall_sku"] = "basic"
    code, out = plan_of(old, new)
    assert out["firewall"]["sku"] == "Basic"


def test_a_firewall_sku_change_is_listed(plan_of):
    new = doc(CONTOSO)
    new["managed_network"]["firewall_sku"] = "basic"
    code, out = plan_of(CONTOSO, new)
    assert {k: out["firewall"][k] for k in ("action", "old_sku", "sku")} == \
        {"action": "change_sku", "old_sku": "Standard", "sku": "Basic"}


def test_no_fqdn_rule_left_says_the_firewall_is_not_needed_and_that_its_removal_is_undocumented(plan_of):
    code, out = plan_of(CONTOSO, without(doc(CONTOSO), "pypi", "conda", "pytorch", "huggingface", "github"))
    assert out["firewall"]["action"] == "no_longer_needed"
    assert "not documented" in out["firewall"]["why"]


def test_another_fqdn_rule_leaves_the_firewall_alone(plan_of):
    new = doc(CONTOSO)
    rules(new).append(fqdn("cran", "cloud.r-project.org"))
    code, out = plan_of(CONTOSO, new)
    assert out["firewall"] is None


# ------------------------------------------------------------------------------------ private endpoints
def test_a_new_private_endpoint_rule_is_listed_with_when_azure_creates_it(plan_of):
    new = doc(CONTOSO)
    rules(new).append(endpoint("datalake-queue"))
    code, out = plan_of(CONTOSO, new)
    [pe] = out["private_endpoints"]
    assert (pe["name"], pe["origin"], pe["subresource"]) == ("datalake-queue", "user", "queue")
    assert "first compute is created or provisioning is forced" in pe["why"]


@pytest.mark.parametrize("resource, approver", [(DATALAKE, True), (doc(CONTOSO)["storage_account"], False)])
def test_the_approver_role_is_needed_only_for_targets_that_are_not_the_workspace_s_own(plan_of, resource, approver):
    new = doc(CONTOSO)
    rules(new).append(endpoint("queue", resource))
    code, out = plan_of(CONTOSO, new)
    assert out["private_endpoints"][0]["approver_role"] is approver


def test_unchanged_endpoints_are_not_created_again_and_a_new_target_is(plan_of):
    new = doc(CONTOSO)
    rules(new)[7]["destination"]["subresource_target"] = "file"
    code, out = plan_of(CONTOSO, new)
    assert names(out["private_endpoints"]) == ["datalake-blob"]


def test_turning_isolation_on_creates_the_user_and_the_required_endpoints(plan_of):
    code, out = plan_of(with_mode(doc(FABRIKAM), DISABLED), FABRIKAM)
    assert [(p["name"], p["origin"]) for p in out["private_endpoints"]] == \
        [("images", "user"), ("features-db", "user"), ("required-workspace", "required")]


def test_no_endpoint_is_created_in_a_network_that_stays_disabled(plan_of):
    new = doc(NORTHWIND)
    rules(new).append(endpoint("lake"))
    code, out = plan_of(NORTHWIND, new)
    assert out["private_endpoints"] == []


# ------------------------------------------------------------------------------------------------ computes
def test_turning_isolation_on_lists_the_computes_to_recreate(plan_of):
    code, out = plan_of(NORTHWIND, with_mode(doc(NORTHWIND), AIO))
    assert [c["compute"] for c in out["recreate_computes"]] == \
        ["compute_instance", "compute_cluster", "managed_online_endpoint"]
    assert "no migration path" in out["recreate_computes"][0]["why"]


def test_no_compute_is_recreated_when_the_network_was_already_on(plan_of):
    code, out = plan_of(FABRIKAM, with_mode(doc(FABRIKAM), AOAO))
    assert out["recreate_computes"] == []


# --------------------------------------------------------------------------------------------------- Spark
def test_a_first_spark_enabled_endpoint_needs_provisioning_with_spark(plan_of):
    old = doc(FABRIKAM)
    rules(old)[0]["destination"]["spark_enabled"] = False
    code, out = plan_of(old, FABRIKAM)
    assert out["spark"]["rules"] == ["images"]
    assert out["spark"]["command"] == "az ml workspace provision-network --include-spark"
    assert "spec §5" in out["spark"]["why"]


def test_a_network_that_is_not_spark_ready_needs_provisioning_with_spark(plan_of):
    old = doc(CONTOSO)
    old["managed_network"]["status"] = {"status": "Active", "spark_ready": False}
    code, out = plan_of(old, CONTOSO)
    assert out["spark"]["rules"] == ["datalake"] and out["spark"]["spark_ready"] is False


def test_a_spark_ready_network_with_a_spark_endpoint_needs_nothing_more(plan_of):
    old = doc(CONTOSO)
    old["managed_network"]["status"] = {"status": "Active", "spark_ready": True}
    code, out = plan_of(old, CONTOSO)
    assert out["spark"] is None


def test_spark_provisioning_with_fqdn_rules_warns_that_spark_ignores_them(plan_of):
    old = doc(CONTOSO)
    old["managed_network"]["status"] = {"status": "Active", "spark_ready": False}
    code, out = plan_of(old, CONTOSO)
    assert "fqdn_not_for_spark" in [w["code"] for w in out["warnings"]]


# ------------------------------------------------------------------------------------------------ warnings
def test_an_fqdn_rule_aimed_at_storage_is_warned_once(plan_of):
    new = doc(CONTOSO)
    rules(new).append(fqdn("lake", "contosodatalake.blob.core.windows.net"))
    code, out = plan_of(CONTOSO, new)
    assert code == 0
    assert [(w["code"], w["rule"]) for w in out["warnings"] if w["code"] == "fqdn_targets_storage"] == \
        [("fqdn_targets_storage", "lake")]


def test_a_rule_that_becomes_inactive_is_warned(plan_of):
    old, new = doc(CONTOSO), doc(CONTOSO)
    rules(old)[0]["status"], rules(new)[0]["status"] = "Active", "Inactive"
    code, out = plan_of(old, new)
    assert out["rules"]["changed"][0]["changes"] == [{"field": "status", "old": "Active", "new": "Inactive"}]
    assert ("rule_inactive", "pypi") in [(w["code"], w["rule"]) for w in out["warnings"]]


# ------------------------------------------------------------------------------------------- library, text
def test_the_library_plan_is_pure_and_takes_two_workspaces(tags):
    old, new = read_workspace(NORTHWIND).workspace, read_workspace(CONTOSO).workspace
    result = plan(old, new, tags)
    assert result.accepted and result.firewall is not None and result.firewall.action == "create"
    assert set(result.to_dict()) == {"old", "new", "workspace", "accepted", "mode", "refused", "rules",
                                     "required_added", "firewall", "private_endpoints", "recreate_computes",
                                     "spark", "warnings"}


def test_the_same_file_twice_plans_no_change(cli):
    result = cli("plan", CONTOSO, CONTOSO)
    assert result.exit_code == 0
    assert "no rule, firewall, private endpoint or compute changes" in result.stdout
