//! The chunk-table source against the array it was written from: random shapes, chunk shapes,
//! filter pipelines, chunks never written, requests of frames and pixel ranges, `sync_offset`,
//! several arrays in a row, corrupt and truncated chunks.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: helpers outside #[test] fns panic on setup failure too

use ferrotem_core::decode::{bitshuffle, deflate, lz4, shuffle, Filter, Pipeline};
use ferrotem_core::dtype::DType;
use ferrotem_core::shape::DatasetShape;
use ferrotem_core::source::{
    ChunkLocation, ChunkedArray, ChunkedSource, DataSource, IoMode, MemorySource,
};
use ferrotem_core::Error;
use proptest::prelude::*;
use std::io::Write;
use std::path::Path;

const FILL: u16 = 0xF11F;

/// Values of the test arrays: distinct enough that a misplaced element shows.
fn value(array: usize, i: u64) -> u16 {
    ((i * 2_654_435_761 + array as u64 * 977) % 60013) as u16
}

fn encode(filters: &[Filter], data: &[u8]) -> Vec<u8> {
    let mut bytes = data.to_vec();
    for f in filters {
        bytes = match *f {
            Filter::Deflate => deflate::encode(&bytes, 1),
            Filter::Shuffle { elem_size } => shuffle::shuffle(&bytes, elem_size),
            Filter::Lz4 => lz4::encode(&bytes, 100),
            Filter::Bitshuffle {
                elem_size,
                block_size,
                lz4,
            } => {
                if lz4 {
                    bitshuffle::encode_lz4(&bytes, elem_size, block_size)
                } else {
                    bitshuffle::encode_uncompressed(&bytes, elem_size, block_size)
                }
            }
        };
    }
    bytes
}

/// Writes array `index` of `shape` in chunks of `chunk` into `path` (appending), leaving out the
/// chunks whose linear index is in `missing`; returns the array and its logical values (the
/// fill value where chunks are missing).
fn write_array(
    path: &Path,
    index: usize,
    shape: &[u64],
    sig_dims: usize,
    chunk: &[u64],
    filters: &[Filter],
    missing: &[u64],
) -> (ChunkedArray, Vec<u16>) {
    let total: u64 = shape.iter().product();
    let mut values: Vec<u16> = (0..total).map(|i| value(index, i)).collect();
    let mut array = ChunkedArray::new(
        path,
        format!("/array{index}"),
        shape.to_vec(),
        sig_dims,
        chunk.to_vec(),
        Pipeline::new(filters.to_vec()),
        FILL.to_le_bytes().to_vec(),
    )
    .unwrap();
    let grid: Vec<u64> = shape
        .iter()
        .zip(chunk)
        .map(|(n, c)| n.div_ceil(*c))
        .collect();
    let cells: u64 = grid.iter().product();
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    let strides = strides(shape);
    for linear in 0..cells {
        let coords = unravel(linear, &grid);
        let origin: Vec<u64> = coords.iter().zip(chunk).map(|(g, c)| g * c).collect();
        // The chunk's elements, padding past the array's edge with a value never read.
        let mut data = Vec::new();
        for local in 0..chunk.iter().product::<u64>() {
            let at = unravel(local, chunk);
            let pos: Vec<u64> = at.iter().zip(&origin).map(|(a, o)| a + o).collect();
            let inside = pos.iter().zip(shape).all(|(p, n)| p < n);
            let flat: u64 = pos.iter().zip(&strides).map(|(p, s)| p * s).sum();
            let v = if !inside {
                0xDEAD
            } else if missing.contains(&linear) {
                values[flat as usize] = FILL;
                continue;
            } else {
                values[flat as usize]
            };
            data.extend_from_slice(&v.to_le_bytes());
        }
        if missing.contains(&linear) {
            continue;
        }
        let stored = encode(filters, &data);
        let offset = file.metadata().unwrap().len();
        file.write_all(&stored).unwrap();
        array
            .add_chunk(
                &origin,
                ChunkLocation {
                    offset,
                    size: stored.len() as u64,
                    filter_mask: 0,
                },
            )
            .unwrap();
    }
    (array, values)
}

fn strides(shape: &[u64]) -> Vec<u64> {
    let mut s = vec![1u64; shape.len()];
    for d in (0..shape.len() - 1).rev() {
        s[d] = s[d + 1] * shape[d + 1];
    }
    s
}

fn unravel(mut i: u64, shape: &[u64]) -> Vec<u64> {
    let mut out = vec![0u64; shape.len()];
    for d in (0..shape.len()).rev() {
        out[d] = i % shape[d];
        i /= shape[d];
    }
    out
}

fn u16_dtype() -> DType {
    DType::parse("<u2", "dtype").unwrap()
}

