//! The runner: `SumUdf` / `SumSigUdf` over random data, partitions, ROIs and tile sizes against a
//! naive float64 oracle; a user UDF next to the built-ins; partitions and ROIs on their own.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: helpers outside #[test] fns panic on setup failure too

mod common;

use common::{encode, value};
use ferrotem_core::buffer::{InputKind, TypedVec};
use ferrotem_core::dtype::{ByteOrder, DType, ScalarKind};
use ferrotem_core::partition::{split_frames, Partition};
use ferrotem_core::roi::Roi;
use ferrotem_core::runner::{RunOptions, Runner};
use ferrotem_core::shape::DatasetShape;
use ferrotem_core::source::{DataSource, MemorySource, RawFileSource};
use ferrotem_core::udf::{DynUdf, PartitionInfo, RunInfo, SumSigUdf, SumUdf, Tile, TileData, Udf};
use ferrotem_core::Error;
use num_complex::{Complex32, Complex64};
use proptest::prelude::*;

/// Stored values: `value(kind, j)` scaled so that float data has fractions and integer data
/// spans its range a little.
fn dataset(dt: DType, n: usize, sig: usize) -> (Vec<u8>, Vec<f64>) {
    let mut bytes = Vec::with_capacity(n * sig * dt.itemsize());
    let mut vals = Vec::with_capacity(n * sig);
    for j in 0..n * sig {
        let v = value(dt.kind, j * 7 + 3);
        bytes.extend_from_slice(&encode(v, dt));
        vals.push(v);
    }
    (bytes, vals)
}

/// Oracle: per-pixel sums and per-frame sums over the selected frames, in float64.
fn oracle(vals: &[f64], n: usize, sig: usize, roi: Option<&[bool]>) -> (Vec<f64>, Vec<f64>) {
    let mut sum = vec![0f64; sig];
    let mut sumsig = Vec::new();
    for f in 0..n {
        if roi.is_some_and(|m| !m[f]) {
            continue;
        }
        let frame = &vals[f * sig..(f + 1) * sig];
        for (a, v) in sum.iter_mut().zip(frame) {
            *a += v;
        }
        sumsig.push(frame.iter().sum());
    }
    (sum, sumsig)
}

fn to_f64(v: &TypedVec) -> Vec<f64> {
    match v {
        TypedVec::F32(v) => v.iter().map(|&x| f64::from(x)).collect(),
        TypedVec::F64(v) => v.clone(),
        TypedVec::C64(v) => v.iter().map(|x| f64::from(x.re)).collect(),
        TypedVec::C128(v) => v.iter().map(|x| x.re).collect(),
    }
}

fn close(got: &[f64], want: &[f64], rtol: f64, what: &str) -> Result<(), TestCaseError> {
    prop_assert_eq!(got.len(), want.len(), "{} length", what);
    let scale = want.iter().fold(1f64, |m, x| m.max(x.abs()));
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        prop_assert!(
            (g - w).abs() <= rtol * scale,
            "{} [{}]: got {}, want {}",
            what,
            i,
            g,
            w
        );
    }
    Ok(())
}

fn kinds() -> Vec<DType> {
    let mut out = Vec::new();
    for kind in [
        ScalarKind::U8,
        ScalarKind::U16,
        ScalarKind::I16,
        ScalarKind::U32,
        ScalarKind::I64,
        ScalarKind::F32,
        ScalarKind::F64,
    ] {
        for order in [ByteOrder::Little, ByteOrder::Big] {
            out.push(DType { kind, order });
        }
    }
    out.push(DType::native(ScalarKind::C64));
    out
}

#[derive(Debug, Clone)]
struct Case {
    dt: DType,
    n: usize,
    sig: Vec<usize>,
    parts: usize,
    roi: Option<Vec<bool>>,
    tile_bytes: usize,
    input: InputKind,
    file: bool,
    threads: usize,
}

