"""The ``ferrotem`` command line.

``ferrotem demo`` synthesises a 4D-STEM scan (a polycrystalline film with amorphous particles
and a vacuum edge), writes it as a raw file, and runs the built-in UDFs a microscopist starts
with (sum of frames, total intensity, a virtual annular dark-field detector, centre of mass) over
it in one pass, with the same API a user script would use.

``ferrotem demo --gui`` writes the same scan as a ``.npy`` file and opens it in the web GUI.
``ferrotem server`` serves the web GUI (:mod:`ferrotem.gui`, docs/gui.md).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import os
import sys
import tempfile
import time
from typing import Any

import numpy as np

__all__ = ["Sample", "demo_udfs", "main", "run_demo", "synthesize"]

#: electrons per frame that hit the specimen
DOSE = 20_000.0
#: dark counts per pixel and frame
DARK = 0.02


# -- the synthetic specimen ---------------------------------------------------------------------
class Sample:
    """Per scan position: which grain it sits in, how thick the film is, how much amorphous
    material (particles) lies on it, and how far the beam is deflected.

    Everything is defined on the unit square, so any scan shape gives the same picture.
    """

    def __init__(self, scan: tuple[int, int], rng: np.random.Generator):
        sy, sx = scan
        v, u = np.meshgrid((np.arange(sy) + 0.5) / sy, (np.arange(sx) + 0.5) / sx, indexing="ij")
        # Grains: a Voronoi tessellation, each grain with its own lattice rotation and
        # diffraction strength (some grains are near a zone axis, others are not).
        n_grains = 14
        seeds = rng.uniform(0, 1, size=(n_grains, 2))
        d2 = (v[..., None] - seeds[:, 0]) ** 2 + (u[..., None] - seeds[:, 1]) ** 2
        self.grain = np.argmin(d2, axis=-1)
        self.grain_angle = rng.uniform(0, np.pi / 3, size=n_grains)
        self.grain_strength = rng.uniform(0.05, 0.45, size=n_grains)
        # A vacuum region beyond a wavy edge in the bottom-right corner.
        edge = u + v + 0.06 * np.sin(9 * u) - 1.55
        self.film = np.clip(-edge / 0.02, 0, 1)
        # Thickness: a gentle wedge, plus amorphous particles (hemispheres) on top.
        self.thickness = self.film * (0.6 + 0.5 * u)
        particles = np.zeros_like(u)
        for _ in range(9):
            cy, cx = rng.uniform(0.1, 0.9, size=2)
            a = rng.uniform(0.04, 0.1)
            r2 = ((v - cy) ** 2 + (u - cx) ** 2) / a**2
            particles += np.sqrt(np.clip(1 - r2, 0, None)) * rng.uniform(0.8, 1.5)
        self.particles = particles
        # Beam deflection (what a centre-of-mass detector sees): the field of the particles'
        # projected potential pushes the beam down its gradient, plus a small linear descan.
        gy, gx = np.gradient(particles, 1 / sy, 1 / sx)
        self.shift_y = -0.04 * gy + 0.6 * (v - 0.5)
        self.shift_x = -0.04 * gx - 0.4 * (u - 0.5)


class Detector:
    """Unit-sum intensity templates on the detector: the central disk is rendered per position
    (it moves), the rest is shared."""

    def __init__(self, frame: tuple[int, int], sample: Sample):
        fy, fx = frame
        self.shape = frame
        size = min(fy, fx)
        self.cy, self.cx = (fy - 1) / 2, (fx - 1) / 2
        self.ky = (np.arange(fy, dtype=np.float32) - self.cy)[:, None]
        self.kx = (np.arange(fx, dtype=np.float32) - self.cx)[None, :]
        k = np.sqrt(self.ky**2 + self.kx**2)
        self.radius = max(1.5, 0.08 * size)
        # Diffuse scattering (thermal diffuse + inelastic): a broad falloff.
        diffuse = 1 / (1 + (k / (0.15 * size)) ** 2) ** 1.5
        self.diffuse = (diffuse / diffuse.sum()).astype(np.float32)
        # Amorphous ring.
        ring = np.exp(-(((k - 0.3 * size) / (0.03 * size)) ** 2))
        self.ring = (ring / ring.sum()).astype(np.float32)
        # Bragg disks of a hexagonal lattice, one pattern per grain.
        g = 0.24 * size
        n = len(sample.grain_angle)
        bragg = np.zeros((n, fy, fx), dtype=np.float32)
        for i, angle in enumerate(sample.grain_angle):
            spots = []
            for j in range(6):
                t = angle + j * np.pi / 3
                spots.append((g * np.sin(t), g * np.cos(t), 1.0))
                t2 = t + np.pi / 6
                spots.append((np.sqrt(3) * g * np.sin(t2), np.sqrt(3) * g * np.cos(t2), 0.35))
            for dy, dx, w in spots:
                bragg[i] += w * self._disk(dy, dx)
            bragg[i] /= max(float(bragg[i].sum()), 1e-12)
        self.bragg = bragg
        self.templates = np.concatenate(
            [bragg.reshape(n, -1), self.ring.reshape(1, -1), self.diffuse.reshape(1, -1)]
        )

    def _disk(self, dy: float, dx: float) -> np.ndarray:
        r = np.sqrt((self.ky - dy) ** 2 + (self.kx - dx) ** 2)
        return np.clip(self.radius + 0.5 - r, 0, 1)

    def central_disks(self, shift_y: np.ndarray, shift_x: np.ndarray) -> np.ndarray:
        """Unit-sum central disks, one per position, shifted by ``shift_y/x`` pixels."""
        sy = shift_y.astype(np.float32)[:, None, None]
        sx = shift_x.astype(np.float32)[:, None, None]
        r2 = (self.ky[None] - sy) ** 2 + (self.kx[None] - sx) ** 2
        disk = np.clip(self.radius + 0.5 - np.sqrt(r2), 0, 1)
        disk /= np.maximum(disk.sum(axis=(1, 2), keepdims=True), 1e-12)
        return disk


def _render_row(
    row: int, sample: Sample, det: Detector, rng: np.random.Generator, shift_scale: float
) -> np.ndarray:
    """Poisson counts of one scan row, ``(sx, fy, fx)`` uint16."""
    t = sample.thickness[row]
    part = sample.particles[row]
    film = sample.film[row]
    # Fractions of the dose: unscattered (central disk), Bragg, amorphous ring, diffuse, and
    # scattered beyond the detector (lost: heavy particles scatter to high angles).
    lost = 1 - np.exp(-(0.15 * t + 0.5 * part))
    kept = 1 - lost
    bragg = film * sample.grain_strength[sample.grain[row]] * (1 - np.exp(-1.5 * t))
    ring = 0.25 * (1 - np.exp(-1.2 * part)) + 0.03 * film
    diffuse = 0.12 * t + 0.15 * part
    total = 1 + bragg + ring + diffuse
    scale = DOSE * kept / total
    # Shared patterns in one matrix product: (positions, templates) @ (templates, pixels).
    n_grains = len(det.bragg)
    coeff = np.zeros((len(t), n_grains + 2), dtype=np.float32)
    coeff[np.arange(len(t)), sample.grain[row]] = scale * bragg
    coeff[:, n_grains] = scale * ring
    coeff[:, n_grains + 1] = scale * diffuse
    lam = (coeff @ det.templates).reshape((len(t),) + det.shape)
    disks = det.central_disks(sample.shift_y[row] * shift_scale, sample.shift_x[row] * shift_scale)
    disks *= scale.astype(np.float32)[:, None, None]
    lam += disks
    lam += DARK
    counts = rng.poisson(lam)
    if lam.max() > 30_000:  # only tiny frames get near the uint16 limit
        np.minimum(counts, np.iinfo(np.uint16).max, out=counts)
    frames: np.ndarray = counts.astype(np.uint16)
    return frames


def synthesize(
    path: str,
    scan: tuple[int, int] = (128, 128),
    frame: tuple[int, int] = (128, 128),
    seed: int = 0,
    threads: int = 2,
    header: bytes = b"",
) -> Sample:
    """Writes a synthetic 4D-STEM scan to ``path`` as raw uint16 frames, C order, one scan row
    at a time (memory stays at a few rows), after ``header`` (e.g. a ``.npy`` header); returns
    the specimen it simulated."""
    root = np.random.SeedSequence(seed)
    sample_seq, *row_seqs = root.spawn(1 + scan[0])
    sample = Sample(scan, np.random.default_rng(sample_seq))
    det = Detector(frame, sample)
    # Deflections are defined for a 128-pixel detector; keep them proportional.
    shift_scale = min(frame) / 128
    row_bytes = scan[1] * frame[0] * frame[1] * 2
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.ftruncate(fd, len(header) + row_bytes * scan[0])
        if header:
            os.pwrite(fd, header, 0)

        def write_row(row: int) -> None:
            data = _render_row(row, sample, det, np.random.default_rng(row_seqs[row]), shift_scale)
            buf = data.reshape(-1).view(np.uint8).data
            done = 0
            while done < len(buf):
                done += os.pwrite(fd, buf[done:], len(header) + row * row_bytes + done)

        with concurrent.futures.ThreadPoolExecutor(max(1, threads)) as pool:
            for fut in [pool.submit(write_row, r) for r in range(scan[0])]:
                fut.result()
    finally:
        os.close(fd)
    return sample


# -- images -----------------------------------------------------------------------------------
_INFERNO = np.array(
    [
        (0, 0, 4),
        (40, 11, 84),
        (101, 21, 110),
        (159, 42, 99),
        (212, 72, 66),
        (245, 125, 21),
        (250, 193, 39),
        (252, 255, 164),
    ],
    dtype=np.float64,
)


def _normalize(img: np.ndarray, lo_pct: float = 0.5, hi_pct: float = 99.5) -> np.ndarray:
    img = np.nan_to_num(np.asarray(img, dtype=np.float64))
    lo, hi = np.percentile(img, [lo_pct, hi_pct])
    unit: np.ndarray = np.clip((img - lo) / (hi - lo if hi > lo else 1.0), 0, 1)
    return unit


def _colormap(unit: np.ndarray) -> np.ndarray:
    stops = np.linspace(0, 1, len(_INFERNO))
    rgb = [np.interp(unit, stops, _INFERNO[:, c]) for c in range(3)]
    return np.stack(rgb, axis=-1).round().astype(np.uint8)


def _vector_colors(vy: np.ndarray, vx: np.ndarray) -> np.ndarray:
    """HSV-coded vectors: hue = direction, value = length. Returns ``(..., 3)`` uint8 HSV."""
    mag = np.hypot(vy, vx)
    hue = (np.arctan2(vy, vx) / (2 * np.pi)) % 1.0
    val = np.clip(mag / max(np.percentile(mag, 99), 1e-12), 0, 1)
    hsv = np.stack([hue, np.ones_like(hue), val], axis=-1)
    return (hsv * 255).round().astype(np.uint8)


def _upscale_factor(shape: tuple[int, ...], target: int = 384) -> int:
    return max(1, target // max(shape[:2]))


def save_images(out_dir: str, images: dict[str, tuple[str, np.ndarray]]) -> list[str]:
    """Writes ``{name: (mode, array)}`` as PNGs (mode ``'L'``, ``'RGB'`` or ``'HSV'``), or as
    ``.npy`` files when Pillow is missing. Returns the paths written."""
    try:
        from PIL import Image
    except ImportError:
        return _save_arrays(out_dir, images)
    paths = []
    for name, (mode, arr) in images.items():
        img = Image.fromarray(arr, mode=mode) if mode == "HSV" else Image.fromarray(arr)
        if mode == "HSV":
            img = img.convert("RGB")
        f = _upscale_factor(arr.shape)
        if f > 1:
            img = img.resize((img.width * f, img.height * f), Image.Resampling.NEAREST)
        path = os.path.join(out_dir, name + ".png")
        img.save(path)
        paths.append(path)
    return paths


def _save_arrays(out_dir: str, images: dict[str, tuple[str, np.ndarray]]) -> list[str]:
    """Without Pillow: each image as a ``.npy`` file."""
    paths = []
    for name, (_, arr) in images.items():
        path = os.path.join(out_dir, name + ".npy")
        np.save(path, arr)
        paths.append(path)
    return paths


# -- the demo -----------------------------------------------------------------------------------
def _fmt_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"


def demo_udfs(frame: tuple[int, int]) -> list[Any]:
    """The demo's analyses for frames of shape ``frame``, as built-in UDFs that run natively in
    one pass: the sum of all frames, the total intensity per position, a virtual annular
    dark-field (ADF) detector and the centre of mass of the central disk."""
    from ferrotem import masks
    from ferrotem.udf.com import CoMUDF
    from ferrotem.udf.masks import ApplyMasksUDF
    from ferrotem.udf.sum import SumUDF
    from ferrotem.udf.sumsigudf import SumSigUDF

    fy, fx = frame
    cy, cx = (fy - 1) / 2, (fx - 1) / 2
    disk_radius = 0.08 * min(frame)  # the synthetic central disk (see Detector)

    def adf() -> np.ndarray:
        ring: np.ndarray = masks.ring(
            centerX=cx,
            centerY=cy,
            imageSizeX=fx,
            imageSizeY=fy,
            radius=0.45 * min(frame),
            radius_inner=1.6 * disk_radius,
        )
        return ring

    return [
        SumUDF(),
        SumSigUDF(),
        ApplyMasksUDF(mask_factories=[adf]),
        # Only the central disk and a margin for its deflection: Bragg disks further out would
        # pull the centre of mass towards themselves.
        CoMUDF.with_params(cy=cy, cx=cx, r=2 * disk_radius),
    ]


def run_demo(
    scan: tuple[int, int], frame: tuple[int, int], out_dir: str | None, seed: int
) -> dict[str, Any]:
    """Runs the demo; returns a summary (timings, paths, and the results by name)."""
    from ferrotem.api import Context

    if out_dir is None:
        out_dir = tempfile.mkdtemp(prefix="ferrotem-demo-")
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, "scan.raw")
    nbytes = scan[0] * scan[1] * frame[0] * frame[1] * 2
    print(f"ferrotem demo: synthesising a {scan[0]}x{scan[1]} scan of {frame[0]}x{frame[1]} frames")
    t0 = time.perf_counter()
    synthesize(path, scan, frame, seed=seed, threads=min(2, os.cpu_count() or 1))
    t_gen = time.perf_counter() - t0
    print(f"  wrote {path} ({_fmt_bytes(nbytes)}) in {t_gen:.1f} s")

    timings = {}
    with Context() as ctx:
        ds = ctx.load("raw", path=path, nav_shape=scan, sig_shape=frame, dtype="uint16")
        print(f"  dataset: shape {tuple(ds.shape)}, dtype {ds.dtype}, {_fmt_bytes(nbytes)}")
        t0 = time.perf_counter()
        sum_res, sumsig_res, adf_res, com_res = ctx.run_udf(dataset=ds, udf=demo_udfs(frame))
        timings["Sum + SumSig + virtual ADF + centre of mass (native, one pass)"] = (
            time.perf_counter() - t0
        )

    print()
    print("  | run | time | throughput |")
    print("  |---|---:|---:|")
    for name, dt in timings.items():
        shown = f"{dt * 1000:.1f} ms" if dt < 0.1 else f"{dt:.2f} s"
        print(f"  | {name} | {shown} | {nbytes / dt / 1e9:.2f} GB/s |")
    print()

    n_frames = scan[0] * scan[1]
    results = {
        "sum": sum_res["intensity"].data,
        "total": sumsig_res["intensity"].data,
        "adf": adf_res["intensity"].data[..., 0],
        "field_y": com_res["field_y"].data,
        "field_x": com_res["field_x"].data,
        "divergence": com_res["divergence"].data,
    }
    mean_dp = results["sum"] / n_frames
    images = {
        "mean_diffraction_log": ("RGB", _colormap(_normalize(np.log1p(mean_dp), 0, 100))),
        "total_intensity": ("L", (_normalize(results["total"]) * 255).round().astype(np.uint8)),
        "virtual_adf": ("L", (_normalize(results["adf"]) * 255).round().astype(np.uint8)),
        "centre_of_mass": ("HSV", _vector_colors(results["field_y"], results["field_x"])),
        "com_divergence": ("L", (_normalize(results["divergence"]) * 255).round().astype(np.uint8)),
    }
    paths = save_images(out_dir, images)
    if paths and paths[0].endswith(".npy"):
        print("  Pillow is not installed (pip install pillow): saved .npy arrays instead of PNGs")
    print("  images:")
    for p in paths:
        print(f"    {p}")
    print(f"  (delete {out_dir} when done; the raw file is {_fmt_bytes(nbytes)})")
    return {
        "dir": out_dir,
        "raw": path,
        "timings": timings,
        "generate": t_gen,
        "images": paths,
        "results": results,
    }


def write_demo_npy(scan: tuple[int, int], frame: tuple[int, int], out_dir: str, seed: int) -> str:
    """The demo's scan as ``scan.npy`` in ``out_dir`` (for ``demo --gui``: the page recognises
    the format and shape from numpy's header); returns its path."""
    from ferrotem.gui.demo import DEMO_FILE, npy_header

    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, DEMO_FILE)
    nbytes = scan[0] * scan[1] * frame[0] * frame[1] * 2
    print(f"ferrotem demo: writing a {scan[0]}x{scan[1]} scan of {frame[0]}x{frame[1]} frames "
          f"({_fmt_bytes(nbytes)}) to {path}", flush=True)  # fmt: skip
    header = npy_header((*scan, *frame), np.uint16)  # the byte order synthesize writes
    synthesize(path, scan, frame, seed=seed, threads=min(2, os.cpu_count() or 1), header=header)
    return path


