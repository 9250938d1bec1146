//! Generated test data (seeded), and the frames an oracle sees, decoded independently of the
//! crate's conversion code.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test support: panics on setup failure

use ferrotem_core::buffer::InputKind;
use ferrotem_core::dtype::{ByteOrder, DType, ScalarKind};
use ferrotem_core::shape::DatasetShape;

/// A generated dataset: its stored bytes and shape.
pub struct TestData {
    /// Stored dtype.
    pub dtype: DType,
    /// Navigation shape.
    pub nav: Vec<usize>,
    /// Signal shape.
    pub sig: Vec<usize>,
    /// Stored bytes, frame after frame.
    pub bytes: Vec<u8>,
}

/// SplitMix64: a fast, well-mixed hash of a counter.
pub fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A stored scalar (or one part of a complex value), as the tests write and read it: byte
/// order by hand, casts as numpy's `astype` (round to nearest), independent of the crate.
trait TestScalar: Copy {
    const SIZE: usize;
    fn read(bytes: &[u8], big: bool) -> Self;
    fn write(self, out: &mut [u8], big: bool);
    /// Cast to float32, then (exactly) to float64.
    fn via_f32(self) -> f64;
    /// Cast to float64.
    fn via_f64(self) -> f64;
}

macro_rules! test_scalar {
    ($($t:ty),*) => {$(
        impl TestScalar for $t {
            const SIZE: usize = std::mem::size_of::<$t>();
            #[inline(always)]
            fn read(bytes: &[u8], big: bool) -> Self {
                let b = bytes.try_into().unwrap();
                if big { <$t>::from_be_bytes(b) } else { <$t>::from_le_bytes(b) }
            }
            #[inline(always)]
            fn write(self, out: &mut [u8], big: bool) {
                out.copy_from_slice(&if big { self.to_be_bytes() } else { self.to_le_bytes() });
            }
            #[inline(always)]
            #[allow(
                clippy::cast_lossless,
                clippy::cast_precision_loss,
                reason = "the oracle of numpy's astype is `as`"
            )]
            fn via_f32(self) -> f64 { self as f32 as f64 }
            #[inline(always)]
            #[allow(
                clippy::cast_lossless,
                clippy::cast_precision_loss,
                reason = "the oracle of numpy's astype is `as`"
            )]
            fn via_f64(self) -> f64 { self as f64 }
        }
    )*};
}
test_scalar!(u8, u16, u32, u64, i8, i16, i32, i64, f32, f64);

/// `out[i]` = stored scalar `i` of `bytes`, cast to float32 (`narrow`) or float64.
fn decode<T: TestScalar>(bytes: &[u8], big: bool, narrow: bool, out: &mut [f64]) {
    fn fill(out: &mut [f64], bytes: &[u8], size: usize, f: impl Fn(&[u8]) -> f64) {
        for (o, c) in out.iter_mut().zip(bytes.chunks_exact(size)) {
            *o = f(c);
        }
    }
    // One loop per case, so that none branches per element.
    match (big, narrow) {
        (false, false) => fill(out, bytes, T::SIZE, |c| T::read(c, false).via_f64()),
        (false, true) => fill(out, bytes, T::SIZE, |c| T::read(c, false).via_f32()),
        (true, false) => fill(out, bytes, T::SIZE, |c| T::read(c, true).via_f64()),
        (true, true) => fill(out, bytes, T::SIZE, |c| T::read(c, true).via_f32()),
    }
}

/// Rewrites random bits (4 or 8 bytes each) as floats in `[-300, 700)` with random mantissas:
/// float32 sums of them round, and float64 ones round when cast to float32.
fn random_floats<T: TestScalar>(bytes: &mut [u8], big: bool, from_bits: impl Fn(u64) -> T) {
    for c in bytes.chunks_exact_mut(T::SIZE) {
        let mut w = [0u8; 8];
        w[..c.len()].copy_from_slice(c);
        from_bits(u64::from_le_bytes(w)).write(c, big);
    }
}

