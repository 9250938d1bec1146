//! A user-defined function in Rust: the maximum of every frame (a `nav`-kind result, one value
//! per scan position), run in parallel over a raw file with [`Runner`].
//!
//! Run it with `cargo run --example frame_max`. It writes a small 16x16 scan of 64x64 `uint16`
//! frames into a temporary directory, runs `FrameMax` next to the built-in `SumSigUdf` (both
//! read the file once, together), checks the result and prints it as a map of the scan.

use ferrotem_core::buffer::{InputKind, TypedVec};
use ferrotem_core::dtype::DType;
use ferrotem_core::partition::split_frames;
use ferrotem_core::runner::{RunOptions, Runner};
use ferrotem_core::shape::DatasetShape;
use ferrotem_core::source::RawFileSource;
use ferrotem_core::udf::{DynUdf, PartitionInfo, RunInfo, SumSigUdf, Tile, TileData, Udf};
use std::error::Error;
use std::io::Write;

/// The maximum of each frame, as float32.
struct FrameMax;

impl Udf for FrameMax {
    /// One maximum per frame of the partition (in its ROI-compressed order).
    type Partial = Vec<f32>;
    /// One maximum per frame of the run.
    type Output = Vec<f32>;

    fn new_partial(&self, part: &PartitionInfo<'_>) -> Vec<f32> {
        vec![f32::NEG_INFINITY; part.n_frames]
    }

    fn name(&self) -> &'static str {
        "FrameMax"
    }

    /// A tile is `depth` frames (or parts of frames, for big frames) one after the other;
    /// `tile.offset` is the position of its first frame in the partition.
    fn process_tile(&self, partial: &mut Vec<f32>, tile: &Tile<'_>) -> ferrotem_core::Result<()> {
        // The run below asks for float32 tiles; anything else is a bug, reported as such.
        let TileData::F32(data) = tile.data else {
            return Err(ferrotem_core::Error::udf_internal(
                self.name(),
                format!("expected float32 tiles, got {:?}", tile.data.kind()),
            ));
        };
        let width = tile.pixels.len();
        for (i, frame) in data.chunks_exact(width).enumerate() {
            let m = frame.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let slot = &mut partial[tile.offset + i];
            *slot = slot.max(m);
        }
        Ok(())
    }

    fn new_output(&self, run: &RunInfo<'_>) -> Vec<f32> {
        vec![0.0; run.n_frames as usize]
    }

    /// Partitions finish in any order; each knows where its frames go in the result.
    fn merge(
        &self,
        output: &mut Vec<f32>,
        part: &PartitionInfo<'_>,
        partial: Vec<f32>,
    ) -> ferrotem_core::Result<()> {
        let at = part.compressed_start as usize;
        output[at..at + partial.len()].copy_from_slice(&partial);
        Ok(())
    }
}

fn main() -> Result<(), Box<dyn Error>> {
    let (scan, det) = ([16usize, 16], [64usize, 64]);
    let frames = scan[0] * scan[1];
    let pixels = det[0] * det[1];

    // A raw file of little-endian uint16 frames: frame f has its maximum 1000 + f at one pixel.
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("scan.raw");
    let mut file = std::io::BufWriter::new(std::fs::File::create(&path)?);
    for f in 0..frames {
        for p in 0..pixels {
            let v = if p == (f * 17) % pixels {
                1000 + f
            } else {
                (f + p) % 100
            };
            file.write_all(&(v as u16).to_le_bytes())?;
        }
    }
    file.flush()?;
    drop(file);

    let shape = DatasetShape::new(&scan, &det)?;
    let source = RawFileSource::open(&path, DType::parse("<u2", "dtype")?, shape, 0, 0)?;
    let runner = Runner::new(0)?; // one thread per core
    let partitions = split_frames(frames as u64, 2 * runner.threads(), scan[1] as u64)?;
    let udfs: [&dyn DynUdf; 2] = [&FrameMax, &SumSigUdf];
    let outputs = runner.run(
        &source,
        &partitions,
        None,
        &udfs,
        &RunOptions::new(InputKind::F32),
        &|p| eprintln!("partition {} done ({:?})", p.index, p.frames),
    )?;

    let maxima = outputs[0]
        .downcast_ref::<Vec<f32>>()
        .ok_or("FrameMax output has an unexpected type")?;
    let Some(TypedVec::F32(sums)) = outputs[1].downcast_ref::<TypedVec>() else {
        return Err("SumSigUdf output has an unexpected type".into());
    };
    #[allow(
        clippy::float_cmp,
        reason = "the maximum of frame `f` is the small integer `1000 + f`, exact in float32"
    )]
    for (f, &m) in maxima.iter().enumerate() {
        assert_eq!(m, f32::from(u16::try_from(1000 + f)?), "frame {f}");
    }
    println!(
        "frame maxima of a {}x{} scan of {}x{} uint16 frames ({} threads, {} partitions):",
        scan[0],
        scan[1],
        det[0],
        det[1],
        runner.threads(),
        partitions.len()
    );
    for row in maxima.chunks(scan[1]) {
        let line: Vec<String> = row.iter().map(|m| format!("{m:5}")).collect();
        println!("{}", line.join(""));
    }
    println!(
        "frame sums (SumSigUdf, same pass): first {}, last {}",
        sums[0],
        sums[frames - 1]
    );
    Ok(())
}
