//! Conversion of stored bytes (any numeric dtype, either byte order) into native-order typed
//! buffers of the UDF input dtype. Follows numpy's `astype` (unsafe casting): integers wrap,
//! floats truncate toward zero when cast to integers, complex values lose their imaginary part
//! when cast to real types.
//!
//! The `as` casts below are the point of this module, so the cast lints are allowed on the
//! `CastTo` impls that make them.
#![allow(
    clippy::inline_always,
    reason = "hot loops: `simd::dispatch` needs the kernel and all it calls inlined into its \
              `#[target_feature]` copies, or they run on the baseline instruction set"
)]

use crate::dtype::{DType, ScalarKind};
use crate::error::{Error, Result};
use crate::simd::{dispatch, Kernel};
use num_complex::{Complex32, Complex64};

/// A native-order element type the core can produce.
pub trait Element: Copy + Default + Send + Sync + std::fmt::Debug + 'static {
    /// The matching dtype kind.
    const KIND: ScalarKind;
}

/// Reading one stored element from bytes, with optional byte swap.
trait Stored: Element {
    fn read(bytes: &[u8], swap: bool) -> Self;
}

macro_rules! element {
    ($t:ty, $kind:ident) => {
        impl Element for $t {
            const KIND: ScalarKind = ScalarKind::$kind;
        }
        impl Stored for $t {
            #[inline(always)]
            fn read(bytes: &[u8], swap: bool) -> Self {
                let mut b = [0u8; std::mem::size_of::<$t>()];
                b.copy_from_slice(&bytes[..std::mem::size_of::<$t>()]);
                let v = <$t>::from_ne_bytes(b);
                if swap {
                    <$t>::from_bits_swapped(v)
                } else {
                    v
                }
            }
        }
    };
}

/// A stored value in the other byte order than this machine's: casting it reads the value
/// (`u16::swap_bytes`, or the swapped bit pattern of a float) and converts it as
/// [`CastTo`] does, so kernels can fuse the swap into their loop.
#[derive(Debug, Clone, Copy)]
#[repr(transparent)]
pub struct Swapped<S>(S);

impl<S: SwapBytes> Swapped<S> {
    /// Views values stored byte-swapped as [`Swapped`] values.
    #[must_use]
    pub fn slice(values: &[S]) -> &[Swapped<S>] {
        // SAFETY: `Swapped<S>` is `repr(transparent)` over `S`: same size, alignment and valid
        // bit patterns, so the slice reinterprets in place.
        unsafe { std::slice::from_raw_parts(values.as_ptr().cast::<Swapped<S>>(), values.len()) }
    }
}

impl<S: SwapBytes + Copy> Swapped<S> {
    /// The value in native byte order.
    #[inline(always)]
    #[must_use]
    pub fn value(self) -> S {
        S::from_bits_swapped(self.0)
    }
}

impl<S: SwapBytes + CastTo<D> + Copy, D> CastTo<D> for Swapped<S> {
    #[inline(always)]
    fn cast(self) -> D {
        S::from_bits_swapped(self.0).cast()
    }
}

/// Byte-swapping for the primitive types (floats swap their bit patterns).
pub trait SwapBytes {
    /// `v` with its bytes reversed.
    fn from_bits_swapped(v: Self) -> Self;
}
macro_rules! swap_int {
    ($($t:ty),*) => {$(
        impl SwapBytes for $t {
            #[inline(always)]
            fn from_bits_swapped(v: Self) -> Self { v.swap_bytes() }
        }
    )*};
}
swap_int!(u8, u16, u32, u64, i8, i16, i32, i64);
impl SwapBytes for f32 {
    #[inline(always)]
    fn from_bits_swapped(v: Self) -> Self {
        f32::from_bits(v.to_bits().swap_bytes())
    }
}
impl SwapBytes for f64 {
    #[inline(always)]
    fn from_bits_swapped(v: Self) -> Self {
        f64::from_bits(v.to_bits().swap_bytes())
    }
}

element!(u8, U8);
element!(u16, U16);
element!(u32, U32);
element!(u64, U64);
element!(i8, I8);
element!(i16, I16);
element!(i32, I32);
element!(i64, I64);
element!(f32, F32);
element!(f64, F64);

