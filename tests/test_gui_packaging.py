"""The wheel ships the GUI's front end: every file of ``ferrotem/gui/static`` (and every
module of ``ferrotem.gui``) is in the wheel maturin builds. Slow on a cold build (it compiles
the extension); run with ``-m slow``."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).parents[1]
GUI = REPO / "python" / "ferrotem" / "gui"


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_the_wheel_ships_the_front_end(tmp_path: Path) -> None:
    maturin = shutil.which("maturin", path=str(Path(sys.executable).parent)) or shutil.which(
        "maturin"
    )
    if maturin is None:
        pytest.skip("maturin is not installed")
    subprocess.run([maturin, "build", "--release", "--quiet", "-o", str(tmp_path)],
                   cwd=REPO, check=True, capture_output=True)  # fmt: skip
    (wheel,) = tmp_path.glob("ferrotem-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    wanted = {
        "ferrotem/gui/" + p.relative_to(GUI).as_posix()
        for p in GUI.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }
    assert any(name.startswith("ferrotem/gui/static/") for name in wanted)
    assert wanted <= names, sorted(wanted - names)
