"""A service-tag file is taken whole or refused whole, with one error naming the file, the tag and the bad value.

Before issue 10 a tag name given twice silently replaced the first (a second ``AzureActiveDirectory`` made it
0.0.0.0/0), a bad prefix or a string where an object belongs surfaced as ``ValueError``/``AttributeError``
tracebacks, and deep nesting as ``RecursionError``.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from egress_sim.base.errors import LimitExceeded, ServiceTagError
from egress_sim.base.limits import MAX_DOCUMENT_DEPTH, MAX_SERVICE_TAG_BYTES
from egress_sim.net.servicetags import bundled_service_tags_path, load_service_tags

AAD = {"name": "AzureActiveDirectory", "id": "AzureActiveDirectory", "properties": {
    "changeNumber": 12, "region": "", "regionId": 0, "platform": "Azure", "systemService": "AzureAD",
    "addressPrefixes": ["20.190.128.0/18", "2603:1006:2000::/48"], "networkFeatures": ["API", "NSG"]}}
STORAGE = {"name": "Storage.EastUS", "id": "Storage.EastUS", "properties": {
    "changeNumber": 3, "region": "eastus", "regionId": 32, "platform": "Azure", "systemService": "AzureStorage",
    "addressPrefixes": ["20.38.98.0/24"], "networkFeatures": None}}


def document(*values: dict) -> dict:
    return {"changeNumber": 374, "cloud": "Public", "values": list(values)}


@pytest.fixture
def write(tmp_path: Path):
    def write(content: dict | str | bytes, name: str = "ServiceTags_Public_test.json") -> Path:
        path = tmp_path / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content if isinstance(content, str) else json.dumps(content), encoding="utf-8")
        return path
    return write


def refused(path: Path, *fragments: str) -> ServiceTagError:
    with pytest.raises(ServiceTagError) as caught:
        load_service_tags(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: "), message
    assert caught.value.file == str(path)
    for fragment in fragments:
        assert fragment in message, message
    assert "\n" not in message
    return caught.value


def with_properties(**changes) -> dict:
    tag = copy.deepcopy(AAD)
    tag["properties"].update(changes)
    return tag


# ------------------------------------------------------------------------------------------ accepted
def test_the_bundled_file_loads_every_tag():
    tags = load_service_tags(bundled_service_tags_path())
    assert len(tags) == 3039
    assert len(tags.require("AzureCloud").address_prefixes) == 13080


def test_what_real_files_contain_is_accepted(write):
    """null networkFeatures, an empty prefix list (the public VirtualNetwork tag), keys Microsoft may add, a BOM."""
    empty = {"name": "VirtualNetwork", "id": "VirtualNetwork", "properties": {
        "changeNumber": 1, "region": "", "regionId": 0, "platform": "Azure", "systemService": "",
        "addressPrefixes": [], "networkFeatures": None, "someNewField": {"a": [1, 2]}}, "etag": "x"}
    text = json.dumps({**document(AAD, STORAGE, empty), "newTopLevel": True})
    tags = load_service_tags(write(b"\xef\xbb\xbf" + text.encode()))
    assert tags.require("virtualnetwork").address_prefixes == ()
    assert tags.require("Storage.EastUS").region == "eastus"
    assert tags.change_number == 374 and tags.cloud == "Public"


# ------------------------------------------------------------------------------------------ duplicates
def test_a_tag_name_given_twice_is_refused_not_replaced(write):
    """The case that turned AzureActiveDirectory into 0.0.0.0/0."""
    impostor = with_properties(addressPrefixes=["0.0.0.0/0"])
    impostor["name"] = "azureactivedirectory"
    refused(write(document(AAD, STORAGE, impostor)), "'azureactivedirectory'", "values[2]", "values[0]", "'AzureActiveDirectory'")


def test_a_key_given_twice_in_one_object_is_refused(write):
    text = json.dumps(document(AAD)).replace('"addressPrefixes": [', '"addressPrefixes": ["0.0.0.0/0"], "addressPrefixes": [')
    refused(write(text), "'addressPrefixes' is given twice")


# ------------------------------------------------------------------------------------------ bad prefixes
@pytest.mark.parametrize("prefix, problem", [
    ("20.190.128.300/18", "not a CIDR prefix"),
    ("20.190.128.5/18", "host bits set (the prefix is 20.190.128.0/18)"),
    ("2603:1006:2000::1/48", "host bits set"),
    ("2603:1006:2000::/129", "not a CIDR prefix"),
    ("020.190.128.0/18", "not a CIDR prefix"),
    ("20.190.128.0/018", "not a CIDR prefix"),
    ("20.190.128.0", "no prefix length"),
    ("fe80::%eth0/64", "zone id"),
    ("", "not a CIDR prefix"),
    (" 20.190.128.0/18", "not a CIDR prefix"),
])
def test_a_bad_prefix_is_refused_naming_the_tag_and_the_prefix(write, prefix, problem):
    tag = with_properties(addressPrefixes=["40.126.0.0/18", prefix])
    refused(write(document(STORAGE, tag)), "tag 'AzureActiveDirectory'", f"addressPrefixes[1] {prefix!r}", problem)


# ------------------------------------------------------------------------------------------ wrong types
@pytest.mark.parametrize("doc, fragments", [
    ({"values": {}}, ["'values' must be a list"]),
    ({"changeNumber": 1}, ["'values' must be a list"]),
    (["AzureCloud"], ["the document must be a JSON object, not a list"]),
    ({"values": ["AzureCloud"]}, ["values[0] must be a JSON object, not a string 'AzureCloud'"]),
    ({"values": [{"properties": AAD["properties"]}]}, ["values[0]: a tag needs a 'name'"]),
    ({"values": [{"name": 7, "properties": AAD["properties"]}]}, ["a tag needs a 'name'", "a number 7"]),
    ({"values": [{"name": "X"}]}, ["tag 'X' (values[0]) 'properties' must be a JSON object, not null"]),
    ({"values": [{"name": "X", "properties": "20.0.0.0/8"}]}, ["'properties' must be a JSON object, not a string"]),
    (document(with_properties(addressPrefixes="20.190.128.0/18")), ["tag 'AzureActiveDirectory'", "'addressPrefixes' must be a list", "'20.190.128.0/18'"]),
    (document(with_properties(addressPrefixes=None)), ["'addressPrefixes' must be a list", "not null"]),
    (document(with_properties(addressPrefixes=["20.190.128.0/18", 42])), ["tag 'AzureActiveDirectory'", "addressPrefixes[1] 42 is a number"]),
    (document(with_properties(addressPrefixes=[["20.190.128.0/18"]])), ["addressPrefixes[0]", "is a list"]),
    (document(with_properties(region=["eastus"])), ["tag 'AzureActiveDirectory'", "'region' must be a string, not a list"]),
    (document(with_properties(changeNumber="12")), ["'changeNumber' must be an integer, not a string '12'"]),
    (document(with_properties(regionId=True)), ["'regionId' must be an integer, not a boolean"]),
    (document(with_properties(networkFeatures=["API", 3])), ["'networkFeatures' must list strings"]),
    ({"changeNumber": "374", "values": []}, ["the document: 'changeNumber' must be an integer"]),
])
def test_a_value_of_the_wrong_type_is_refused(write, doc, fragments):
    refused(write(doc), *fragments)


# ------------------------------------------------------------------------------------------ size and depth
def test_deep_nesting_is_refused_not_a_recursion_error(write):
    refused(write('{"values": ' + "[" * 100_000 + "]" * 100_000 + "}"), f"nested deeper than {MAX_DOCUMENT_DEPTH}")


def test_nesting_past_the_depth_limit_under_an_unknown_key_is_refused(write):
    nested = "[" * MAX_DOCUMENT_DEPTH + "]" * MAX_DOCUMENT_DEPTH
    text = json.dumps(document(AAD)).replace('"id": "AzureActiveDirectory"', f'"extra": {nested}')
    refused(write(text), "tag 'AzureActiveDirectory'", "'extra' is nested deeper")


def test_a_file_above_the_size_limit_is_refused_before_it_is_read(write):
    path = write("{")  # not even JSON: the size alone decides
    with path.open("r+b") as handle:
        handle.truncate(MAX_SERVICE_TAG_BYTES + 1)  # sparse: no disk used
    with pytest.raises(LimitExceeded, match=f"{MAX_SERVICE_TAG_BYTES + 1:,} bytes is above the limit"):
        load_service_tags(path)


def test_a_file_that_is_not_utf8_is_one_error(write):
    refused(write(b'{"values": ["\xff"]}'), "not UTF-8")


def test_the_cli_prints_one_error_line_for_a_bad_tag_file(cli, write):
    impostor = copy.deepcopy(AAD)
    bad = write(document(AAD, impostor))
    result = cli("validate", "data/workspaces/contoso-research.yaml", "--service-tags", bad)
    assert result.exit_code == 2
    assert result.stderr.strip().count("\n") == 0 and "is given twice" in result.stderr
