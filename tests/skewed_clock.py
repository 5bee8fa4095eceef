"""Run a module as ``python -m`` would, with this process's clock running ahead: two hosts whose
clocks differ, on one machine, without faketime.

Usage: ``python -m tests.skewed_clock SECONDS MODULE [ARGS...]``. ``time.time`` and ``time.time_ns``
are shifted before the module (and so anything it imports) runs.
"""

from __future__ import annotations

import runpy
import sys
import time


def main() -> None:
    ahead = float(sys.argv[1])
    real_time, real_time_ns = time.time, time.time_ns
    time.time = lambda: real_time() + ahead
    time.time_ns = lambda: real_time_ns() + int(ahead * 1e9)
    module = sys.argv[2]
    sys.argv = [module, *sys.argv[3:]]
    runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