fn case() -> impl Strategy<Value = Case> {
    (
        prop::sample::select(kinds()),
        1usize..40,
        prop::collection::vec(1usize..9, 1..3),
        1usize..9,
        any::<bool>(),
        prop::sample::select(vec![1usize, 7, 64, 200, 1000, 4096, 1 << 16, 1 << 20]),
        prop::sample::select(vec![InputKind::F32, InputKind::F64, InputKind::C64]),
        any::<bool>(),
        1usize..4,
    )
        .prop_flat_map(
            |(dt, n, sig, parts, with_roi, tile_bytes, input, file, threads)| {
                let roi = if with_roi {
                    prop::collection::vec(any::<bool>(), n)
                        .prop_map(Some)
                        .boxed()
                } else {
                    Just(None).boxed()
                };
                (
                    Just((dt, n, sig, parts, tile_bytes, input, file, threads)),
                    roi,
                )
            },
        )
        .prop_map(
            |((dt, n, sig, parts, tile_bytes, input, file, threads), roi)| Case {
                dt,
                n,
                sig,
                parts,
                roi,
                tile_bytes,
                input,
                file,
                threads,
            },
        )
}

fn run_case(c: &Case) -> Result<(), TestCaseError> {
    let sig_size: usize = c.sig.iter().product();
    let (bytes, vals) = dataset(c.dt, c.n, sig_size);
    let shape = DatasetShape::new(&[c.n], &c.sig).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let source: Box<dyn DataSource> = if c.file {
        let path = dir.path().join("d.raw");
        std::fs::write(&path, &bytes).unwrap();
        Box::new(RawFileSource::open(&path, c.dt, shape, 0, 0).unwrap())
    } else {
        Box::new(MemorySource::new(bytes, c.dt, shape, 0).unwrap())
    };
    let roi = c.roi.clone().map(|m| Roi::new(m, c.n as u64).unwrap());
    let parts = split_frames(c.n as u64, c.parts, 1).unwrap();
    let runner = Runner::new(c.threads).unwrap();
    let opts = RunOptions {
        tile_bytes: c.tile_bytes,
        ..RunOptions::new(c.input)
    };
    let udfs: [&dyn DynUdf; 2] = [&SumUdf, &SumSigUdf];
    let out = runner
        .run(source.as_ref(), &parts, roi.as_ref(), &udfs, &opts, &|_| {})
        .unwrap();
    let sum = out[0].downcast_ref::<TypedVec>().unwrap();
    let sumsig = out[1].downcast_ref::<TypedVec>().unwrap();
    prop_assert_eq!(sum.kind(), c.input);
    // The oracle sees values cast to the input dtype (complex data: real part).
    let cast: Vec<f64> = vals
        .iter()
        .map(|&v| match c.input {
            InputKind::F32 | InputKind::C64 => f64::from(v as f32),
            _ => v,
        })
        .collect();
    let (want_sum, want_sumsig) = oracle(&cast, c.n, sig_size, c.roi.as_deref());
    let rtol = match c.input {
        InputKind::F32 | InputKind::C64 => 1e-5,
        _ => 1e-12,
    };
    close(&to_f64(sum), &want_sum, rtol, "sum")?;
    close(&to_f64(sumsig), &want_sumsig, rtol, "sumsig")?;
    if c.dt.kind == ScalarKind::C64 && c.input == InputKind::C64 {
        // Imaginary parts are the negated real parts.
        if let TypedVec::C64(v) = sum {
            let im: Vec<f64> = v.iter().map(|x| -f64::from(x.im)).collect();
            close(&im, &want_sum, rtol, "sum.imag")?;
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]
    #[test]
    fn sum_and_sumsig_match_the_oracle(c in case()) {
        run_case(&c)?;
    }
}

/// A user UDF without a stored-tile fast path: the maximum of each frame (kind `nav`).
struct FrameMax;

impl Udf for FrameMax {
    type Partial = Vec<f64>;
    type Output = Vec<f64>;
    fn new_partial(&self, part: &PartitionInfo<'_>) -> Vec<f64> {
        vec![f64::NEG_INFINITY; part.n_frames]
    }
    fn process_tile(&self, partial: &mut Vec<f64>, tile: &Tile<'_>) -> Result<(), Error> {
        let w = tile.pixels.len();
        let TileData::F32(d) = tile.data else {
            panic!("expected float32 tiles")
        };
        for (i, row) in d.chunks_exact(w).enumerate() {
            let m = row
                .iter()
                .fold(f64::NEG_INFINITY, |m, &x| m.max(f64::from(x)));
            let slot = &mut partial[tile.offset + i];
            *slot = slot.max(m);
        }
        Ok(())
    }
    fn new_output(&self, run: &RunInfo<'_>) -> Vec<f64> {
        vec![0.0; run.n_frames as usize]
    }
    fn merge(
        &self,
        out: &mut Vec<f64>,
        part: &PartitionInfo<'_>,
        partial: Vec<f64>,
    ) -> Result<(), Error> {
        let at = part.compressed_start as usize;
        out[at..at + partial.len()].copy_from_slice(&partial);
        Ok(())
    }
}

#[test]
fn user_udf_next_to_builtins() {
    let dt = DType::native(ScalarKind::U16);
    let (n, sig) = (37usize, 50usize);
    let (bytes, vals) = dataset(dt, n, sig);
    let source =
        MemorySource::new(bytes, dt, DatasetShape::new(&[n], &[5, 10]).unwrap(), 0).unwrap();
    let mask: Vec<bool> = (0..n).map(|i| i % 3 != 1).collect();
    let roi = Roi::new(mask.clone(), n as u64).unwrap();
    let runner = Runner::new(2).unwrap();
    for tile_bytes in [16usize, 100, 4096, 1 << 20] {
        let opts = RunOptions {
            tile_bytes,
            ..RunOptions::new(InputKind::F32)
        };
        let udfs: [&dyn DynUdf; 3] = [&SumUdf, &FrameMax, &SumSigUdf];
        let parts = split_frames(n as u64, 5, 1).unwrap();
        let out = runner
            .run(&source, &parts, Some(&roi), &udfs, &opts, &|_| {})
            .unwrap();
        let maxes = out[1].downcast_ref::<Vec<f64>>().unwrap();
        let want: Vec<f64> = (0..n)
            .filter(|&f| mask[f])
            .map(|f| {
                vals[f * sig..(f + 1) * sig]
                    .iter()
                    .fold(f64::MIN, |m, &x| m.max(x))
            })
            .collect();
        assert_eq!(maxes, &want, "tile_bytes {tile_bytes}");
        let (want_sum, want_sumsig) = oracle(&vals, n, sig, Some(&mask));
        assert_eq!(to_f64(out[0].downcast_ref().unwrap()), want_sum);
        assert_eq!(to_f64(out[2].downcast_ref().unwrap()), want_sumsig);
    }
}

#[test]
fn progress_is_reported_per_partition() {
    let dt = DType::native(ScalarKind::F32);
    let (bytes, _) = dataset(dt, 20, 4);
    let source =
        MemorySource::new(bytes, dt, DatasetShape::new(&[4, 5], &[2, 2]).unwrap(), 0).unwrap();
    let parts = split_frames(20, 4, 5).unwrap();
    let seen = std::sync::Mutex::new(Vec::new());
    let udfs: [&dyn DynUdf; 1] = [&SumUdf];
    Runner::new(2)
        .unwrap()
        .run(
            &source,
            &parts,
            None,
            &udfs,
            &RunOptions::new(InputKind::F32),
            &|p| seen.lock().unwrap().push(p.index),
        )
        .unwrap();
    let mut seen = seen.into_inner().unwrap();
    seen.sort_unstable();
    assert_eq!(seen, vec![0, 1, 2, 3]);
}

#[test]
fn cancellation_stops_the_run() {
    let dt = DType::native(ScalarKind::U8);
    let source =
        MemorySource::new(vec![1u8; 64], dt, DatasetShape::new(&[8], &[8]).unwrap(), 0).unwrap();
    let cancel = std::sync::atomic::AtomicBool::new(true);
    let opts = RunOptions {
        cancel: Some(&cancel),
        ..RunOptions::new(InputKind::F32)
    };
    let udfs: [&dyn DynUdf; 1] = [&SumUdf];
    let parts = split_frames(8, 2, 1).unwrap();
    let r = Runner::new(1)
        .unwrap()
        .run(&source, &parts, None, &udfs, &opts, &|_| {});
    assert!(matches!(r, Err(Error::Cancelled)));
}

#[test]
fn bad_partitions_and_rois_are_errors_not_panics() {
    let dt = DType::native(ScalarKind::U8);
    let source =
        MemorySource::new(vec![1u8; 64], dt, DatasetShape::new(&[8], &[8]).unwrap(), 0).unwrap();
    let runner = Runner::new(1).unwrap();
    let opts = RunOptions::new(InputKind::F32);
    let udfs: [&dyn DynUdf; 2] = [&SumUdf, &SumSigUdf];
    let part = |frames| Partition { index: 0, frames };
    #[allow(clippy::reversed_empty_ranges)] // deliberately bad
    let bad = [part(0..9), part(5..3), part(9..12)];
    for p in bad {
        for roi in [None, Some(Roi::new(vec![true; 8], 8).unwrap())] {
            let r = runner.run(
                &source,
                std::slice::from_ref(&p),
                roi.as_ref(),
                &udfs,
                &opts,
                &|_| {},
            );
            assert!(
                matches!(r, Err(Error::InvalidParameter { .. })),
                "{p:?}: {r:?}"
            );
        }
    }
    let other = Roi::new(vec![true; 9], 9).unwrap();
    let r = runner.run(&source, &[part(0..8)], Some(&other), &udfs, &opts, &|_| {});
    assert!(matches!(r, Err(Error::InvalidParameter { .. })), "{r:?}");
}

#[test]
fn truncated_file_during_run_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.raw");
    let dt = DType::native(ScalarKind::U16);
    let (bytes, _) = dataset(dt, 16, 64);
    std::fs::write(&path, &bytes).unwrap();
    let src =
        RawFileSource::open(&path, dt, DatasetShape::new(&[16], &[8, 8]).unwrap(), 0, 0).unwrap();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(100)
        .unwrap();
    let udfs: [&dyn DynUdf; 2] = [&SumUdf, &SumSigUdf];
    let r = Runner::new(2).unwrap().run(
        &src,
        &split_frames(16, 4, 1).unwrap(),
        None,
        &udfs,
        &RunOptions::new(InputKind::F32),
        &|_| {},
    );
    assert!(matches!(r, Err(Error::Truncated { .. })), "{r:?}");
}

