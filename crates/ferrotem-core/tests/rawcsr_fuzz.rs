//! The sparse `raw_csr` source: random and mutated files never make it panic (opening, dense
//! reads, runs with the CSR kernels), and the CSR kernels of `SumUDF`, `SumSigUDF` and
//! `ApplyMasksUDF` (dense and sparse masks) give what the dense kernels give on the densified
//! frames, with ROIs and any partitioning.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests

use ferrotem_core::buffer::{InputKind, TypedVec};
use ferrotem_core::dtype::{DType, ScalarKind};
use ferrotem_core::partition::split_frames;
use ferrotem_core::roi::Roi;
use ferrotem_core::runner::{RunOptions, Runner};
use ferrotem_core::shape::DatasetShape;
use ferrotem_core::source::{CsrFile, CsrSource, DataSource, MemorySource};
use ferrotem_core::udf::native::{ArrayData, ArrayParam, ParamValue};
use ferrotem_core::udf::{ApplyMasksUdf, DynUdf, NativeSpec, SumSigUdf, SumUdf};
use proptest::prelude::*;
use std::collections::BTreeMap;
use std::path::Path;

const INT_DTYPES: [&str; 8] = ["<i8", "<i4", "<u4", "<u2", ">i4", ">u8", "|u1", "<i2"];
const DATA_DTYPES: [&str; 6] = ["<f4", ">f4", "<u2", "<i4", "<f8", "|u1"];

fn write(dir: &Path, name: &str, bytes: &[u8]) -> CsrFile {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    CsrFile::new(p, DType::native(ScalarKind::U8))
}

fn with_dtype(mut f: CsrFile, dtype: &str) -> CsrFile {
    f.dtype = DType::parse(dtype, "dtype").unwrap();
    f
}

/// Integers as bytes of `dtype` (values cast with wrapping, as a fuzzer would write them).
fn int_bytes(values: &[i64], dtype: &str) -> Vec<u8> {
    let d = DType::parse(dtype, "d").unwrap();
    let big = dtype.starts_with('>');
    values
        .iter()
        .flat_map(|&v| {
            let le = v.to_le_bytes();
            let mut b = le[..d.itemsize()].to_vec();
            if big {
                b.reverse();
            }
            b
        })
        .collect()
}

/// Values as bytes of `dtype`.
#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
fn value_bytes(values: &[f64], dtype: &str) -> Vec<u8> {
    let big = dtype.starts_with('>');
    values
        .iter()
        .flat_map(|&v| {
            let mut b = match &dtype[1..] {
                "f4" => (v as f32).to_le_bytes().to_vec(),
                "f8" => v.to_le_bytes().to_vec(),
                "u2" => (v as u16).to_le_bytes().to_vec(),
                "i4" => (v as i32).to_le_bytes().to_vec(),
                "u1" => vec![v as u8],
                other => panic!("{other}"),
            };
            if big {
                b.reverse();
            }
            b
        })
        .collect()
}

fn masks_spec_sparse(masks: &[f32], n: usize, sig: usize) -> NativeSpec {
    // CSR over pixels of the nonzero weights
    let (mut pixels, mut ptr, mut idx, mut data) = (vec![], vec![0i64], vec![], vec![]);
    for p in 0..sig {
        let before = idx.len();
        for m in 0..n {
            let w = masks[m * sig + p];
            if w != 0.0 {
                idx.push(i64::try_from(m).unwrap());
                data.push(w);
            }
        }
        if idx.len() > before {
            pixels.push(i64::try_from(p).unwrap());
            ptr.push(i64::try_from(idx.len()).unwrap());
        }
    }
    let arr = |shape: usize, data: ArrayData| {
        ParamValue::Array(ArrayParam {
            shape: vec![shape],
            data,
        })
    };
    let mut params = BTreeMap::new();
    params.insert("pixels".into(), arr(pixels.len(), ArrayData::I64(pixels)));
    params.insert("indptr".into(), arr(ptr.len(), ArrayData::I64(ptr)));
    params.insert("indices".into(), arr(idx.len(), ArrayData::I64(idx)));
    params.insert(
        "data".into(),
        arr(data.len(), ArrayData::Typed(TypedVec::F32(data))),
    );
    params.insert("n_masks".into(), ParamValue::Int(i64::try_from(n).unwrap()));
    params.insert(
        "sig_size".into(),
        ParamValue::Int(i64::try_from(sig).unwrap()),
    );
    NativeSpec {
        name: "masks".into(),
        params,
        results: vec![],
    }
}

