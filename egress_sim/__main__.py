"""``egress-sim`` and ``python -m egress_sim``: load the command line, and stop with one line if Ctrl-C comes
while it loads (pandas, pyarrow and numba take about a second to import, before ``cli`` can catch anything)."""

from __future__ import annotations

import sys


def run() -> None:
    try:
        from .cli import main
    except KeyboardInterrupt:
        sys.stderr.write("error: interrupted; no output was left under the names asked for\n")
        raise SystemExit(130) from None
    main.owns_process = True  # type: ignore[attr-defined]  # signal handlers are ours to set
    main()


if __name__ == "__main__":
    run()
