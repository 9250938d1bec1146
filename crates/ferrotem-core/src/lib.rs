//! # ferrotem-core
//!
//! The pure-Rust engine of ferrotem, for pixelated STEM (4D-STEM) data: a scan of navigation
//! positions, each holding a detector frame. It reads datasets ([`source`]), splits them into
//! partitions ([`partition`]), reads partitions tile by tile, converts tiles to the input dtype
//! ([`convert`]), and feeds them to user-defined functions ([`udf::Udf`]) on a thread pool
//! ([`runner::Runner`]). It knows nothing of Python; the `ferrotem-python` crate binds it.
//!
//! ```
//! use ferrotem_core::{dtype::{DType, ScalarKind}, shape::DatasetShape};
//! use ferrotem_core::source::MemorySource;
//! use ferrotem_core::{partition::split_frames, runner::{Runner, RunOptions}};
//! use ferrotem_core::buffer::{InputKind, TypedVec};
//! use ferrotem_core::udf::{SumUdf, DynUdf};
//!
//! // A 2x2 scan of 3x3 frames of u16 ones.
//! let bytes: Vec<u8> = std::iter::repeat(1u16.to_ne_bytes()).take(36).flatten().collect();
//! let shape = DatasetShape::new(&[2, 2], &[3, 3])?;
//! let source = MemorySource::new(bytes, DType::native(ScalarKind::U16), shape, 0)?;
//! let partitions = split_frames(4, 2, 2)?;
//! let runner = Runner::new(2)?;
//! let udfs: [&dyn DynUdf; 1] = [&SumUdf];
//! let out = runner.run(&source, &partitions, None, &udfs, &RunOptions::new(InputKind::F32), &|_| {})?;
//! let sum = out[0].downcast_ref::<TypedVec>().unwrap();
//! assert_eq!(sum, &TypedVec::F32(vec![4.0; 9]));
//! # Ok::<(), ferrotem_core::error::Error>(())
//! ```

pub mod aligned;
pub mod buffer;
pub mod convert;
pub mod corrections;
pub mod decode;
pub mod dtype;
pub mod encode;
pub mod error;
pub mod partition;
pub mod read;
pub mod roi;
pub mod runner;
pub mod shape;
pub mod sigbus;
pub mod simd;
pub mod source;
pub mod udf;

pub use error::{Error, Result};
