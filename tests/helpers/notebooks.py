"""Running a generated notebook the way a kernel would, without Jupyter: its code cells, in
order, in one fresh Python process (matplotlib drawing off screen)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any


def run_code_cells(notebook: dict[str, Any], cwd: Path) -> None:
    """Runs ``notebook``'s code cells in ``cwd``; fails with the process' stderr."""
    code = "\n\n".join("".join(c["source"]) for c in notebook["cells"] if c["cell_type"] == "code")
    (cwd / "notebook.py").write_text(code)
    env = {**os.environ, "MPLBACKEND": "Agg"}
    done = subprocess.run([sys.executable, "notebook.py"], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
