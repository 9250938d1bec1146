//! The framed source under the runner and the converted reads: frames between headers and
//! footers (of any size, so frames may be misaligned), split over files, in any plain dtype or
//! RAW-packed, with `sync_offset`, ROIs and tiles that cut frames — against values computed
//! here; mapped and `pread`.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests
#![allow(
    clippy::cast_possible_wrap,
    clippy::cast_sign_loss,
    clippy::cast_precision_loss,
    reason = "small test sizes and values, exact in every type used"
)]

mod common;

use common::{dtype, encode, value};
use ferrotem_core::aligned::AlignedBuf;
use ferrotem_core::buffer::{InputKind, TypedVec};
use ferrotem_core::dtype::{ByteOrder, DType, ScalarKind};
use ferrotem_core::partition::split_frames;
use ferrotem_core::read::read_converted;
use ferrotem_core::roi::Roi;
use ferrotem_core::runner::{RunOptions, Runner};
use ferrotem_core::shape::DatasetShape;
use ferrotem_core::source::framed::{
    ChipLayout, Encoding, FrameCount, FrameDecoder, FramedFile, FramedSource, FramedSpec,
    MedipixRaw, RawCounter,
};
use ferrotem_core::source::{DataSource, IoMode};
use ferrotem_core::udf::{DynUdf, SumSigUdf, SumUdf};
use proptest::prelude::*;
use std::path::Path;
use std::sync::Arc;

#[derive(Debug, Clone)]
struct Case {
    dtype: DType,
    frame_header: usize,
    frame_footer: usize,
    file_header: usize,
    /// Frames per file.
    files: Vec<usize>,
    sig: usize,
    nav: usize,
    sync_offset: i64,
    roi: Option<Vec<bool>>,
    tile_bytes: usize,
    partitions: usize,
    io: IoMode,
}

fn case() -> impl Strategy<Value = Case> {
    let dtypes = prop::sample::select(vec![
        DType::native(ScalarKind::U8),
        dtype(ScalarKind::U16, ByteOrder::Little),
        dtype(ScalarKind::U16, ByteOrder::Big),
        dtype(ScalarKind::U32, ByteOrder::Big),
        dtype(ScalarKind::I16, ByteOrder::Little),
        dtype(ScalarKind::F32, ByteOrder::Little),
        dtype(ScalarKind::F64, ByteOrder::Big),
        dtype(ScalarKind::F32, ByteOrder::Big),
        dtype(ScalarKind::I32, ByteOrder::Big),
        dtype(ScalarKind::I8, ByteOrder::Little),
    ]);
    (
        dtypes,
        0usize..20,
        0usize..5,
        0usize..40,
        prop::collection::vec(1usize..9, 1..4),
        1usize..70,
        any::<prop::sample::Index>(),
        any::<bool>(),
        any::<u64>(),
        prop::sample::select(vec![64usize, 256, 4096, 1 << 20]),
        1usize..5,
        prop::sample::select(vec![IoMode::Mmap, IoMode::Pread]),
    )
        .prop_map(
            |(
                dtype,
                frame_header,
                frame_footer,
                file_header,
                files,
                sig,
                off,
                with_roi,
                seed,
                tile_bytes,
                partitions,
                io,
            )| {
                let stored: usize = files.iter().sum();
                let nav = stored + (seed % 3) as usize;
                let limit = stored as i64;
                let sync_offset = off.index((2 * stored - 1).max(1)) as i64 - (limit - 1);
                let roi = with_roi.then(|| (0..nav).map(|i| (seed >> (i % 64)) & 1 == 1).collect());
                Case {
                    dtype,
                    frame_header,
                    frame_footer,
                    file_header,
                    files,
                    sig,
                    nav,
                    sync_offset,
                    roi,
                    tile_bytes,
                    partitions: partitions.min(nav),
                    io,
                }
            },
        )
}

/// Writes the case's files; returns the spec and the stored values, frame after frame.
fn write_case(dir: &Path, c: &Case) -> (FramedSpec, Vec<f64>) {
    let mut values = Vec::new();
    let mut files = Vec::new();
    let mut j = 0;
    for (i, &frames) in c.files.iter().enumerate() {
        let mut bytes = vec![0xA5u8; c.file_header];
        for _ in 0..frames {
            bytes.extend(std::iter::repeat_n(0xEE, c.frame_header));
            for _ in 0..c.sig {
                let v = value(c.dtype.kind, j);
                values.push(v);
                bytes.extend(encode(v, c.dtype));
                j += 1;
            }
            bytes.extend(std::iter::repeat_n(0xFF, c.frame_footer));
        }
        let path = dir.join(format!("f{i}"));
        std::fs::write(&path, bytes).unwrap();
        files.push(FramedFile {
            path,
            file_header: c.file_header as u64,
            frames: FrameCount::AsMany,
        });
    }
    let spec = FramedSpec {
        format: "TEST".into(),
        files,
        frame_header: c.frame_header as u64,
        frame_footer: c.frame_footer as u64,
        encoding: Encoding::Plain(c.dtype),
        check: None,
    };
    (spec, values)
}

