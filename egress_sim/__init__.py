"""egress_sim: which outbound connections would an Azure ML managed network allow, and why.

Library first: load a workspace (``load_workspace``), compile it with Microsoft's service tags
(``compile_rules``), evaluate flows (``evaluate_frame``), or explain one flow (``ReferenceEvaluator``).
"""

from .base import numbacache

__version__ = "0.1.0"

# Before any submodule imports numba: a read-only install must still find somewhere to cache its kernels.
numbacache.configure()