fn pipelines() -> Vec<Vec<Filter>> {
    vec![
        vec![],
        vec![Filter::Deflate],
        vec![Filter::Shuffle { elem_size: 2 }, Filter::Deflate],
        vec![Filter::Lz4],
        vec![Filter::Bitshuffle {
            elem_size: 2,
            block_size: 0,
            lz4: true,
        }],
        vec![Filter::Bitshuffle {
            elem_size: 2,
            block_size: 16,
            lz4: false,
        }],
    ]
}

/// Reads logical frames `first..first + count`, pixels `pixels`, and compares with `oracle`.
fn check_read(
    source: &dyn DataSource,
    oracle: &MemorySource<Vec<u8>>,
    first: u64,
    count: usize,
    pixels: std::ops::Range<usize>,
) {
    let len = count * pixels.len() * 2;
    let mut got = vec![0u8; len];
    let mut want = vec![0u8; len];
    source
        .read_raw(first, count, pixels.clone(), &mut got)
        .unwrap();
    oracle
        .read_raw(first, count, pixels.clone(), &mut want)
        .unwrap();
    assert_eq!(got, want, "frames {first}+{count}, pixels {pixels:?}");
}

prop_compose! {
    fn layout()(nav in proptest::collection::vec(1u64..6, 1..3),
                sig in proptest::collection::vec(1u64..9, 1..3))
               (chunk in (nav.iter().chain(&sig).map(|&n| 1..=n).collect::<Vec<_>>()),
                nav in Just(nav), sig in Just(sig))
               -> (Vec<u64>, Vec<u64>, Vec<u64>) {
        (nav, sig, chunk)
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn reads_match_the_array(
        (nav, sig, chunk) in layout(),
        pipeline in 0usize..6,
        missing_seed in any::<u64>(),
        sync_offset in -3i64..4,
        reads in proptest::collection::vec((any::<u64>(), 1usize..9, any::<usize>(), any::<usize>()), 1..8),
        mmap in any::<bool>(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("chunks.bin");
        let shape: Vec<u64> = nav.iter().chain(&sig).copied().collect();
        let cells: u64 = shape.iter().zip(&chunk).map(|(n, c)| n.div_ceil(*c)).product();
        let missing: Vec<u64> = (0..cells).filter(|c| (missing_seed >> (c % 64)).trailing_zeros() >= 3).collect();
        let filters = &pipelines()[pipeline];
        let (array, values) = write_array(&path, 0, &shape, sig.len(), &chunk, filters, &missing);
        let frames: u64 = nav.iter().product();
        prop_assume!(sync_offset.unsigned_abs() < frames);
        let logical = DatasetShape::new(
            &nav.iter().map(|&n| n as usize).collect::<Vec<_>>(),
            &sig.iter().map(|&n| n as usize).collect::<Vec<_>>(),
        ).unwrap();
        let io = if mmap { IoMode::Mmap } else { IoMode::Pread };
        let source = ChunkedSource::open(vec![array], u16_dtype(), logical.clone(), sync_offset, io)
            .unwrap();
        let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        let oracle = MemorySource::new(bytes, u16_dtype(), logical, sync_offset).unwrap();
        let sig_size = logical_sig(&sig);
        for (start, count, a, b) in reads {
            let first = start % frames;
            let count = count.min((frames - first) as usize);
            let (p0, p1) = (a % sig_size, b % sig_size);
            let pixels = p0.min(p1)..p0.max(p1) + 1;
            check_read(&source, &oracle, first, count, pixels);
            check_read(&source, &oracle, first, count, 0..sig_size);
        }
        check_read(&source, &oracle, 0, frames as usize, 0..sig_size);
    }
}

fn logical_sig(sig: &[u64]) -> usize {
    sig.iter().product::<u64>() as usize
}

#[test]
fn arrays_in_a_row_read_as_one_series() {
    let dir = tempfile::tempdir().unwrap();
    let (mut arrays, mut values) = (Vec::new(), Vec::new());
    // Three "data files" of 5, 3 and 4 frames of 6x4, one frame per chunk, bitshuffle+LZ4.
    for (i, n) in [5u64, 3, 4].into_iter().enumerate() {
        let path = dir.path().join(format!("data_{i}.bin"));
        let filters = [Filter::Bitshuffle {
            elem_size: 2,
            block_size: 0,
            lz4: true,
        }];
        let (a, v) = write_array(&path, i, &[n, 6, 4], 2, &[1, 6, 4], &filters, &[]);
        arrays.push(a);
        values.extend(v);
    }
    let logical = DatasetShape::new(&[3, 4], &[6, 4]).unwrap();
    let source =
        ChunkedSource::open(arrays, u16_dtype(), logical.clone(), 0, IoMode::Mmap).unwrap();
    let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    let oracle = MemorySource::new(bytes, u16_dtype(), logical, 0).unwrap();
    for first in 0..12 {
        for count in 1..=(12 - first) as usize {
            check_read(&source, &oracle, first, count, 0..24);
        }
    }
    check_read(&source, &oracle, 4, 2, 5..17);
}

#[test]
fn unfiltered_frames_back_to_back_are_served_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("plain.bin");
    // 10 frames of 3x5 in chunks of 4 frames: the last chunk is padded (2 valid frames).
    let (array, values) = write_array(&path, 0, &[10, 3, 5], 2, &[4, 3, 5], &[], &[]);
    let logical = DatasetShape::new(&[10], &[3, 5]).unwrap();
    let source = ChunkedSource::open(vec![array], u16_dtype(), logical, 0, IoMode::Mmap).unwrap();
    let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    let slice = source
        .stored_slice(0, 10, 0..15)
        .expect("whole array in place");
    assert_eq!(slice, &bytes[..]);
    let slice = source.stored_slice(3, 1, 2..9).expect("part of a frame");
    assert_eq!(slice, &bytes[(3 * 15 + 2) * 2..(3 * 15 + 9) * 2]);
    source.check_stored(0, 10, 0..15).unwrap();
    // Filtered chunks are not.
    let path = dir.path().join("gzip.bin");
    let (array, _) = write_array(
        &path,
        0,
        &[10, 3, 5],
        2,
        &[4, 3, 5],
        &[Filter::Deflate],
        &[],
    );
    let logical = DatasetShape::new(&[10], &[3, 5]).unwrap();
    let source = ChunkedSource::open(vec![array], u16_dtype(), logical, 0, IoMode::Mmap).unwrap();
    assert!(source.stored_slice(0, 1, 0..15).is_none());
}

#[test]
fn contiguous_arrays_and_never_written_ones() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("contiguous.bin");
    let values: Vec<u16> = (0..2 * 3 * 4 * 5).map(|i| value(0, i)).collect();
    let mut bytes = vec![0xEEu8; 100]; // a header before the data
    bytes.extend(values.iter().flat_map(|v| v.to_le_bytes()));
    std::fs::write(&path, &bytes).unwrap();
    let array =
        ChunkedArray::contiguous(&path, "/data", &[2, 3, 4, 5], 2, Some(100), 2, vec![]).unwrap();
    let logical = DatasetShape::new(&[6], &[4, 5]).unwrap();
    let source =
        ChunkedSource::open(vec![array], u16_dtype(), logical.clone(), 0, IoMode::Pread).unwrap();
    let oracle = MemorySource::new(bytes[100..].to_vec(), u16_dtype(), logical.clone(), 0).unwrap();
    check_read(&source, &oracle, 0, 6, 0..20);
    check_read(&source, &oracle, 2, 3, 7..13);
    // Storage never allocated: everything is the fill value.
    let array = ChunkedArray::contiguous(
        &path,
        "/empty",
        &[6, 4, 5],
        2,
        None,
        2,
        7u16.to_le_bytes().to_vec(),
    )
    .unwrap();
    let source = ChunkedSource::open(vec![array], u16_dtype(), logical, 0, IoMode::Mmap).unwrap();
    let mut got = vec![0u8; 6 * 20 * 2];
    source.read_raw(0, 6, 0..20, &mut got).unwrap();
    assert!(got.chunks(2).all(|v| v == [7, 0]));
}

