"""The simulation scenario file and the service catalog, as a specification.

A scenario (``data/simulation/default.yaml`` is the documented example) has ``window``, ``fleet``,
``exfiltration`` and optionally ``services``; a catalog (``data/simulation/services.yaml``) has ``services``.
Everything is checked when the file is loaded: each invalid input raises ``ScenarioError`` whose message
starts with the file (or ``where``) and names the bad key or value.
"""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from egress_sim.base.errors import ScenarioError
from egress_sim.simulate.catalog import load_catalog, parse_service
from egress_sim.simulate.scenario import HOUR_SHAPES, SCENARIOS, load_scenario, scenario_from_dict
from egress_sim.model import ComputeType

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SCENARIO = ROOT / "data" / "simulation" / "default.yaml"
DEFAULT_CATALOG = ROOT / "data" / "simulation" / "services.yaml"
WHERE = "team.yaml"


@pytest.fixture(scope="module")
def catalog():
    return load_catalog()


def minimal() -> dict:
    """The smallest useful scenario, in the shape of default.yaml."""
    return copy.deepcopy({
        "window": {"start": "2026-11-16T00:00:00Z", "days": 7},
        "fleet": {
            "compute_cluster": {"names": ["gpu-cluster"], "nodes": 2, "share": 0.6, "hours": "nightly",
                                "mix": {"aml_api": 10, "pypi": 5}},
            "compute_instance": {"names": ["ci-ana"], "share": 0.4, "hours": "office",
                                 "mix": {"aml_api": 5, "github": 1}},
        },
        "exfiltration": {"dns_tunnel": 0.002, "paste_site": {"rate": 0.001, "compute": "compute_instance"}},
    })


@pytest.fixture
def rejects(catalog):
    """Assert that a scenario dict is refused with a message that starts with WHERE and holds every fragment."""

    def check(data, *fragments: str) -> str:
        with pytest.raises(ScenarioError) as info:
            scenario_from_dict(data, WHERE, catalog)
        message = str(info.value)
        assert message.startswith(f"{WHERE}: "), message
        for fragment in fragments:
            assert fragment in message, message
        return message

    return check


def service_rejected(body: dict, *fragments: str) -> str:
    with pytest.raises(ScenarioError) as info:
        parse_service("intranet", body, "catalog.yaml")
    message = str(info.value)
    assert message.startswith("catalog.yaml: service 'intranet': "), message
    for fragment in fragments:
        assert fragment in message, message
    return message


PREFIXES = {"prefixes": ["203.0.113.0/24"]}


# --- what loads ---------------------------------------------------------------------------------------------


def test_bundled_default_scenario_loads_with_every_managed_compute_type():
    scenario = load_scenario()
    assert {f.compute_type for f in scenario.fleet} == {
        ComputeType.COMPUTE_INSTANCE, ComputeType.COMPUTE_CLUSTER, ComputeType.SERVERLESS,
        ComputeType.SERVERLESS_SPARK, ComputeType.MANAGED_ONLINE_ENDPOINT}
    assert {i.name for i in scenario.injections} == set(SCENARIOS)
    assert 0.985 < scenario.benign_rate < 1  # about 1% labelled exfiltration


def test_bundled_default_scenario_is_the_file_in_data(catalog):
    bundled = load_scenario()
    from_file = load_scenario(DEFAULT_SCENARIO)
    assert from_file.fleet == bundled.fleet and from_file.injections == bundled.injections
    assert (from_file.start, from_file.days) == (bundled.start, bundled.days) == (bundled.start, 7)


def test_bundled_catalog_loads_and_defines_every_service_the_default_mixes_use(catalog):
    assert load_catalog(DEFAULT_CATALOG).keys() == catalog.keys()
    used = {s for f in load_scenario().fleet for s in f.mix}
    assert used <= set(catalog)
    assert catalog["pypi"].kind == "prefixes" and catalog["user_data"].kind == "user_rules"


