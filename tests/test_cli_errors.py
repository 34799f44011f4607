"""No traceback, no bare `Aborted!`: every command answers malformed arguments with one `error:` line (exit 2),
or under --json with the one documented error object."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from egress_sim.cli import main

WS = "data/workspaces/contoso-research.yaml"
FLOWS = "data/flows/sample_flows.csv"

MALFORMED = {
    "validate": [[], ["no-such.yaml"], [WS, "--from"], [WS, "--bogus"], [WS, "--from", "no-such.yaml"]],
    "evaluate": [[], [WS], [WS, FLOWS], [WS, FLOWS, "-o", "{out}", "--chunk-rows", "0"],
                 [WS, FLOWS, "-o", "{out}", "--chunk-rows", "ten"], [WS, FLOWS, "-o", "{out}", "--compute", "laptop"],
                 [WS, FLOWS, "-o", "{out}", "--mode", "open"], [WS, "missing.csv", "-o", "{out}"],
                 [WS, FLOWS, "-o", "{out}.txt"]],
    "explain": [[WS], [WS, "--dst", "pypi.org"], [WS, "--dst", "pypi.org", "--port", "70000"],
                [WS, "--dst", "pypi.org", "--port", "-1"], [WS, "--dst", "pypi.org", "--port", "443", "--protocol", "SCTP"],
                [WS, "--dst", "pypi.org", "--port", "443", "--protocol", "*"],
                [WS, "--dst", "fe80::1%eth0", "--port", "443"], [WS, "--dst", "a\x00b", "--port", "443"],
                [WS, "--dst", "", "--port", "443"], [WS, "--dst", "x" * 300, "--port", "443"]],
    "simulate": [[WS], [WS, "-o", "{out}", "--flows", "-5"], [WS, "-o", "{out}", "--seed", "x"],
                 [WS, "-o", "{out}", "--scenario", "missing.yaml"]],
    "demo": [["--flows", "0"], ["--workspace", "missing.yaml"], ["--seed", "-1"]],
    "replay": [[WS], [WS, FLOWS], [WS, FLOWS, "-o", "{out}"], [WS, FLOWS, "-o", "{out}", "--compute", "x"],
               [WS, FLOWS, "-o", "{out}", "--compute", "serverless", "--inventory", "i.yaml"],
               [WS, FLOWS, "-o", "{out}", "--compute", "serverless", "--format", "pcap"]],
    "convert": [[WS], [WS, "--to", "xml", "-o", "{out}"], [WS, "--to", "yaml"], ["missing.yaml", "--to", "arm", "-o", "{out}"]],
}
CASES = [(command, args) for command, cases in MALFORMED.items() for args in cases]


def _args(args: list[str], tmp_path) -> list[str]:
    return [a.replace("{out}", str(tmp_path / "out.csv")) for a in args]


@pytest.mark.parametrize("command, args", CASES, ids=[f"{c}-{i}" for i, (c, _) in enumerate(CASES)])
def test_malformed_arguments_give_one_error_line_and_exit_2(cli, tmp_path, command, args):
    result = cli(command, *_args(args, tmp_path))
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.output and "Aborted" not in result.output


@pytest.mark.parametrize("command, args", CASES, ids=[f"{c}-{i}" for i, (c, _) in enumerate(CASES)])
def test_under_json_every_error_is_the_documented_object(cli, tmp_path, command, args):
    result = cli(command, *_args(args, tmp_path), "--json")
    assert result.exit_code == 2
    data = json.loads(result.stdout)
    assert set(data) == {"error", "findings"} and set(data["error"]) == {"code", "message", "file"}
    assert not data["error"]["message"].startswith("error:")


def test_an_error_about_a_file_names_it_in_the_json(cli, tmp_path):
    data = json.loads(cli("evaluate", WS, tmp_path / "missing.csv", "-o", tmp_path / "o.csv", "--json").stdout)
    assert data["error"]["file"] == str(tmp_path / "missing.csv")


def test_no_arguments_prints_help_and_exits_0(cli):
    result = cli()
    assert result.exit_code == 0 and "Usage" in result.output


def test_control_characters_from_inputs_never_reach_the_terminal_raw(cli, tmp_path):
    path = tmp_path / "ws.json"
    path.write_text('{"name": "ws", "managed_network": {"\\u001b[2Jevil": 1}}')
    result = cli("validate", path)
    assert "\x1b" not in result.output and "\\x1b[2Jevil: unknown key" in result.stderr


def test_a_keyboard_interrupt_in_a_command_exits_130_with_one_line(tmp_path):
    """The group turns KeyboardInterrupt raised anywhere in a command into one line and exit 130."""
    script = ("import signal, sys\n"
              "import egress_sim.cli as c\n"
              "import egress_sim.app.loading as loading\n"
              "def boom(*a, **k):\n    raise KeyboardInterrupt\n"
              "loading.read_checked = boom\n"
              f"c.main(['validate', {WS!r}])\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 130
    assert done.stderr.strip().splitlines() == ["error: interrupted; no output was left under the names asked for"]


def test_an_internal_error_is_one_line_exit_3_and_debug_shows_the_traceback(monkeypatch, cli):
    import egress_sim.app.loading as loading  # the command imports it when it runs

    def broken(*_a, **_k):
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(loading, "read_checked", broken)
    result = cli("validate", WS)
    assert result.exit_code == 3 and result.stderr.count("\n") == 1 and "ZeroDivisionError" in result.stderr
    monkeypatch.setenv("EGRESS_SIM_DEBUG", "1")
    with pytest.raises(ZeroDivisionError):
        main(["validate", WS], standalone_mode=False)


def test_replay_without_inventory_or_compute_says_which_option_is_missing(cli, tmp_path):
    result = cli("replay", WS, FLOWS, "-o", tmp_path / "o.csv")
    assert result.exit_code == 2 and "--inventory" in result.stderr and "--compute" in result.stderr
    assert not (tmp_path / "o.csv").exists()


@pytest.mark.parametrize("args", [["--dst", "004.149.098.193"], ["--dst", "1.2.3"], ["--dst", "1.2.3.4", "--ip", "5.6.7.8"]])
def test_explain_refuses_an_address_it_cannot_read_rather_than_take_it_for_a_host(cli, args):
    result = cli("explain", WS, *args, "--port", "443")
    assert result.exit_code == 2 and result.stderr.startswith("error: ")


def test_explain_expect_says_what_it_got_when_the_check_fails(cli):
    result = cli("explain", WS, "--dst", "8.8.8.8", "--port", "443", "--expect", "allow")
    assert result.exit_code == 1 and result.stderr.strip() == "expected allow, got deny (no_sni)"


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
@pytest.mark.parametrize("option", ["workspace", "--service-tags"])
def test_a_fifo_given_as_a_document_is_refused_not_waited_on(cli, tmp_path, option):
    fifo = tmp_path / "pipe.json"
    os.mkfifo(fifo)
    args = [fifo] if option == "workspace" else [WS, "--service-tags", fifo]
    result = cli("validate", *args)
    assert result.exit_code == 2 and "is not a regular file" in result.stderr


@pytest.mark.skipif(not os.path.exists("/proc/self/maps"), reason="watches /proc to know the program has started")
@pytest.mark.parametrize("delay", [0.0, 0.2, 0.5, 1.0])
def test_ctrl_c_at_any_moment_is_one_line_and_130_or_a_finished_run(tmp_path, delay):
    """A real SIGINT to `python -m egress_sim`, from while it imports pandas and numba to while it writes:
    either the run had finished (exit 0) or it stops with exit 130 and one line; never a traceback.

    The clock starts once the program runs (numpy appears in its memory map): a SIGINT while the Python
    interpreter itself is still starting gets Python's own message, which no program can change."""
    import signal
    import time

    out = tmp_path / "v.csv"
    process = subprocess.Popen([sys.executable, "-m", "egress_sim", "evaluate", WS, FLOWS, "-o", out,
                                "--chunk-rows", "1"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if "numpy" in Path(f"/proc/{process.pid}/maps").read_text():
                break
        except OSError:
            break
        time.sleep(0.002)
    time.sleep(delay)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=120)
    assert "Traceback" not in err
    if process.returncode == 130:
        assert err.strip().splitlines() == ["error: interrupted; no output was left under the names asked for"]
        assert not out.exists()
    else:
        assert process.returncode == 0 and out.exists()


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_a_full_stdout_is_one_error_line_not_an_internal_error():
    with open("/dev/full", "w") as full:
        done = subprocess.run([sys.executable, "-m", "egress_sim", "validate", WS], stdout=full,
                              stderr=subprocess.PIPE, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == ["error: input/output error: No space left on device"]


def test_an_error_line_stays_one_line_when_the_file_name_holds_a_newline(cli, tmp_path):
    result = cli("validate", tmp_path / "a\nb.yaml")
    assert result.exit_code == 2 and len(result.stderr.strip().splitlines()) == 1 and "a\\nb.yaml" in result.stderr
