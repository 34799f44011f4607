"""``python -m egress_sim.cli``: the command line without the console entry point's process handling."""

from . import main

main()
