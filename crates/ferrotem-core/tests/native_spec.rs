//! Native UDFs built from their declaration: the declared results must be the computed ones,
//! and the built UDF runs and returns its results by name.
#![allow(clippy::unwrap_used)]

use ferrotem_core::buffer::{InputKind, TypedVec};
use ferrotem_core::dtype::{DType, ScalarKind};
use ferrotem_core::partition::split_frames;
use ferrotem_core::runner::{RunOptions, Runner};
use ferrotem_core::shape::DatasetShape;
use ferrotem_core::source::MemorySource;
use ferrotem_core::udf::native::{ParamValue, ResultDecl, ResultKind};
use ferrotem_core::udf::{build, DynUdf, NativeSpec};
use ferrotem_core::Error;
use std::collections::BTreeMap;

fn intensity(kind: ResultKind, dtype: InputKind) -> ResultDecl {
    ResultDecl {
        name: "intensity".into(),
        kind,
        dtype,
        extra_shape: vec![],
    }
}

fn spec(name: &str, results: Vec<ResultDecl>) -> NativeSpec {
    NativeSpec {
        name: name.into(),
        params: BTreeMap::new(),
        results,
    }
}

fn param_name(e: Error) -> String {
    match e {
        Error::InvalidParameter { name, .. } => name,
        other => panic!("expected InvalidParameter, got {other:?}"),
    }
}

#[test]
fn declared_results_build_and_run_by_name() {
    let f32 = InputKind::F32;
    let sum = build(&spec("sum", vec![intensity(ResultKind::Sig, f32)]), f32).unwrap();
    let sumsig = build(&spec("sumsig", vec![intensity(ResultKind::Nav, f32)]), f32).unwrap();
    // 2x3 scan of 2x2 frames holding 0..24
    let bytes: Vec<u8> = (0u16..24).flat_map(u16::to_ne_bytes).collect();
    let shape = DatasetShape::new(&[2, 3], &[2, 2]).unwrap();
    let source = MemorySource::new(bytes, DType::native(ScalarKind::U16), shape, 0).unwrap();
    let parts = split_frames(6, 2, 3).unwrap();
    let udfs: Vec<&dyn DynUdf> = vec![sum.udf(), sumsig.udf()];
    let out = Runner::new(2)
        .unwrap()
        .run(&source, &parts, None, &udfs, &RunOptions::new(f32), &|_| {})
        .unwrap();
    let mut out = out.into_iter();
    let sums = sum.split_results(out.next().unwrap()).unwrap();
    let frame_sums = sumsig.split_results(out.next().unwrap()).unwrap();
    // pixel p over frames f: sum_f (4 f + p) = 4 * 15 + 6 p
    let want: Vec<f32> = (0u8..4).map(|p| 60.0 + 6.0 * f32::from(p)).collect();
    assert_eq!(sums, vec![TypedVec::F32(want)]);
    // frame f: sum_p (4 f + p) = 16 f + 6
    let want: Vec<f32> = (0u8..6).map(|f| 16.0 * f32::from(f) + 6.0).collect();
    assert_eq!(frame_sums, vec![TypedVec::F32(want)]);
}

#[test]
fn a_declaration_that_differs_is_refused() {
    let f64 = InputKind::F64;
    // wrong kind
    let e = build(&spec("sum", vec![intensity(ResultKind::Nav, f64)]), f64)
        .err()
        .unwrap();
    assert_eq!(param_name(e), "result buffer \"intensity\"");
    // wrong dtype
    let e = build(
        &spec("sumsig", vec![intensity(ResultKind::Nav, InputKind::F32)]),
        f64,
    );
    assert_eq!(param_name(e.err().unwrap()), "result buffer \"intensity\"");
    // wrong name, missing and extra buffers
    let mut other = intensity(ResultKind::Nav, f64);
    other.name = "total".into();
    for results in [
        vec![other.clone()],
        vec![],
        vec![intensity(ResultKind::Nav, f64), other],
    ] {
        let e = build(&spec("sumsig", results), f64).err().unwrap();
        assert_eq!(param_name(e), "result buffers");
    }
    // wrong extra_shape
    let mut wide = intensity(ResultKind::Nav, f64);
    wide.extra_shape = vec![2];
    let e = build(&spec("sumsig", vec![wide]), f64).err().unwrap();
    assert_eq!(param_name(e), "result buffer \"intensity\"");
}

