//! Fuzzing the TVIPS series header parser, the scan detection and the reader: random bytes, and
//! the real files of `shared/data/real/tvips` (one file, and a series split over three) with
//! random bytes changed or cut off. Whatever comes in, the result is a value or an error —
//! never a panic — and series that open read without one.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests

use ferrotem_core::shape::DatasetShape;
use ferrotem_core::source::tvips::{
    detect_scan, parse_series_header, scan_position, TvipsSeries, SERIES_HEADER_BYTES,
};
use ferrotem_core::source::DataSource;
use proptest::prelude::*;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

fn real() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/real/tvips")
}

/// A series written here: `frames` frames of 3 × 2 `u16` with 108-byte headers holding a
/// 2 × 2 raster after one blank frame.
fn written_series(frames: u16) -> Vec<u8> {
    let mut b = vec![0u8; 256];
    for (i, v) in [256i32, 2, 2, 3, 16, 0, 0, 1, 1, 1, 200, 80, 108]
        .iter()
        .enumerate()
    {
        b[i * 4..i * 4 + 4].copy_from_slice(&v.to_le_bytes());
    }
    for k in 0..frames {
        let mut h = [0u8; 108];
        h[..4].copy_from_slice(&u32::from(k).to_le_bytes());
        let (y, x) = if k == 0 {
            (5.0f32, 5.0f32)
        } else {
            (f32::from((k - 1) / 2), f32::from((k - 1) % 2))
        };
        h[68..72].copy_from_slice(&x.to_le_bytes());
        h[72..76].copy_from_slice(&y.to_le_bytes());
        b.extend(h);
        b.extend((0..6u16).flat_map(|p| (p + k).to_le_bytes()));
    }
    b
}

/// Seeds: whole real files (a single file, and the `_000` of the split series, which holds the
/// header), else files written here.
fn seeds() -> &'static Vec<Vec<u8>> {
    static SEEDS: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    SEEDS.get_or_init(|| {
        let mut out: Vec<Vec<u8>> = [
            "test_tvips_2345_000.tvips",
            "test_tvips_2345_split_000.tvips",
        ]
        .iter()
        .filter_map(|n| std::fs::read(real().join(n)).ok())
        .collect();
        if out.is_empty() {
            eprintln!("real TVIPS files not found: fuzzing written files only");
        }
        out.push(written_series(7));
        out
    })
}

/// The later files of the real split series (no header), else a written body.
fn later_files() -> Vec<Vec<u8>> {
    let real: Vec<Vec<u8>> = [
        "test_tvips_2345_split_001.tvips",
        "test_tvips_2345_split_002.tvips",
    ]
    .iter()
    .filter_map(|n| std::fs::read(real().join(n)).ok())
    .collect();
    if real.is_empty() {
        vec![written_series(3)[256..].to_vec()]
    } else {
        real
    }
}

fn mutate(mut bytes: Vec<u8>, edits: &[(u16, u8)], cut: Option<u32>) -> Vec<u8> {
    for &(at, value) in edits {
        if bytes.is_empty() {
            break;
        }
        let at = at as usize % bytes.len();
        bytes[at] = value;
    }
    if let Some(cut) = cut {
        bytes.truncate(cut as usize % (bytes.len() + 1));
    }
    bytes
}

fn edits() -> impl Strategy<Value = Vec<(u16, u8)>> {
    prop::collection::vec(
        (
            prop_oneof![0u16..64, any::<u16>()],
            prop_oneof![
                any::<u8>(),
                Just(0u8),
                Just(0xFF),
                Just(1),
                Just(2),
                Just(8),
                Just(16)
            ],
        ),
        0..6,
    )
}

/// Scans the series `paths` and reads all of it, natively, if it opens.
fn read_all(paths: &[PathBuf]) {
    let Ok(series) = TvipsSeries::scan(paths) else {
        return;
    };
    let frames = usize::try_from(series.frame_count()).unwrap();
    let (h, w) = series.header().sig_shape();
    let Ok(shape) = DatasetShape::new(&[frames], &[h, w]) else {
        return;
    };
    let Ok(src) = series.open(shape, 0) else {
        return;
    };
    let px = h * w;
    let item = src.dtype().itemsize();
    let Some(len) = frames.checked_mul(px).and_then(|n| n.checked_mul(item)) else {
        return;
    };
    if len > 64 << 20 {
        return;
    }
    let mut dst = vec![0u8; len];
    let _ = src.read_raw(0, frames, 0..px, &mut dst);
    if let Some(lent) = src.stored_frames(0, frames, 0..px) {
        let _ = lent.frames().map(<[u8]>::len).sum::<usize>();
        let _ = src.check_stored(0, frames, 0..px);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        let _ = parse_series_header(&bytes);
        let mut headed = 256i32.to_le_bytes().to_vec();
        headed.extend(&bytes);
        let _ = parse_series_header(&headed);
        let _ = scan_position(&bytes);
    }

    #[test]
    fn mutated_headers_never_panic(pick in any::<prop::sample::Index>(), e in edits(), cut in proptest::option::of(any::<u32>())) {
        let seeds = seeds();
        let seed = &seeds[pick.index(seeds.len())];
        let bytes = mutate(seed[..seed.len().min(SERIES_HEADER_BYTES as usize)].to_vec(), &e, cut);
        if let Ok(h) = parse_series_header(&bytes) {
            let _ = (h.dtype(), h.sig_shape(), h.record_bytes());
        }
    }

    #[test]
    fn scan_detection_never_panics(
        positions in prop::collection::vec(proptest::option::of((-2i64..4, -2i64..6)), 0..60),
        frames in any::<u64>(),
    ) {
        if let Some(g) = detect_scan(&positions, frames) {
            prop_assert!(!g.nav_shape.is_empty() && g.nav_shape.iter().all(|&n| n > 0));
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn mutated_series_never_panic(
        pick in any::<prop::sample::Index>(),
        e in edits(),
        cut in proptest::option::of(any::<u32>()),
        later in any::<bool>(),
        later_cut in proptest::option::of(any::<u32>()),
    ) {
        let seeds = seeds();
        let first = mutate(seeds[pick.index(seeds.len())].clone(), &e, cut);
        let dir = tempfile::tempdir().unwrap();
        let mut paths = vec![dir.path().join("s_000.tvips")];
        std::fs::write(&paths[0], first).unwrap();
        if later {
            for (i, body) in later_files().into_iter().enumerate() {
                let p = dir.path().join(format!("s_{:03}.tvips", i + 1));
                std::fs::write(&p, mutate(body, &[], later_cut)).unwrap();
                paths.push(p);
            }
        }
        read_all(&paths);
    }
}

#[test]
fn the_seeds_themselves_read() {
    let dir = tempfile::tempdir().unwrap();
    for (i, bytes) in seeds().iter().enumerate() {
        let path = dir.path().join(format!("s{i}_000.tvips"));
        std::fs::write(&path, bytes).unwrap();
        let series = TvipsSeries::scan(&[path]).unwrap();
        assert!(series.frame_count() >= 1);
    }
    // the written series: one blank frame, then a 2-wide raster of 6 frames -> 3 x 2
    let path = dir.path().join("w_000.tvips");
    std::fs::write(&path, written_series(7)).unwrap();
    let g = TvipsSeries::scan(&[path])
        .unwrap()
        .scan_guess()
        .cloned()
        .unwrap();
    assert_eq!((g.sync_offset, g.nav_shape), (1, vec![3, 2]));
}
