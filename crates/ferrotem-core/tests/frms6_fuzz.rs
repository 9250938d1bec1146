//! Fuzzing the `.frms6` header parser, the pnCCD unfolding decoder and the reader of `.frms6`
//! acquisitions: random bytes, and written files with random bytes changed or cut off. Whatever
//! comes in, the result is a value or an error — never a panic.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests

use ferrotem_core::shape::DatasetShape;
use ferrotem_core::source::framed::FrameDecoder;
use ferrotem_core::source::frms6::{
    open_frms6, parse_frms6_header, scan_frms6, Frms6Unfold, FRMS6_HEADER_BYTES,
};
use ferrotem_core::source::DataSource;
use proptest::prelude::*;
use std::path::PathBuf;

/// An `.frms6` file of `frames` stored frames of 3 x 8 pixels; `count` in the header or 0.
fn frms6_file(frames: u32, count_in_header: bool) -> Vec<u8> {
    let mut b = vec![0u8; FRMS6_HEADER_BYTES];
    b[0..2].copy_from_slice(&1024u16.to_le_bytes());
    b[2..4].copy_from_slice(&64u16.to_le_bytes());
    b[7] = 6;
    b[88..90].copy_from_slice(&8u16.to_le_bytes());
    b[90..92].copy_from_slice(&3u16.to_le_bytes());
    if count_in_header {
        b[1020..1024].copy_from_slice(&frames.to_le_bytes());
    }
    for f in 0..frames {
        b.extend([0u8; 64]);
        for p in 0..24u16 {
            b.extend((f as u16 * 100 + p).to_le_bytes());
        }
    }
    b
}

fn mutate(mut bytes: Vec<u8>, edits: &[(u16, u8, bool)], cut: Option<u32>) -> Vec<u8> {
    for &(at, value, far) in edits {
        if bytes.is_empty() {
            break;
        }
        let at = if far {
            at as usize * 3
        } else {
            at as usize % 1024
        };
        let at = at % bytes.len();
        bytes[at] = value;
    }
    if let Some(cut) = cut {
        bytes.truncate(cut as usize % (bytes.len() + 1));
    }
    bytes
}

fn edits() -> impl Strategy<Value = Vec<(u16, u8, bool)>> {
    prop::collection::vec(
        (
            any::<u16>(),
            prop_oneof![any::<u8>(), Just(0u8), Just(6u8), Just(64u8), Just(4u8)],
            any::<bool>(),
        ),
        0..8,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..1100), len in any::<u64>()) {
        if let Ok(h) = parse_frms6_header(&bytes) {
            let _ = (h.frame_count(len), h.record_bytes(), h.sig_shape(4));
        }
        let mut valid = frms6_file(0, false);
        let n = bytes.len().min(FRMS6_HEADER_BYTES);
        valid[8..8 + n.min(1016)].copy_from_slice(&bytes[..n.min(1016)]);
        if let Ok(h) = parse_frms6_header(&valid) {
            let _ = (h.frame_count(len), h.record_bytes(), h.sig_shape(2));
        }
    }

    #[test]
    fn the_decoder_never_panics(h in 0usize..6, w in 0usize..10, binning in 0usize..6, payload in prop::collection::vec(any::<u8>(), 0..200), a in 0usize..300, b in 0usize..300, out in 0usize..700) {
        if let Ok(d) = Frms6Unfold::new(h, w, binning) {
            let mut dst = vec![0u8; out];
            let _ = d.decode(&payload, a..b, &mut dst);
            // a well-formed call always decodes
            let full = vec![0u8; d.payload_bytes()];
            let mut dst = vec![0u8; 2 * d.frame_pixels()];
            prop_assert!(d.decode(&full, 0..d.frame_pixels(), &mut dst).is_ok());
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn mutated_files_never_panic(old in any::<bool>(), binning in prop_oneof![Just(1usize), Just(2), Just(4)], e in edits(), cut in proptest::option::of(any::<u32>())) {
        let dir = tempfile::tempdir().unwrap();
        let paths: Vec<PathBuf> = (0..2).map(|k| dir.path().join(format!("a_{k:03}.frms6"))).collect();
        std::fs::write(&paths[0], frms6_file(3, !old)).unwrap();
        std::fs::write(&paths[1], mutate(frms6_file(4, !old), &e, cut)).unwrap();
        if let Ok(headers) = scan_frms6(&paths) {
            let h = &headers[0].0;
            let (rows, cols) = h.sig_shape(binning);
            if rows * cols <= 8192 {
                let shape = DatasetShape::new(&[7], &[rows, cols]).unwrap();
                if let Ok(src) = open_frms6(&paths, binning, shape, 0) {
                    let px = rows * cols;
                    let mut dst = vec![0u8; 7 * px * 2];
                    let _ = src.read_raw(0, 7, 0..px, &mut dst);
                    let mut part = vec![0u8; (px / 2) * 2];
                    let _ = src.read_raw(6, 1, px / 4..px / 4 + px / 2, &mut part);
                }
            }
        }
    }
}

#[test]
fn the_seeds_themselves_read() {
    let dir = tempfile::tempdir().unwrap();
    let paths: Vec<PathBuf> = (0..2)
        .map(|k| dir.path().join(format!("a_{k:03}.frms6")))
        .collect();
    std::fs::write(&paths[0], frms6_file(3, true)).unwrap();
    std::fs::write(&paths[1], frms6_file(4, false)).unwrap();
    let shape = DatasetShape::new(&[7], &[12, 4]).unwrap();
    let src = open_frms6(&paths, 2, shape, 0).unwrap();
    let mut dst = vec![0u8; 7 * 48 * 2];
    src.read_raw(0, 7, 0..48, &mut dst).unwrap();
    // frame 3 is the first of the second file: unfolded (0, 0) is stored (0, 0) = 0
    // and unfolded row 6 (binned row 3, the lower half) is stored row 2 reversed: pixel 23
    let px =
        |f: usize, p: usize| u16::from_ne_bytes([dst[2 * (48 * f + p)], dst[2 * (48 * f + p) + 1]]);
    assert_eq!((px(3, 0), px(3, 6 * 4)), (0, 23));
}
