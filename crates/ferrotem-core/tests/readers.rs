//! Readers: raw files (both byte orders, header bytes, `sync_offset` of either sign, partial pixel
//! ranges), memory, `.npy` in C and Fortran order, and what corrupt or truncated files give.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: helpers outside #[test] fns panic on setup failure too
#![allow(
    clippy::cast_possible_wrap,
    clippy::cast_sign_loss,
    reason = "frame counts, offsets and indices here are below 2^16; signed arithmetic on them \
              is the plainest statement of `sync_offset`"
)]

mod common;

use common::{dtype, encode, npy_header_bytes, value, write_file, write_npy};
use ferrotem_core::dtype::{ByteOrder, DType, ScalarKind, ALL_KINDS};
use ferrotem_core::read::read_converted;
use ferrotem_core::shape::DatasetShape;
use ferrotem_core::source::{
    open_npy, DataSource, FortranFileSource, IoMode, MemorySource, NpyHeader, RawFileSource,
};
use ferrotem_core::Error;
use proptest::prelude::*;
use std::path::Path;

/// The stored bytes of a dataset of `stored_frames` frames of `sig` pixels, after `header`
/// bytes of 0xAB (which must never be returned).
fn stored_bytes(dt: DType, header: usize, stored_frames: usize, sig: usize) -> Vec<u8> {
    let mut out = vec![0xAB; header];
    for j in 0..stored_frames * sig {
        out.extend_from_slice(&encode(value(dt.kind, j), dt));
    }
    out
}

/// What `read_raw(first, count, pixels)` must return: stored frame `f + sync_offset`, or zeros.
fn expected_read(
    dt: DType,
    stored_frames: usize,
    sig: usize,
    sync_offset: i64,
    first: u64,
    count: usize,
    pixels: std::ops::Range<usize>,
) -> Vec<u8> {
    let mut out = Vec::new();
    for f in first..first + count as u64 {
        let s = f as i64 + sync_offset;
        for p in pixels.clone() {
            if s < 0 || s >= stored_frames as i64 {
                out.extend(std::iter::repeat_n(0u8, dt.itemsize()));
            } else {
                out.extend_from_slice(&encode(value(dt.kind, s as usize * sig + p), dt));
            }
        }
    }
    out
}

fn any_dtype() -> impl Strategy<Value = DType> {
    (
        prop::sample::select(ALL_KINDS.to_vec()),
        prop::bool::ANY.prop_map(|b| if b { ByteOrder::Big } else { ByteOrder::Little }),
    )
        .prop_map(|(k, o)| dtype(k, o))
}

/// A read request: `(stored_frames, nav_size, sig, sync_offset, first, count, pixels)`.
fn request() -> impl Strategy<Value = (usize, usize, usize, i64, u64, usize, (usize, usize))> {
    (1usize..12, 1usize..8)
        .prop_flat_map(|(stored, sig)| {
            (
                Just(stored),
                1usize..=stored,
                Just(sig),
                (-(stored as i64) + 1)..(stored as i64),
            )
        })
        .prop_flat_map(|(stored, nav, sig, off)| {
            (
                Just(stored),
                Just(nav),
                Just(sig),
                Just(off),
                0..nav as u64,
                0usize..=sig,
                0usize..=sig,
            )
        })
        .prop_flat_map(|(stored, nav, sig, off, first, a, b)| {
            (
                Just(stored),
                Just(nav),
                Just(sig),
                Just(off),
                Just(first),
                0usize..=(nav - first as usize),
                Just((a.min(b), a.max(b))),
            )
        })
}