impl Element for Complex32 {
    const KIND: ScalarKind = ScalarKind::C64;
}
impl Stored for Complex32 {
    #[inline(always)]
    fn read(bytes: &[u8], swap: bool) -> Self {
        Complex32::new(f32::read(&bytes[..4], swap), f32::read(&bytes[4..8], swap))
    }
}
impl Element for Complex64 {
    const KIND: ScalarKind = ScalarKind::C128;
}
impl Stored for Complex64 {
    #[inline(always)]
    fn read(bytes: &[u8], swap: bool) -> Self {
        Complex64::new(f64::read(&bytes[..8], swap), f64::read(&bytes[8..16], swap))
    }
}

/// numpy-style cast between element types.
pub trait CastTo<D> {
    /// Converts `self` to `D` like `np.ndarray.astype` does.
    fn cast(self) -> D;
}

// numpy's unsafe casting is Rust's `as`: integers wrap (`cast_possible_wrap`, `cast_sign_loss`),
// wide integers round to the nearest float (`cast_precision_loss`), floats truncate toward zero
// and saturate out of range, negative ones to 0 for unsigned types (`cast_sign_loss`), where
// numpy's result is undefined.
// `cast_lossless` would have the widening pairs use `From`, which the macro cannot pick per
// pair and which compiles to the same instruction.
macro_rules! cast_real {
    ($($s:ty),*) => {$(
        cast_real!(@to $s; u8, u16, u32, u64, i8, i16, i32, i64, f32, f64);
        impl CastTo<Complex32> for $s {
            #[inline(always)]
            #[allow(
                clippy::cast_lossless,
                clippy::cast_precision_loss,
                reason = "numpy's astype, see above"
            )]
            fn cast(self) -> Complex32 { Complex32::new(self as f32, 0.0) }
        }
        impl CastTo<Complex64> for $s {
            #[inline(always)]
            #[allow(
                clippy::cast_lossless,
                clippy::cast_precision_loss,
                reason = "numpy's astype, see above"
            )]
            fn cast(self) -> Complex64 { Complex64::new(self as f64, 0.0) }
        }
    )*};
    (@to $s:ty; $($d:ty),*) => {$(
        impl CastTo<$d> for $s {
            #[inline(always)]
            #[allow(
                clippy::cast_lossless,
                clippy::cast_possible_wrap,
                clippy::cast_precision_loss,
                clippy::cast_sign_loss,
                reason = "numpy's astype, see above"
            )]
            fn cast(self) -> $d { self as $d }
        }
    )*};
}
cast_real!(u8, u16, u32, u64, i8, i16, i32, i64, f32, f64);

macro_rules! cast_complex {
    ($($s:ty),*) => {$(
        cast_complex!(@to $s; u8, u16, u32, u64, i8, i16, i32, i64, f32, f64);
        impl CastTo<Complex32> for $s {
            #[inline(always)]
            fn cast(self) -> Complex32 { Complex32::new(self.re as f32, self.im as f32) }
        }
        impl CastTo<Complex64> for $s {
            #[inline(always)]
            #[allow(clippy::cast_lossless, reason = "numpy's astype, see `cast_real`")]
            fn cast(self) -> Complex64 { Complex64::new(self.re as f64, self.im as f64) }
        }
    )*};
    (@to $s:ty; $($d:ty),*) => {$(
        impl CastTo<$d> for $s {
            #[inline(always)]
            #[allow(
                clippy::cast_lossless,
                clippy::cast_sign_loss,
                reason = "numpy's astype, see `cast_real`"
            )]
            fn cast(self) -> $d { self.re as $d }
        }
    )*};
}
cast_complex!(Complex32, Complex64);

/// A destination element type that every stored type can be cast to.
pub trait Target: Element + Copy + 'static + CastFromAll {}
impl<T: Element + CastFromAll> Target for T {}

/// Bound collecting `S: CastTo<Self>` for every stored type `S`.
pub trait CastFromAll: Sized {}
impl<T> CastFromAll for T
where
    u8: CastTo<T>,
    u16: CastTo<T>,
    u32: CastTo<T>,
    u64: CastTo<T>,
    i8: CastTo<T>,
    i16: CastTo<T>,
    i32: CastTo<T>,
    i64: CastTo<T>,
    f32: CastTo<T>,
    f64: CastTo<T>,
    Complex32: CastTo<T>,
    Complex64: CastTo<T>,
{
}

/// `dst[i] = src[i] as D`, element for element.
struct CastSlice<'a, S, D> {
    src: &'a [S],
    dst: &'a mut [D],
}

impl<S: CastTo<D> + Copy, D> Kernel for CastSlice<'_, S, D> {
    type Output = ();

    #[inline(always)]
    fn run(self) {
        for (d, &s) in self.dst.iter_mut().zip(self.src) {
            *d = s.cast();
        }
    }
}

