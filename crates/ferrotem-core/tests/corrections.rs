//! Corrections in the runner: `SumUdf` / `SumSigUdf` over corrected tiles against a float64
//! oracle written here (dark, gain, mean of the in-frame non-excluded 8-neighbours), with tiles
//! that cut frames, byte-swapped data and ROIs.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: helpers outside #[test] fns panic on setup failure too

use ferrotem_core::buffer::{InputKind, TypedVec};
use ferrotem_core::corrections::Corrections;
use ferrotem_core::dtype::{ByteOrder, DType, ScalarKind};
use ferrotem_core::partition::split_frames;
use ferrotem_core::roi::Roi;
use ferrotem_core::runner::{RunOptions, Runner};
use ferrotem_core::shape::DatasetShape;
use ferrotem_core::source::MemorySource;
use ferrotem_core::udf::{DynUdf, SumSigUdf, SumUdf};
use proptest::prelude::*;

/// Corrected frames, float64, by the rule written out independently of the core.
fn oracle(
    vals: &[f64],
    (sy, sx): (usize, usize),
    dark: &[f64],
    gain: &[f64],
    excluded: &[bool],
) -> Vec<f64> {
    let sig = sy * sx;
    let mut out: Vec<f64> = vals
        .iter()
        .enumerate()
        .map(|(i, v)| (v - dark[i % sig]) * gain[i % sig])
        .collect();
    for frame in out.chunks_exact_mut(sig) {
        let before = frame.to_vec();
        for y in 0..sy {
            for x in 0..sx {
                if !excluded[y * sx + x] {
                    continue;
                }
                let mut acc = Vec::new();
                for ny in y.saturating_sub(1)..=(y + 1).min(sy - 1) {
                    for nx in x.saturating_sub(1)..=(x + 1).min(sx - 1) {
                        if (ny, nx) != (y, x) && !excluded[ny * sx + nx] {
                            acc.push(before[ny * sx + nx]);
                        }
                    }
                }
                if !acc.is_empty() {
                    frame[y * sx + x] =
                        acc.iter().sum::<f64>() / f64::from(u32::try_from(acc.len()).unwrap());
                }
            }
        }
    }
    out
}

fn f64s(v: &TypedVec) -> Vec<f64> {
    match v {
        TypedVec::F64(v) => v.clone(),
        _ => panic!("float64 input asked for"),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    #[test]
    fn sums_of_corrected_frames(
        sy in 1usize..9, sx in 1usize..9, n in 1usize..12,
        seed in any::<u64>(), big_endian in any::<bool>(), cut in any::<bool>(),
        with_excluded in any::<bool>(), with_roi in any::<bool>(),
    ) {
        let sig = sy * sx;
        let mut state = seed | 1;
        let mut next = move || { state ^= state << 13; state ^= state >> 7; state ^= state << 17; state };
        let mut below = |m: u64| u16::try_from(next() % m).unwrap();
        let raw: Vec<u16> = (0..n * sig).map(|_| below(1000)).collect();
        let vals: Vec<f64> = raw.iter().map(|&v| f64::from(v)).collect();
        let dark: Vec<f64> = (0..sig).map(|_| f64::from(below(100)) / 10.0).collect();
        let gain: Vec<f64> = (0..sig).map(|_| 0.5 + f64::from(below(100)) / 100.0).collect();
        let excluded: Vec<bool> = (0..sig).map(|_| with_excluded && below(4) == 0).collect();
        let order = if big_endian { ByteOrder::Big } else { ByteOrder::Little };
        let dt = DType { kind: ScalarKind::U16, order };
        let bytes: Vec<u8> = raw.iter().flat_map(|&v| {
            if big_endian { v.to_be_bytes() } else { v.to_le_bytes() }
        }).collect();
        let shape = DatasetShape::new(&[n], &[sy, sx]).unwrap();
        let source = MemorySource::new(bytes, dt, shape, 0).unwrap();
        let flat: Vec<usize> = (0..sig).filter(|&i| excluded[i]).collect();
        let corr = Corrections::new(&[sy, sx], Some(dark.clone()), Some(gain.clone()), &flat, true)
            .unwrap();
        let roi_mask: Vec<bool> = (0..n).map(|i| !with_roi || i == 0 || below(3) != 0).collect();
        let roi = with_roi.then(|| Roi::new(roi_mask.clone(), n as u64).unwrap());
        let runner = Runner::new(2).unwrap();
        let parts = split_frames(n as u64, 3.min(n), 1).unwrap();
        let opts = RunOptions {
            // 3 pixels of float64 per tile: cuts frames unless pixels are excluded
            tile_bytes: if cut { 24 } else { 1 << 20 },
            corrections: Some(&corr),
            ..RunOptions::new(InputKind::F64)
        };
        let udfs: Vec<&dyn DynUdf> = vec![&SumUdf, &SumSigUdf];
        let out = runner.run(&source, &parts, roi.as_ref(), &udfs, &opts, &|_| {}).unwrap();
        let want = oracle(&vals, (sy, sx), &dark, &gain, &excluded);
        let mut sum = vec![0f64; sig];
        let mut sumsig = Vec::new();
        for (f, frame) in want.chunks_exact(sig).enumerate() {
            if !roi_mask[f] { continue; }
            for (a, v) in sum.iter_mut().zip(frame) { *a += v; }
            sumsig.push(frame.iter().sum::<f64>());
        }
        let got_sum = f64s(out[0].downcast_ref().unwrap());
        let got_sumsig = f64s(out[1].downcast_ref().unwrap());
        for (g, w) in got_sum.iter().zip(&sum).chain(got_sumsig.iter().zip(&sumsig)) {
            prop_assert!((g - w).abs() <= 1e-9 * w.abs().max(1.0), "{} vs {}", g, w);
        }
        prop_assert_eq!(got_sumsig.len(), sumsig.len());
    }
}
