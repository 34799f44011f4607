"""``egress-sim`` and ``python -m egress_sim``: load the command line, and stop with one line if Ctrl-C comes
while it loads, before ``cli`` can catch anything (``cli`` itself loads only click; the commands import pandas,
pyarrow and numba when they run, inside the handler).

The process ends with ``os._exit`` once its output is flushed: every file has been written and renamed (or
removed) by then, and skipping the interpreter's teardown avoids a rare abort in a native library's thread
pool on the way out ("terminate called without an active exception", seen in 3-7% of runs that ended in an
error)."""

from __future__ import annotations

import os
import sys


def run() -> None:
    try:
        from .cli import main
    except KeyboardInterrupt:
        sys.stderr.write("error: interrupted; no output was left under the names asked for\n")
        raise SystemExit(130) from None
    main.owns_process = True  # type: ignore[attr-defined]  # signal handlers are ours to set
    try:
        main()
    except SystemExit as exit_:
        code = exit_.code
        if code is not None and not isinstance(code, int):
            sys.stderr.write(f"{code}\n")
            code = 1
        _leave(code or 0)
    _leave(0)


def _leave(code: int) -> None:
    try:
        sys.stdout.flush()
    except (OSError, ValueError) as exc:  # what was printed did not all arrive: not a success
        if code == 0:
            code = 2
            sys.stderr.write(f"error: input/output error writing the output: {getattr(exc, 'strerror', None) or exc}\n")
    try:
        sys.stderr.flush()
    except (OSError, ValueError):  # nothing more can be said anywhere
        pass
    os._exit(code)


if __name__ == "__main__":
    run()
