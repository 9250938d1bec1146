//! Criterion benchmarks of the native hot path: read + convert + SumUDF / SumSigUDF over an
//! in-memory uint16 dataset (no file system in the way, so this measures the engine itself).
#![allow(clippy::unwrap_used, missing_docs)] // a benchmark, like a test: panics on setup failure; macros generate undocumented fns

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ferrotem_core::buffer::InputKind;
use ferrotem_core::dtype::{DType, ScalarKind};
use ferrotem_core::partition::split_frames;
use ferrotem_core::runner::{RunOptions, Runner};
use ferrotem_core::shape::DatasetShape;
use ferrotem_core::source::MemorySource;
use ferrotem_core::udf::{DynUdf, SumSigUdf, SumUdf};

fn bench_sum(c: &mut Criterion) {
    let (nav, sig) = ([16usize, 64], [256usize, 256]);
    let n = nav[0] * nav[1] * sig[0] * sig[1];
    let bytes: Vec<u8> = (0..n)
        .flat_map(|i| ((i % 1000) as u16).to_ne_bytes())
        .collect();
    let total = bytes.len() as u64;
    let shape = DatasetShape::new(&nav, &sig).unwrap();
    let source = MemorySource::new(bytes, DType::native(ScalarKind::U16), shape, 0).unwrap();
    let parts = split_frames(1024, 8, 64).unwrap();
    let runner = Runner::new(0).unwrap();
    let opts = RunOptions::new(InputKind::F32);
    let mut group = c.benchmark_group("uint16-64MiB");
    group.throughput(Throughput::Bytes(total));
    group.sample_size(20);
    for (name, udfs) in [
        ("sum", vec![&SumUdf as &dyn DynUdf]),
        ("sumsig", vec![&SumSigUdf as &dyn DynUdf]),
        ("both", vec![&SumUdf as &dyn DynUdf, &SumSigUdf]),
    ] {
        group.bench_function(name, |b| {
            b.iter(|| {
                runner
                    .run(&source, &parts, None, &udfs, &opts, &|_| {})
                    .unwrap()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench_sum);
criterion_main!(benches);
