"""``make demo``: the main job on embedded defaults, printing where its outputs are.

Runs with nothing downloaded. Until the end-to-end stage lands it executes the
quickstart notebook; see :mod:`s2e_lib.pipeline` for the full demo.
"""

from __future__ import annotations

import sys
import time

from s2e_lib.workbook import run_notebooks


def main() -> int:
    start = time.perf_counter()
    runs = run_notebooks(["00_quickstart"], smoke=False)
    print(f"demo finished in {time.perf_counter() - start:.1f} s")
    for run in runs:
        print(f"  executed notebook: {run.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
