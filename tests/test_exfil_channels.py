"""Exfiltration through channels approved-only mode can allow: a service-tag rule on ``Storage``, FQDN rules for
GitHub and Hugging Face, a ``*x`` rule, Front Door, and many small uploads to an allowed host. Each scenario is
labelled, comes at its configured rate, uses addresses of the service it is labelled with, and gets the verdict
the spec gives it: allowed exactly when the workspace has the rule that opens its channel."""

from __future__ import annotations

import copy
import ipaddress

import pandas as pd
import pytest

from egress_sim.evaluation.evaluate import evaluate_frame
from egress_sim.model import workspace_from_dict
from egress_sim.ruletable.compile import compile_rules
from egress_sim.simulate.catalog import load_catalog
from egress_sim.simulate.simulator import simulate

from simulation_helpers import CONTOSO, DEFAULT_SCENARIO, scenario_with, simulated
CHANNELS = ("storage_via_tag", "git_push", "model_hub_upload", "suffix_lookalike", "front_door", "slow_drip")
BULK = 10_000_000  # a per-flow bulk-transfer threshold: slow_drip stays under it flow by flow


def workspace(rules: list[dict] | None = None):
    """The bundled contoso workspace (approved-only) with the given user rules, or its own when None."""
    data = copy.deepcopy(CONTOSO)
    if rules is not None:
        data["managed_network"]["outbound_rules"] = rules
    ws, findings = workspace_from_dict(data, "contoso")
    assert not [f for f in findings if f.level == "error"]
    return ws


def flows(ws, tags, n: int, seed: int = 3, scenario=None) -> pd.DataFrame:
    return simulated(ws, tags, n, seed, scenario)


def injected(tags, name: str, rules: list[dict] | None = None, n: int = 20_000, seed: int = 3) -> pd.DataFrame:
    """Flows of scenario ``name`` (a fifth of all) with their approved-only verdicts under ``rules``."""
    ws = workspace(rules)
    frame = flows(ws, tags, n, seed, scenario_with({name: 0.2}))
    out = evaluate_frame(compile_rules(ws, tags), frame)
    return out[out["scenario"] == name]


def fqdn_rule(name: str, destination: str) -> dict:
    return {"name": name, "type": "fqdn", "destination": destination}


def tag_rule(name: str, **destination) -> dict:
    return {"name": name, "type": "service_tag", "destination": destination}


@pytest.fixture(scope="module")
def contoso(tags) -> pd.DataFrame:
    """The bundled workspace and scenario, 200,000 flows, with their approved-only verdicts."""
    ws = workspace()
    return evaluate_frame(compile_rules(ws, tags), flows(ws, tags, 200_000, seed=0))


# --- labelled, at their rates, on the addresses of their service -------------------------------------------------


def test_the_bundled_scenario_injects_every_channel_at_a_small_rate():
    rates = DEFAULT_SCENARIO["exfiltration"]
    for name in CHANNELS:
        assert 0.0005 <= rates[name] <= 0.001, name


@pytest.mark.parametrize("name", CHANNELS)
def test_each_channel_appears_under_its_label_at_about_its_rate(contoso, name):
    share = (contoso["scenario"] == name).mean()
    rate = DEFAULT_SCENARIO["exfiltration"][name]
    assert abs(share - rate) < 0.3 * rate, (name, share)


EXPECTED_SERVICE = {"storage_via_tag": "foreign_storage", "git_push": "github", "model_hub_upload": "huggingface",
                    "suffix_lookalike": "hosting", "front_door": "customer_front_door", "slow_drip": "github"}


@pytest.mark.parametrize("name", CHANNELS)
def test_every_address_lies_in_the_prefixes_of_the_labelled_service(tags, name):
    """Checked against the service-tag file and the catalog directly, not against the plan's own record."""
    rows = injected(tags, name, rules=[])
    assert set(rows["service"].astype(str)) == {EXPECTED_SERVICE[name]}
    destination = load_catalog()[EXPECTED_SERVICE[name]].destination
    if "service_tag" in destination:
        tag = (tags.regional(destination["service_tag"], "eastus") if destination.get("regional") else None) \
            or tags.get(destination["service_tag"])
        prefixes = tag.address_prefixes
    else:
        prefixes = destination["prefixes"]
    networks = [ipaddress.ip_network(p) for p in prefixes]
    for ip in rows["dst_ip"].astype(str).unique():
        assert any(ipaddress.ip_address(ip) in n for n in networks), (name, ip)


@pytest.mark.parametrize("name", CHANNELS)
def test_every_channel_is_https_with_a_name_and_not_from_spark(tags, name):
    rows = injected(tags, name)
    assert set(rows["dst_port"]) == {443} and set(rows["protocol"].astype(str)) == {"TCP"}
    assert rows["fqdn"].notna().all()
    assert "serverless_spark" not in set(rows["compute_type"].astype(str))


