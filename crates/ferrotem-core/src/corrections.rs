//! Detector corrections applied to tiles before any UDF sees them: `(frame - dark) * gain`,
//! then every excluded pixel replaced by the mean of its non-excluded neighbours.
//!
//! The neighbourhood of a pixel is the ring of `3^d - 1` pixels around it in the `d` signal
//! dimensions, cut at the frame border, without pixels that are excluded themselves (so the
//! order of repairs does not matter), as LiberTEM defines it. Patching reads neighbours, so it
//! needs whole frames: a run with excluded pixels tiles by whole frames
//! ([`Corrections::needs_whole_frames`]).
#![allow(
    clippy::inline_always,
    reason = "hot loop: `simd::dispatch` needs the kernel inlined into its `#[target_feature]` \
              copies, or it runs on the baseline instruction set"
)]

use crate::error::{Error, Result};
use crate::simd::{dispatch, Kernel};
use num_complex::{Complex32, Complex64};
use std::collections::HashSet;
use std::ops::Range;

/// One excluded pixel and the flat indices of the pixels it is patched from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repair {
    /// Flat index of the excluded pixel in the frame.
    pub pixel: usize,
    /// Flat indices of its non-excluded neighbours (empty: left as it is).
    pub neighbours: Vec<usize>,
}

/// Dark frame, gain map and excluded pixels of one run, checked against the signal shape.
#[derive(Debug, Clone, Default)]
pub struct Corrections {
    sig_size: usize,
    dark: Option<Vec<f64>>,
    gain: Option<Vec<f64>>,
    repairs: Vec<Repair>,
}

/// Element types corrections apply to (the float and complex input dtypes).
pub trait Correctable: Copy {
    /// `(self - dark) * gain`, computed in double precision.
    #[must_use]
    fn dark_gain(self, dark: f64, gain: f64) -> Self;
    /// The mean of `values`, accumulated in double precision.
    fn mean(values: impl Iterator<Item = Self>, count: usize) -> Self;
}

macro_rules! correctable_real {
    ($($t:ty),*) => {$(
        impl Correctable for $t {
            #[inline(always)]
            #[allow(clippy::cast_possible_truncation, clippy::cast_lossless)]
            fn dark_gain(self, dark: f64, gain: f64) -> Self {
                ((self as f64 - dark) * gain) as $t
            }
            #[allow(clippy::cast_possible_truncation, clippy::cast_lossless, clippy::cast_precision_loss)]
            fn mean(values: impl Iterator<Item = Self>, count: usize) -> Self {
                (values.map(|v| v as f64).sum::<f64>() / count as f64) as $t
            }
        }
    )*};
}
correctable_real!(f32, f64);

macro_rules! correctable_complex {
    ($($t:ty, $f:ty);*) => {$(
        impl Correctable for $t {
            #[inline(always)]
            #[allow(clippy::cast_possible_truncation, clippy::cast_lossless)]
            fn dark_gain(self, dark: f64, gain: f64) -> Self {
                let re = (self.re as f64 - dark) * gain;
                let im = self.im as f64 * gain;
                <$t>::new(re as $f, im as $f)
            }
            #[allow(clippy::cast_possible_truncation, clippy::cast_lossless, clippy::cast_precision_loss)]
            fn mean(values: impl Iterator<Item = Self>, count: usize) -> Self {
                let sum = values.fold(Complex64::new(0.0, 0.0), |acc, v| {
                    acc + Complex64::new(v.re as f64, v.im as f64)
                });
                let n = count as f64;
                <$t>::new((sum.re / n) as $f, (sum.im / n) as $f)
            }
        }
    )*};
}
correctable_complex!(Complex32, f32; Complex64, f64);

fn check_map(name: &str, map: Option<Vec<f64>>, sig_size: usize) -> Result<Option<Vec<f64>>> {
    let Some(map) = map else { return Ok(None) };
    if map.len() != sig_size {
        return Err(Error::param(
            name,
            format!("{} values", map.len()),
            format!("one value per signal pixel ({sig_size})"),
        ));
    }
    if let Some(i) = map.iter().position(|v| !v.is_finite()) {
        return Err(Error::param(
            name,
            format!("{} at flat pixel {i}", map[i]),
            "finite values (mark bad pixels with excluded_pixels instead)",
        ));
    }
    Ok(Some(map))
}

