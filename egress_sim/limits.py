"""Documented limits on input size and shape: hostile input (huge, deep, cut, looping) stops here with one
clear error (``LimitExceeded``) or a counted reject, never by exhausting the machine's memory.

Each limit is far above anything Azure or a real log produces; the README's "Limits" section lists them.
"""

from __future__ import annotations

# --- documents: workspace, scenario, service catalog, inventory (YAML or JSON) ---------------------------
MAX_DOCUMENT_BYTES = 64 * 2**20    # a real workspace file is a few KB; an inventory of 100 k computes ~10 MB
MAX_DOCUMENT_DEPTH = 64            # nesting of mappings and lists; Azure's deepest real form is about 8
MAX_DOCUMENT_NODES = 5_000_000     # values once YAML aliases are expanded ("billion laughs" stops here)
