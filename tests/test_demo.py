"""``ferrotem demo``: its built-in analyses against numpy on the file it wrote, and the
specimen's beam deflection recovered by the centre of mass."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from ferrotem import cli

SCAN = (12, 10)
FRAME = (48, 40)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> dict:
    out = tmp_path_factory.mktemp("demo")
    return cli.run_demo(SCAN, FRAME, str(out), seed=3)


@pytest.fixture(scope="module")
def frames(demo: dict) -> np.ndarray:
    raw = np.fromfile(demo["raw"], dtype=np.uint16)
    return raw.reshape(SCAN + FRAME).astype(np.float64)


def test_sum_and_total_match_numpy(demo: dict, frames: np.ndarray) -> None:
    res = demo["results"]
    np.testing.assert_allclose(res["sum"], frames.sum(axis=(0, 1)), rtol=1e-6)
    np.testing.assert_allclose(res["total"], frames.sum(axis=(2, 3)), rtol=1e-6)


def test_virtual_adf_matches_a_numpy_annulus(demo: dict, frames: np.ndarray) -> None:
    fy, fx = FRAME
    y, x = np.mgrid[:fy, :fx]
    d2 = (y - (fy - 1) / 2) ** 2 + (x - (fx - 1) / 2) ** 2
    disk_radius = 0.08 * min(FRAME)
    annulus = (d2 > (1.6 * disk_radius) ** 2) & (d2 <= (0.45 * min(FRAME)) ** 2)
    expected = np.einsum("abyx,yx->ab", frames, annulus)
    np.testing.assert_allclose(demo["results"]["adf"], expected, rtol=1e-5)


def test_centre_of_mass_matches_numpy_moments(demo: dict, frames: np.ndarray) -> None:
    fy, fx = FRAME
    cy, cx = (fy - 1) / 2, (fx - 1) / 2
    y, x = np.mgrid[:fy, :fx]
    disk = (y - cy) ** 2 + (x - cx) ** 2 <= (2 * 0.08 * min(FRAME)) ** 2
    total = np.einsum("abyx,yx->ab", frames, disk)
    com_y = np.einsum("abyx,yx->ab", frames, disk * y) / total - cy
    com_x = np.einsum("abyx,yx->ab", frames, disk * x) / total - cx
    res = demo["results"]
    np.testing.assert_allclose(res["field_y"], com_y, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(res["field_x"], com_x, rtol=1e-5, atol=1e-4)
    # The divergence is that of the field over the scan grid (np.gradient on both axes).
    div = np.gradient(com_y, axis=0) + np.gradient(com_x, axis=1)
    np.testing.assert_allclose(res["divergence"], div, rtol=1e-4, atol=1e-4)


def test_centre_of_mass_follows_the_simulated_deflection(demo: dict) -> None:
    # The specimen deflects the central disk by Sample.shift_y/x (pixels at a 128-pixel
    # detector, scaled with the frame); the measured shifts must correlate with it.
    sample = cli.Sample(SCAN, np.random.default_rng(np.random.SeedSequence(3).spawn(1)[0]))
    scale = min(FRAME) / 128
    for measured, truth in (
        (demo["results"]["field_y"], sample.shift_y * scale),
        (demo["results"]["field_x"], sample.shift_x * scale),
    ):
        assert np.corrcoef(measured.ravel(), truth.ravel())[0, 1] > 0.8


def test_images_are_written(demo: dict) -> None:
    names = {Path(p).stem for p in demo["images"]}
    assert names == {
        "mean_diffraction_log",
        "total_intensity",
        "virtual_adf",
        "centre_of_mass",
        "com_divergence",
    }
    assert all(Path(p).stat().st_size > 0 for p in demo["images"])


def test_command_line_rejects_bad_shapes(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.main(["demo", "--scan", "0", "4"])
    assert "--scan" in capsys.readouterr().err