#[test]
fn unknown_names_and_parameters_are_refused() {
    let f32 = InputKind::F32;
    let e = build(&spec("nosuch", vec![]), f32).err().unwrap();
    assert_eq!(param_name(e), "native UDF");
    let mut s = spec("sum", vec![intensity(ResultKind::Sig, f32)]);
    s.params.insert("scale".into(), ParamValue::Float(2.0));
    assert_eq!(param_name(build(&s, f32).err().unwrap()), "scale");
}

fn com_spec(mask: ParamValue, dtype: InputKind) -> NativeSpec {
    NativeSpec {
        name: "com".into(),
        params: BTreeMap::from([("mask".to_string(), mask)]),
        results: vec![ResultDecl {
            name: "raw_mask_result".into(),
            kind: ResultKind::Nav,
            dtype,
            extra_shape: vec![3],
        }],
    }
}

fn mask_param(shape: Vec<usize>, values: Vec<f64>) -> ParamValue {
    ParamValue::Array(ferrotem_core::udf::native::ArrayParam {
        shape,
        data: ferrotem_core::udf::native::ArrayData::Typed(TypedVec::F64(values)),
    })
}

#[test]
#[allow(clippy::cast_precision_loss, reason = "pixel indices below 12")]
fn com_builds_runs_and_refuses_bad_declarations() {
    // 1x2 scan of 2x3 frames holding 0..12; the mask leaves out pixel (0, 0)
    let mask = mask_param(vec![2, 3], vec![0.0, 1.0, 1.0, 1.0, 1.0, 1.0]);
    let f32 = InputKind::F32;
    let com = build(&com_spec(mask.clone(), InputKind::F64), f32).unwrap();
    let bytes: Vec<u8> = (0u16..12).flat_map(u16::to_ne_bytes).collect();
    let shape = DatasetShape::new(&[1, 2], &[2, 3]).unwrap();
    let source = MemorySource::new(bytes, DType::native(ScalarKind::U16), shape, 0).unwrap();
    let parts = split_frames(2, 1, 2).unwrap();
    let out = Runner::new(1)
        .unwrap()
        .run(
            &source,
            &parts,
            None,
            &[com.udf()],
            &RunOptions::new(f32),
            &|_| {},
        )
        .unwrap();
    let moments = com.split_results(out.into_iter().next().unwrap()).unwrap();
    // frame f, pixel p = 3 y + x holds 6 f + p: sums over p = 1..6 of v, y v, x v
    let frame = |f: f64| {
        let v = |p: usize| 6.0 * f + p as f64;
        let s: f64 = (1..6).map(v).sum();
        let sy: f64 = (3..6).map(v).sum();
        let sx: f64 = (1..6).map(|p| (p % 3) as f64 * v(p)).sum();
        [s, sy, sx]
    };
    let want: Vec<f64> = [frame(0.0), frame(1.0)].concat();
    assert_eq!(moments, vec![TypedVec::F64(want)]);
    // float64 moments, complex128 for complex input: a float32 declaration is refused
    let e = build(&com_spec(mask.clone(), f32), f32).err().unwrap();
    assert_eq!(param_name(e), "result buffer \"raw_mask_result\"");
    assert!(build(&com_spec(mask, InputKind::C128), InputKind::C64).is_ok());
    // a mask that is not 2-D, or a stray parameter
    let flat = mask_param(vec![6], vec![1.0; 6]);
    let e = build(&com_spec(flat, InputKind::F64), f32).err().unwrap();
    assert_eq!(param_name(e), "mask");
    let mut stray = com_spec(mask_param(vec![1, 1], vec![1.0]), InputKind::F64);
    stray.params.insert("radius".into(), ParamValue::Float(3.0));
    assert_eq!(param_name(build(&stray, f32).err().unwrap()), "radius");
}