/// Flat index → coordinates in `shape` (C order).
fn unravel(mut index: usize, shape: &[usize]) -> Vec<usize> {
    let mut coords = vec![0; shape.len()];
    for (c, &s) in coords.iter_mut().zip(shape).rev() {
        *c = index % s;
        index /= s;
    }
    coords
}

/// The in-frame, non-excluded ring of `3^d - 1` neighbours of `pixel`, in C order.
fn neighbours(pixel: usize, shape: &[usize], excluded: &HashSet<usize>) -> Vec<usize> {
    let centre = unravel(pixel, shape);
    let dims = u32::try_from(shape.len()).unwrap_or(u32::MAX);
    let mut out = Vec::new();
    'offsets: for k in 0..3usize.pow(dims) {
        let offsets = unravel(k, &vec![3; shape.len()]);
        if offsets.iter().all(|&o| o == 1) {
            continue; // the pixel itself
        }
        let mut flat = 0usize;
        for ((&c, &o), &s) in centre.iter().zip(&offsets).zip(shape) {
            // c + o - 1, inside 0..s
            let Some(v) = (c + o).checked_sub(1).filter(|&v| v < s) else {
                continue 'offsets;
            };
            flat = flat * s + v;
        }
        if !excluded.contains(&flat) {
            out.push(flat);
        }
    }
    out
}

impl Corrections {
    /// Checks and prepares the corrections for frames of `sig_shape`.
    ///
    /// `dark` and `gain` hold one value per pixel (C order); `excluded` the flat indices of the
    /// pixels to patch. With `allow_empty`, an excluded pixel without a usable neighbour is left
    /// as dark and gain made it; otherwise that is an error.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] (`dark`, `gain`) for a map of the wrong size or with a value
    /// that is not finite; (`excluded_pixels`) for an index outside the frame or, unless
    /// `allow_empty`, a pixel with no neighbour to patch it from.
    pub fn new(
        sig_shape: &[usize],
        dark: Option<Vec<f64>>,
        gain: Option<Vec<f64>>,
        excluded: &[usize],
        allow_empty: bool,
    ) -> Result<Self> {
        let sig_size: usize = sig_shape.iter().product();
        let dark = check_map("dark", dark, sig_size)?;
        let gain = check_map("gain", gain, sig_size)?;
        if let Some(&bad) = excluded.iter().find(|&&p| p >= sig_size) {
            return Err(Error::param(
                "excluded_pixels",
                format!("flat pixel {bad}"),
                format!("pixels inside the signal shape {sig_shape:?}"),
            ));
        }
        let set: HashSet<usize> = excluded.iter().copied().collect();
        let mut pixels: Vec<usize> = set.iter().copied().collect();
        pixels.sort_unstable();
        let mut repairs = Vec::with_capacity(pixels.len());
        for pixel in pixels {
            let around = neighbours(pixel, sig_shape, &set);
            if around.is_empty() && !allow_empty {
                return Err(Error::param(
                    "excluded_pixels",
                    format!(
                        "pixel {:?} with every neighbour excluded",
                        unravel(pixel, sig_shape)
                    ),
                    "at least one non-excluded neighbour per excluded pixel, or allow_empty=True",
                ));
            }
            repairs.push(Repair {
                pixel,
                neighbours: around,
            });
        }
        Ok(Corrections {
            sig_size,
            dark,
            gain,
            repairs,
        })
    }

    /// Pixels per frame.
    #[must_use]
    pub fn sig_size(&self) -> usize {
        self.sig_size
    }

    /// Whether there is anything to do.
    #[must_use]
    pub fn is_active(&self) -> bool {
        self.dark.is_some() || self.gain.is_some() || !self.repairs.is_empty()
    }

