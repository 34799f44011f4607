"""Documented limits on input size and shape: hostile input (huge, deep, cut, looping) stops here with one
clear error (``LimitExceeded``) or a counted reject, never by exhausting the machine's memory.

Each limit is far above anything Azure or a real log produces; the README's "Limits" section lists them.
"""

from __future__ import annotations

# --- documents: workspace, scenario, service catalog, inventory (YAML or JSON) ---------------------------
# A real workspace file is a few KB (1,000 rules ~200 KB). The strict YAML reader is pure Python (~0.3-0.5 MB/s
# and ~1 KB of memory per value on this 2-core machine), so 2 MiB bounds a load to seconds and a few hundred MB;
# a compute inventory of more than ~20,000 computes belongs in its CSV form.
MAX_DOCUMENT_BYTES = 2 * 2**20
MAX_DOCUMENT_DEPTH = 64            # nesting of mappings and lists; Azure's deepest real form is about 8
MAX_DOCUMENT_NODES = 500_000       # values once YAML aliases are expanded ("billion laughs" stops here)

# --- Replay input: listing files and reading logs (issue 10, slice "logs") ---
# A month of NSG flow logs for 500 NICs is ~360,000 hourly blobs; a million leaves room for that and stays at a
# few hundred MB of listing. Past it the user is asked to replay a narrower directory or pattern at a time.
MAX_INPUT_FILES = 1_000_000
# One line of a line-based log (Zeek, CSV, Azure Firewall JSON lines / CSV). Real records are well under 10 KiB
# (a Zeek JSON line with every field ~2 KiB); 1 MiB is ~100x that. A longer line is rejected (line_too_long)
# while reading, never held whole. AWS VPC records keep their own tighter bound (AWS_VPC_MAX_LINE_BYTES below).
MAX_LINE_BYTES = 1 * 2**20
# One JSON record of an NSG / VNet flow log (an element of "records"): one minute of one NSG's tuples, a few MB
# on the busiest NSGs measured in Microsoft's samples (~100 bytes a tuple). 64 MiB is ~600,000 tuples; decoding
# one that size peaks at a few hundred MB. A larger record is rejected (record_too_large) and reading resumes
# at the next record. Azure Firewall JSON documents are bounded tighter (MAX_AZFW_RECORD_BYTES).
MAX_JSON_RECORD_BYTES = 64 * 2**20

# --- service tags and compile (issue 10, slice "tags") -----------------------------------------------------------
# Outbound rules a workspace defines (its own rules as written; the ~13 rules Azure adds are not counted).
# Compile now grows linearly (benchmarks/compile_scaling.py): 1,000 rules on AzureCloud compile in 0.1 s and
# 91 MB, 10,000 in 0.3-0.5 s and 202 MB. What bounds the count is evaluation: every service-tag rule is one
# bit of every distinct destination's mask and of every flow's port/protocol check, so evaluating a 1 M-flow
# chunk of distinct addresses peaks at 0.7 GB with 1,000 rules (0.5 GB with 10), 1.0 GB with 2,000 and
# 3.0 GB with 10,000. 1,000 keeps evaluation near the memory the README quotes; real workspaces have tens.
MAX_RULES_PER_WORKSPACE = 1_000

# --- flowtables (issue 10): flow tables read by ``evaluate`` (and the flow schema ``replay`` shares) ---
# Distinct cell values (host names, addresses, ports, ...) of a chunk turned into Python objects at a time.
# Parsing and rule matching work once per distinct value; done on all of a chunk's values at once, a chunk of
# 1,000,000 flows with 1,000,000 distinct host names held ~2-3 Python strings per name (~150 bytes each)
# on top of the Arrow data. 65,536 strings are ~10 MB, and slices this large keep the per-slice overhead
# (a few Arrow and numpy calls) below 1% of the work.
DISTINCT_VALUES_PER_SLICE = 65_536

# --- tags (issue 10): the service-tag file ---
# A ServiceTags_Public_*.json: the real one is 4.1 MB (3,039 tags, 93 k prefixes), and loading it grows peak
# memory by ~19 MB (~5x its size), so the limit, 15x the real file, bounds a load to ~0.3 GB.
MAX_SERVICE_TAG_BYTES = 64 * 2**20

# --- Azure Firewall logs (issue 11, slice "azfw") ---
# One record of an Azure Firewall JSON document ({"records": [...]}, a JSON array, pretty-printed objects). A
# firewall record is one connection (real ones are under 4 KiB; a long TargetUrl stays far below 64 KiB), so
# 1 MiB is ~250x the largest real record and matches MAX_LINE_BYTES for the JSON-lines form of the same records.
# The document reader decodes from a window of this much text ahead: a record that does not fit is one reject
# (bad_json / truncated_json) and reading resumes at the next record.
MAX_AZFW_RECORD_BYTES = 1 * 2**20

# --- logs engine (issue 11, slice "awsvpc"): AWS VPC flow logs ---
# One AWS VPC flow log record. A record is at most a few dozen space-separated fields (every field of version 8
# chosen in a custom format, with IPv6 addresses and resource ids, is well under 2 KiB); 64 KiB is ~30x that and
# far below the 1 MiB bound of other line formats, so a binary or wrong file is rejected line by line early
# (line_too_long) instead of being split into 1 MiB "records".
AWS_VPC_MAX_LINE_BYTES = 64 * 2**10