fn to_f64(v: &TypedVec) -> Vec<f64> {
    match v {
        TypedVec::F32(v) => v.iter().map(|&x| f64::from(x)).collect(),
        TypedVec::F64(v) => v.clone(),
        _ => panic!("complex"),
    }
}

/// Logical frame `f`'s values, or zeros.
fn logical(values: &[f64], c: &Case, f: usize) -> Vec<f64> {
    let s = f as i64 + c.sync_offset;
    let stored = values.len() / c.sig;
    if s < 0 || s >= stored as i64 {
        vec![0.0; c.sig]
    } else {
        values[s as usize * c.sig..(s as usize + 1) * c.sig].to_vec()
    }
}

fn run_case(c: &Case) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().unwrap();
    let (spec, values) = write_case(dir.path(), c);
    let shape = DatasetShape::new(&[c.nav], &[c.sig]).unwrap();
    let src = FramedSource::open_with(spec, shape, c.sync_offset, c.io).unwrap();
    // The runner, natively
    let parts = split_frames(c.nav as u64, c.partitions, 1).unwrap();
    let roi = c.roi.clone().map(|m| Roi::new(m, c.nav as u64).unwrap());
    let mut opts = RunOptions::new(InputKind::F64);
    opts.tile_bytes = c.tile_bytes;
    let udfs: [&dyn DynUdf; 2] = [&SumUdf, &SumSigUdf];
    let out = Runner::new(2)
        .unwrap()
        .run(&src, &parts, roi.as_ref(), &udfs, &opts, &|_| {})
        .unwrap();
    let mut want_sum = vec![0.0; c.sig];
    let mut want_sumsig = Vec::new();
    for f in 0..c.nav {
        if c.roi.as_ref().is_some_and(|m| !m[f]) {
            continue;
        }
        let frame = logical(&values, c, f);
        for (a, v) in want_sum.iter_mut().zip(&frame) {
            *a += v;
        }
        want_sumsig.push(frame.iter().sum::<f64>());
    }
    prop_assert_eq!(to_f64(out[0].downcast_ref().unwrap()), want_sum);
    prop_assert_eq!(to_f64(out[1].downcast_ref().unwrap()), want_sumsig);
    // Converted reads (the Python path), a pixel range of every frame
    let (p0, p1) = (c.sig / 3, c.sig - c.sig / 4);
    let mut dst = vec![0u8; c.nav * (p1 - p0) * 8];
    let mut scratch = AlignedBuf::zeroed(0);
    read_converted(
        &src,
        std::slice::from_ref(&(0..c.nav as u64)),
        p0..p1,
        &mut dst,
        ScalarKind::F64,
        &mut scratch,
    )
    .unwrap();
    let got: Vec<f64> = dst
        .chunks(8)
        .map(|b| f64::from_ne_bytes(b.try_into().unwrap()))
        .collect();
    let want: Vec<f64> = (0..c.nav)
        .flat_map(|f| logical(&values, c, f)[p0..p1].to_vec())
        .collect();
    prop_assert_eq!(got, want);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]
    #[test]
    fn runs_over_framed_files_match_the_values(c in case()) {
        run_case(&c)?;
    }
}

/// A reference RAW decode: the formula, pixel by pixel.
fn raw_reference(
    payload: &[u8],
    counter: RawCounter,
    layout: ChipLayout,
    w: usize,
    rows: usize,
) -> Vec<u64> {
    let bits = match counter {
        RawCounter::Bits1 => 1,
        RawCounter::Bits6 => 8,
        _ => 16,
    };
    let chips = if layout == ChipLayout::Quad { 4 } else { 1 };
    let row_bytes = w * bits / 8 * chips;
    let sub = row_bytes * rows;
    // counter value of chip `c`, raw row `r`, chip pixel `x`, in sub-frame `s`
    let field = |s: usize, r: usize, c: usize, x: usize| -> u64 {
        let start = s * sub + r * row_bytes + c * (w * bits / 8) + (x * bits / 64) * 8;
        let word = u64::from_be_bytes(payload[start..start + 8].try_into().unwrap());
        let k = x % (64 / bits);
        (word >> (k * bits)) & ((1u64 << bits) - 1)
    };
    let value = |r, c, x| {
        if counter == RawCounter::Bits24 {
            (field(0, r, c, x) << 12) + field(1, r, c, x)
        } else {
            field(0, r, c, x)
        }
    };
    match layout {
        ChipLayout::Single => (0..rows)
            .flat_map(|r| (0..w).map(move |x| (r, x)))
            .map(|(r, x)| value(r, 0, x))
            .collect(),
        ChipLayout::Quad => {
            let mut out = Vec::new();
            for y in 0..2 * rows {
                for x in 0..2 * w {
                    out.push(match (y < rows, x < w) {
                        (true, true) => value(y, 3, x),
                        (true, false) => value(y, 2, x - w),
                        (false, true) => value(2 * rows - 1 - y, 1, w - 1 - x),
                        (false, false) => value(2 * rows - 1 - y, 0, 2 * w - 1 - x),
                    });
                }
            }
            out
        }
    }
}