def test_minimal_scenario_loads(catalog):
    scenario = scenario_from_dict(minimal(), WHERE, catalog)
    assert scenario.source == WHERE
    assert [f.compute_type for f in scenario.fleet] == [ComputeType.COMPUTE_CLUSTER, ComputeType.COMPUTE_INSTANCE]
    assert scenario.fleet_of(ComputeType.COMPUTE_CLUSTER).mix == {"aml_api": 10.0, "pypi": 5.0}
    paste = next(i for i in scenario.injections if i.name == "paste_site")
    assert paste.compute == (ComputeType.COMPUTE_INSTANCE,)
    assert scenario.benign_rate == pytest.approx(0.997)


def test_hours_may_be_24_hourly_weights(catalog):
    data = minimal()
    data["fleet"]["compute_cluster"]["hours"] = [0] * 12 + [1] * 12
    fleet = scenario_from_dict(data, WHERE, catalog).fleet_of(ComputeType.COMPUTE_CLUSTER)
    assert fleet.hours == tuple([0.0] * 12 + [1.0] * 12)


def test_scenario_own_service_is_usable_in_a_mix(catalog):
    data = minimal()
    data["services"] = {"intranet": {"destination": PREFIXES, "hosts": ["intra.contoso.example"], "ports": {8443: 1}}}
    data["fleet"]["compute_cluster"]["mix"]["intranet"] = 3
    scenario = scenario_from_dict(data, WHERE, catalog)
    assert scenario.services["intranet"].kind == "prefixes"
    assert scenario.services["intranet"].ports == (8443,)
    assert scenario.fleet_of(ComputeType.COMPUTE_CLUSTER).mix["intranet"] == 3.0
    assert "intranet" not in catalog  # the scenario's services do not leak into the shared catalog


def test_spark_fqdn_with_rate_zero_needs_no_spark_in_the_fleet(catalog):
    data = minimal()
    data["exfiltration"]["spark_fqdn"] = 0
    scenario = scenario_from_dict(data, WHERE, catalog)
    assert next(i for i in scenario.injections if i.name == "spark_fqdn").rate == 0


# --- invalid scenarios: one per rule ------------------------------------------------------------------------


def test_unknown_top_level_key_is_named(rejects):
    data = minimal()
    data["exfiltraton"] = {}
    rejects(data, "unknown key(s) exfiltraton")


def test_unknown_compute_type_in_fleet_is_named(rejects):
    data = minimal()
    data["fleet"]["gpu_box"] = data["fleet"].pop("compute_cluster")
    rejects(data, "fleet", "unknown compute type 'gpu_box'")


def test_kubernetes_in_fleet_is_refused_as_not_in_managed_network(rejects):
    data = minimal()
    data["fleet"]["kubernetes"] = data["fleet"].pop("compute_cluster")
    rejects(data, "fleet kubernetes", "cannot run in a managed network")


def test_negative_share_is_refused(rejects):
    data = minimal()
    data["fleet"]["compute_instance"]["share"] = -0.1
    rejects(data, "fleet compute_instance", "'share'", ">= 0")


def test_all_shares_zero_is_refused(rejects):
    data = minimal()
    for fleet in data["fleet"].values():
        fleet["share"] = 0
    rejects(data, "shares add up to 0")


def test_unknown_service_in_mix_suggests_the_close_name(rejects):
    data = minimal()
    data["fleet"]["compute_cluster"]["mix"] = {"pypy": 1}
    rejects(data, "fleet compute_cluster", "unknown service 'pypy'", "did you mean 'pypi'?")


def test_mix_weights_all_zero_is_refused(rejects):
    data = minimal()
    data["fleet"]["compute_instance"]["mix"] = {"aml_api": 0, "github": 0}
    rejects(data, "fleet compute_instance", "mix's weights add up to 0")


def test_unknown_hours_shape_name_is_named_with_the_known_ones(rejects):
    data = minimal()
    data["fleet"]["compute_cluster"]["hours"] = "weekly"
    rejects(data, "fleet compute_cluster", "hours 'weekly'", *HOUR_SHAPES)


