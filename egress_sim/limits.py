"""Documented limits on input size and shape: hostile input (huge, deep, cut, looping) stops here with one
clear error (``LimitExceeded``) or a counted reject, never by exhausting the machine's memory.

Each limit is far above anything Azure or a real log produces; the README's "Limits" section lists them.
"""

from __future__ import annotations

# Workspace and other YAML/JSON documents (workspace, scenario, inventory, service-tag file).
MAX_DOCUMENT_DEPTH = 64            # nesting of mappings/lists; Azure's deepest real form is ~8
MAX_WORKSPACE_BYTES = 16 * 2**20   # a workspace file (YAML or JSON); real ones are a few KB

# --- service tags and compile (issue 10, slice "tags") -----------------------------------------------------------
# Outbound rules a workspace defines (its own rules as written; the ~13 rules Azure adds are not counted).
# Compile now grows linearly (benchmarks/compile_scaling.py): 1,000 rules on AzureCloud compile in 0.1 s and
# 91 MB, 10,000 in 0.3-0.5 s and 202 MB. What bounds the count is evaluation: every service-tag rule is one
# bit of every distinct destination's mask and of every flow's port/protocol check, so evaluating a 1 M-flow
# chunk of distinct addresses peaks at 0.7 GB with 1,000 rules (0.5 GB with 10), 1.0 GB with 2,000 and
# 3.0 GB with 10,000. 1,000 keeps evaluation near the memory the README quotes; real workspaces have tens.
MAX_RULES_PER_WORKSPACE = 1_000
# A ServiceTags_Public_*.json: the real one is 4.1 MB (3,039 tags, 93 k prefixes), and loading it grows peak
# memory by ~19 MB (~5x its size), so the limit, 15x the real file, bounds a load to ~0.3 GB.
MAX_SERVICE_TAG_BYTES = 64 * 2**20
