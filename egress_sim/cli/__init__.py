"""The ``egress-sim`` command line: each command is a thin wrapper over a library call.

Exit codes, for every command: 0 success; 1 a check the user asked for failed (an invalid workspace in
``validate``, a forbidden mode change, ``explain --expect`` not met, a ``whatif --fail-on`` condition, a change
``plan`` says Azure refuses); 2 bad input or usage (one ``error:`` line naming the file, or under ``--json`` the
object ``{"error": {"code", "message", "file"}, "findings"}``); 3 an internal error (a bug: one line;
``EGRESS_SIM_DEBUG=1`` shows the traceback); 130 interrupted (Ctrl-C). Nothing a user types or feeds in ends in a
Python traceback.

``base`` holds the group and what commands share; each other module registers its commands on ``main``.
Loading the package imports click and the light ``base`` modules only (see ``base``).
"""

from __future__ import annotations

from . import decide, flows, plan, report, tags, workspace  # noqa: F401  (registers the commands)
from .base import main

__all__ = ["main"]
