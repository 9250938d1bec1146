//! Speed of the dense `ApplyMasksUdf` kernel on in-memory 256x256 frames:
//! `cargo run --release -p ferrotem-core --example masks_speed [frames] [masks,... | fused]`
//! (`THREADS=n` runner threads, default 1, four partitions each; `TILE_BYTES=n` the runner's
//! tile size; `REPEATS=n` runs per case, default 3). Prints GB/s of input bytes and GFLOP/s
//! (2 per pixel and mask) for uint16 and float32 input, by wall time and by the process's CPU
//! time (the steadier figure on a shared machine). `fused`: `SumUDF`, `SumSigUDF`, 4 dense masks
//! and `CoMUDF` (disk of radius 64) on uint16, each alone and then in one run, as `make bench`'s
//! fused cell.
#![allow(
    clippy::cast_precision_loss,
    reason = "sizes and timings as float64 for printing"
)]

use ferrotem_core::buffer::{InputKind, TypedVec};
use ferrotem_core::dtype::{DType, ScalarKind};
use ferrotem_core::partition::split_frames;
use ferrotem_core::runner::{RunOptions, Runner};
use ferrotem_core::shape::DatasetShape;
use ferrotem_core::source::{DataSource, MemorySource};
use ferrotem_core::udf::{ApplyMasksUdf, CoMUdf, DynUdf, SumSigUdf, SumUdf};
use std::error::Error;
use std::time::Instant;

const SIG: usize = 256 * 256;
const REPEATS: u32 = 3;

/// CPU time of this process (all threads, user and system), from the kernel's per-process
/// clock (nanosecond resolution: `/proc`'s ticks are too coarse for short runs).
fn cpu_seconds() -> f64 {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `t` is a valid, writable timespec.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &raw mut t) };
    if rc != 0 {
        return 0.0;
    }
    t.tv_sec as f64 + t.tv_nsec as f64 * 1e-9
}

/// `frames` frames of `kind` (uint16 or float32) with values below 1000.
fn frames_of(kind: ScalarKind, frames: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(frames * SIG * 4);
    for i in 0..frames * SIG {
        let v = u16::try_from(i * 7 % 1000).unwrap_or(0);
        match kind {
            ScalarKind::U16 => out.extend_from_slice(&v.to_ne_bytes()),
            _ => out.extend_from_slice(&f32::from(v).to_ne_bytes()),
        }
    }
    out
}

/// `n` dense masks of 256x256 float32 weights.
fn dense_masks(n: usize) -> Result<ApplyMasksUdf, Box<dyn Error>> {
    let masks: Vec<f32> = (0..n * SIG)
        .map(|i| f32::from(u8::try_from(i % 11).unwrap_or(0)) / 4.0)
        .collect();
    Ok(ApplyMasksUdf::dense(TypedVec::F32(masks), n, SIG)?)
}

/// The fused benchmark's centre-of-mass disk: radius 64 around (127.5, 128.25).
fn com_disk() -> Result<CoMUdf, Box<dyn Error>> {
    let mask: Vec<f64> = (0..SIG)
        .map(|p| {
            let (y, x) = ((p / 256) as f64 - 127.5, (p % 256) as f64 - 128.25);
            if y * y + x * x <= 64.0 * 64.0 {
                1.0
            } else {
                0.0
            }
        })
        .collect();
    Ok(CoMUdf::new(&mask, 256, 256)?)
}

/// One measured case.
struct Case<'a> {
    label: String,
    udfs: Vec<&'a dyn DynUdf>,
    /// floating-point operations per frame (0: not reported)
    flop_per_frame: f64,
}

/// Runs `case` `REPEATS` times and prints GB/s (best wall time) and GFLOP/s by wall and by
/// CPU time.
fn measure(
    runner: &Runner,
    source: &dyn DataSource,
    parts: &[ferrotem_core::partition::Partition],
    frames: usize,
    item: usize,
    case: &Case<'_>,
) -> Result<(), Box<dyn Error>> {
    let mut opts = RunOptions::new(InputKind::F32);
    if let Some(b) = std::env::var("TILE_BYTES")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        opts.tile_bytes = b;
    }
    let repeats: u32 = std::env::var("REPEATS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(REPEATS);
    let mut best = f64::INFINITY;
    let (cpu0, t0) = (cpu_seconds(), Instant::now());
    for _ in 0..repeats {
        let t = Instant::now();
        runner.run(source, parts, None, &case.udfs, &opts, &|_| {})?;
        best = best.min(t.elapsed().as_secs_f64());
    }
    let cpu = (cpu_seconds() - cpu0) / f64::from(repeats);
    let busy = cpu / (t0.elapsed().as_secs_f64() / f64::from(repeats));
    let flop = case.flop_per_frame * frames as f64;
    println!(
        "{}: {:6.2} GB/s wall, {:6.3} CPU s, {:6.2} GB/s per CPU second, {:6.1} GFLOP/s wall, \
         {:6.1} GFLOP/s per CPU second (CPU busy {busy:.2})",
        case.label,
        (frames * SIG * item) as f64 / best / 1e9,
        cpu,
        (frames * SIG * item) as f64 / cpu / 1e9,
        flop / best / 1e9,
        flop / cpu / 1e9,
    );
    Ok(())
}

fn main() -> Result<(), Box<dyn Error>> {
    let frames: usize = std::env::args().nth(1).map_or(Ok(256), |s| s.parse())?;
    let which = std::env::args()
        .nth(2)
        .unwrap_or_else(|| "1,4,16,64".into());
    let threads: usize = std::env::var("THREADS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    let runner = Runner::new(threads)?;
    let kinds: &[(ScalarKind, usize)] = if which == "fused" {
        &[(ScalarKind::U16, 2)]
    } else {
        &[(ScalarKind::U16, 2), (ScalarKind::F32, 4)]
    };
    for &(kind, item) in kinds {
        let bytes = frames_of(kind, frames);
        let shape = DatasetShape::new(&[frames], &[256, 256])?;
        let source = MemorySource::new(&bytes[..], DType::native(kind), shape, 0)?;
        let parts = split_frames(frames as u64, threads * 4, 1)?;
        let run = |case: &Case<'_>| measure(&runner, &source, &parts, frames, item, case);
        if which == "fused" {
            // SumUDF + SumSigUDF + 4 dense masks + CoMUDF, each alone, then in one run.
            let masks = dense_masks(4)?;
            let com = com_disk()?;
            let alone: [(&str, &dyn DynUdf); 4] = [
                ("sum", &SumUdf),
                ("sumsig", &SumSigUdf),
                ("4 masks", &masks),
                ("com", &com),
            ];
            for (name, udf) in alone {
                run(&Case {
                    label: format!("{kind:?} {name} alone"),
                    udfs: vec![udf],
                    flop_per_frame: 0.0,
                })?;
            }
            run(&Case {
                label: format!("{kind:?} fused"),
                udfs: alone.iter().map(|(_, u)| *u).collect(),
                flop_per_frame: 0.0,
            })?;
            continue;
        }
        for n in which.split(',').map(str::parse::<usize>) {
            let n = n?;
            let udf = dense_masks(n)?;
            run(&Case {
                label: format!("{kind:?} {n:2} dense masks"),
                udfs: vec![&udf],
                flop_per_frame: (SIG * n * 2) as f64,
            })?;
        }
    }
    Ok(())
}