/// Runs `SumUdf`, `SumSigUdf`, dense and sparse masks over `source`; the outputs as typed vectors.
fn run_all(
    source: &dyn DataSource,
    masks: &[f32],
    n_masks: usize,
    parts: usize,
    roi: Option<&Roi>,
) -> ferrotem_core::Result<Vec<TypedVec>> {
    let sig = source.shape().sig_size();
    let dense = ApplyMasksUdf::dense(TypedVec::F32(masks.to_vec()), n_masks, sig)?;
    let sparse = ApplyMasksUdf::from_spec(&masks_spec_sparse(masks, n_masks, sig))?;
    let udfs: [&dyn DynUdf; 4] = [&SumUdf, &SumSigUdf, &dense, sparse.udf()];
    let nav = source.shape().nav_size();
    let partitions = split_frames(nav, parts.min(usize::try_from(nav).unwrap()), 1)?;
    let out = Runner::new(2)?.run(
        source,
        &partitions,
        roi,
        &udfs,
        &RunOptions::new(InputKind::F32),
        &|_| {},
    )?;
    Ok(out
        .into_iter()
        .map(|o| *o.downcast::<TypedVec>().unwrap())
        .collect())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Random files of random dtypes: opening, reading every frame densely and running the
    /// CSR kernels give values or errors, never a panic.
    #[test]
    fn random_files_never_panic(
        ptr in prop::collection::vec(any::<u8>(), 0..80),
        idx in prop::collection::vec(any::<u8>(), 0..120),
        dat in prop::collection::vec(any::<u8>(), 0..160),
        dt in (0..INT_DTYPES.len(), 0..INT_DTYPES.len(), 0..DATA_DTYPES.len()),
        nav in 1u64..6,
        sig in 1usize..9,
        sync in -3i64..3,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let p = with_dtype(write(dir.path(), "p", &ptr), INT_DTYPES[dt.0]);
        let i = with_dtype(write(dir.path(), "i", &idx), INT_DTYPES[dt.1]);
        let d = with_dtype(write(dir.path(), "d", &dat), DATA_DTYPES[dt.2]);
        let nav_len = usize::try_from(nav).unwrap();
        let shape = DatasetShape::new(&[nav_len], &[1, sig]).unwrap();
        if let Ok(src) = CsrSource::open(&p, &i, &d, shape, sync) {
            let mut out = vec![0u8; nav_len * sig * src.dtype().itemsize()];
            let _ = src.read_raw(0, nav_len, 0..sig, &mut out);
            let _ = run_all(&src, &vec![1.0; sig], 1, 2, None);
        }
    }

    /// A valid dataset with bytes of `indptr` or `indices` overwritten: the same.
    #[test]
    fn mutated_files_never_panic(
        frames in prop::collection::vec(prop::collection::vec((0i64..12, 1.0f64..9.0), 0..5), 1..6),
        flips in prop::collection::vec((any::<bool>(), any::<prop::sample::Index>(), any::<u8>()), 1..6),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let mut ptr = vec![0i64];
        let (mut idx, mut val) = (vec![], vec![]);
        for f in &frames {
            for &(p, v) in f {
                idx.push(p);
                val.push(v);
            }
            ptr.push(i64::try_from(idx.len()).unwrap());
        }
        let mut ptr_b = int_bytes(&ptr, "<i4");
        let mut idx_b = int_bytes(&idx, "<u2");
        for (in_ptr, at, byte) in flips {
            let target = if in_ptr || idx_b.is_empty() { &mut ptr_b } else { &mut idx_b };
            let k = at.index(target.len());
            target[k] = byte;
        }
        let p = with_dtype(write(dir.path(), "p", &ptr_b), "<i4");
        let i = with_dtype(write(dir.path(), "i", &idx_b), "<u2");
        let d = with_dtype(write(dir.path(), "d", &value_bytes(&val, "<f4")), "<f4");
        let shape = DatasetShape::new(&[frames.len()], &[3, 4]).unwrap();
        if let Ok(src) = CsrSource::open(&p, &i, &d, shape, 0) {
            let mut out = vec![0u8; frames.len() * 12 * 4];
            let dense = src.read_raw(0, frames.len(), 0..12, &mut out);
            let run = run_all(&src, &[1.0; 12], 1, 3, None);
            // a file the dense read accepts runs, and the other way round
            prop_assert_eq!(dense.is_ok(), run.is_ok());
        }
    }

    /// The CSR kernels against the dense kernels on the same frames (integer values and
    /// weights: every sum is exact, so results are equal bit for bit).
    #[test]
    fn csr_kernels_match_dense(
        nav in 1usize..14,
        sig in 1usize..40,
        density in 0.0f64..1.0,
        seed in any::<u64>(),
        dtypes in (0..3usize, 0..4usize),
        parts in 1usize..5,
        roi_bits in prop::option::of(prop::collection::vec(any::<bool>(), 14)),
        n_masks in 1usize..5,
    ) {
        let mut state = seed | 1;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        #[allow(clippy::cast_precision_loss)]
        let mut frac = || (next() % 1_000_000) as f64 / 1e6;
        let mut dense = vec![0f64; nav * sig];
        let (mut ptr, mut idx, mut val) = (vec![0i64], vec![], vec![]);
        for f in 0..nav {
            for p in 0..sig {
                if frac() < density {
                    let v = (frac() * 8.0).floor() + 1.0;
                    dense[f * sig + p] += v;
                    idx.push(i64::try_from(p).unwrap());
                    val.push(v);
                }
            }
            ptr.push(i64::try_from(idx.len()).unwrap());
        }
        let (pt, it) = (["<i8", ">u4", "<i4"][dtypes.0], INT_DTYPES[dtypes.1]);
        let dt = ["<f4", ">f4", "<u2", "<i4"][dtypes.1];
        let dir = tempfile::tempdir().unwrap();
        let p = with_dtype(write(dir.path(), "p", &int_bytes(&ptr, pt)), pt);
        let it = if it == "|u1" && sig > 255 { "<u2" } else { it };
        let i = with_dtype(write(dir.path(), "i", &int_bytes(&idx, it)), it);
        let d = with_dtype(write(dir.path(), "d", &value_bytes(&val, dt)), dt);
        let shape = DatasetShape::new(&[nav], &[sig]).unwrap();
        let csr = CsrSource::open(&p, &i, &d, shape.clone(), 0).unwrap();
        let mem = MemorySource::new(value_bytes(&dense, dt), DType::parse(dt, "d").unwrap(), shape, 0)
            .unwrap();
        #[allow(clippy::cast_precision_loss)]
        let masks: Vec<f32> = (0..n_masks * sig).map(|_| (next() % 4) as f32).collect();
        let roi = roi_bits.map(|b| Roi::new(b[..nav].to_vec(), nav as u64).unwrap());
        let a = run_all(&csr, &masks, n_masks, parts, roi.as_ref()).unwrap();
        let b = run_all(&mem, &masks, n_masks, parts, roi.as_ref()).unwrap();
        prop_assert_eq!(a, b);
    }
}