    /// Whether tiles must hold whole frames (excluded pixels are patched from neighbours).
    #[must_use]
    pub fn needs_whole_frames(&self) -> bool {
        !self.repairs.is_empty()
    }

    /// The excluded pixels and what they are patched from.
    #[must_use]
    pub fn repairs(&self) -> &[Repair] {
        &self.repairs
    }

    /// Corrects a tile in place: `tile` holds frames one after the other, each covering the
    /// signal pixels `pixels` (flat). Patching happens only on whole-frame tiles.
    ///
    /// # Errors
    /// [`Error::Internal`] if the tile does not fit `pixels`, or cuts frames while pixels are
    /// to be patched (the runner tiles by whole frames then).
    pub fn apply<T: Correctable>(&self, tile: &mut [T], pixels: Range<usize>) -> Result<()> {
        let width = pixels.len();
        if width == 0 || tile.len() % width != 0 || pixels.end > self.sig_size {
            return Err(Error::internal(
                "corrections: tile does not fit its pixel range",
            ));
        }
        let whole = pixels.start == 0 && pixels.end == self.sig_size;
        if !whole && self.needs_whole_frames() {
            return Err(Error::internal(
                "corrections: excluded pixels need whole-frame tiles",
            ));
        }
        let dark = self.dark.as_ref().map(|d| &d[pixels.clone()]);
        let gain = self.gain.as_ref().map(|g| &g[pixels.clone()]);
        if dark.is_some() || gain.is_some() {
            dispatch(DarkGainTile {
                tile: &mut *tile,
                width,
                dark,
                gain,
            });
        }
        for frame in tile.chunks_exact_mut(width) {
            for r in self.repairs.iter().filter(|r| !r.neighbours.is_empty()) {
                let values = r.neighbours.iter().map(|&n| frame[n]);
                frame[r.pixel] = T::mean(values, r.neighbours.len());
            }
        }
        Ok(())
    }
}

/// Pixels per block of the dark/gain pass: 1024 float64 values of each map (16 KiB) stay in L1
/// while every frame of a tile passes over them.
const CORRECTION_BLOCK: usize = 1024;

/// The dark/gain pass over one tile (frames of `width` pixels), compiled for the best
/// instruction set (element-wise: the same bits on every one).
struct DarkGainTile<'a, T> {
    tile: &'a mut [T],
    width: usize,
    dark: Option<&'a [f64]>,
    gain: Option<&'a [f64]>,
}

impl<T: Correctable> Kernel for DarkGainTile<'_, T> {
    type Output = ();

    #[inline(always)]
    fn run(self) {
        // Block by pixels, all frames of the tile per block: the maps are float64 (16 bytes per
        // pixel for both, more than the tile's own values), so one block of them is read into
        // L1 once per tile instead of once per frame.
        let Self {
            tile,
            width,
            dark,
            gain,
        } = self;
        let depth = tile.len() / width;
        for start in (0..width).step_by(CORRECTION_BLOCK) {
            let end = (start + CORRECTION_BLOCK).min(width);
            let d = dark.map(|d| &d[start..end]);
            let g = gain.map(|g| &g[start..end]);
            for f in 0..depth {
                dark_gain_block(&mut tile[f * width + start..f * width + end], d, g);
            }
        }
    }
}

