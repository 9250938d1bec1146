//! Conversion: every stored kind to every target kind, in both byte orders and from aligned and
//! misaligned buffers, against a plain `as` cast (complex to real keeps the real part).
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: helpers outside #[test] fns panic on setup failure too
#![allow(
    clippy::cast_lossless,
    clippy::cast_possible_wrap,
    clippy::cast_precision_loss,
    clippy::cast_sign_loss,
    reason = "the oracle is Rust's `as`, which is numpy's unsafe casting; the casts are the test"
)]

use ferrotem_core::convert::{convert, convert_bytes};
use ferrotem_core::dtype::{ByteOrder, DType, ScalarKind};
use num_complex::{Complex32, Complex64};
use proptest::prelude::*;

/// A stored type: decodes itself from bytes in either order.
trait Src: Copy {
    const KIND: ScalarKind;
    fn decode(b: &[u8], big: bool) -> Self;
}

macro_rules! src_real {
    ($($t:ty => $k:ident),*) => {$(
        impl Src for $t {
            const KIND: ScalarKind = ScalarKind::$k;
            fn decode(b: &[u8], big: bool) -> Self {
                let a = b.try_into().unwrap();
                if big { <$t>::from_be_bytes(a) } else { <$t>::from_le_bytes(a) }
            }
        }
    )*};
}
src_real!(u8 => U8, u16 => U16, u32 => U32, u64 => U64, i8 => I8, i16 => I16, i32 => I32,
          i64 => I64, f32 => F32, f64 => F64);
impl Src for Complex32 {
    const KIND: ScalarKind = ScalarKind::C64;
    fn decode(b: &[u8], big: bool) -> Self {
        Complex32::new(f32::decode(&b[..4], big), f32::decode(&b[4..], big))
    }
}
impl Src for Complex64 {
    const KIND: ScalarKind = ScalarKind::C128;
    fn decode(b: &[u8], big: bool) -> Self {
        Complex64::new(f64::decode(&b[..8], big), f64::decode(&b[8..], big))
    }
}

/// The oracle: `self as D`.
trait Oracle<D> {
    fn oracle(self) -> D;
}
macro_rules! oracle_real {
    ($($s:ty),*) => {$(
        oracle_real!(@to $s; u8, u16, u32, u64, i8, i16, i32, i64, f32, f64);
        impl Oracle<Complex32> for $s { fn oracle(self) -> Complex32 { Complex32::new(self as f32, 0.0) } }
        impl Oracle<Complex64> for $s { fn oracle(self) -> Complex64 { Complex64::new(self as f64, 0.0) } }
    )*};
    (@to $s:ty; $($d:ty),*) => {$(
        impl Oracle<$d> for $s { fn oracle(self) -> $d { self as $d } }
    )*};
}
oracle_real!(u8, u16, u32, u64, i8, i16, i32, i64, f32, f64);
macro_rules! oracle_complex {
    ($($s:ty),*) => {$(
        oracle_complex!(@to $s; u8, u16, u32, u64, i8, i16, i32, i64, f32, f64);
        impl Oracle<Complex32> for $s {
            fn oracle(self) -> Complex32 { Complex32::new(self.re as f32, self.im as f32) }
        }
        impl Oracle<Complex64> for $s {
            fn oracle(self) -> Complex64 { Complex64::new(self.re as f64, self.im as f64) }
        }
    )*};
    (@to $s:ty; $($d:ty),*) => {$(
        impl Oracle<$d> for $s { fn oracle(self) -> $d { self.re as $d } }
    )*};
}
oracle_complex!(Complex32, Complex64);

/// Equality that treats NaN as equal to NaN (bit patterns of NaN payloads may differ).
trait Same {
    fn same(&self, other: &Self) -> bool;
}
macro_rules! same_int { ($($t:ty),*) => {$( impl Same for $t { fn same(&self, o: &Self) -> bool { self == o } } )*}; }
same_int!(u8, u16, u32, u64, i8, i16, i32, i64);
macro_rules! same_float { ($($t:ty),*) => {$( impl Same for $t {
    #[allow(clippy::float_cmp, reason = "conversion must give exactly the oracle's value")]
    fn same(&self, o: &Self) -> bool { self == o || (self.is_nan() && o.is_nan()) }
} )*}; }
same_float!(f32, f64);
impl Same for Complex32 {
    fn same(&self, o: &Self) -> bool {
        self.re.same(&o.re) && self.im.same(&o.im)
    }
}
impl Same for Complex64 {
    fn same(&self, o: &Self) -> bool {
        self.re.same(&o.re) && self.im.same(&o.im)
    }
}

