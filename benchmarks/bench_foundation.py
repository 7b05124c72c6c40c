"""Foundation figures: CLI start-up time and library import time."""

from __future__ import annotations

import subprocess
import sys
import time


def run() -> dict:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "s2e_lib.cli", "--help"], check=True, capture_output=True)
    help_s = time.perf_counter() - start
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import s2e_lib.emotions, s2e_lib.paths"], check=True)
    import_s = time.perf_counter() - start
    return {"cli_help_seconds": round(help_s, 3), "import_core_seconds": round(import_s, 3)}
