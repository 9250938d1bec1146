//! Native UDF declarations from Python, and their named results back to Python.
//!
//! A declaration is `(name, params, results)`: the registered name, a dict of parameters (bool,
//! int, float, str, or a C-contiguous numpy array of float32/float64/complex64/complex128/int64)
//! and a list of `(buffer, kind, dtype, extra_shape)`. The core builds the UDF from it
//! ([`ferrotem_core::udf::build`]) and refuses results that differ from the declaration.

use crate::errors::to_pyerr;
use ferrotem_core::buffer::{InputKind, TypedVec};
use ferrotem_core::dtype::DType;
use ferrotem_core::udf::native::{ArrayData, ArrayParam, ParamValue, ResultDecl, ResultKind};
use ferrotem_core::udf::{build, NativeSpec, NativeUdf};
use ferrotem_core::Error;
use num_complex::{Complex32, Complex64};
use numpy::{IntoPyArray, PyReadonlyArrayDyn, PyUntypedArrayMethods};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyString};
use std::any::Any;
use std::collections::BTreeMap;

/// One declaration as Python passes it.
pub type PyDecl<'py> = (
    String,
    Bound<'py, PyDict>,
    Vec<(String, String, String, Vec<usize>)>,
);

/// The input kind of a numpy dtype string.
pub fn input_kind(dtype: &str, what: &str) -> PyResult<InputKind> {
    let dtype = DType::parse(dtype, what).map_err(to_pyerr)?;
    InputKind::from_scalar(dtype.kind).map_err(to_pyerr)
}

fn array<T: numpy::Element + Copy>(value: &Bound<'_, PyAny>) -> Option<(Vec<usize>, Vec<T>)> {
    let a = value.extract::<PyReadonlyArrayDyn<'_, T>>().ok()?;
    let shape = a.shape().to_vec();
    // One copy at memory speed for the usual C-contiguous array; element by element otherwise.
    let values = match a.as_slice() {
        Ok(s) => s.to_vec(),
        Err(_) => a.as_array().iter().copied().collect(),
    };
    Some((shape, values))
}

fn param(name: &str, value: &Bound<'_, PyAny>) -> PyResult<ParamValue> {
    // bool before int: a Python bool is an int too.
    if value.is_instance_of::<PyBool>() {
        return Ok(ParamValue::Bool(value.extract()?));
    }
    if value.is_instance_of::<PyInt>() {
        return Ok(ParamValue::Int(value.extract()?));
    }
    if value.is_instance_of::<PyFloat>() {
        return Ok(ParamValue::Float(value.extract()?));
    }
    if value.is_instance_of::<PyString>() {
        return Ok(ParamValue::Str(value.extract()?));
    }
    let typed = |shape, data| Ok(ParamValue::Array(ArrayParam { shape, data }));
    if let Some((s, d)) = array::<f32>(value) {
        return typed(s, ArrayData::Typed(TypedVec::F32(d)));
    }
    if let Some((s, d)) = array::<f64>(value) {
        return typed(s, ArrayData::Typed(TypedVec::F64(d)));
    }
    if let Some((s, d)) = array::<Complex32>(value) {
        return typed(s, ArrayData::Typed(TypedVec::C64(d)));
    }
    if let Some((s, d)) = array::<Complex64>(value) {
        return typed(s, ArrayData::Typed(TypedVec::C128(d)));
    }
    if let Some((s, d)) = array::<i64>(value) {
        return typed(s, ArrayData::I64(d));
    }
    Err(to_pyerr(Error::type_(
        name,
        value.get_type().name()?,
        "bool, int, float, str, or a numpy array of float32, float64, complex64, complex128 \
         or int64",
    )))
}

/// Builds the native UDFs `decls` declare for a run in `input`.
pub fn build_all(decls: &[PyDecl<'_>], input: InputKind) -> PyResult<Vec<Box<dyn NativeUdf>>> {
    decls
        .iter()
        .map(|(name, params, results)| {
            let mut ps = BTreeMap::new();
            for (k, v) in params.iter() {
                let k: String = k.extract()?;
                let p = param(&k, &v)?;
                ps.insert(k, p);
            }
            let results = results
                .iter()
                .map(|(buffer, kind, dtype, extra_shape)| {
                    Ok(ResultDecl {
                        name: buffer.clone(),
                        kind: ResultKind::parse(kind).map_err(to_pyerr)?,
                        dtype: input_kind(dtype, "dtype")?,
                        extra_shape: extra_shape.clone(),
                    })
                })
                .collect::<PyResult<Vec<_>>>()?;
            let spec = NativeSpec {
                name: name.clone(),
                params: ps,
                results,
            };
            build(&spec, input).map_err(to_pyerr)
        })
        .collect()
}

fn to_numpy(py: Python<'_>, v: TypedVec) -> Py<PyAny> {
    match v {
        TypedVec::F32(v) => v.into_pyarray(py).into_any().unbind(),
        TypedVec::F64(v) => v.into_pyarray(py).into_any().unbind(),
        TypedVec::C64(v) => v.into_pyarray(py).into_any().unbind(),
        TypedVec::C128(v) => v.into_pyarray(py).into_any().unbind(),
    }
}

/// One `{buffer: flat array}` dict per UDF, from the run's outputs (or a partition's partials).
pub fn named_results(
    py: Python<'_>,
    udfs: &[Box<dyn NativeUdf>],
    input: InputKind,
    outputs: Vec<Box<dyn Any + Send>>,
) -> PyResult<Vec<Py<PyDict>>> {
    udfs.iter()
        .zip(outputs)
        .map(|(udf, out)| {
            let dict = PyDict::new(py);
            let values = udf.split_results(out).map_err(to_pyerr)?;
            for (decl, v) in udf.results(input).iter().zip(values) {
                dict.set_item(&decl.name, to_numpy(py, v))?;
            }
            Ok(dict.unbind())
        })
        .collect()
}