#[test]
fn big_indptr_values_and_bad_indices_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let p = with_dtype(
        write(dir.path(), "p", &int_bytes(&[0, 2, i64::MAX], "<i8")),
        "<i8",
    );
    let i = with_dtype(write(dir.path(), "i", &int_bytes(&[0, 1, 2], "<i4")), "<i4");
    let d = with_dtype(
        write(dir.path(), "d", &value_bytes(&[1., 2., 3.], "<f4")),
        "<f4",
    );
    let shape = || DatasetShape::new(&[2], &[2]).unwrap();
    let err = CsrSource::open(&p, &i, &d, shape(), 0).unwrap_err();
    assert!(err.to_string().contains("past the 3 entries"), "{err}");
    let p = with_dtype(write(dir.path(), "p", &int_bytes(&[0, 1, 3], "<i8")), "<i8");
    let neg = with_dtype(
        write(dir.path(), "n", &int_bytes(&[0, -1, 1], "<i4")),
        "<i4",
    );
    let src = CsrSource::open(&p, &neg, &d, shape(), 0).unwrap();
    let err = run_all(&src, &[1.0, 1.0], 1, 1, None).unwrap_err();
    assert!(
        err.to_string()
            .contains("entry 1 (stored frame 1) is the index -1"),
        "{err}"
    );
}
