"""Documented limits on input size and shape: hostile input (huge, deep, cut, looping) stops here with one
clear error (``LimitExceeded``) or a counted reject, never by exhausting the machine's memory.

Each limit is far above anything Azure or a real log produces; the README's "Limits" section lists them.
"""

from __future__ import annotations

# Workspace and other YAML/JSON documents (workspace, scenario, inventory, service-tag file).
MAX_DOCUMENT_DEPTH = 64            # nesting of mappings/lists; Azure's deepest real form is ~8
MAX_WORKSPACE_BYTES = 16 * 2**20   # a workspace file (YAML or JSON); real ones are a few KB