proptest! {
    #[test]
    fn raw_file_reads_what_was_written(
        dt in any_dtype(),
        header in 0usize..20,
        (stored, nav, sig, off, first, count, (p0, p1)) in request(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let path = write_file(dir.path(), "d.raw", &stored_bytes(dt, header, stored, sig));
        let shape = DatasetShape::new(&[nav], &[sig]).unwrap();
        let src = RawFileSource::open(&path, dt, shape, header as u64, off).unwrap();
        let mut dst = vec![0x55u8; count * (p1 - p0) * dt.itemsize()];
        src.read_raw(first, count, p0..p1, &mut dst).unwrap();
        prop_assert_eq!(dst, expected_read(dt, stored, sig, off, first, count, p0..p1));
    }

    #[test]
    fn memory_reads_what_was_written(
        dt in any_dtype(),
        (stored, nav, sig, off, first, count, (p0, p1)) in request(),
    ) {
        let bytes = stored_bytes(dt, 0, stored, sig);
        let shape = DatasetShape::new(&[nav], &[sig]).unwrap();
        let src = MemorySource::new(bytes, dt, shape, off).unwrap();
        let mut dst = vec![0x55u8; count * (p1 - p0) * dt.itemsize()];
        src.read_raw(first, count, p0..p1, &mut dst).unwrap();
        let expected = expected_read(dt, stored, sig, off, first, count, p0..p1);
        // The zero-copy view, where there is one, holds the same bytes.
        if let Some(view) = src.stored_slice(first, count, p0..p1) {
            prop_assert_eq!(view, &expected[..]);
        }
        prop_assert_eq!(dst, expected);
    }

    /// Random bytes as the whole file, or as the header after a valid magic and version:
    /// reading the header (and opening the file) gives `Ok` or an error, never a panic.
    #[test]
    fn npy_header_fuzz(
        body in prop::collection::vec(any::<u8>(), 0..300),
        version in 0u8..4,
        with_magic in any::<bool>(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let mut bytes = Vec::new();
        if with_magic {
            bytes.extend_from_slice(b"\x93NUMPY");
            bytes.push(version);
            bytes.push(0);
        }
        bytes.extend_from_slice(&body);
        let path = write_file(dir.path(), "f.npy", &bytes);
        let _ = NpyHeader::read(&path);
        let _ = open_npy(&path, 1, None, None, 0);
    }

    /// A valid header with a few bytes changed: `Ok` or an error, never a panic; and a source
    /// that opens must read every frame (or fail) without panicking.
    #[test]
    fn npy_header_mutation_fuzz(
        shape in prop::collection::vec(1usize..5, 1..4),
        fortran in any::<bool>(),
        edits in prop::collection::vec((0usize..128, any::<u8>()), 1..6),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let dt = DType::native(ScalarKind::U16);
        let path = write_npy(dir.path(), "m.npy", dt, fortran, &shape);
        let mut bytes = std::fs::read(&path).unwrap();
        for (at, b) in edits {
            let at = at % bytes.len();
            bytes[at] = b;
        }
        std::fs::write(&path, &bytes).unwrap();
        let _ = NpyHeader::read(&path);
        for sig_dims in 1..3 {
            if let Ok((_, src)) = open_npy(&path, sig_dims, None, None, 0) {
                let sig = src.shape().sig_size();
                let n = src.shape().nav_size();
                if n <= 64 && sig <= 64 {
                    let mut dst = vec![0u8; n as usize * sig * src.dtype().itemsize()];
                    let _ = src.read_raw(0, n as usize, 0..sig, &mut dst);
                }
            }
        }
    }
}

/// Opens the Fortran-ordered `.npy` file `path` (of `nav` x `sig`) in `io` mode.
fn open_fortran(
    path: &Path,
    nav: &[usize],
    sig: &[usize],
    sync_offset: i64,
    io: IoMode,
) -> FortranFileSource {
    let header = NpyHeader::read(path).unwrap();
    assert!(header.fortran_order);
    let shape = DatasetShape::new(nav, sig).unwrap();
    let src = FortranFileSource::open_with(
        path,
        header.dtype,
        shape,
        header.shape,
        header.data_offset,
        sync_offset,
        io,
    )
    .unwrap();
    assert_eq!(src.io_mode(), io);
    src
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    /// Fortran `.npy` data reads as the oracle says through the map and through positioned reads
    /// (which gather the elements of a pixel in windowed groups), for any request.
    #[test]
    fn fortran_npy_reads_the_same_mapped_and_with_pread(
        dt in any_dtype(),
        nav in prop::collection::vec(1usize..6, 1..4),
        sig in prop::collection::vec(1usize..4, 1..3),
        seeds in prop::array::uniform5(any::<u64>()),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let stored_shape = [nav.clone(), sig.clone()].concat();
        let path = write_npy(dir.path(), "f.npy", dt, true, &stored_shape);
        let n: usize = nav.iter().product();
        let sig_size: usize = sig.iter().product();
        let off = (seeds[0] % (2 * n as u64 - 1)) as i64 - (n as i64 - 1);
        let first = seeds[1] % n as u64;
        let count = (seeds[2] % (n as u64 - first + 1)) as usize;
        let (a, b) = ((seeds[3] % (sig_size as u64 + 1)) as usize, (seeds[4] % (sig_size as u64 + 1)) as usize);
        let pixels = a.min(b)..a.max(b);
        let want = expected_read(dt, n, sig_size, off, first, count, pixels.clone());
        for io in [IoMode::Mmap, IoMode::Pread] {
            let src = open_fortran(&path, &nav, &sig, off, io);
            let mut dst = vec![0x55u8; want.len()];
            src.read_raw(first, count, pixels.clone(), &mut dst).unwrap();
            prop_assert_eq!(&dst, &want, "{:?}", io);
        }
    }
}

#[test]
fn fortran_npy_with_pread_across_strides_larger_than_a_read_window() {
    // Consecutive frames of a (9000, 3) scan lie 9000 uint64 values (72 KB, more than
    // `PREAD_WINDOW`) apart in Fortran order: one read per element, still the right values.
    let dir = tempfile::tempdir().unwrap();
    let dt = dtype(ScalarKind::U64, ByteOrder::Little);
    let (nav, sig) = ([9000usize, 3], [2usize]);
    assert!(nav[0] * dt.itemsize() > ferrotem_core::source::PREAD_WINDOW);
    let path = write_npy(dir.path(), "wide.npy", dt, true, &[9000, 3, 2]);
    let src = open_fortran(&path, &nav, &sig, 0, IoMode::Pread);
    let (first, count) = (4 * 3 - 1, 7); // across a row boundary: offsets fall back, too
    let mut dst = vec![0u8; count * 2 * 8];
    src.read_raw(first, count, 0..2, &mut dst).unwrap();
    assert_eq!(dst, expected_read(dt, 27000, 2, 0, first, count, 0..2));
}

/// The dtypes the `.npy` tests cover (both byte orders where they have one).
fn npy_dtypes() -> Vec<DType> {
    vec![
        dtype(ScalarKind::U8, ByteOrder::Little),
        dtype(ScalarKind::U16, ByteOrder::Little),
        dtype(ScalarKind::U16, ByteOrder::Big),
        dtype(ScalarKind::I16, ByteOrder::Little),
        dtype(ScalarKind::I32, ByteOrder::Big),
        dtype(ScalarKind::U64, ByteOrder::Little),
        dtype(ScalarKind::F32, ByteOrder::Little),
        dtype(ScalarKind::F32, ByteOrder::Big),
        dtype(ScalarKind::F64, ByteOrder::Little),
        dtype(ScalarKind::C64, ByteOrder::Little),
        dtype(ScalarKind::C128, ByteOrder::Big),
    ]
}

const NPY_SHAPES: [&[usize]; 5] = [
    &[7, 3],
    &[3, 4, 5],
    &[2, 3, 4, 5],
    &[5, 1, 6],
    &[1, 2, 2, 3],
];

/// Reads every element of `src` raw and converted to float64 and checks it against `value`.
#[allow(clippy::float_cmp, reason = "the test values are exact in every dtype")]
fn check_every_element(src: &dyn DataSource, dt: DType, offset: usize) {
    let n = src.shape().nav_size() as usize;
    let sig = src.shape().sig_size();
    let mut raw = vec![0u8; n * sig * dt.itemsize()];
    src.read_raw(0, n, 0..sig, &mut raw).unwrap();
    let mut converted = vec![0u8; n * sig * 8];
    read_converted(
        src,
        std::slice::from_ref(&(0..n as u64)),
        0..sig,
        &mut converted,
        ScalarKind::F64,
        &mut ferrotem_core::aligned::AlignedBuf::zeroed(0),
    )
    .unwrap();
    for j in 0..n * sig {
        let v = value(dt.kind, j + offset);
        let item = dt.itemsize();
        assert_eq!(
            &raw[j * item..(j + 1) * item],
            &encode(v, dt)[..],
            "{dt} element {j}"
        );
        let got = f64::from_ne_bytes(converted[j * 8..j * 8 + 8].try_into().unwrap());
        assert_eq!(got, v, "{dt} element {j} as float64");
    }
}

#[test]
fn npy_every_dtype_shape_and_order() {
    let dir = tempfile::tempdir().unwrap();
    for dt in npy_dtypes() {
        for shape in NPY_SHAPES {
            for fortran in [false, true] {
                let path = write_npy(dir.path(), "a.npy", dt, fortran, shape);
                let header = NpyHeader::read(&path).unwrap();
                assert_eq!(header.dtype, dt);
                assert_eq!(header.fortran_order, fortran);
                assert_eq!(header.shape, shape.to_vec());
                assert_eq!(header.data_offset % 64, 0);
                for sig_dims in 1..shape.len() {
                    let (_, src) = open_npy(&path, sig_dims, None, None, 0).unwrap();
                    assert_eq!(src.shape().sig(), &shape[shape.len() - sig_dims..]);
                    assert_eq!(src.shape().nav(), &shape[..shape.len() - sig_dims]);
                    check_every_element(src.as_ref(), dt, 0);
                }
            }
        }
    }
}

#[test]
fn npy_reinterpreted_shape_and_sync_offset() {
    let dir = tempfile::tempdir().unwrap();
    for fortran in [false, true] {
        let dt = dtype(ScalarKind::U16, ByteOrder::Little);
        let path = write_npy(dir.path(), "b.npy", dt, fortran, &[4, 3, 2, 5]);
        // 120 elements read as 11 frames of 10 pixels (a subset), then shifted by one frame.
        let (_, src) = open_npy(&path, 2, Some(&[11]), Some(&[2, 5]), 0).unwrap();
        check_every_element(src.as_ref(), dt, 0);
        let (_, src) = open_npy(&path, 2, Some(&[11]), Some(&[10]), 1).unwrap();
        check_every_element(src.as_ref(), dt, 10);
        let mut last = vec![0u8; 10 * 2];
        let (_, src) = open_npy(&path, 2, Some(&[12]), Some(&[10]), 1).unwrap();
        src.read_raw(11, 1, 0..10, &mut last).unwrap();
        assert!(
            last.iter().all(|&b| b == 0),
            "frame past the end reads as zeros"
        );
        assert!(open_npy(&path, 2, Some(&[13]), Some(&[10]), 0).is_err());
    }
}

fn assert_corrupt(path: &Path, what: &str) {
    match NpyHeader::read(path) {
        Err(Error::Corrupt { .. }) => {}
        other => panic!("{what}: expected Error::Corrupt, got {other:?}"),
    }
    assert!(
        matches!(open_npy(path, 1, None, None, 0), Err(Error::Corrupt { .. })),
        "{what}: open_npy"
    );
}

#[test]
fn corrupt_npy_headers_are_corrupt_errors() {
    let dir = tempfile::tempdir().unwrap();
    let good = npy_header_bytes("<u2", false, &[2, 3]);
    let with_len = |dict: &str| {
        let mut b = b"\x93NUMPY\x01\x00".to_vec();
        b.extend_from_slice(&(dict.len() as u16).to_le_bytes());
        b.extend_from_slice(dict.as_bytes());
        b
    };
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("empty file", vec![]),
        ("only magic", b"\x93NUMPY".to_vec()),
        ("wrong magic", b"\x93NUMPX\x01\x00\x10\x00{}".to_vec()),
        ("version 9", b"\x93NUMPY\x09\x00\x10\x00{}".to_vec()),
        ("version 2 cut short", b"\x93NUMPY\x02\x00\x10".to_vec()),
        ("header cut short", good[..good.len() - 20].to_vec()),
        (
            "huge header length",
            b"\x93NUMPY\x02\x00\xff\xff\xff\x7f".to_vec(),
        ),
        ("not utf-8", {
            let mut b = b"\x93NUMPY\x01\x00\x04\x00".to_vec();
            b.extend_from_slice(&[0xff, 0xfe, 0xfd, 0x0a]);
            b
        }),
        (
            "no descr",
            with_len("{'fortran_order': False, 'shape': (2, 3), }\n"),
        ),
        (
            "unsupported dtype",
            with_len("{'descr': '<U10', 'fortran_order': False, 'shape': (2, 3), }\n"),
        ),
        (
            "structured dtype",
            with_len("{'descr': [('a', '<u2')], 'fortran_order': False, 'shape': (2, 3), }\n"),
        ),
        (
            "bad fortran_order",
            with_len("{'descr': '<u2', 'fortran_order': Maybe, 'shape': (2, 3), }\n"),
        ),
        (
            "no shape",
            with_len("{'descr': '<u2', 'fortran_order': False, }\n"),
        ),
        (
            "bad shape",
            with_len("{'descr': '<u2', 'fortran_order': False, 'shape': (2, x), }\n"),
        ),
        (
            "negative shape",
            with_len("{'descr': '<u2', 'fortran_order': False, 'shape': (-2, 3), }\n"),
        ),
        (
            "unclosed shape",
            with_len("{'descr': '<u2', 'fortran_order': False, 'shape': (2, 3\n"),
        ),
        ("unclosed descr", with_len("{'descr': '<u2\n")),
    ];
    for (what, bytes) in cases {
        let path = write_file(dir.path(), "c.npy", &bytes);
        assert_corrupt(&path, what);
    }
}

#[test]
fn npy_with_short_data_is_truncated() {
    let dir = tempfile::tempdir().unwrap();
    for fortran in [false, true] {
        let mut bytes = npy_header_bytes("<u2", fortran, &[4, 3, 5]);
        bytes.extend_from_slice(&[0u8; 4 * 3 * 5 * 2 - 1]);
        let path = write_file(dir.path(), "t.npy", &bytes);
        let r = open_npy(&path, 2, None, None, 0);
        assert!(matches!(r, Err(Error::Truncated { .. })), "{:?}", r.err());
    }
}

/// Shapes whose byte size overflows 64 bits must be refused, not wrap around and read out of
/// bounds.
#[test]
fn npy_with_overflowing_shape_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    for fortran in [false, true] {
        for descr in ["<u2", "<c16"] {
            let mut bytes = npy_header_bytes(descr, fortran, &[1 << 61, 2]);
            bytes.extend_from_slice(&[0u8; 64]);
            let path = write_file(dir.path(), "o.npy", &bytes);
            assert!(
                open_npy(&path, 1, None, None, 0).is_err(),
                "{descr} {fortran}"
            );
        }
    }
}