/// `values = (values - dark) * gain` (a missing map: 0 / 1), in double precision.
#[inline(always)]
fn dark_gain_block<T: Correctable>(values: &mut [T], dark: Option<&[f64]>, gain: Option<&[f64]>) {
    match (dark, gain) {
        (Some(d), Some(g)) => {
            for ((v, &d), &g) in values.iter_mut().zip(d).zip(g) {
                *v = v.dark_gain(d, g);
            }
        }
        (Some(d), None) => {
            for (v, &d) in values.iter_mut().zip(d) {
                *v = v.dark_gain(d, 1.0);
            }
        }
        (None, Some(g)) => {
            for (v, &g) in values.iter_mut().zip(g) {
                *v = v.dark_gain(0.0, g);
            }
        }
        (None, None) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn corner_pixel_has_three_neighbours() {
        let c = Corrections::new(&[3, 4], None, None, &[0], false).unwrap();
        assert_eq!(c.repairs()[0].neighbours, vec![1, 4, 5]);
    }

    #[test]
    fn excluded_neighbours_are_skipped() {
        // pixels 5 and 6 of a 3x4 frame are adjacent; each is patched without the other
        let c = Corrections::new(&[3, 4], None, None, &[6, 5], false).unwrap();
        assert_eq!(c.repairs()[0].pixel, 5);
        assert_eq!(c.repairs()[0].neighbours, vec![0, 1, 2, 4, 8, 9, 10]);
        assert_eq!(c.repairs()[1].neighbours, vec![1, 2, 3, 7, 9, 10, 11]);
    }

    #[test]
    fn dark_gain_and_patch() {
        let c =
            Corrections::new(&[1, 3], Some(vec![1.0; 3]), Some(vec![2.0; 3]), &[1], false).unwrap();
        let mut tile = vec![3.0f32, 100.0, 5.0, 1.0, 7.0, 1.0];
        c.apply(&mut tile, 0..3).unwrap();
        assert_eq!(tile, vec![4.0, 6.0, 8.0, 0.0, 0.0, 0.0]);
    }

    #[test]
    #[allow(clippy::cast_precision_loss, clippy::cast_possible_truncation)]
    fn blocked_dark_gain_equals_the_per_value_formula_bit_for_bit() {
        // 3 frames of 50x50 = 2500 pixels: two whole blocks of 1024 and a partial one, and a
        // pixel range that starts inside the frame
        let sig = 2500;
        let dark: Vec<f64> = (0..sig).map(|i| (i % 37) as f64 * 0.31).collect();
        let gain: Vec<f64> = (0..sig).map(|i| 1.0 + (i % 11) as f64 * 0.07).collect();
        let c = Corrections::new(
            &[50, 50],
            Some(dark.clone()),
            Some(gain.clone()),
            &[],
            false,
        )
        .unwrap();
        for pixels in [0..sig, 700..2300] {
            let width = pixels.len();
            let tile: Vec<f32> = (0..3 * width)
                .map(|i| (i * 7 % 1000) as f32 * 0.5)
                .collect();
            let mut got = tile.clone();
            c.apply(&mut got, pixels.clone()).unwrap();
            for (i, (&g, &v)) in got.iter().zip(&tile).enumerate() {
                let p = pixels.start + i % width;
                let want = ((f64::from(v) - dark[p]) * gain[p]) as f32;
                assert_eq!(g.to_bits(), want.to_bits(), "value {i} of range {pixels:?}");
            }
        }
    }

    #[test]
    fn bad_input_names_the_parameter() {
        let e = Corrections::new(&[2, 2], Some(vec![0.0; 3]), None, &[], false).unwrap_err();
        assert!(e.to_string().starts_with("dark:"), "{e}");
        let e = Corrections::new(&[2, 2], None, Some(vec![f64::NAN; 4]), &[], false).unwrap_err();
        assert!(e.to_string().starts_with("gain:"), "{e}");
        let e = Corrections::new(&[1, 1], None, None, &[0], false).unwrap_err();
        assert!(e.to_string().starts_with("excluded_pixels:"), "{e}");
        assert!(Corrections::new(&[1, 1], None, None, &[0], true).is_ok());
        let e = Corrections::new(&[2, 2], None, None, &[4], false).unwrap_err();
        assert!(e.to_string().starts_with("excluded_pixels:"), "{e}");
    }

    #[test]
    fn pixel_range_tiles_take_their_part_of_the_maps() {
        let c = Corrections::new(&[4], Some(vec![0.0, 1.0, 2.0, 3.0]), None, &[], false).unwrap();
        let mut tile = vec![10.0f64, 10.0, 20.0, 20.0];
        c.apply(&mut tile, 2..4).unwrap();
        assert_eq!(tile, vec![8.0, 7.0, 18.0, 17.0]);
    }
}