#[test]
fn sum_of_integers_accumulates_in_float32() {
    // 2^24 + 1 is not a float32: LiberTEM's SumUDF result for this data is 2^24 in float32.
    let dt = DType::native(ScalarKind::U32);
    let vals = [1u32 << 24, 1];
    let bytes: Vec<u8> = vals.iter().flat_map(|v| v.to_ne_bytes()).collect();
    let src = MemorySource::new(bytes, dt, DatasetShape::new(&[2], &[1]).unwrap(), 0).unwrap();
    let udfs: [&dyn DynUdf; 2] = [&SumUdf, &SumSigUdf];
    let out = Runner::new(1)
        .unwrap()
        .run(
            &src,
            &split_frames(2, 1, 1).unwrap(),
            None,
            &udfs,
            &RunOptions::new(InputKind::F32),
            &|_| {},
        )
        .unwrap();
    assert_eq!(
        out[0].downcast_ref::<TypedVec>().unwrap(),
        &TypedVec::F32(vec![16_777_216.0])
    );
    assert_eq!(
        out[1].downcast_ref::<TypedVec>().unwrap(),
        &TypedVec::F32(vec![16_777_216.0, 1.0])
    );
    let _ = (Complex32::new(0.0, 0.0), Complex64::new(0.0, 0.0));
}