def test_hours_list_of_23_weights_is_refused(rejects):
    data = minimal()
    data["fleet"]["compute_cluster"]["hours"] = [1] * 23
    rejects(data, "fleet compute_cluster", "list of 24", "[1, 1, 1")


def test_bad_window_start_is_named(rejects):
    data = minimal()
    data["window"]["start"] = "next monday"
    rejects(data, "window start 'next monday'", "ISO 8601")


def test_window_of_zero_days_is_refused(rejects):
    data = minimal()
    data["window"]["days"] = 0
    rejects(data, "window days 0", "1-366")


def test_unknown_exfiltration_scenario_is_named_with_the_known_ones(rejects):
    data = minimal()
    data["exfiltration"]["dns_tunel"] = 0.001
    rejects(data, "unknown scenario 'dns_tunel'", "dns_tunnel")


def test_negative_exfiltration_rate_is_refused(rejects):
    data = minimal()
    data["exfiltration"]["dns_tunnel"] = -0.01
    rejects(data, "exfiltration dns_tunnel", "rate -0.01")


def test_exfiltration_rate_of_one_is_refused(rejects):
    data = minimal()
    data["exfiltration"]["paste_site"] = {"rate": 1, "compute": "compute_instance"}
    rejects(data, "exfiltration paste_site", "rate 1 ", "0 <= rate < 1")


def test_exfiltration_rates_adding_up_to_one_or_more_are_refused(rejects):
    data = minimal()
    data["exfiltration"] = {"dns_tunnel": 0.6, "paste_site": 0.5}
    rejects(data, "exfiltration rates add up to 1.1")


def test_spark_fqdn_with_positive_rate_needs_serverless_spark_in_the_fleet(rejects):
    data = minimal()
    data["exfiltration"]["spark_fqdn"] = 0.001
    rejects(data, "exfiltration spark_fqdn", "serverless_spark", "the fleet has none")


def test_bad_service_in_scenario_services_names_the_scenario_and_service(rejects):
    data = minimal()
    data["services"] = {"intranet": {"destination": {"prefixes": ["10.0.0.0/33"]}}}
    rejects(data, "service 'intranet'", "'10.0.0.0/33' is not a CIDR prefix")


# --- invalid catalog services -------------------------------------------------------------------------------


def test_service_without_destination_is_refused():
    service_rejected({"hosts": ["intra.example"]}, "needs 'destination'")


def test_service_with_two_destination_kinds_is_refused():
    service_rejected({"destination": {"service_tag": "Storage", **PREFIXES}}, "exactly one of")


def test_service_with_bad_cidr_prefix_names_it():
    service_rejected({"destination": {"prefixes": ["203.0.113.0/24", "203.0.113.300/32"]}},
                     "'203.0.113.300/32' is not a CIDR prefix")


def test_service_port_70000_is_named():
    service_rejected({"destination": PREFIXES, "ports": {443: 1, 70000: 1}}, "port 70000", "1-65535")


def test_service_port_weight_must_be_positive():
    service_rejected({"destination": PREFIXES, "ports": {443: 0}}, "weight 0 of port 443", "positive")


def test_service_bytes_out_low_above_high_is_refused():
    service_rejected({"destination": PREFIXES, "bytes_out": [5000, 100]}, "'bytes_out' low 5000 is above high 100")


def test_service_private_endpoint_to_unknown_resource_is_refused():
    service_rejected({"destination": {"private_endpoint": "database/sql"}}, "private_endpoint 'database/sql'",
                     "storage_account")


# --- files --------------------------------------------------------------------------------------------------