@pytest.mark.parametrize("name", [n for n in CHANNELS if n != "slow_drip"])
def test_bulk_channels_send_far_more_than_they_receive(tags, name):
    rows = injected(tags, name)
    assert (rows["bytes_out"] >= 1_000_000).all()
    assert (rows["bytes_out"] >= 50 * rows["bytes_in"]).all()


# --- under the bundled workspace (approved-only, FQDN rules for GitHub and Hugging Face) --------------------------


@pytest.mark.parametrize("name", ["git_push", "model_hub_upload", "slow_drip"])
def test_the_bundled_workspace_allows_uploads_to_the_hosts_its_fqdn_rules_name(contoso, name):
    rows = contoso[contoso["scenario"] == name]
    assert len(rows) > 50
    assert (rows["verdict"] == "allow").all()
    assert set(rows["reason"]) == {"fqdn"}


@pytest.mark.parametrize("name", ["front_door", "storage_via_tag", "suffix_lookalike"])
def test_the_bundled_workspace_denies_channels_it_has_no_rule_for(contoso, name):
    rows = contoso[contoso["scenario"] == name]
    assert len(rows) > 50
    assert (rows["verdict"] == "deny").all()


def test_git_push_goes_to_github_com_only(contoso):
    rows = contoso[contoso["scenario"] == "git_push"]
    assert set(rows["fqdn"].astype(str)) == {"github.com"}
    assert rows["bytes_out"].between(5_000_000, 200_000_000).all()
    assert (rows["bytes_in"] <= 20_000).all()


def test_model_hub_upload_goes_to_huggingface_co_only(contoso):
    rows = contoso[contoso["scenario"] == "model_hub_upload"]
    assert set(rows["fqdn"].astype(str)) == {"huggingface.co"}


def test_without_a_rule_for_github_com_pushes_are_denied(tags):
    rows = injected(tags, "git_push", [fqdn_rule("pypi", "pypi.org, *.pythonhosted.org")])
    assert (rows["verdict"] == "deny").all()


# --- slow_drip: small flows that add up --------------------------------------------------------------------------


def test_slow_drip_flows_are_each_small_and_mostly_outbound(contoso):
    rows = contoso[contoso["scenario"] == "slow_drip"]
    assert rows["bytes_out"].between(20_000, 400_000).all()
    assert (rows["bytes_out"] >= 3 * rows["bytes_in"]).all()
    assert (rows["bytes_out"] < BULK).all()


def test_slow_drip_adds_up_to_a_bulk_transfer_from_one_node_to_one_allowed_host(contoso, tags):
    rows = contoso[contoso["scenario"] == "slow_drip"]
    assert rows["src_ip"].nunique() == 1 and rows["fqdn"].nunique() == 1
    assert rows["fqdn"].iloc[0] in {"github.com", "api.github.com"}  # contoso allows github.com, not api.github.com
    assert rows["bytes_out"].sum() > BULK


def test_slow_drip_is_spread_over_the_whole_window(contoso):
    days = contoso.loc[contoso["scenario"] == "slow_drip", "ts"].dt.floor("D").nunique()
    assert days == DEFAULT_SCENARIO["window"]["days"]


def test_slow_drip_prefers_an_upload_host_the_workspace_allows(tags):
    rows = injected(tags, "slow_drip", [fqdn_rule("hf", "huggingface.co, *.huggingface.co")])
    assert set(rows["fqdn"].astype(str)) == {"huggingface.co"}
    assert (rows["verdict"] == "allow").all()


def test_slow_drip_without_fqdn_rules_drips_to_a_common_host_and_is_denied(tags):
    rows = injected(tags, "slow_drip", [])
    assert rows["fqdn"].nunique() == 1
    assert (rows["verdict"] == "deny").all()


# --- storage_via_tag: another tenant's account by name -------------------------------------------------------------


@pytest.mark.parametrize("tag", ["Storage", "Storage.EastUS"])
def test_a_storage_service_tag_rule_lets_uploads_to_another_tenants_account_through(tags, tag):
    rows = injected(tags, "storage_via_tag", [tag_rule("storage", service_tag=tag, protocol="TCP", port_ranges="443")])
    assert (rows["verdict"] == "allow").all()
    assert set(rows["rule"]) == {"storage"}


def test_storage_via_tag_names_made_up_accounts_never_the_workspaces_own(tags):
    rows = injected(tags, "storage_via_tag")
    hosts = rows["fqdn"].astype(str)
    assert hosts.str.fullmatch(r"st[a-z0-9]{8,15}\.(blob|dfs)\.core\.windows\.net").all()
    accounts = set(hosts.str.split(".").str[0])
    assert len(accounts) == 3  # the option's default
    assert "contosoresearchst" not in accounts and "contosodatalake" not in accounts