proptest! {
    #[test]
    fn split_frames_covers_and_balances(n in 1u64..10_000, parts in 1usize..100, row in 1u64..200) {
        let p = split_frames(n, parts, row).unwrap();
        prop_assert_eq!(p.len() as u64, (parts as u64).min(n));
        let mut next = 0;
        for (i, q) in p.iter().enumerate() {
            prop_assert_eq!(q.index, i);
            prop_assert_eq!(q.frames.start, next);
            prop_assert!(q.frames.end > q.frames.start);
            next = q.frames.end;
        }
        prop_assert_eq!(next, n);
        if row > 1 && n % row == 0 && n / row >= parts as u64 {
            prop_assert!(p.iter().all(|q| q.frames.start % row == 0));
        }
    }

    #[test]
    fn roi_counts_and_runs(mask in prop::collection::vec(any::<bool>(), 1..300), cut in 0usize..300) {
        let n = mask.len();
        let cut = cut.min(n) as u64;
        let roi = Roi::new(mask.clone(), n as u64).unwrap();
        prop_assert_eq!(roi.count(), mask.iter().filter(|&&m| m).count() as u64);
        let (a, b) = (0..cut, cut..n as u64);
        prop_assert_eq!(roi.count_in(&a) + roi.count_in(&b), roi.count());
        prop_assert_eq!(roi.compressed_index(cut), roi.count_in(&a));
        for r in roi.runs_in(&b) {
            prop_assert!(r.start < r.end);
            prop_assert!(r.clone().all(|f| mask[f as usize]));
            prop_assert!(r.start == b.start || !mask[r.start as usize - 1]);
            prop_assert!(r.end == b.end || !mask[r.end as usize]);
        }
    }
}