#[inline]
fn convert_typed<S: Stored + CastTo<D>, D: Copy>(src: &[u8], swap: bool, dst: &mut [D]) {
    let size = std::mem::size_of::<S>();
    if !swap {
        // Fast path: reinterpret aligned native-order bytes, so the loop vectorises.
        // SAFETY: every bit pattern is a valid value of the primitive/complex types used here.
        let (head, body, tail) = unsafe { src.align_to::<S>() };
        if head.is_empty() && tail.is_empty() {
            dispatch(CastSlice { src: body, dst });
            return;
        }
    }
    for (d, s) in dst.iter_mut().zip(src.chunks_exact(size)) {
        *d = S::read(s, swap).cast();
    }
}

/// Converts `src` (elements of `src_dtype`) into `dst`, element for element.
///
/// # Errors
/// [`Error::InvalidParameter`] (`out`) if `dst` does not hold as many elements as `src`.
pub fn convert<D: Target>(src: &[u8], src_dtype: DType, dst: &mut [D]) -> Result<()>
where
    u8: CastTo<D>,
    u16: CastTo<D>,
    u32: CastTo<D>,
    u64: CastTo<D>,
    i8: CastTo<D>,
    i16: CastTo<D>,
    i32: CastTo<D>,
    i64: CastTo<D>,
    f32: CastTo<D>,
    f64: CastTo<D>,
    Complex32: CastTo<D>,
    Complex64: CastTo<D>,
{
    if src.len() != dst.len() * src_dtype.itemsize() {
        return Err(Error::param(
            "out",
            format!("{} elements", dst.len()),
            format!("{} elements", src.len() / src_dtype.itemsize()),
        ));
    }
    let swap = src_dtype.needs_swap();
    match src_dtype.kind {
        ScalarKind::U8 => convert_typed::<u8, D>(src, swap, dst),
        ScalarKind::U16 => convert_typed::<u16, D>(src, swap, dst),
        ScalarKind::U32 => convert_typed::<u32, D>(src, swap, dst),
        ScalarKind::U64 => convert_typed::<u64, D>(src, swap, dst),
        ScalarKind::I8 => convert_typed::<i8, D>(src, swap, dst),
        ScalarKind::I16 => convert_typed::<i16, D>(src, swap, dst),
        ScalarKind::I32 => convert_typed::<i32, D>(src, swap, dst),
        ScalarKind::I64 => convert_typed::<i64, D>(src, swap, dst),
        ScalarKind::F32 => convert_typed::<f32, D>(src, swap, dst),
        ScalarKind::F64 => convert_typed::<f64, D>(src, swap, dst),
        ScalarKind::C64 => convert_typed::<Complex32, D>(src, swap, dst),
        ScalarKind::C128 => convert_typed::<Complex64, D>(src, swap, dst),
    }
    Ok(())
}

/// Converts into a destination given as raw native-order bytes of kind `dst_kind`
/// (the binding layer uses this for numpy arrays of any numeric dtype).
///
/// # Errors
/// [`Error::InvalidParameter`] (`out`) if `dst` is not aligned for `dst_kind` or does not hold
/// as many elements as `src`.
pub fn convert_bytes(
    src: &[u8],
    src_dtype: DType,
    dst: &mut [u8],
    dst_kind: ScalarKind,
) -> Result<()> {
    fn typed<D: Target>(src: &[u8], src_dtype: DType, dst: &mut [u8]) -> Result<()>
    where
        u8: CastTo<D>,
        u16: CastTo<D>,
        u32: CastTo<D>,
        u64: CastTo<D>,
        i8: CastTo<D>,
        i16: CastTo<D>,
        i32: CastTo<D>,
        i64: CastTo<D>,
        f32: CastTo<D>,
        f64: CastTo<D>,
        Complex32: CastTo<D>,
        Complex64: CastTo<D>,
    {
        // SAFETY: any byte pattern is a valid value of the destination numeric types.
        let (head, body, tail) = unsafe { dst.align_to_mut::<D>() };
        if !head.is_empty() || !tail.is_empty() {
            return Err(Error::param(
                "out",
                "a misaligned buffer",
                "a buffer aligned for its element type",
            ));
        }
        convert(src, src_dtype, body)
    }
    match dst_kind {
        ScalarKind::U8 => typed::<u8>(src, src_dtype, dst),
        ScalarKind::U16 => typed::<u16>(src, src_dtype, dst),
        ScalarKind::U32 => typed::<u32>(src, src_dtype, dst),
        ScalarKind::U64 => typed::<u64>(src, src_dtype, dst),
        ScalarKind::I8 => typed::<i8>(src, src_dtype, dst),
        ScalarKind::I16 => typed::<i16>(src, src_dtype, dst),
        ScalarKind::I32 => typed::<i32>(src, src_dtype, dst),
        ScalarKind::I64 => typed::<i64>(src, src_dtype, dst),
        ScalarKind::F32 => typed::<f32>(src, src_dtype, dst),
        ScalarKind::F64 => typed::<f64>(src, src_dtype, dst),
        ScalarKind::C64 => typed::<Complex32>(src, src_dtype, dst),
        ScalarKind::C128 => typed::<Complex64>(src, src_dtype, dst),
    }
}