fn decoded_values(bytes: &[u8], item: usize) -> Vec<u64> {
    bytes
        .chunks(item)
        .map(|c| c.iter().rev().fold(0u64, |a, &b| (a << 8) | u64::from(b)))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]
    /// Every RAW decoder, any geometry, any payload, any pixel range: the formula's values, no
    /// panic.
    #[test]
    fn raw_decoders_follow_the_formula(
        counter in prop::sample::select(vec![RawCounter::Bits1, RawCounter::Bits6, RawCounter::Bits12, RawCounter::Bits24]),
        quad in any::<bool>(),
        words in 1usize..4,
        rows in 1usize..5,
        seed in any::<u64>(),
        range in (any::<prop::sample::Index>(), any::<prop::sample::Index>()),
    ) {
        let per_word = match counter { RawCounter::Bits1 => 64, RawCounter::Bits6 => 8, _ => 4 };
        let layout = if quad { ChipLayout::Quad } else { ChipLayout::Single };
        let w = words * per_word;
        let d = MedipixRaw::new(counter, layout, w, rows).unwrap();
        let payload: Vec<u8> = (0..d.payload_bytes()).map(|i| (seed.rotate_left(i as u32 % 64) ^ (i as u64 * 0x9E37)) as u8).collect();
        let n = d.frame_pixels();
        let (a, b) = (range.0.index(n + 1), range.1.index(n + 1));
        let (lo, hi) = (a.min(b), a.max(b));
        let item = d.dtype().itemsize();
        let mut out = vec![0u8; (hi - lo) * item];
        d.decode(&payload, lo..hi, &mut out).unwrap();
        let want = raw_reference(&payload, counter, layout, w, rows);
        prop_assert_eq!(decoded_values(&out, item), want[lo..hi].to_vec());
    }
}

#[test]
fn raw_frames_run_through_the_runner() {
    let dir = tempfile::tempdir().unwrap();
    let d = MedipixRaw::new(RawCounter::Bits12, ChipLayout::Quad, 64, 3).unwrap();
    let frames = 7;
    let mut bytes = Vec::new();
    let mut payloads = Vec::new();
    for f in 0..frames {
        bytes.extend([b'H'; 10]);
        let p: Vec<u8> = (0..d.payload_bytes())
            .map(|i| ((i * 7 + f * 13) % 251) as u8)
            .collect();
        bytes.extend(&p);
        payloads.push(p);
    }
    let path = dir.path().join("raw");
    std::fs::write(&path, bytes).unwrap();
    let npx = d.frame_pixels();
    for io in [IoMode::Mmap, IoMode::Pread] {
        let spec = FramedSpec {
            format: "RAW".into(),
            files: vec![FramedFile {
                path: path.clone(),
                file_header: 0,
                frames: FrameCount::AsMany,
            }],
            frame_header: 10,
            frame_footer: 0,
            encoding: Encoding::Decoded(Arc::new(d.clone())),
            check: None,
        };
        let src = FramedSource::open_with(
            spec,
            DatasetShape::new(&[frames], &[6, 128]).unwrap(),
            0,
            io,
        )
        .unwrap();
        assert_eq!(src.dtype(), DType::native(ScalarKind::U16));
        let mut opts = RunOptions::new(InputKind::F64); // sums beyond float32's exact range
        opts.tile_bytes = 1000; // tiles cut frames
        let udfs: [&dyn DynUdf; 2] = [&SumUdf, &SumSigUdf];
        let parts = split_frames(frames as u64, 2, 1).unwrap();
        let out = Runner::new(2)
            .unwrap()
            .run(&src, &parts, None, &udfs, &opts, &|_| {})
            .unwrap();
        let decoded: Vec<Vec<u64>> = payloads
            .iter()
            .map(|p| raw_reference(p, RawCounter::Bits12, ChipLayout::Quad, 64, 3))
            .collect();
        let want_sum: Vec<f64> = (0..npx)
            .map(|i| decoded.iter().map(|f| f[i] as f64).sum())
            .collect();
        let want_sumsig: Vec<f64> = decoded
            .iter()
            .map(|f| f.iter().map(|&v| v as f64).sum())
            .collect();
        assert_eq!(to_f64(out[0].downcast_ref().unwrap()), want_sum);
        assert_eq!(to_f64(out[1].downcast_ref().unwrap()), want_sumsig);
    }
}