impl TestData {
    /// Random stored values of `dtype` (seeded): integers over their whole range, floats in
    /// `[-300, 700)` with random mantissas, complex numbers with independent parts.
    pub fn generate(dtype: DType, nav: &[usize], sig: &[usize], seed: u64) -> TestData {
        let n: usize = nav.iter().product::<usize>() * sig.iter().product::<usize>();
        let mut bytes = vec![0u8; n * dtype.itemsize()];
        let key = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        // Random bits, 8 bytes per hash: random integers of any width and byte order.
        for (j, c) in bytes.chunks_mut(8).enumerate() {
            c.copy_from_slice(&splitmix64(key ^ j as u64).to_le_bytes()[..c.len()]);
        }
        let big = dtype.order == ByteOrder::Big;
        #[allow(
            clippy::cast_precision_loss,
            reason = "`bits` has at most 53 significant bits: exact"
        )]
        let unit = |bits: u64, width: i32| bits as f64 / 2f64.powi(width);
        match dtype.kind {
            ScalarKind::F32 | ScalarKind::C64 => random_floats(&mut bytes, big, |b| {
                (unit(b & 0xFFFF_FFFF, 32) * 1000.0 - 300.0) as f32
            }),
            ScalarKind::F64 | ScalarKind::C128 => {
                random_floats(&mut bytes, big, |b| unit(b >> 11, 53) * 1000.0 - 300.0);
            }
            _ => {}
        }
        TestData {
            dtype,
            nav: nav.to_vec(),
            sig: sig.to_vec(),
            bytes,
        }
    }

    /// Number of frames.
    pub fn n_frames(&self) -> usize {
        self.nav.iter().product()
    }

    /// Pixels per frame.
    pub fn sig_size(&self) -> usize {
        self.sig.iter().product()
    }

    /// The dataset shape.
    pub fn shape(&self) -> DatasetShape {
        DatasetShape::new(&self.nav, &self.sig).unwrap()
    }

    /// Frame `f` cast to `input` as numpy's `astype` would (complex to real keeps the real
    /// part), written as float64 into `re` and `im` (zeros for real input). Decoded from the
    /// bytes here, independently of the crate's conversion code.
    pub fn input_frame(&self, f: usize, input: InputKind, re: &mut [f64], im: &mut [f64]) {
        let frame_bytes = self.sig_size() * self.dtype.itemsize();
        let bytes = &self.bytes[f * frame_bytes..(f + 1) * frame_bytes];
        let narrow = matches!(input, InputKind::F32 | InputKind::C64);
        let big = self.dtype.order == ByteOrder::Big;
        im.fill(0.0);
        let complex_input = matches!(input, InputKind::C64 | InputKind::C128);
        let split = |parts: &[f64], re: &mut [f64], im: &mut [f64]| {
            for ((r, i), p) in re.iter_mut().zip(im.iter_mut()).zip(parts.chunks_exact(2)) {
                *r = p[0];
                if complex_input {
                    *i = p[1];
                }
            }
        };
        match self.dtype.kind {
            ScalarKind::U8 => decode::<u8>(bytes, big, narrow, re),
            ScalarKind::U16 => decode::<u16>(bytes, big, narrow, re),
            ScalarKind::U32 => decode::<u32>(bytes, big, narrow, re),
            ScalarKind::U64 => decode::<u64>(bytes, big, narrow, re),
            ScalarKind::I8 => decode::<i8>(bytes, big, narrow, re),
            ScalarKind::I16 => decode::<i16>(bytes, big, narrow, re),
            ScalarKind::I32 => decode::<i32>(bytes, big, narrow, re),
            ScalarKind::I64 => decode::<i64>(bytes, big, narrow, re),
            ScalarKind::F32 => decode::<f32>(bytes, big, narrow, re),
            ScalarKind::F64 => decode::<f64>(bytes, big, narrow, re),
            ScalarKind::C64 | ScalarKind::C128 => {
                let mut parts = vec![0f64; 2 * re.len()];
                if self.dtype.kind == ScalarKind::C64 {
                    decode::<f32>(bytes, big, narrow, &mut parts);
                } else {
                    decode::<f64>(bytes, big, narrow, &mut parts);
                }
                split(&parts, re, im);
            }
        }
    }
}

/// A random ROI (seeded) selecting about `percent` % of `n` frames, in runs of varied length.
pub fn random_roi(n: usize, percent: u64, seed: u64) -> Vec<bool> {
    let mut mask = Vec::with_capacity(n);
    let mut i = 0u64;
    while mask.len() < n {
        let h = splitmix64(seed ^ (i << 20));
        let on = h % 100 < percent;
        let run = 1 + (h >> 32) as usize % 23;
        mask.extend(std::iter::repeat_n(on, run.min(n - mask.len())));
        i += 1;
    }
    mask
}
