"""Azure Firewall diagnostic logs (``--format azfw``): what each documented record form becomes.

Fixtures in ``tests/data/logs/azfw/`` are written by hand from Microsoft's documentation of the legacy
``AzureDiagnostics`` records (``properties.msg`` / ``msg_s``) and of the resource-specific ``AZFW*`` tables, in the
shapes Azure Monitor exports them (storage account JSON lines, Event Hub ``{"records": [...]}``, Log Analytics JSON
and CSV). Every test that reads a file checks that each record read is emitted, skipped or rejected exactly once.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import orjson
import pandas as pd
import pytest

from egress_sim.logs.formats import azfw_records
from egress_sim.logs.formats.azfw import COLUMNS, READER
from egress_sim.logs.engine.files import LogFile
from egress_sim.logs.engine.ledger import RecordLedger, StrictInputError
from egress_sim.flows.schema import FlowBatch

DATA = Path(__file__).parent / "data" / "logs" / "azfw"
FLOW = ["protocol", "src_ip", "dst_ip", "dst_port", "fqdn", "observed_action"]


def read(path: Path, chunk_rows: int = 1000, strict: bool = False) -> tuple[pd.DataFrame, RecordLedger]:
    ledger = RecordLedger(strict=strict)
    frames = list(READER.read_chunks(LogFile(path), ledger, chunk_rows))
    assert all(0 < len(f) <= chunk_rows for f in frames)
    flows = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=list(COLUMNS))
    assert ledger.records_read == len(flows) + ledger.total_skipped + ledger.total_rejected
    return flows, ledger


def rows(flows: pd.DataFrame) -> list[tuple]:
    """The flow columns as plain tuples (missing values as None)."""
    out = flows[FLOW].astype(object).where(flows[FLOW].notna(), None)
    return [tuple(r) for r in out.itertuples(index=False)]


def lines_file(tmp_path: Path, records: list, name: str = "records.json") -> Path:
    path = tmp_path / name
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records))
    return path


def legacy(msg: str, category: str = "AzureFirewallNetworkRule", **extra) -> dict:
    return {"category": category, "time": "2024-03-01T10:00:00Z", "operationName": category + "Log",
            "properties": {"msg": msg}, **extra}


# ------------------------------------------------------------------------------------------------ detection

GOOD_FIXTURES = ["legacy_storage_records.json", "legacy_pt1h.json", "legacy_pt1h.json.gz", "legacy_variants.json",
                 "log_analytics_diagnostics.json", "log_analytics_diagnostics.csv", "log_analytics_structured.json",
                 "structured_network.json", "structured_eventhub.json", "truncated_pt1h.json.gz"]


@pytest.mark.parametrize("name", GOOD_FIXTURES)
def test_sniff_recognises_firewall_exports(name):
    log = LogFile(DATA / name)
    assert READER.sniff(log.head(), name)


@pytest.mark.parametrize("head", [
    b"ts,compute_type,dst_ip,dst_port,protocol\n2026-01-01T00:00:00Z,compute_cluster,10.0.0.4,443,TCP\n",
    (b'{"records": [{"time": "2024-01-01T00:00:00Z", "systemId": "x", "category": "NetworkSecurityGroupFlowEvent", '
     b'"properties": {"Version": 2, "flows": []}}]}'),
    b"#separator \\x09\n#set_separator\t,\n#path\tconn\n",
    (b"2 123456789010 eni-1235b8ca123456789 172.31.16.139 172.31.16.21 20641 22 6 20 4249 1418530010 1418530070 "
     b"ACCEPT OK\n"),
    b'{"TimeGenerated": "2024-01-01T00:00:00Z", "Category": "ApplicationGatewayAccessLog", "msg_s": "x"}\n',
    b"TenantId,TimeGenerated [UTC],Category,msg_s\n1,2024-01-01,AppServiceHTTPLogs,hello\n",
    b"",
])
def test_sniff_declines_other_formats(head):
    assert not READER.sniff(head, "input.log")


def test_sniff_recognises_a_log_analytics_csv_by_its_columns_alone():
    head = b"TimeGenerated [UTC],SourceIp,SourcePort,DestinationIp,DestinationPort,Protocol,Action\n"
    assert READER.sniff(head, "export.csv")


# ------------------------------------------------------------------------------------------------ legacy records

def test_legacy_storage_export_gives_one_flow_per_rule_record():
    flows, ledger = read(DATA / "legacy_storage_records.json")
    assert rows(flows) == [
        ("TCP", "10.0.2.4", "13.69.64.82", 443, None, "allow"),
        ("UDP", "10.0.2.5", "8.8.8.8", 53, None, "deny"),
        ("ICMP", "10.0.2.4", "8.8.8.8", None, None, "deny"),
        ("TCP", "10.1.0.4", None, 443, "www.microsoft.com", "allow"),
        ("TCP", "10.1.0.4", None, 80, "ocsp.example.net", "deny"),
        ("TCP", "10.1.0.7", None, 443, "pypi.org", "allow"),
    ]
    assert ledger.records_read == 8


def test_legacy_time_becomes_a_utc_timestamp():
    flows, _ = read(DATA / "legacy_storage_records.json")
    assert str(flows["ts"].dtype) == "datetime64[ns, UTC]"
    assert flows["ts"][0] == pd.Timestamp("2024-03-01T10:00:00.1Z")


def test_dnat_records_are_skipped_as_inbound():
    _, ledger = read(DATA / "legacy_storage_records.json")
    assert ledger.skipped["inbound_dnat"] == 1


def test_dns_proxy_records_are_skipped_as_not_connections():
    _, ledger = read(DATA / "legacy_storage_records.json")
    assert ledger.skipped["not_a_connection_log"] == 1


def test_document_records_are_located_by_byte_offset_and_number():
    path = DATA / "legacy_storage_records.json"
    flows, _ = read(path)
    content = path.read_bytes()
    for k, source in enumerate(flows["source"][:3], 1):
        name, _, rest = source.rpartition("@")
        offset, label = rest.split(" ", 1)
        assert name == str(path) and label == f"record {k}"
        assert content[int(offset):int(offset) + 1] == b"{"


def test_json_lines_are_located_by_line_and_blank_lines_are_not_records():
    path = DATA / "legacy_pt1h.json"
    flows, ledger = read(path)
    assert list(flows["source"]) == [f"{path}:{n}" for n in (1, 2, 4, 5)]
    assert ledger.records_read == 4


def test_log_analytics_json_array_with_msg_s():
    flows, ledger = read(DATA / "log_analytics_diagnostics.json")
    assert rows(flows) == [
        ("TCP", "10.0.8.12", "20.150.1.4", 443, None, "allow"),
        ("TCP", "10.0.8.12", None, 443, "download.pytorch.org", "allow"),
    ]
    assert dict(ledger.skipped) == {"not_a_connection_log": 1}
    assert flows["ts"][1] == pd.Timestamp("2024-03-01T12:00:01.456Z")


def test_log_analytics_csv_export():
    path = DATA / "log_analytics_diagnostics.csv"
    flows, ledger = read(path)
    assert rows(flows) == [
        ("TCP", "10.0.8.4", "10.0.1.5", 443, None, "allow"),
        ("TCP", "10.0.8.4", None, 8080, "example.org", "deny"),
    ]
    assert list(flows["source"]) == [f"{path}:2", f"{path}:3"]
    assert flows["ts"][1] == pd.Timestamp("2024-03-01T12:30:01.5Z")  # the portal's "3/1/2024, 12:30:01.500 PM"
    assert dict(ledger.skipped) == {"inbound_dnat": 1}


# The text forms of properties.msg / msg_s, and what each becomes:
# (protocol, src_ip, dst_ip, dst_port, fqdn, observed_action), or ("skip" | "reject", reason).
MESSAGES = [
    (("TCP request from 10.0.2.4:51234 to 13.69.64.82:443. Action: Allow. Policy: p. Rule Collection Group: g. "
      "Rule Collection: c. Rule: r"), ("TCP", "10.0.2.4", "13.69.64.82", 443, None, "allow")),
    ("UDP request from 10.0.3.4:123 to 51.141.32.51:123. Action: Deny",
     ("UDP", "10.0.3.4", "51.141.32.51", 123, None, "deny")),
    ("ICMP Type=8 request from 10.0.2.4 to 8.8.8.8. Action: Deny.",
     ("ICMP", "10.0.2.4", "8.8.8.8", None, None, "deny")),
    ("HTTPS request from 10.1.0.4:54786 to www.microsoft.com:443. Action: Allow. Rule Collection: c. Rule: r",
     ("TCP", "10.1.0.4", None, 443, "www.microsoft.com", "allow")),
    (("HTTPS request from 10.11.2.4:53344 to www.bing.com:443. Action: Allow. Rule Collection: c. Rule: r. "
      "Web Category: SearchEnginesAndPortals"), ("TCP", "10.11.2.4", None, 443, "www.bing.com", "allow")),
    (("HTTP request from 10.1.0.4:54790 to ocsp.example.net:80. Url: ocsp.example.net/MFQ=. Action: Deny. "
      "No rule matched. Proceeding with default action"), ("TCP", "10.1.0.4", None, 80, "ocsp.example.net", "deny")),
    (("HTTP  request from 10.0.0.1:50776 to ocsp.example.net:80. Url: ocsp.example.net/x. Action: Allow. Policy: p. "
      "Rule Collection Group: g. Rule Collection: c. Rule: r, HTTP"), ("TCP", "10.0.0.1", None, 80, "ocsp.example.net",
     "allow")),
    ("TCP request from 10.0.0.1:49832 to 10.0.0.2:443 was allowed. Action: Allow. Rule Collection: c, Rule: r",
     ("TCP", "10.0.0.1", "10.0.0.2", 443, None, "allow")),
    ("TCP request from 111.35.136.173:12518 to 13.78.143.217:2323. Action: Deny",
     ("TCP", "111.35.136.173", "13.78.143.217", 2323, None, "deny")),
    ("HTTPS request from 10.0.0.1:6065. Action: Deny. Reason: SNI TLS extension was missing.",
     ("TCP", "10.0.0.1", None, 443, None, "deny")),
    (("HTTPS request from 10.0.0.1:59060 to adf.example.net:443. Action: Deny. Failed to resolve address "
      "adf.example.net:443: lookup adf.example.net on 10.0.0.53:53: no such host"),
     ("TCP", "10.0.0.1", None, 443, "adf.example.net", "deny")),
    ("HTTPS request from 10.0.0.1:50001 to 20.60.1.1:443. Action: Allow. Rule Collection: c. Rule: r",
     ("TCP", "10.0.0.1", "20.60.1.1", 443, None, "allow")),
    ("MSSQL request from 10.0.0.1:50003 to sql.database.windows.net:1433. Action: Allow.",
     ("TCP", "10.0.0.1", None, 1433, "sql.database.windows.net", "allow")),
    ("TCP request from [fd00::4]:50002 to [2603:1030:7:5::1]:443. Action: Allow.",
     ("TCP", "fd00::4", "2603:1030:7:5::1", 443, None, "allow")),
    ("TCP request from 10.0.0.1:40000 to 13.69.64.82:443.", ("TCP", "10.0.0.1", "13.69.64.82", 443, None, None)),
    (("HTTP request from 10.0.0.1:54314 to ocsp.bad.example:80. Url: ocsp.bad.example. Action: Deny. ThreatIntel: "
      "Bot Networks"), ("TCP", "10.0.0.1", None, 80, "ocsp.bad.example", "deny")),
    ("TCP request from 10.0.0.1:54315 to 192.0.2.66:443. Action: Alert. ThreatIntel: Phishing",
     ("skip", "threat_intel_alert")),
    (("TCP request from 10.0.0.1:54854 to 192.0.2.10:1521. Action: alert. Signature: 2102649. IDS: SQL overflow. "
      "Priority: 1. Classification: Attempted User Privilege Gain"), ("skip", "idps_signature")),
    (("TCP request from 10.0.0.1:51890 to 192.0.2.11:443. Action: drop. Signature: 2028816. IDS: JA3. Priority: 3. "
      "Classification: Unknown Traffic"), ("skip", "idps_signature")),
    ("ICMP request from 10.0.0.1: to 10.0.0.2:. Action: alert. Signature: 2100366. IDS: ICMP PING. Priority: 3.",
     ("skip", "idps_signature")),
    ("TCP request from 198.51.100.7:50522 to 20.30.40.50:3389 was DNAT'ed to 10.0.2.4:3389", ("skip", "inbound_dnat")),
    ("Firewall instance restarted", ("reject", "unrecognised_message")),
    ("", ("reject", "unrecognised_message")),
    ("SCTP request from 10.0.0.1:1 to 10.0.0.2:2. Action: Allow.", ("reject", "unknown_protocol")),
    ("TCP request from 10.0.0.1:1 to 10.0.0.2:2. Action: Perhaps.", ("reject", "unknown_action")),
    ("TCP request from 10.0.0.300:1 to 10.0.0.2:2. Action: Allow.", ("reject", "invalid_ip")),
    ("TCP request from 10.0.0.1:1 to files.example.com:443. Action: Allow.", ("reject", "invalid_ip")),
    ("UDP request from 10.0.0.1:1 to 10.0.0.2:dns. Action: Allow.", ("reject", "invalid_port")),
    ("TCP request from 10.0.0.1:1 to 10.0.0.2:65536. Action: Allow.", ("reject", "invalid_port")),
    ("TCP request from 10.0.0.1:1 to 10.0.0.2. Action: Allow.", ("reject", "missing_field")),
    ("HTTPS request from 10.0.0.1:1 to bad_host!:443. Action: Allow.", ("reject", "invalid_fqdn")),
]


@pytest.mark.parametrize(("msg", "expected"), MESSAGES, ids=[m[:40] or "empty" for m, _ in MESSAGES])
def test_message_forms(tmp_path, msg, expected):
    flows, ledger = read(lines_file(tmp_path, [legacy(msg)]))
    if expected[0] == "skip":
        assert (len(flows), dict(ledger.skipped), dict(ledger.rejected)) == (0, {expected[1]: 1}, {})
    elif expected[0] == "reject":
        assert (len(flows), dict(ledger.skipped), dict(ledger.rejected)) == (0, {}, {expected[1]: 1})
    else:
        assert rows(flows) == [expected]


def test_legacy_variants_fixture():
    flows, ledger = read(DATA / "legacy_variants.json")
    assert len(flows) == 7
    assert dict(ledger.skipped) == {"threat_intel_alert": 1, "idps_signature": 2}


def test_a_record_whose_category_lacks_its_message_is_rejected():
    flows, ledger = read(DATA / "unparsable_msg.json")
    assert len(flows) == 1
    assert dict(ledger.rejected) == {"unrecognised_message": 1, "missing_field": 1}
    assert [s.where for s in ledger.samples] == [f"{DATA / 'unparsable_msg.json'}:{n}" for n in (2, 3)]


# ------------------------------------------------------------------------------------------------ structured tables

def test_structured_network_records():
    flows, ledger = read(DATA / "structured_network.json")
    assert rows(flows) == [
        ("TCP", "10.0.8.12", "20.38.98.100", 443, None, "allow"),
        ("UDP", "10.0.8.13", "23.72.254.146", 443, None, "deny"),
        ("ICMP", "10.0.8.14", "8.8.8.8", None, None, "deny"),  # "ICMP Type=8", port 0 logged: no port
        ("TCP", "10.0.8.15", "2603:1030:7:5::1", 443, None, "allow"),
    ]
    assert ledger.total_skipped == ledger.total_rejected == 0


def test_structured_application_records_carry_the_fqdn_and_no_destination_ip():
    flows, _ = read(DATA / "structured_eventhub.json")
    assert rows(flows)[:2] == [
        ("TCP", "10.0.8.20", None, 443, "pypi.org", "allow"),
        ("TCP", "10.0.8.21", None, 80, "th3pypi.org", "deny"),
    ]


def test_event_hub_records_skip_nat_dns_idps_and_threat_intel_alerts():
    flows, ledger = read(DATA / "structured_eventhub.json")
    assert dict(ledger.skipped) == {"inbound_dnat": 1, "not_a_connection_log": 1, "threat_intel_alert": 1,
                                    "idps_signature": 1}
    assert rows(flows)[2] == ("TCP", "10.0.8.22", None, 80, "malicious.example.com", "deny")  # threat intel Deny


def test_log_analytics_flat_rows_with_text_ports():
    flows, ledger = read(DATA / "log_analytics_structured.json")
    assert rows(flows) == [
        ("TCP", "10.0.8.30", "13.107.42.14", 443, None, "allow"),
        ("TCP", "10.0.8.31", None, 443, "contosoacr.azurecr.io", "deny"),  # empty DestinationPort: HTTPS → 443
    ]
    assert dict(ledger.skipped) == {"not_a_connection_log": 1}


def test_ports_may_be_numbers_in_one_record_and_text_in_the_next(tmp_path):
    record = {"category": "AZFWNetworkRule", "time": "2024-03-02T08:00:00Z",
              "properties": {"Protocol": "TCP", "SourceIp": "10.0.0.1", "SourcePort": 1, "DestinationIp": "10.0.0.2",
                             "DestinationPort": 443, "Action": "Allow"}}
    text = json.loads(json.dumps(record))
    text["properties"]["DestinationPort"] = "8443"
    flows, _ = read(lines_file(tmp_path, [record, text]))
    assert list(flows["dst_port"]) == [443, 8443]


def test_other_key_cases_and_properties_as_a_json_string_are_understood(tmp_path):
    records = [
        {"Category": "AZFWNetworkRule", "TIME": "2024-03-02T08:00:00Z",
         "properties": {"protocol": "TCP", "sourceIp": "10.0.0.1", "destinationIP": "10.0.0.2",
                        "destinationPort": 443, "action": "Deny"}},
        {"category": "AZFWApplicationRule", "time": "2024-03-02T08:00:00Z",
         "properties": json.dumps({"Protocol": "HTTPS", "SourceIp": "10.0.0.1", "Fqdn": "x.example.com",
                                   "Action": "Allow"})},
    ]
    flows, _ = read(lines_file(tmp_path, records))
    assert rows(flows) == [("TCP", "10.0.0.1", "10.0.0.2", 443, None, "deny"),
                           ("TCP", "10.0.0.1", None, 443, "x.example.com", "allow")]


def test_a_record_without_category_is_judged_by_its_fields(tmp_path):
    records = [
        {"TimeGenerated": "2024-03-02T08:00:00Z", "msg_s": "UDP request from 10.0.0.1:5 to 10.0.0.2:53. Action: Allow"},
        {"TimeGenerated": "2024-03-02T08:00:00Z", "Protocol": "HTTPS", "SourceIp": "10.0.0.1", "Fqdn": "a.example.com",
         "Action": "Allow"},
        {"TimeGenerated": "2024-03-02T08:00:00Z", "Protocol": "TCP", "SourceIp": "198.51.100.1", "DestinationIp":
         "20.1.1.1", "DestinationPort": 22, "TranslatedIp": "10.0.0.9", "TranslatedPort": 22},
        {"TimeGenerated": "2024-03-02T08:00:00Z", "Note": "nothing to go by"},
    ]
    flows, ledger = read(lines_file(tmp_path, records))
    assert [r[0] for r in rows(flows)] == ["UDP", "TCP"]
    assert dict(ledger.skipped) == {"inbound_dnat": 1}
    assert dict(ledger.rejected) == {"unrecognised_record": 1}


def test_unknown_categories_are_skipped_as_not_connections(tmp_path):
    records = [{"category": "AZFWFlowTrace", "properties": {"SourceIp": "10.0.0.1"}},
               {"category": "AZFWNetworkRuleAggregation", "properties": {"SourceIp": "10.0.0.1"}},
               {"category": "ApplicationGatewayAccessLog", "properties": {"clientIP": "10.0.0.1"}}]
    flows, ledger = read(lines_file(tmp_path, records))
    assert len(flows) == 0 and dict(ledger.skipped) == {"not_a_connection_log": 3}


# ------------------------------------------------------------------------------------------------ output

def test_output_columns_and_types():
    flows, _ = read(DATA / "legacy_storage_records.json")
    assert list(flows.columns) == list(COLUMNS)
    assert str(flows["dst_port"].dtype) == "Int64"
    assert str(flows["ts"].dtype) == "datetime64[ns, UTC]"


def test_flows_are_evaluable_except_the_one_without_any_destination():
    flows, _ = read(DATA / "legacy_variants.json")
    batch = FlowBatch.from_frame(flows, default_compute="compute_cluster")
    assert list(batch.reject != 0) == [False, False, True, False, False, False, False]  # the "SNI missing" record


# ------------------------------------------------------------------------------------------------ broken input

def test_truncated_json_lines_reject_the_cut_line():
    path = DATA / "truncated.json"
    flows, ledger = read(path)
    assert len(flows) == 1
    assert dict(ledger.rejected) == {"truncated_json": 1}
    assert ledger.samples[0].where == f"{path}:2"


def test_truncated_document_rejects_the_cut_record_at_its_offset():
    path = DATA / "truncated_records.json"
    flows, ledger = read(path)
    assert len(flows) == 2
    assert dict(ledger.rejected) == {"truncated_json": 1}
    where = ledger.samples[0].where
    assert where.startswith(f"{path}@") and where.endswith(" record 3")
    offset = int(where.rpartition("@")[2].split()[0])
    assert path.read_bytes()[offset:offset + 13] == b'{"category": '


def test_a_malformed_record_inside_a_document_is_rejected_and_reading_resumes():
    path = DATA / "bad_record_in_document.json"
    flows, ledger = read(path)
    assert rows(flows) == [("TCP", "10.0.0.1", "13.69.64.82", 443, None, "allow"),
                           ("UDP", "10.0.0.1", "8.8.4.4", 53, None, "deny")]
    assert dict(ledger.rejected) == {"bad_json": 1}
    assert ledger.samples[0].where.endswith(" record 2")


@pytest.mark.parametrize(("line", "reason"), [
    (2, "invalid_ip"), (3, "invalid_port"), (4, "invalid_port"), (5, "unknown_protocol"), (6, "unknown_action"),
    (7, "invalid_fqdn"), (8, "missing_field"), (9, "invalid_timestamp"), (10, "invalid_ip"), (11, "missing_field"),
    (12, "unrecognised_record"), (13, "not_an_object"),
])
def test_bad_values_are_rejected_with_their_reason_and_line(line, reason):
    path = DATA / "bad_values.json"
    flows, ledger = read(path)
    assert len(flows) == 1 and ledger.records_read == 13
    assert {s.where: s.reason for s in ledger.samples}[f"{path}:{line}"] == reason


def test_a_record_with_bytes_that_are_not_utf8_is_rejected():
    path = DATA / "non_utf8.json"
    flows, ledger = read(path)
    assert len(flows) == 2
    assert [(s.reason, s.where) for s in ledger.samples] == [("invalid_utf8", f"{path}:2")]


def test_non_utf8_bytes_inside_a_document_are_rejected(tmp_path):
    path = tmp_path / "doc.json"
    good = json.dumps(legacy("TCP request from 10.0.0.1:1 to 10.0.0.2:443. Action: Allow")).encode()
    bad = good[:-1] + b', "resourceId": "/SUB/\xff"}'
    path.write_bytes(b'{"records": [' + good + b",\n" + bad + b",\n" + good + b"]}")
    flows, ledger = read(path)
    assert len(flows) == 2
    assert dict(ledger.rejected) == {"invalid_utf8": 1}
    assert ledger.samples[0].where.endswith(" record 2")


@pytest.mark.parametrize("escape", ["\\ud800", "\\udfff", "\\udc41"])
@pytest.mark.parametrize("shape", ["wrapper", "array"])
def test_an_escaped_lone_surrogate_inside_a_document_is_one_invalid_utf8_reject(tmp_path, escape, shape):
    good = json.dumps(legacy("TCP request from 10.0.0.1:1 to 10.0.0.2:443. Action: Allow"))
    bad = good[:-1] + ', "resourceId": "/SUB/' + escape + '"}'
    body = ",\n".join([good, bad, good])
    path = tmp_path / "doc.json"
    path.write_text('{"records": [' + body + "]}" if shape == "wrapper" else "[" + body + "]")
    flows, ledger = read(path)
    assert len(flows) == 2 and dict(ledger.rejected) == {"invalid_utf8": 1}
    assert ledger.samples[0].where.endswith(" record 2")
    ledger.samples[0].text.encode("utf-8")  # a sample any terminal or JSON writer can write


def test_a_document_record_over_the_size_limit_is_rejected_and_the_next_one_read(tmp_path, monkeypatch):
    from egress_sim.base import limits
    monkeypatch.setattr(limits, "MAX_AZFW_RECORD_BYTES", 4096)
    good = json.dumps(legacy("TCP request from 10.0.0.1:1 to 10.0.0.2:443. Action: Allow"))
    huge = json.dumps(legacy("TCP request from 10.0.0.1:1 to 10.0.0.2:443. Action: Allow", padding="x" * 10_000))
    path = tmp_path / "doc.json"
    path.write_text('{"records": [' + ",\n".join([good, huge, good]) + "]}")
    flows, ledger = read(path)
    assert len(flows) == 2 and dict(ledger.rejected) == {"record_too_large": 1}
    assert ledger.samples[0].where.endswith(" record 2") and len(ledger.samples[0].text) < 1000


def test_damage_between_documents_is_one_reject_and_the_documents_after_it_are_read(tmp_path):
    record = json.dumps(legacy("TCP request from 10.0.0.1:1 to 10.0.0.2:443. Action: Allow"))
    path = tmp_path / "capture.json"
    path.write_text('{"records": [' + record + '], "x": }\n{"records": [' + record + ", " + record + "]}\n")
    flows, ledger = read(path)
    assert len(flows) == 3 and dict(ledger.rejected) == {"bad_json": 1}


def test_csv_rows_with_the_wrong_number_of_fields_are_rejected(tmp_path):
    path = tmp_path / "export.csv"
    path.write_text("TimeGenerated [UTC],Category,msg_s\n"
                    '2024-03-01T00:00:00Z,AzureFirewallNetworkRule,"UDP request from 10.0.0.1:5 to 10.0.0.2:53. '
                    'Action: Allow"\n'
                    "2024-03-01T00:00:01Z,AzureFirewallNetworkRule\n")
    flows, ledger = read(path)
    assert len(flows) == 1
    assert [(s.reason, s.where) for s in ledger.samples] == [("bad_field_count", f"{path}:3")]


@pytest.mark.parametrize("content", [b"", b"\n\n  \n", b'{"records": []}', b"[]"])
def test_files_without_records_give_nothing(tmp_path, content):
    path = tmp_path / "empty.json"
    path.write_bytes(content)
    flows, ledger = read(path)
    assert len(flows) == 0 and ledger.records_read == 0


# ------------------------------------------------------------------------------------------------ reading mechanics

def test_gzip_reads_like_plain():
    plain, plain_ledger = read(DATA / "legacy_pt1h.json")
    packed, packed_ledger = read(DATA / "legacy_pt1h.json.gz")
    assert rows(plain) == rows(packed)
    assert plain_ledger.records_read == packed_ledger.records_read == 4


def test_gzip_document_is_streamed(tmp_path):
    path = tmp_path / "records.json.gz"
    with gzip.open(path, "wb") as out:
        out.write((DATA / "structured_eventhub.json").read_bytes())
    flows, ledger = read(path)
    assert len(flows) == 3 and ledger.total_skipped == 4


def test_a_cut_gzip_of_json_lines_gives_every_whole_line_and_says_where_it_broke_off():
    log = LogFile(DATA / "truncated_pt1h.json.gz")
    ledger = RecordLedger()
    flows = pd.concat(list(READER.read_chunks(log, ledger, 1000)))
    assert len(flows) == 2 and ledger.total_rejected == 0  # the broken-off line is no record
    assert log.cut is not None  # the replay counts the unreadable rest of the file


def test_a_cut_gzip_document_rejects_the_record_it_cut():
    flows, ledger = read(DATA / "truncated_records.json.gz")
    assert len(flows) == 4
    assert dict(ledger.rejected) == {"truncated_json": 1}
    assert ledger.samples[0].where.endswith(" record 5")


def test_a_gzip_stream_cut_between_two_records_is_still_told(tmp_path):
    path = tmp_path / "cut.json.gz"
    packed = gzip.compress((DATA / "legacy_pt1h.json").read_bytes())
    path.write_bytes(packed[:-8])  # only the gzip trailer is missing: every record is whole
    log = LogFile(path)
    ledger = RecordLedger()
    flows = pd.concat(list(READER.read_chunks(log, ledger, 1000)))
    assert len(flows) == 4 and ledger.total_rejected == 0
    assert log.cut is not None


@pytest.mark.parametrize("name", ["legacy_storage_records.json", "legacy_pt1h.json", "log_analytics_diagnostics.csv"])
def test_chunk_rows_bounds_every_chunk_and_changes_nothing_else(name):
    whole, whole_ledger = read(DATA / name, chunk_rows=1000)
    small, small_ledger = read(DATA / name, chunk_rows=1)
    assert rows(whole) == rows(small)
    assert list(whole["source"]) == list(small["source"])
    assert (whole_ledger.skipped, whole_ledger.rejected) == (small_ledger.skipped, small_ledger.rejected)


def test_arrow_and_exact_paths_agree(tmp_path):
    """A clean block of JSON lines is decoded by orjson in one pass; a broken line goes the exact path (json).
    Both must produce the same flows."""
    records = [json.loads(line) for line in (DATA / "legacy_pt1h.json").read_text().splitlines() if line.strip()]
    records += [json.loads(line) for line in (DATA / "structured_network.json").read_text().splitlines()]
    clean, _ = read(lines_file(tmp_path, records, "clean.json"))
    broken, ledger = read(lines_file(tmp_path, records[:3] + ['{"category": oops}'] + records[3:], "broken.json"))
    assert rows(clean) == rows(broken)
    assert list(clean["ts"]) == list(broken["ts"])
    assert dict(ledger.rejected) == {"bad_json": 1}


@pytest.mark.parametrize("name", ["legacy_pt1h.json", "legacy_variants.json", "structured_network.json",
                                  "log_analytics_structured.json", "bad_values.json", "unparsable_msg.json",
                                  "truncated.json", "non_utf8.json"])
def test_the_exact_path_alone_gives_the_same_result(monkeypatch, name):
    fast, fast_ledger = read(DATA / name)

    def refuse(line: bytes) -> object:  # orjson refuses every line: each goes the exact path (json)
        raise orjson.JSONDecodeError("refused", "", 0)

    monkeypatch.setattr(azfw_records, "_orjson_loads", refuse)
    exact, exact_ledger = read(DATA / name)
    assert rows(fast) == rows(exact) and list(fast["source"]) == list(exact["source"])
    assert list(fast["ts"]) == list(exact["ts"])
    assert (fast_ledger.skipped, fast_ledger.rejected) == (exact_ledger.skipped, exact_ledger.rejected)
    assert [(x.reason, x.where) for x in fast_ledger.samples] == [(x.reason, x.where) for x in exact_ledger.samples]


def test_records_keep_their_order_across_arrow_and_exact_blocks(tmp_path):
    good = [legacy(f"TCP request from 10.0.0.1:{k} to 10.0.0.2:443. Action: Allow") for k in range(1, 8)]
    path = lines_file(tmp_path, good[:1] + ["{broken"] + good[1:])
    flows, ledger = read(path, chunk_rows=2)  # block 1 goes line by line, the later ones through Arrow
    assert list(flows["source"]) == [f"{path}:{n}" for n in (1, 3, 4, 5, 6, 7, 8)]
    assert ledger.samples[0].where == f"{path}:2"


def test_json_lines_whose_first_line_is_damaged_are_still_read_as_lines(tmp_path):
    path = lines_file(tmp_path, ['{"category": "AzureFirewallNetworkRule", "properties": {"msg": "TCP req',
                                 legacy("UDP request from 10.0.0.1:2 to 10.0.0.3:53. Action: Deny")])
    flows, ledger = read(path)
    assert list(flows["source"]) == [f"{path}:2"]
    assert [(s.reason, s.where) for s in ledger.samples] == [("truncated_json", f"{path}:1")]


def test_several_wrapper_documents_in_one_file(tmp_path):
    path = tmp_path / "capture.json"
    first = {"records": [legacy("TCP request from 10.0.0.1:1 to 10.0.0.2:443. Action: Allow")] * 2}
    second = {"records": [legacy("UDP request from 10.0.0.1:2 to 10.0.0.3:53. Action: Deny")]}
    path.write_text(json.dumps(first) + "\n" + json.dumps(second) + "\n")
    flows, _ = read(path)
    assert [r[0] for r in rows(flows)] == ["TCP", "TCP", "UDP"]
    assert [s.rpartition(" ")[2] for s in flows["source"]] == ["1", "2", "1"]


def test_byte_offsets_count_bytes_not_characters(tmp_path):
    path = tmp_path / "utf8.json"
    first = legacy("TCP request from 10.0.0.1:1 to 10.0.0.2:443. Action: Allow. Rule: règle-été")
    second = legacy("UDP request from 10.0.0.1:2 to 10.0.0.3:53. Action: Deny")
    path.write_text('{"records": [' + json.dumps(first, ensure_ascii=False) + ", " + json.dumps(second) + "]}",
                    encoding="utf-8")
    flows, _ = read(path)
    offset = int(flows["source"][1].rpartition("@")[2].split()[0])
    assert path.read_bytes()[offset:offset + 12] == b'{"category":'


def test_a_large_document_streams_in_bounded_chunks(tmp_path):
    path = tmp_path / "big.json"
    record = json.dumps(legacy("TCP request from 10.0.0.1:40000 to 13.69.64.82:443. Action: Allow"))
    with path.open("w") as out:
        out.write('{"records": [\n' + ",\n".join([record] * 20_000) + "\n]}\n")
    flows, ledger = read(path, chunk_rows=3000)
    assert len(flows) == ledger.records_read == 20_000


# ------------------------------------------------------------------------------------------------ strict mode

def test_strict_mode_names_the_file_and_line():
    with pytest.raises(StrictInputError, match=r"truncated\.json:2: truncated json"):
        read(DATA / "truncated.json", strict=True)


def test_strict_mode_names_the_byte_offset_in_a_document():
    with pytest.raises(StrictInputError, match=r"bad_record_in_document\.json@\d+ record 2: bad json"):
        read(DATA / "bad_record_in_document.json", strict=True)


def test_strict_mode_stops_at_the_first_bad_record():
    with pytest.raises(StrictInputError, match=r"bad_values\.json:2: invalid ip"):
        read(DATA / "bad_values.json", strict=True)


@pytest.mark.parametrize("field", ['"Action": "Allo\\ud800"', '"SourceIp": "10.0.8.\\udfff"', '"Fqdn": "a\\udc41.example"'])
def test_an_escaped_lone_surrogate_is_one_invalid_utf8_reject_not_the_rest_of_the_file(tmp_path, field):
    """An escaped half of a surrogate pair is text no encoder can write: that record is ``invalid_utf8``, and the
    lines after it are read (it used to stop the file as ``unreadable_rest_of_file``)."""
    good = ('{"category":"AZFWNetworkRule","time":"2024-03-02T09:00:01.0000000Z","properties":{"Protocol":"TCP",'
            '"SourceIp":"10.0.8.1","SourcePort":40001,"DestinationIp":"20.60.1.4","DestinationPort":443,'
            '"Action":"Allow"}}')
    bad = good.replace('"Action":"Allow"', field.replace(": ", ":")) if "Action" in field else \
        good.replace('"Action":"Allow"', '"Action":"Allow",' + field.replace(": ", ":"))
    path = tmp_path / "fw.json"
    path.write_text(bad + "\n" + good + "\n")
    ledger = RecordLedger()
    flows = sum(t.num_rows for t in READER.read_tables(LogFile(path), ledger, 100))
    assert flows == 1 and dict(ledger.rejected) == {"invalid_utf8": 1}


# ------------------------------------------------------------------------------------ documents, fast vs reference

from hypothesis import given, settings, strategies as st

from egress_sim.logs.formats import azfw_documents

FIXTURE_RECORDS = [json.loads(line) for name in ("legacy_variants.json", "structured_network.json",
                                                 "log_analytics_structured.json", "legacy_pt1h.json")
                   for line in (DATA / name).read_text().splitlines() if line.strip()]
MUTATIONS = st.sampled_from([None, ("properties", "SourceIp", "10.0.0.999"), ("properties", "DestinationPort", -1),
                             ("properties", "Protocol", "GRE"), ("properties", "Action", {"x": 1}),
                             ("time", None, "yesterday"), ("category", None, 7), ("extra", None, "not documented")])


def _mutated(record: dict, mutation) -> dict:
    record = json.loads(json.dumps(record))
    if mutation is not None:
        key, inner, value = mutation
        if inner is None:
            record[key] = value
        elif isinstance(record.get(key), dict):
            record[key][inner] = value
    return record


STORAGE_RECORDS = [r for r in FIXTURE_RECORDS if isinstance(r.get("properties"), dict)]


@settings(max_examples=80, deadline=None)
@given(st.booleans(), st.lists(st.tuples(st.integers(0, 10**6), MUTATIONS), min_size=1, max_size=40),
       st.sampled_from([1, 7, 1000]))
def test_a_documents_plain_records_taken_by_columns_read_as_record_by_record(tmp_path_factory, storage_only, picks,
                                                                            chunk_rows):
    """Every flow, source, count and sample of a ``{"records": [...]}`` document is the same whether its plain
    records are taken column by column (the fast way) or one record at a time (the reference way)."""
    pool = STORAGE_RECORDS if storage_only else FIXTURE_RECORDS
    records = [_mutated(pool[i % len(pool)], m) for i, m in picks]
    path = tmp_path_factory.mktemp("doc") / "fw.json"
    path.write_text('{"records": [' + ",\n".join(json.dumps(r) for r in records) + "]}")
    results = []
    for by_columns in (True, False):
        saved, azfw_documents.BY_COLUMNS = azfw_documents.BY_COLUMNS, by_columns
        try:
            flows, ledger = read(path, chunk_rows=chunk_rows)
        finally:
            azfw_documents.BY_COLUMNS = saved
        results.append((flows.astype(object).where(flows.notna(), None).values.tolist(), ledger.records_read,
                        dict(ledger.skipped), dict(ledger.rejected),
                        [(s.reason, s.where, s.text) for s in ledger.samples]))
    assert results[0] == results[1]
    assert results[0][1] == len(records)
