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
# 90 MB, 10,000 in ~1 s and 210 MB. What bounds the count is evaluation: every service-tag rule is one bit of
# every distinct destination's mask and of every flow's port/protocol check, so a 1 M-flow chunk of distinct
# addresses peaks at 770 MB with 1,000 rules (550 MB with 10) but 1.0 GB with 2,000 and 3.0 GB with 10,000,
# and slows from 2.7 s to 21 s. 1,000 keeps evaluation at the memory the README quotes; real workspaces
# have tens of rules.
MAX_RULES_PER_WORKSPACE = 1_000
MAX_SERVICE_TAG_BYTES = 64 * 2**20  # a ServiceTags_Public_*.json; the real one is 4.1 MB (3,039 tags, 93 k prefixes),
                                    # so 15x its size; parsing 64 MB of JSON peaks near 1 GB, the most we allow it