#[test]
fn split_frames_refuses_zero_parts() {
    assert!(split_frames(10, 0, 1).is_err());
    assert!(split_frames(0, 3, 1).unwrap().is_empty());
}

#[test]
fn partitions_split_into_pieces_report_once_and_merge_correctly() {
    // 2 partitions of 10 frames, pieces of 3 frames (task_bytes = 3 frames of 16 bytes).
    let dt = DType::native(ScalarKind::F32);
    let (bytes, vals) = dataset(dt, 20, 4);
    let source =
        MemorySource::new(bytes, dt, DatasetShape::new(&[20], &[2, 2]).unwrap(), 0).unwrap();
    let parts = split_frames(20, 2, 1).unwrap();
    let roi_mask: Vec<bool> = (0..20).map(|i| i % 3 != 1).collect();
    for roi in [None, Some(Roi::new(roi_mask.clone(), 20).unwrap())] {
        let seen = std::sync::Mutex::new(Vec::new());
        let udfs: [&dyn DynUdf; 2] = [&SumUdf, &SumSigUdf];
        let opts = RunOptions {
            task_bytes: 3 * 16,
            ..RunOptions::new(InputKind::F64)
        };
        let out = Runner::new(2)
            .unwrap()
            .run(&source, &parts, roi.as_ref(), &udfs, &opts, &|p| {
                seen.lock().unwrap().push(p.index);
            })
            .unwrap();
        let mut seen = seen.into_inner().unwrap();
        seen.sort_unstable();
        assert_eq!(seen, vec![0, 1]);
        let mask = roi.as_ref().map(|_| roi_mask.as_slice());
        let (sum, sumsig) = oracle(&vals, 20, 4, mask);
        let got_sum = to_f64(out[0].downcast_ref::<TypedVec>().unwrap());
        let got_sumsig = to_f64(out[1].downcast_ref::<TypedVec>().unwrap());
        close(&got_sum, &sum, 1e-12, "sum").unwrap();
        close(&got_sumsig, &sumsig, 1e-12, "sumsig").unwrap();
    }
}

// --- Broken UDFs fail the run, in release builds too -----------------------------------------
//
// Each of these was silently skipped (a partial or output of a foreign type) or only a
// `debug_assert!` (a tile of another kind than the partial): a release build returned zeros.

/// Hands `SumUdf` a partial (or, with `foreign_output`, an output) of a type it does not know,
/// as a runner mixing up the partials of two UDFs would.
struct ForeignPartial {
    foreign_output: bool,
}