#[test]
fn file_truncated_after_open_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let dt = DType::native(ScalarKind::U16);
    let path = write_file(dir.path(), "r.raw", &stored_bytes(dt, 0, 8, 16));
    let src =
        RawFileSource::open(&path, dt, DatasetShape::new(&[8], &[16]).unwrap(), 0, 0).unwrap();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(3 * 16 * 2 + 5)
        .unwrap();
    let mut dst = vec![0u8; 8 * 16 * 2];
    assert!(matches!(
        src.read_raw(0, 8, 0..16, &mut dst),
        Err(Error::Truncated { .. })
    ));
    let mut part = vec![0u8; 2 * 4 * 2];
    assert!(matches!(
        src.read_raw(5, 2, 4..8, &mut part),
        Err(Error::Truncated { .. })
    ));
    // The frames still present read fine.
    let mut ok = vec![0u8; 3 * 16 * 2];
    src.read_raw(0, 3, 0..16, &mut ok).unwrap();

    for fortran in [false, true] {
        let path = write_npy(dir.path(), "t.npy", dt, fortran, &[6, 4, 4]);
        let (_, src) = open_npy(&path, 2, None, None, 0).unwrap();
        let len = std::fs::metadata(&path).unwrap().len();
        std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(len - 40)
            .unwrap();
        let mut dst = vec![0u8; 6 * 16 * 2];
        let r = src.read_raw(0, 6, 0..16, &mut dst);
        assert!(
            matches!(r, Err(Error::Truncated { .. })),
            "{fortran}: {r:?}"
        );
    }
}