def _positive_pair(
    values: list[int], name: str, parser: argparse.ArgumentParser
) -> tuple[int, int]:
    """``values`` (argparse's ``nargs=2``) as a pair; exits with a usage error unless both are
    positive."""
    if len(values) != 2 or any(v < 1 for v in values):
        parser.error(f"{name}: got {' '.join(map(str, values))}, expected two positive integers")
    return values[0], values[1]


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``ferrotem`` console script."""
    from ferrotem import __version__
    from ferrotem.export import command as convert_command

    parser = argparse.ArgumentParser(
        prog="ferrotem", description="ferrotem: a Rust engine for 4D-STEM data"
    )
    parser.add_argument("--version", action="version", version=f"ferrotem {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    demo = sub.add_parser(
        "demo",
        help="synthesise a 4D-STEM scan, run UDFs over it, write images",
        description="Synthesise a 4D-STEM scan as a raw uint16 file, run the built-in sum, "
        "total intensity, virtual ADF and centre-of-mass UDFs over it in one pass with Context(), "
        "print timings, and write PNG images.",
    )
    demo.add_argument(
        "--scan", type=int, nargs=2, default=[128, 128], metavar=("NY", "NX"),
        help="scan (navigation) shape (default: 128 128)",
    )  # fmt: skip
    demo.add_argument(
        "--frame", type=int, nargs=2, default=[128, 128], metavar=("FY", "FX"),
        help="detector frame shape (default: 128 128)",
    )  # fmt: skip
    demo.add_argument(
        "--dir", default=None, help="output directory (default: a fresh temporary directory)"
    )
    demo.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    from ferrotem.gui.demo import add_demo_gui_arguments

    add_demo_gui_arguments(demo)
    server = sub.add_parser(
        "server",
        help="serve the web GUI (open files, run virtual detectors, watch results stream in)",
        description="Serve ferrotem's web GUI on a local port; prints the URL with its "
        "one-time access token. See docs/gui.md.",
    )
    from ferrotem.gui.launch import add_server_arguments

    add_server_arguments(server)
    convert = convert_command.add_parser(sub)
    args = parser.parse_args(argv)
    if args.command == "server":
        from ferrotem.gui.launch import run_server

        return run_server(args)
    if args.command is None:
        parser.print_help()
        return 2
    if args.command == "demo":
        scan = _positive_pair(args.scan, "--scan", demo)
        frame = _positive_pair(args.frame, "--frame", demo)
        if not args.gui and (args.port is not None or not args.browser):
            demo.error("--port and --no-browser are options of --gui")
        if args.gui:
            from ferrotem.gui.demo import serve_demo

            out_dir = (
                args.dir if args.dir is not None else tempfile.mkdtemp(prefix="ferrotem-demo-")
            )
            return serve_demo(out_dir, write_demo_npy(scan, frame, out_dir, args.seed), args)
        run_demo(scan, frame, args.dir, args.seed)
    if args.command == "convert":
        return convert_command.run(args, convert)
    return 0


if __name__ == "__main__":
    sys.exit(main())