#[test]
fn corrupt_and_truncated_chunks_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.bin");
    let filters = [Filter::Bitshuffle {
        elem_size: 2,
        block_size: 0,
        lz4: true,
    }];
    let (array, _) = write_array(&path, 0, &[4, 8, 8], 2, &[1, 8, 8], &filters, &[]);
    // Overwrite the second chunk's LZ4 data with garbage.
    let mut bytes = std::fs::read(&path).unwrap();
    let per = bytes.len() / 4;
    for b in &mut bytes[per + 16..2 * per] {
        *b = 0xFF;
    }
    std::fs::write(&path, &bytes).unwrap();
    let logical = DatasetShape::new(&[4], &[8, 8]).unwrap();
    for io in [IoMode::Mmap, IoMode::Pread] {
        let source =
            ChunkedSource::open(vec![array.clone()], u16_dtype(), logical.clone(), 0, io).unwrap();
        let mut out = vec![0u8; 64 * 2];
        source.read_raw(0, 1, 0..64, &mut out).unwrap();
        match source.read_raw(1, 1, 0..64, &mut out) {
            Err(Error::Corrupt { path: p, detail }) => {
                assert_eq!(p, path);
                assert!(
                    detail.contains("/array0") && detail.contains("[1, 0, 0]"),
                    "{detail}"
                );
            }
            other => panic!("{other:?}"),
        }
    }
    // The file cut short: the last chunk lies past its end.
    std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len((3 * per + 5) as u64)
        .unwrap();
    match ChunkedSource::open(vec![array], u16_dtype(), logical, 0, IoMode::Mmap) {
        Err(Error::Truncated {
            path: p, context, ..
        }) => {
            assert_eq!(p, path);
            assert!(context.contains("[3, 0, 0]"), "{context}");
        }
        other => panic!("{other:?}"),
    }
}