#[test]
fn bad_requests_are_parameter_errors() {
    let dt = DType::native(ScalarKind::U8);
    let src = MemorySource::new(
        vec![0u8; 40],
        dt,
        DatasetShape::new(&[4], &[10]).unwrap(),
        0,
    )
    .unwrap();
    let mut dst = vec![0u8; 10];
    for (first, count, px) in [(4u64, 1usize, 0..10usize), (3, 2, 0..5), (0, 1, 5..11)] {
        let mut d = vec![0u8; count * px.len()];
        assert!(matches!(
            src.read_raw(first, count, px, &mut d),
            Err(Error::InvalidParameter { .. })
        ));
    }
    assert!(src.read_raw(0, 1, 0..10, &mut dst[..9]).is_err());
    assert!(src.read_raw(u64::MAX, 2, 0..10, &mut dst).is_err());
    // Too little data, and sync_offset out of range.
    assert!(MemorySource::new(
        vec![0u8; 39],
        dt,
        DatasetShape::new(&[4], &[10]).unwrap(),
        0
    )
    .is_err());
    assert!(MemorySource::new(
        vec![0u8; 40],
        dt,
        DatasetShape::new(&[4], &[10]).unwrap(),
        4
    )
    .is_err());
    assert!(MemorySource::new(
        vec![0u8; 40],
        dt,
        DatasetShape::new(&[4], &[10]).unwrap(),
        -4
    )
    .is_err());
}

#[test]
fn raw_open_errors() {
    let dir = tempfile::tempdir().unwrap();
    let dt = DType::native(ScalarKind::U16);
    let shape = DatasetShape::new(&[4], &[10]).unwrap();
    let missing = RawFileSource::open(dir.path().join("nope.raw"), dt, shape.clone(), 0, 0);
    match missing {
        Err(Error::Io { source, .. }) => assert_eq!(source.kind(), std::io::ErrorKind::NotFound),
        other => panic!("{other:?}"),
    }
    assert!(RawFileSource::open(dir.path(), dt, shape.clone(), 0, 0).is_err());
    let path = write_file(dir.path(), "s.raw", &[0u8; 79]);
    assert!(matches!(
        RawFileSource::open(&path, dt, shape.clone(), 0, 0),
        Err(Error::Truncated {
            needed: 80,
            actual: 79,
            ..
        })
    ));
    assert!(matches!(
        RawFileSource::open(&path, dt, DatasetShape::new(&[3], &[10]).unwrap(), 20, 0),
        Err(Error::Truncated { .. })
    ));
}
