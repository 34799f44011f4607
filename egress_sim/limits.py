"""Documented limits on input size and shape: hostile input (huge, deep, cut, looping) stops here with one
clear error (``LimitExceeded``) or a counted reject, never by exhausting the machine's memory.

Each limit is far above anything Azure or a real log produces; the README's "Limits" section lists them.
"""

from __future__ import annotations

# Workspace and other YAML/JSON documents (workspace, scenario, inventory, service-tag file).
MAX_DOCUMENT_DEPTH = 64            # nesting of mappings/lists; Azure's deepest real form is ~8
MAX_WORKSPACE_BYTES = 16 * 2**20   # a workspace file (YAML or JSON); real ones are a few KB

# --- flowtables (issue 10): flow tables read by ``evaluate`` (and the flow schema ``replay`` shares) ---
# Distinct cell values (host names, addresses, ports, ...) of a chunk turned into Python objects at a time.
# Parsing and rule matching work once per distinct value; done on all of a chunk's values at once, a chunk of
# 1,000,000 flows with 1,000,000 distinct host names held ~2-3 Python strings per name (~150 bytes each)
# on top of the Arrow data. 65,536 strings are ~10 MB, and slices this large keep the per-slice overhead
# (a few Arrow and numpy calls) below 1% of the work.
DISTINCT_VALUES_PER_SLICE = 65_536