BAD_FILES = {
    # case: (loader, file content or None for a missing file, what the message must say)
    "catalog with a bad port": (load_catalog, b"services: {intranet: {destination: {prefixes: [10.0.0.0/8]}, ports: {70000: 1}}}\n",
                                r"service 'intranet': port 70000"),
    "catalog without a services mapping": (load_catalog, b"services: [pypi]\n", r"'services:' mapping"),
    "missing catalog": (load_catalog, None, r"cannot read service catalog"),
    "scenario with days 0": (load_scenario, b"window: {days: 0}\nfleet: {}\n", r"window days 0"),
    "missing scenario": (load_scenario, None, r"cannot read scenario: No such file"),
    "scenario that is not YAML": (load_scenario, b"window: [unclosed\nfleet: {}\n", r"not valid YAML at line 2"),
    "scenario that is a list": (load_scenario, b"- window\n- fleet\n", r"a scenario is a mapping"),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_a_bad_file_is_refused_with_a_message_that_starts_with_the_file(tmp_path, case):
    loader, content, expected = BAD_FILES[case]
    path = tmp_path / "input.yaml"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(ScenarioError, match=expected) as info:
        loader(path)
    assert str(info.value).startswith(f"{path}: ")


# --- inputs that once crashed: each must be refused with a clear message, or work -----------------------------


def test_exfiltration_written_as_a_list_is_refused(rejects):
    data = minimal()
    data["exfiltration"] = [{"dns_tunnel": 0.002}]
    rejects(data, "exfiltration")


def test_non_string_service_in_mix_is_refused(rejects):
    data = minimal()
    data["fleet"]["compute_cluster"]["mix"] = {443: 1}
    rejects(data, "fleet compute_cluster", "mix key 443 is not a service name")


def test_non_string_key_in_service_body_is_refused():
    service_rejected({"destination": PREFIXES, "ports": None, 443: 1}, "unknown key(s) 443")


def test_exfiltration_compute_that_is_not_a_list_names_the_option_and_value(rejects):
    data = minimal()
    data["exfiltration"]["dns_tunnel"] = {"rate": 0.002, "compute": 5}
    rejects(data, "exfiltration dns_tunnel", "compute", "5")


def test_nan_share_is_refused(rejects):
    data = minimal()
    data["fleet"]["compute_instance"]["share"] = float("nan")
    rejects(data, "fleet compute_instance", "'share'")


def test_scenario_file_that_is_not_utf8_is_a_scenario_error(tmp_path):
    path = tmp_path / "scenario.yaml"
    path.write_bytes(b"window: {days: 2}\n# caf\xe9\n")
    with pytest.raises(ScenarioError, match=r"scenario is not UTF-8 text"):
        load_scenario(path)


def test_catalog_file_that_is_not_utf8_is_a_scenario_error(tmp_path):
    path = tmp_path / "services.yaml"
    path.write_bytes(b"services: {}\n# caf\xe9\n")
    with pytest.raises(ScenarioError, match=r"service catalog is not UTF-8 text"):
        load_catalog(path)


def test_days_written_as_a_boolean_is_refused(rejects):
    data = minimal()
    data["window"]["days"] = True
    rejects(data, "window days True")


def test_a_mix_weight_that_is_not_a_finite_number_is_refused(rejects):
    data = minimal()
    data["fleet"]["compute_cluster"]["mix"]["pypi"] = float("nan")
    rejects(data, "fleet compute_cluster", "'pypi'")


def test_a_port_written_as_a_boolean_is_refused():
    with pytest.raises(ScenarioError, match=r"port True is not 1-65535"):
        parse_service("x", {"destination": {"prefixes": ["192.0.2.0/24"]}, "ports": {True: 1}}, WHERE)


def test_an_unknown_tag_in_a_scenario_service_is_reported_against_the_scenario_file(tags, catalog):
    from egress_sim.simulate.simulator import SimulationPlan
    from egress_sim.app.loading import load_checked

    data = minimal()
    data["services"] = {"mine": {"destination": {"service_tag": "Storag"}, "hosts": ["x.example"]}}
    data["fleet"]["compute_cluster"]["mix"]["mine"] = 1
    scenario = scenario_from_dict(data, WHERE, catalog)
    workspace, _ = load_checked(ROOT / "data" / "workspaces" / "contoso-research.yaml", tags)
    with pytest.raises(ScenarioError, match=r"^team\.yaml: service 'mine': unknown service tag 'Storag'.*'Storage'"):
        SimulationPlan(workspace, tags, scenario, 1)