/// Checks `convert` from `S` (stored in `order`, starting `shift` bytes into an aligned buffer)
/// to `D` against the oracle, for the values that `bytes` encode.
fn check<S: Src + Oracle<D>, D>(bytes: &[u8], order: ByteOrder, shift: usize)
where
    D: ferrotem_core::convert::Target + Same,
    u8: ferrotem_core::convert::CastTo<D>,
    u16: ferrotem_core::convert::CastTo<D>,
    u32: ferrotem_core::convert::CastTo<D>,
    u64: ferrotem_core::convert::CastTo<D>,
    i8: ferrotem_core::convert::CastTo<D>,
    i16: ferrotem_core::convert::CastTo<D>,
    i32: ferrotem_core::convert::CastTo<D>,
    i64: ferrotem_core::convert::CastTo<D>,
    f32: ferrotem_core::convert::CastTo<D>,
    f64: ferrotem_core::convert::CastTo<D>,
    Complex32: ferrotem_core::convert::CastTo<D>,
    Complex64: ferrotem_core::convert::CastTo<D>,
{
    let size = S::KIND.itemsize();
    let n = bytes.len() / size;
    let src = &bytes[..n * size];
    let big = order == ByteOrder::Big;
    let expected: Vec<D> = src
        .chunks_exact(size)
        .map(|c| S::decode(c, big).oracle())
        .collect();
    // Place the stored bytes `shift` bytes into 16-byte-aligned storage.
    let mut store = vec![0u128; (src.len() + shift).div_ceil(16) + 1];
    // SAFETY: the slice covers exactly the `store.len() * 16` initialised bytes of `store`
    // (u128 has no padding, u8 no alignment needs), and `store` is only used through it.
    let raw = unsafe {
        std::slice::from_raw_parts_mut(store.as_mut_ptr().cast::<u8>(), store.len() * 16)
    };
    raw[shift..shift + src.len()].copy_from_slice(src);
    let stored = &raw[shift..shift + src.len()];
    let dt = DType {
        kind: S::KIND,
        order,
    };
    let mut got = vec![D::default(); n];
    convert(stored, dt, &mut got).unwrap();
    for (i, (g, e)) in got.iter().zip(&expected).enumerate() {
        assert!(
            g.same(e),
            "{dt} -> {:?} element {i}: got {g:?}, expected {e:?}",
            D::KIND
        );
    }
    // The byte-level entry point (used by the Python binding) agrees.
    let mut out = vec![0u128; (n * std::mem::size_of::<D>()).div_ceil(16)];
    // SAFETY: as for `raw`: exactly the initialised bytes of `out`, used only through the slice.
    let out_bytes =
        unsafe { std::slice::from_raw_parts_mut(out.as_mut_ptr().cast::<u8>(), out.len() * 16) };
    convert_bytes(
        stored,
        dt,
        &mut out_bytes[..n * std::mem::size_of::<D>()],
        D::KIND,
    )
    .unwrap();
    // SAFETY: `out` is 16-byte aligned (u128), enough for any `D`; its first
    // `n * size_of::<D>()` bytes are initialised (written by `convert_bytes`, zero before), and
    // every bit pattern is a valid value of the numeric types `D` stands for.
    let back = unsafe { std::slice::from_raw_parts(out.as_ptr().cast::<D>(), n) };
    for (g, e) in back.iter().zip(&expected) {
        assert!(g.same(e), "convert_bytes {dt} -> {:?}", D::KIND);
    }
}

macro_rules! all_targets {
    ($s:ty, $bytes:expr, $order:expr, $shift:expr) => {
        check::<$s, u8>($bytes, $order, $shift);
        check::<$s, u16>($bytes, $order, $shift);
        check::<$s, u32>($bytes, $order, $shift);
        check::<$s, u64>($bytes, $order, $shift);
        check::<$s, i8>($bytes, $order, $shift);
        check::<$s, i16>($bytes, $order, $shift);
        check::<$s, i32>($bytes, $order, $shift);
        check::<$s, i64>($bytes, $order, $shift);
        check::<$s, f32>($bytes, $order, $shift);
        check::<$s, f64>($bytes, $order, $shift);
        check::<$s, Complex32>($bytes, $order, $shift);
        check::<$s, Complex64>($bytes, $order, $shift);
    };
}

fn all_pairs(bytes: &[u8], order: ByteOrder, shift: usize) {
    all_targets!(u8, bytes, order, shift);
    all_targets!(u16, bytes, order, shift);
    all_targets!(u32, bytes, order, shift);
    all_targets!(u64, bytes, order, shift);
    all_targets!(i8, bytes, order, shift);
    all_targets!(i16, bytes, order, shift);
    all_targets!(i32, bytes, order, shift);
    all_targets!(i64, bytes, order, shift);
    all_targets!(f32, bytes, order, shift);
    all_targets!(f64, bytes, order, shift);
    all_targets!(Complex32, bytes, order, shift);
    all_targets!(Complex64, bytes, order, shift);
}

proptest! {
    /// Random bytes, read as every stored kind, converted to every target kind.
    #[test]
    fn every_kind_to_every_kind(
        bytes in prop::collection::vec(any::<u8>(), 0..200),
        big in any::<bool>(),
        shift in 0usize..3,
    ) {
        let order = if big { ByteOrder::Big } else { ByteOrder::Little };
        all_pairs(&bytes, order, shift);
    }
}

/// Interesting values (extremes, NaN, infinities, negative zero) in every kind.
#[test]
fn edge_values() {
    let mut bytes = Vec::new();
    for v in [
        0.0f64,
        -0.0,
        1.5,
        -1.5,
        255.9,
        -129.0,
        65535.0,
        4.3e9,
        -9.3e18,
        1.9e19,
        f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::MAX,
        f64::MIN_POSITIVE,
        1e-310,
    ] {
        bytes.extend_from_slice(&v.to_le_bytes());
    }
    for order in [ByteOrder::Little, ByteOrder::Big] {
        all_pairs(&bytes, order, 0);
    }
}

#[test]
fn length_mismatch_is_an_error() {
    let mut dst = [0f32; 3];
    assert!(convert(&[0u8; 5], DType::native(ScalarKind::U16), &mut dst).is_err());
    let mut out = [0u8; 6];
    assert!(convert_bytes(
        &[0u8; 4],
        DType::native(ScalarKind::U16),
        &mut out,
        ScalarKind::U16
    )
    .is_err());
}