impl DynUdf for ForeignPartial {
    fn name_dyn(&self) -> &'static str {
        "ForeignPartial"
    }
    fn new_partial_dyn(&self, part: &PartitionInfo<'_>) -> Box<dyn std::any::Any + Send> {
        if self.foreign_output {
            SumUdf.new_partial_dyn(part)
        } else {
            Box::new(vec![0u8; 3])
        }
    }
    fn process_tile_dyn(
        &self,
        partial: &mut (dyn std::any::Any + Send),
        tile: &Tile<'_>,
    ) -> Result<(), Error> {
        SumUdf.process_tile_dyn(partial, tile)
    }
    fn process_stored_tile_dyn(
        &self,
        partial: &mut (dyn std::any::Any + Send),
        tile: &ferrotem_core::udf::StoredTile<'_>,
    ) -> Result<bool, Error> {
        SumUdf.process_stored_tile_dyn(partial, tile)
    }
    fn new_output_dyn(&self, run: &RunInfo<'_>) -> Box<dyn std::any::Any + Send> {
        if self.foreign_output {
            Box::new(String::new())
        } else {
            SumUdf.new_output_dyn(run)
        }
    }
    fn merge_dyn(
        &self,
        output: &mut (dyn std::any::Any + Send),
        part: &PartitionInfo<'_>,
        partial: Box<dyn std::any::Any + Send>,
    ) -> Result<(), Error> {
        SumUdf.merge_dyn(output, part, partial)
    }
}

/// `SumUdf` with float64 partials in a float32 run: every tile has another kind than the partial.
struct WrongKindSum;

impl Udf for WrongKindSum {
    type Partial = TypedVec;
    type Output = TypedVec;
    fn new_partial(&self, part: &PartitionInfo<'_>) -> TypedVec {
        TypedVec::zeros(InputKind::F64, part.run.shape.sig_size())
    }
    fn process_tile(&self, partial: &mut TypedVec, tile: &Tile<'_>) -> Result<(), Error> {
        SumUdf.process_tile(partial, tile)
    }
    fn new_output(&self, run: &RunInfo<'_>) -> TypedVec {
        SumUdf.new_output(run)
    }
    fn merge(
        &self,
        output: &mut TypedVec,
        part: &PartitionInfo<'_>,
        partial: TypedVec,
    ) -> Result<(), Error> {
        SumUdf.merge(output, part, partial)
    }
}

/// Runs `udf` over 12 frames of 4x4 uint16 data in byte order `order` (a swapped order takes
/// the converted-tile path, the native one the stored-tile path first).
fn run_broken(udf: &dyn DynUdf, order: ByteOrder) -> Result<(), Error> {
    let dt = DType {
        kind: ScalarKind::U16,
        order,
    };
    let (bytes, _) = dataset(dt, 12, 16);
    let source =
        MemorySource::new(bytes, dt, DatasetShape::new(&[12], &[4, 4]).unwrap(), 0).unwrap();
    let parts = split_frames(12, 3, 1).unwrap();
    Runner::new(2)
        .unwrap()
        .run(
            &source,
            &parts,
            None,
            &[udf],
            &RunOptions::new(InputKind::F32),
            &|_| {},
        )
        .map(|_| ())
}

fn swapped() -> ByteOrder {
    match ByteOrder::NATIVE {
        ByteOrder::Little => ByteOrder::Big,
        ByteOrder::Big => ByteOrder::Little,
    }
}

fn assert_internal(r: Result<(), Error>, udf: &str, what: &str) {
    match r {
        Err(Error::Internal {
            udf: Some(name),
            detail,
        }) => {
            assert_eq!(name, udf, "{what}: {detail}");
            let text = Error::udf_internal(&name, detail).to_string();
            assert!(text.contains(udf) && text.contains("bug"), "{what}: {text}");
        }
        other => panic!("{what}: expected an internal error of {udf}, got {other:?}"),
    }
}

#[test]
fn a_partial_or_output_of_a_foreign_type_is_an_internal_error() {
    for order in [ByteOrder::NATIVE, swapped()] {
        let partial = ForeignPartial {
            foreign_output: false,
        };
        assert_internal(run_broken(&partial, order), "SumUDF", "partial");
        let output = ForeignPartial {
            foreign_output: true,
        };
        assert_internal(run_broken(&output, order), "SumUDF", "output");
    }
}

