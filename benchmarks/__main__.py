"""``make bench``: run every ``benchmarks/bench_*.py`` and print one JSON object.

Each module defines ``run() -> dict`` of figures (numbers, with units in the key names).
A module whose stage is unavailable returns ``{"skipped": "why"}``. The combined JSON is
printed last, after a short human table.
"""

from __future__ import annotations

import importlib
import json
import pkgutil
import sys
import time
from pathlib import Path


def main(argv: list[str]) -> int:
    only = set(argv)
    here = Path(__file__).parent
    results: dict = {}
    for info in sorted(pkgutil.iter_modules([str(here)]), key=lambda m: m.name):
        if not info.name.startswith("bench_"):
            continue
        name = info.name[len("bench_") :]
        if only and name not in only:
            continue
        start = time.perf_counter()
        module = importlib.import_module(f"benchmarks.{info.name}")
        try:
            figures = module.run()
        except Exception as exc:  # report, keep benchmarking the other stages
            figures = {"error": f"{type(exc).__name__}: {exc}"}
        figures["bench_seconds"] = round(time.perf_counter() - start, 2)
        results[name] = figures
        for key, value in figures.items():
            print(f"{name:12s} {key:40s} {value}", file=sys.stderr)
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
