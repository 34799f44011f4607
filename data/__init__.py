"""Bundled data shipped inside the package as ``egress_sim.bundled``: the service-tag file and example workspaces."""
