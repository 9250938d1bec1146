//! Speed of the dense `ApplyMasksUdf` kernel on in-memory 256x256 frames:
//! `cargo run --release -p ferrotem-core --example masks_speed [frames] [masks,...]`
//! (`THREADS=n` runner threads, default 1, four partitions each; `TILE_BYTES=n` the runner's
//! tile size). Prints GB/s of input bytes and GFLOP/s (2 per pixel and mask) for uint16 and
//! float32 input, by wall time and by the process's CPU time (the steadier figure on a shared
//! machine).
#![allow(
    clippy::cast_precision_loss,
    reason = "sizes and timings as float64 for printing"
)]

use ferrotem_core::buffer::{InputKind, TypedVec};
use ferrotem_core::dtype::{DType, ScalarKind};
use ferrotem_core::partition::split_frames;
use ferrotem_core::runner::{RunOptions, Runner};
use ferrotem_core::shape::DatasetShape;
use ferrotem_core::source::MemorySource;
use ferrotem_core::udf::{ApplyMasksUdf, DynUdf};
use std::error::Error;
use std::time::Instant;

const SIG: usize = 256 * 256;
const REPEATS: u32 = 3;

/// CPU time of this process (user and system), from `/proc/self/stat` (Linux; 0 elsewhere).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit(')').next().unwrap_or("");
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15, 12 and 13 after the command; 100 ticks a second.
    (ticks(11) + ticks(12)) / 100.0
}

/// `frames` frames of `kind` (uint16 or float32) with values below 1000.
fn frames_of(kind: ScalarKind, frames: usize) -> Vec<u8> {
    (0..frames * SIG)
        .flat_map(|i| {
            let v = u16::try_from(i * 7 % 1000).unwrap_or(0);
            match kind {
                ScalarKind::U16 => v.to_ne_bytes().to_vec(),
                _ => f32::from(v).to_ne_bytes().to_vec(),
            }
        })
        .collect()
}

fn main() -> Result<(), Box<dyn Error>> {
    let frames: usize = std::env::args().nth(1).map_or(Ok(256), |s| s.parse())?;
    let counts: Vec<usize> = match std::env::args().nth(2) {
        Some(s) => s.split(',').map(str::parse).collect::<Result<_, _>>()?,
        None => vec![1, 4, 16, 64],
    };
    let threads: usize = std::env::var("THREADS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    let runner = Runner::new(threads)?;
    for (kind, item) in [(ScalarKind::U16, 2usize), (ScalarKind::F32, 4)] {
        let bytes = frames_of(kind, frames);
        let shape = DatasetShape::new(&[frames], &[256, 256])?;
        let source = MemorySource::new(&bytes[..], DType::native(kind), shape, 0)?;
        let parts = split_frames(frames as u64, threads * 4, 1)?;
        for &n in &counts {
            let masks: Vec<f32> = (0..n * SIG)
                .map(|i| f32::from(u8::try_from(i % 11).unwrap_or(0)) / 4.0)
                .collect();
            let udf = ApplyMasksUdf::dense(TypedVec::F32(masks), n, SIG)?;
            let udfs: [&dyn DynUdf; 1] = [&udf];
            let mut opts = RunOptions::new(InputKind::F32);
            if let Some(b) = std::env::var("TILE_BYTES")
                .ok()
                .and_then(|v| v.parse().ok())
            {
                opts.tile_bytes = b;
            }
            let mut best = f64::INFINITY;
            let (cpu0, t0) = (cpu_seconds(), Instant::now());
            for _ in 0..REPEATS {
                let t = Instant::now();
                runner.run(&source, &parts, None, &udfs, &opts, &|_| {})?;
                best = best.min(t.elapsed().as_secs_f64());
            }
            let cpu = (cpu_seconds() - cpu0) / f64::from(REPEATS);
            let busy = cpu / (t0.elapsed().as_secs_f64() / f64::from(REPEATS));
            let flop = (frames * SIG * n * 2) as f64;
            println!(
                "{kind:?} {n:2} dense masks: {:6.2} GB/s {:6.1} GFLOP/s wall, {:6.1} GFLOP/s per \
                 CPU second (CPU busy {busy:.2})",
                (frames * SIG * item) as f64 / best / 1e9,
                flop / best / 1e9,
                flop / cpu / 1e9,
            );
        }
    }
    Ok(())
}
