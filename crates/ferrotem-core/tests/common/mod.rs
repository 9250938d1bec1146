//! Helpers shared by the integration tests: hand-written `.npy` files and reference values.
#![allow(dead_code, clippy::unwrap_used)] // each test binary uses a different subset; test helpers panic on setup failure

pub mod kernel_oracle;

use ferrotem_core::dtype::{ByteOrder, DType, ScalarKind};
use std::io::Write;
use std::path::{Path, PathBuf};

/// An exactly representable test value for logical element `j` (small integers, so that every
/// dtype, including `i1` and `u1`, holds it without rounding).
#[allow(
    clippy::cast_precision_loss,
    reason = "a value below 101, converted exactly"
)]
pub fn value(kind: ScalarKind, j: usize) -> f64 {
    let v = ((j * 37 + 11) % 101) as f64;
    match kind {
        ScalarKind::I8 | ScalarKind::I16 | ScalarKind::I32 | ScalarKind::I64 => v - 50.0,
        ScalarKind::F32 | ScalarKind::F64 | ScalarKind::C64 | ScalarKind::C128 => v * 0.5 - 20.0,
        _ => v,
    }
}

/// The stored bytes of `v` (exactly representable) as `dtype`; complex values get imaginary
/// part `-v`.
#[allow(
    clippy::cast_sign_loss,
    reason = "`v` is a value of `dtype` (as `value` gives), so `as` is exact"
)]
pub fn encode(v: f64, dtype: DType) -> Vec<u8> {
    let big = dtype.order == ByteOrder::Big;
    macro_rules! enc {
        ($x:expr) => {
            if big {
                $x.to_be_bytes().to_vec()
            } else {
                $x.to_le_bytes().to_vec()
            }
        };
    }
    match dtype.kind {
        ScalarKind::U8 => enc!(v as u8),
        ScalarKind::U16 => enc!(v as u16),
        ScalarKind::U32 => enc!(v as u32),
        ScalarKind::U64 => enc!(v as u64),
        ScalarKind::I8 => enc!(v as i8),
        ScalarKind::I16 => enc!(v as i16),
        ScalarKind::I32 => enc!(v as i32),
        ScalarKind::I64 => enc!(v as i64),
        ScalarKind::F32 => enc!(v as f32),
        ScalarKind::F64 => enc!(v),
        ScalarKind::C64 => [enc!(v as f32), enc!(-v as f32)].concat(),
        ScalarKind::C128 => [enc!(v), enc!(-v)].concat(),
    }
}

/// A dtype with an explicit byte order.
pub fn dtype(kind: ScalarKind, order: ByteOrder) -> DType {
    DType { kind, order }
}

/// The text of an `.npy` v1.0 header dict for `dtype`, order and shape, padded like numpy.
pub fn npy_header_bytes(descr: &str, fortran: bool, shape: &[usize]) -> Vec<u8> {
    let shape_text = match shape.len() {
        1 => format!("({},)", shape[0]),
        _ => format!(
            "({})",
            shape
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let fortran = if fortran { "True" } else { "False" };
    let mut dict =
        format!("{{'descr': '{descr}', 'fortran_order': {fortran}, 'shape': {shape_text}, }}");
    // Magic (6) + version (2) + length (2) + dict + padding + '\n' is a multiple of 64.
    let total = 10 + dict.len() + 1;
    dict.push_str(&" ".repeat((64 - total % 64) % 64));
    dict.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&(dict.len() as u16).to_le_bytes());
    out.extend_from_slice(dict.as_bytes());
    out
}

/// Column-major element offset of C-order flat index `flat` in an array of `shape`.
pub fn fortran_offset(shape: &[usize], mut flat: usize) -> usize {
    let mut strides = Vec::with_capacity(shape.len());
    let mut acc = 1;
    for &d in shape {
        strides.push(acc);
        acc *= d;
    }
    let mut off = 0;
    for (d, s) in shape.iter().zip(&strides).rev() {
        off += (flat % d) * s;
        flat /= d;
    }
    off
}

/// Writes an `.npy` file holding `value(kind, j)` at logical (C-order) element `j`, stored in C
/// or Fortran order. Returns its path.
pub fn write_npy(dir: &Path, name: &str, dt: DType, fortran: bool, shape: &[usize]) -> PathBuf {
    let n: usize = shape.iter().product();
    let item = dt.itemsize();
    let mut data = vec![0u8; n * item];
    for j in 0..n {
        let at = if fortran { fortran_offset(shape, j) } else { j };
        data[at * item..(at + 1) * item].copy_from_slice(&encode(value(dt.kind, j), dt));
    }
    let path = dir.join(name);
    let mut f = std::fs::File::create(&path).unwrap();
    f.write_all(&npy_header_bytes(&dt.to_numpy_str(), fortran, shape))
        .unwrap();
    f.write_all(&data).unwrap();
    path
}

/// Writes `bytes` to `dir/name` and returns the path.
pub fn write_file(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}
