"""The pure-Python longest-prefix map against pytricia (the `test` extra's independent oracle), and the
runtime working without pytricia installed."""

from __future__ import annotations

import ipaddress
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytricia
from hypothesis import given, settings
from hypothesis import strategies as st

from egress_sim.logs.inventory import ComputeEntry, Inventory
from egress_sim.model import ComputeType
from egress_sim.net.prefixmap import PrefixMap

REPO = Path(__file__).resolve().parent.parent

# A few base addresses so that drawn prefixes nest, touch and overlap instead of being scattered.
BASES = {4: [0, 0x0A000000, 0x0A0A0000, 0x14000000, 0xFFFFFFFF], 6: [0, 0x20010DB8 << 96, (0x20010DB8 << 96) | 1 << 64, 2**128 - 1]}


@st.composite
def networks(draw):
    version = draw(st.sampled_from([4, 4, 6]))
    bits = 32 if version == 4 else 128
    base = draw(st.sampled_from(BASES[version]) | st.integers(0, 2**bits - 1))
    length = draw(st.integers(0, bits))
    base ^= draw(st.integers(0, 255)) << max(0, bits - length)  # neighbours of the same length
    base &= 2**bits - 1
    return ipaddress.ip_network((base >> (bits - length) << (bits - length), length))


def probes(prefixes: list) -> list:
    """Every prefix's first and last address and their outside neighbours, plus the ends of each family."""
    out = [ipaddress.IPv4Address(0), ipaddress.IPv4Address(2**32 - 1), ipaddress.IPv6Address(0), ipaddress.IPv6Address(2**128 - 1)]
    for net in prefixes:
        top = 2**net.max_prefixlen - 1
        first, last = int(net.network_address), int(net.broadcast_address)
        family = ipaddress.IPv4Address if net.version == 4 else ipaddress.IPv6Address
        out += [family(v) for v in (first, last, max(first - 1, 0), min(last + 1, top), (first + last) // 2)]
    return out


@settings(max_examples=150, deadline=None)
@given(prefixes=st.lists(networks(), max_size=40), extra=st.lists(st.integers(0, 2**32 - 1), max_size=10))
def test_longest_match_equals_pytricia(prefixes, extra):
    trees = {4: pytricia.PyTricia(32), 6: pytricia.PyTricia(128)}
    for index, net in enumerate(prefixes):
        trees[net.version][str(net)] = index
    lookup = PrefixMap((net, index) for index, net in enumerate(prefixes))
    for address in probes(prefixes) + [ipaddress.IPv4Address(v) for v in extra]:
        tree = trees[address.version]
        expected = (ipaddress.ip_network(tree.get_key(str(address))), tree.get(str(address))) if str(address) in tree else None
        assert lookup.longest_match(address) == expected, address


def test_a_zone_id_is_ignored_not_a_crash():
    lookup = PrefixMap([(ipaddress.ip_network("fe80::/10"), "link-local")])
    assert lookup.longest_match(ipaddress.ip_address("fe80::1%eth0")) == (ipaddress.ip_network("fe80::/10"), "link-local")


def test_inventory_takes_the_longest_prefix():
    entries = [ComputeEntry("cluster", ComputeType.COMPUTE_CLUSTER, "10.0.8.0/24"),
               ComputeEntry("node", ComputeType.COMPUTE_INSTANCE, "10.0.8.4/32"),
               ComputeEntry("v6", ComputeType.SERVERLESS, "fd00::/64")]
    inventory = Inventory(entries)
    assert [inventory.find(a).name if inventory.find(a) else None
            for a in ("10.0.8.4", "10.0.8.5", "10.0.9.1", "fd00::4", "fd01::4")] == ["node", "cluster", None, "v6", None]


def test_explain_and_evaluate_run_without_pytricia(tmp_path):
    """pytricia (no wheels: it needs a C compiler) is a test-only oracle; nothing at run time may import it.
    The child process cannot import it, as in an install without the `test` extra."""
    blocker = tmp_path / "pytricia.py"
    blocker.write_text("raise ImportError('pytricia is not installed in this test')\n")
    script = textwrap.dedent("""
        import sys
        from egress_sim.cli import main
        sys.argv = ["egress-sim", "explain", "data/workspaces/contoso-research.yaml", "--dst", "pypi.org", "--port", "443"]
        try:
            main()
        except SystemExit as exc:
            assert not exc.code, exc.code
        sys.argv = ["egress-sim", "evaluate", "data/workspaces/contoso-research.yaml", "data/flows/sample_flows.csv",
                    "-o", sys.argv_out]
    """).replace("sys.argv_out", repr(str(tmp_path / "verdicts.csv")))
    script += textwrap.dedent("""
        try:
            main()
        except SystemExit as exc:
            assert not exc.code, exc.code
        assert "pytricia" not in sys.modules or sys.modules["pytricia"] is None
    """)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(REPO)])}
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert (tmp_path / "verdicts.csv").exists()
