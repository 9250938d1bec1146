//! Geometry of the chunk-table source: flat index ranges as boxes of an N-d array, and copies
//! between a chunk and a destination laid out differently, as few contiguous runs as possible.

use std::ops::Range;

/// A box of an N-d array: where it starts and how far it extends along each axis.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NdBox {
    pub origin: Vec<u64>,
    pub extent: Vec<u64>,
}

/// C-order strides (in elements) of an array of `shape`.
pub(crate) fn c_strides(shape: &[u64]) -> Vec<u64> {
    let mut strides = vec![1u64; shape.len()];
    for d in (0..shape.len().saturating_sub(1)).rev() {
        strides[d] = strides[d + 1] * shape[d + 1];
    }
    strides
}

/// The flat C-order index of `index` in an array with `strides`.
pub(crate) fn flat_index(index: &[u64], strides: &[u64]) -> u64 {
    index.iter().zip(strides).map(|(i, s)| i * s).sum()
}

/// Splits the flat C-order range `range` of an array of `shape` into boxes (at most two per
/// axis), in flat order. Empty for an empty range.
pub(crate) fn flat_boxes(shape: &[u64], range: Range<u64>) -> Vec<NdBox> {
    let strides = c_strides(shape);
    let mut boxes = Vec::new();
    let mut at = range.start;
    while at < range.end {
        let mut index: Vec<u64> = shape
            .iter()
            .zip(&strides)
            .map(|(&n, &s)| (at / s) % n.max(1))
            .collect();
        // Axes after the last non-zero coordinate can be taken whole.
        let first_free = index.iter().rposition(|&i| i != 0).unwrap_or(0);
        let left = range.end - at;
        // The outermost axis along which at least one whole slab fits.
        let axis = (first_free..shape.len())
            .find(|&d| strides[d] <= left)
            .unwrap_or(shape.len() - 1);
        let slabs = (left / strides[axis]).min(shape[axis] - index[axis]).max(1);
        let extent: Vec<u64> = (0..shape.len())
            .map(|d| match d.cmp(&axis) {
                std::cmp::Ordering::Less => 1,
                std::cmp::Ordering::Equal => slabs,
                std::cmp::Ordering::Greater => shape[d],
            })
            .collect();
        for i in index.iter_mut().skip(axis + 1) {
            *i = 0;
        }
        boxes.push(NdBox {
            origin: index,
            extent,
        });
        at += slabs * strides[axis];
    }
    boxes
}

/// A strided copy: `extent` elements along each axis, with `src` and `dst` strides in elements;
/// the innermost axis has stride 1 on both sides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CopyPlan {
    pub extent: Vec<u64>,
    pub src: Vec<u64>,
    pub dst: Vec<u64>,
}

impl CopyPlan {
    /// A plan with axes of length 1 dropped and neighbouring axes that are contiguous on both
    /// sides merged, so that the innermost run is as long as possible.
    pub(crate) fn merged(extent: &[u64], src: &[u64], dst: &[u64]) -> CopyPlan {
        let mut plan = CopyPlan {
            extent: Vec::with_capacity(extent.len()),
            src: Vec::with_capacity(extent.len()),
            dst: Vec::with_capacity(extent.len()),
        };
        for d in 0..extent.len() {
            if extent[d] == 1 && d + 1 != extent.len() {
                continue;
            }
            plan.extent.push(extent[d]);
            plan.src.push(src[d]);
            plan.dst.push(dst[d]);
        }
        // Merge from the inside out: axis a-1 folds into axis a when stepping it is the same as
        // running past the end of axis a, on both sides.
        let mut a = plan.extent.len() - 1;
        while a > 0 {
            let (e, s, t) = (plan.extent[a], plan.src[a], plan.dst[a]);
            if plan.src[a - 1] == e * s && plan.dst[a - 1] == e * t {
                plan.extent[a - 1] *= e;
                plan.src[a - 1] = s;
                plan.dst[a - 1] = t;
                plan.extent.remove(a);
                plan.src.remove(a);
                plan.dst.remove(a);
            }
            a -= 1;
        }
        plan
    }

    /// Elements per innermost run.
    pub(crate) fn run(&self) -> u64 {
        self.extent.last().copied().unwrap_or(1)
    }

    /// Calls `f(src_offset, dst_offset)` (in elements) for each innermost run, in order.
    pub(crate) fn for_each_run(
        &self,
        mut f: impl FnMut(u64, u64) -> crate::Result<()>,
    ) -> crate::Result<()> {
        let outer = self.extent.len().saturating_sub(1);
        let mut index = vec![0u64; outer];
        loop {
            let src = flat_index(&index, &self.src[..outer]);
            let dst = flat_index(&index, &self.dst[..outer]);
            f(src, dst)?;
            // Odometer over the outer axes.
            let mut d = outer;
            loop {
                if d == 0 {
                    return Ok(());
                }
                d -= 1;
                index[d] += 1;
                if index[d] < self.extent[d] {
                    break;
                }
                index[d] = 0;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn cover(shape: &[u64], boxes: &[NdBox]) -> Vec<u64> {
        let strides = c_strides(shape);
        let mut flat = Vec::new();
        for b in boxes {
            let plan = CopyPlan {
                extent: b.extent.clone(),
                src: strides.clone(),
                dst: strides.clone(),
            };
            let base = flat_index(&b.origin, &strides);
            plan.for_each_run(|s, _| {
                flat.extend(base + s..base + s + plan.run());
                Ok(())
            })
            .unwrap();
        }
        flat
    }

    proptest! {
        #[test]
        fn boxes_cover_the_range_in_order(
            shape in proptest::collection::vec(1u64..6, 1..5),
            a in 0u64..2000, len in 0u64..2000,
        ) {
            let total: u64 = shape.iter().product();
            let start = a % (total + 1);
            let end = (start + len).min(total);
            let boxes = flat_boxes(&shape, start..end);
            prop_assert!(boxes.len() <= 2 * shape.len());
            prop_assert_eq!(cover(&shape, &boxes), (start..end).collect::<Vec<_>>());
        }
    }

    #[test]
    fn merging_keeps_runs_contiguous() {
        // A whole 4x5 chunk into a frame-major destination: one run.
        let plan = CopyPlan::merged(&[2, 4, 5], &[20, 5, 1], &[20, 5, 1]);
        assert_eq!(plan.extent, vec![40]);
        // A column band: rows stay separate.
        let plan = CopyPlan::merged(&[4, 2], &[5, 1], &[8, 1]);
        assert_eq!((plan.extent.clone(), plan.run()), (vec![4, 2], 2));
    }
}
