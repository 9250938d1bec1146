//! Criterion benchmarks of the native hot path: read + convert + `SumUDF` / `SumSigUDF`.
//!
//! * `uint16-64MiB`: an in-memory uint16 dataset (no file system in the way, so this measures
//!   the engine itself).
//! * `file-uint16-384MiB` / `file-float32-384MiB`: a raw file in a temporary directory, read
//!   once before timing so that it sits in the page cache (`pread` + convert + UDF).
//! * `memread`: the machine's memory-read bandwidth on the same 384 MiB with the same number of
//!   threads (a plain parallel sum of `u64` words), the yardstick for the GB/s above.
//!
//! Run with `cargo bench -p ferrotem-core --bench sum`; criterion reports GB/s of dataset bytes.
#![allow(clippy::unwrap_used, missing_docs)] // a benchmark, like a test: panics on setup failure; macros generate undocumented fns

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ferrotem_core::buffer::InputKind;
use ferrotem_core::dtype::{DType, ScalarKind};
use ferrotem_core::partition::split_frames;
use ferrotem_core::runner::{RunOptions, Runner};
use ferrotem_core::shape::DatasetShape;
use ferrotem_core::source::{DataSource, MemorySource, RawFileSource};
use ferrotem_core::udf::{DynUdf, SumSigUdf, SumUdf};
use std::io::Write;

fn udf_sets() -> [(&'static str, Vec<&'static dyn DynUdf>); 3] {
    [
        ("sum", vec![&SumUdf as &dyn DynUdf]),
        ("sumsig", vec![&SumSigUdf as &dyn DynUdf]),
        ("both", vec![&SumUdf as &dyn DynUdf, &SumSigUdf]),
    ]
}

fn bench_source(c: &mut Criterion, group: &str, source: &dyn DataSource, parts: usize) {
    let n = source.shape().nav_size();
    let total = n * (source.shape().sig_size() * source.dtype().itemsize()) as u64;
    let parts = split_frames(n, parts, source.shape().row_len()).unwrap();
    let runner = Runner::new(0).unwrap();
    let opts = RunOptions::new(InputKind::F32);
    let mut group = c.benchmark_group(group);
    group.throughput(Throughput::Bytes(total));
    group.sample_size(20);
    for (name, udfs) in udf_sets() {
        // Warm the page cache (and the pool) outside the timed loop.
        runner
            .run(source, &parts, None, &udfs, &opts, &|_| {})
            .unwrap();
        group.bench_function(name, |b| {
            b.iter(|| {
                runner
                    .run(source, &parts, None, &udfs, &opts, &|_| {})
                    .unwrap()
            });
        });
    }
    group.finish();
}

fn bench_memory(c: &mut Criterion) {
    let (nav, sig) = ([16usize, 64], [256usize, 256]);
    let n = nav[0] * nav[1] * sig[0] * sig[1];
    let bytes: Vec<u8> = (0..n)
        .flat_map(|i| ((i % 1000) as u16).to_ne_bytes())
        .collect();
    let shape = DatasetShape::new(&nav, &sig).unwrap();
    let source = MemorySource::new(bytes, DType::native(ScalarKind::U16), shape, 0).unwrap();
    bench_source(c, "uint16-64MiB", &source, 8);
}

/// 384 MiB of frames: 3072 frames of 256x256 uint16 or 1536 of float32.
const FILE_BYTES: usize = 384 << 20;

fn write_file(dir: &std::path::Path, name: &str, kind: ScalarKind) -> std::path::PathBuf {
    let path = dir.join(name);
    let mut f = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    let item = kind.itemsize();
    let mut chunk = Vec::with_capacity(1 << 20);
    for i in 0..FILE_BYTES / item {
        match kind {
            ScalarKind::U16 => chunk.extend_from_slice(&((i % 1000) as u16).to_ne_bytes()),
            _ => chunk.extend_from_slice(&f32::from((i % 1000) as u16).to_ne_bytes()),
        }
        if chunk.len() >= 1 << 20 {
            f.write_all(&chunk).unwrap();
            chunk.clear();
        }
    }
    f.write_all(&chunk).unwrap();
    f.flush().unwrap();
    path
}

fn bench_file(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    for (kind, label) in [(ScalarKind::U16, "uint16"), (ScalarKind::F32, "float32")] {
        let path = write_file(dir.path(), &format!("{label}.raw"), kind);
        let frames = FILE_BYTES / (256 * 256 * kind.itemsize());
        let shape = DatasetShape::new(&[frames / 64, 64], &[256, 256]).unwrap();
        let source = RawFileSource::open(&path, DType::native(kind), shape, 0, 0).unwrap();
        bench_source(c, &format!("file-{label}-384MiB"), &source, 8);
    }
    bench_memread(c);
}

/// The yardstick: a parallel read of 384 MiB with as many threads as the runner uses.
fn bench_memread(c: &mut Criterion) {
    let words: Vec<u64> = (0..(FILE_BYTES / 8) as u64).collect();
    let pool = rayon::ThreadPoolBuilder::new().build().unwrap();
    let threads = pool.current_num_threads();
    let mut group = c.benchmark_group("memread-384MiB");
    group.throughput(Throughput::Bytes(FILE_BYTES as u64));
    group.sample_size(20);
    group.bench_function(format!("{threads}-threads"), |b| {
        b.iter(|| {
            use rayon::prelude::*;
            pool.install(|| {
                words
                    .par_chunks(1 << 20)
                    .map(|c| {
                        let mut lanes = [0u64; 8];
                        for w in c.chunks_exact(8) {
                            for k in 0..8 {
                                lanes[k] = lanes[k].wrapping_add(w[k]);
                            }
                        }
                        lanes.iter().fold(0u64, |a, &b| a.wrapping_add(b))
                    })
                    .reduce(|| 0, u64::wrapping_add)
            })
        });
    });
    group.finish();
}

criterion_group!(benches, bench_memory, bench_file);
criterion_main!(benches);