#[test]
fn a_tile_of_another_kind_than_the_partial_is_an_internal_error() {
    // Swapped bytes: no stored-tile fast path, so the float32 tile reaches `process_tile`.
    assert_internal(run_broken(&WrongKindSum, swapped()), "SumUDF", "tile kind");
    // Merging partials of another kind than the output, for both built-ins.
    let shape = DatasetShape::new(&[2], &[2, 2]).unwrap();
    let run = RunInfo {
        shape: &shape,
        n_frames: 2,
        input: InputKind::F32,
    };
    let partition = Partition {
        index: 0,
        frames: 0..2,
    };
    let part = ferrotem_core::runner::partition_info(&run, &partition, None);
    let mut out = SumUdf.new_output(&run);
    let r = SumUdf.merge(&mut out, &part, TypedVec::zeros(InputKind::C64, 4));
    assert_internal(r, "SumUDF", "sum merge");
    let mut out = SumSigUdf.new_output(&run);
    let r = SumSigUdf.merge(&mut out, &part, TypedVec::zeros(InputKind::F64, 2));
    assert_internal(r, "SumSigUDF", "sumsig merge");
    let tile = Tile {
        offset: 0,
        depth: 1,
        pixels: 0..4,
        data: TileData::C128(&[Complex64::new(1.0, 0.0); 4]),
    };
    let mut partial = SumSigUdf.new_partial(&part);
    let r = SumSigUdf.process_tile(&mut partial, &tile);
    assert_internal(r, "SumSigUDF", "sumsig tile");
}

/// A UDF that records the largest tile it is given (frames, pixels) and wishes for tiles of
/// at least `wish` bytes.
struct TileShapes {
    wish: Option<usize>,
}

impl Udf for TileShapes {
    type Partial = (usize, usize);
    type Output = (usize, usize);
    fn new_partial(&self, _: &PartitionInfo<'_>) -> (usize, usize) {
        (0, 0)
    }
    fn process_tile(&self, partial: &mut (usize, usize), tile: &Tile<'_>) -> Result<(), Error> {
        partial.0 = partial.0.max(tile.depth);
        partial.1 = partial.1.max(tile.pixels.len());
        Ok(())
    }
    fn min_tile_bytes(&self) -> Option<usize> {
        self.wish
    }
    fn new_output(&self, _: &RunInfo<'_>) -> (usize, usize) {
        (0, 0)
    }
    fn merge(
        &self,
        out: &mut (usize, usize),
        _: &PartitionInfo<'_>,
        partial: (usize, usize),
    ) -> Result<(), Error> {
        *out = (out.0.max(partial.0), out.1.max(partial.1));
        Ok(())
    }
}

#[test]
fn a_udf_wish_for_larger_tiles_is_granted_to_the_whole_run() {
    let dt = DType::native(ScalarKind::U16);
    let (n, sig) = (24usize, 50usize);
    let (bytes, vals) = dataset(dt, n, sig);
    let source =
        MemorySource::new(bytes, dt, DatasetShape::new(&[n], &[5, 10]).unwrap(), 0).unwrap();
    let parts = split_frames(n as u64, 1, 1).unwrap();
    // 100 bytes: a quarter frame of float32 values; a wish of 800 bytes: four whole frames;
    // a wish below the run's tile size changes nothing.
    for (wish, want) in [(None, (1, 25)), (Some(800), (4, 50)), (Some(10), (1, 25))] {
        let opts = RunOptions {
            tile_bytes: 100,
            ..RunOptions::new(InputKind::F32)
        };
        let shapes = TileShapes { wish };
        let udfs: [&dyn DynUdf; 2] = [&shapes, &SumUdf];
        let out = Runner::new(1)
            .unwrap()
            .run(&source, &parts, None, &udfs, &opts, &|_| {})
            .unwrap();
        let seen = out[0].downcast_ref::<(usize, usize)>().unwrap();
        assert_eq!(*seen, want, "wish {wish:?}");
        let (want_sum, _) = oracle(&vals, n, sig, None);
        assert_eq!(to_f64(out[1].downcast_ref().unwrap()), want_sum);
    }
}