def test_storage_via_tag_accounts_option_sets_how_many_accounts(tags):
    ws = workspace([])
    frame = flows(ws, tags, 10_000, scenario=scenario_with({"storage_via_tag": {"rate": 0.2, "accounts": 7}}))
    rows = frame[frame["scenario"] == "storage_via_tag"]
    assert rows["fqdn"].astype(str).str.split(".").str[0].nunique() == 7


def test_an_fqdn_rule_cannot_open_another_tenants_storage_account(tags):
    rows = injected(tags, "storage_via_tag", [fqdn_rule("blobs", "*.blob.core.windows.net, *.dfs.core.windows.net")])
    assert (rows["verdict"] == "deny").all()
    assert set(rows["reason"]) == {"storage_requires_pe"}


# --- suffix_lookalike: what a *x rule matches ----------------------------------------------------------------------


def test_a_suffix_rule_lets_look_alike_names_of_its_tail_through(tags):
    rows = injected(tags, "suffix_lookalike", [fqdn_rule("contoso", "*contoso.com")])
    hosts = rows["fqdn"].astype(str)
    assert hosts.str.endswith("contoso.com").all() and not (hosts == "contoso.com").any()
    assert not hosts.str.endswith(".contoso.com").all()  # registrable look-alikes such as evilcontoso.com
    assert (rows["verdict"] == "allow").all()
    assert set(rows["rule"]) == {"contoso"}


def test_look_alikes_are_built_on_the_suffix_rules_alone_when_there_are_some(tags):
    rows = injected(tags, "suffix_lookalike", [fqdn_rule("contoso", "contoso.com, *.contoso.com"),
                                               fqdn_rule("ms", "*microsoft.com")])
    assert rows["fqdn"].astype(str).str.endswith("microsoft.com").all()
    assert (rows["verdict"] == "allow").all() and set(rows["rule"]) == {"ms"}


def test_a_subdomain_rule_does_not_match_the_look_alikes(tags):
    rows = injected(tags, "suffix_lookalike", [fqdn_rule("contoso", "contoso.com, *.contoso.com")])
    assert (rows["verdict"] == "deny").all()


def test_without_suffix_rules_look_alikes_are_built_on_the_allowed_hosts_and_denied(tags):
    rows = injected(tags, "suffix_lookalike")  # contoso's own rules: exact names and *. wildcards only
    domains = {".".join(h.split(".")[-2:]) for h in rows["fqdn"].astype(str)}
    assert {"evilgithub.com", "xpythonhosted.org"} <= domains
    assert (rows["verdict"] == "deny").all()


# --- front_door: anyone's Front Door endpoint ---------------------------------------------------------------------


def test_front_door_uploads_go_to_azurefd_endpoint_names(tags):
    hosts = injected(tags, "front_door")["fqdn"].astype(str)
    assert hosts.str.fullmatch(r"[a-z0-9]{8,15}(-[a-z0-9]{8,15}\.z01)?\.azurefd\.net").all()
    assert hosts.str.endswith(".z01.azurefd.net").any() and (~hosts.str.endswith(".z01.azurefd.net")).any()


def test_an_azure_front_door_frontend_rule_lets_front_door_uploads_through(tags):
    rule = tag_rule("afd", service_tag="AzureFrontDoor.Frontend", protocol="TCP", port_ranges="443")
    rows = injected(tags, "front_door", [rule])
    assert (rows["verdict"] == "allow").all()
    assert set(rows["rule"]) == {"afd"}


def test_an_fqdn_rule_for_azurefd_net_lets_front_door_uploads_through(tags):
    rows = injected(tags, "front_door", [fqdn_rule("afd", "*.azurefd.net")])
    assert (rows["verdict"] == "allow").all()
    assert set(rows["reason"]) == {"fqdn"}


# --- reproducible --------------------------------------------------------------------------------------------------


def test_the_same_seed_writes_the_same_channel_flows_byte_for_byte(tags, tmp_path):
    scenario = scenario_with({name: 0.05 for name in CHANNELS})
    first, second = tmp_path / "a.parquet", tmp_path / "b.parquet"
    simulate(workspace(), tags, scenario, 20_000, 9, first)
    simulate(workspace(), tags, scenario, 20_000, 9, second)
    assert first.read_bytes() == second.read_bytes()


def test_another_seed_makes_up_other_names(tags):
    scenario = scenario_with({name: 0.05 for name in CHANNELS})
    a, b = (flows(workspace(), tags, 20_000, seed, scenario) for seed in (1, 2))
    for name in ("storage_via_tag", "front_door"):
        assert not set(a.loc[a["scenario"] == name, "fqdn"]) & set(b.loc[b["scenario"] == name, "fqdn"]), name
    drips = [f.loc[f["scenario"] == "slow_drip", "src_ip"].astype(str).unique().tolist() for f in (a, b)]
    assert all(len(d) == 1 for d in drips)