/// Copies `src` (elements of `dtype`) into `dst` in native byte order: a plain copy, or each
/// component's bytes reversed for a byte-swapped dtype. Lengths must match (`dst` is filled up
/// to the shorter of the two).
pub fn copy_native(src: &[u8], dtype: DType, dst: &mut [u8]) {
    if !dtype.needs_swap() {
        let n = src.len().min(dst.len());
        dst[..n].copy_from_slice(&src[..n]);
        return;
    }
    match dtype.kind.component_size() {
        2 => dispatch(SwapCopy::<2> { src, dst }),
        4 => dispatch(SwapCopy::<4> { src, dst }),
        8 => dispatch(SwapCopy::<8> { src, dst }),
        _ => {
            let n = src.len().min(dst.len());
            dst[..n].copy_from_slice(&src[..n]);
        }
    }
}

/// Reverses the bytes of each component of `bytes` (elements of `dtype`) in place if `dtype` is
/// byte-swapped, so that they read as native-order values.
pub fn make_native(bytes: &mut [u8], dtype: DType) {
    if !dtype.needs_swap() {
        return;
    }
    match dtype.kind.component_size() {
        2 => dispatch(SwapInPlace::<2> { bytes }),
        4 => dispatch(SwapInPlace::<4> { bytes }),
        8 => dispatch(SwapInPlace::<8> { bytes }),
        _ => {}
    }
}

/// `dst` = `src` with the bytes of each `N`-byte component reversed.
struct SwapCopy<'a, const N: usize> {
    src: &'a [u8],
    dst: &'a mut [u8],
}

impl<const N: usize> Kernel for SwapCopy<'_, N> {
    type Output = ();

    #[inline(always)]
    fn run(self) {
        for (d, s) in self.dst.chunks_exact_mut(N).zip(self.src.chunks_exact(N)) {
            for i in 0..N {
                d[i] = s[N - 1 - i];
            }
        }
    }
}

/// The bytes of each `N`-byte component reversed, in place.
struct SwapInPlace<'a, const N: usize> {
    bytes: &'a mut [u8],
}

impl<const N: usize> Kernel for SwapInPlace<'_, N> {
    type Output = ();

    #[inline(always)]
    fn run(self) {
        for c in self.bytes.chunks_exact_mut(N) {
            c.reverse();
        }
    }
}

#[cfg(test)]
#[allow(
    clippy::float_cmp,
    reason = "the expected values are exactly representable and conversion must hit them exactly"
)]
mod tests {
    use super::*;
    use crate::dtype::ByteOrder;

    #[test]
    fn big_endian_u16_to_f32() {
        let src = [0x01u8, 0x02, 0xff, 0xff];
        let mut dst = [0f32; 2];
        convert(
            &src,
            DType {
                kind: ScalarKind::U16,
                order: ByteOrder::Big,
            },
            &mut dst,
        )
        .unwrap();
        assert_eq!(dst, [258.0, 65535.0]);
    }

    #[test]
    fn complex_to_real_takes_real_part() {
        let v = [Complex32::new(1.5, -2.0), Complex32::new(-3.0, 4.0)];
        let bytes: Vec<u8> = v
            .iter()
            .flat_map(|c| [c.re.to_ne_bytes(), c.im.to_ne_bytes()].concat())
            .collect();
        let mut dst = [0f64; 2];
        convert(&bytes, DType::native(ScalarKind::C64), &mut dst).unwrap();
        assert_eq!(dst, [1.5, -3.0]);
    }

    #[test]
    fn negative_to_unsigned_wraps_like_numpy() {
        let src = (-1i16).to_ne_bytes();
        let mut dst = [0u16; 1];
        convert(&src, DType::native(ScalarKind::I16), &mut dst).unwrap();
        assert_eq!(dst, [65535]);
    }
}
