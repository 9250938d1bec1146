//! Native UDFs declared once: a [`NativeSpec`] (name, parameters, declared result buffers) is
//! all a caller gives; [`build`] makes the UDF from it and checks that what the UDF produces is
//! what the declaration says. The Python binding only translates a Python declaration into a
//! `NativeSpec` and the named results back, so a new native UDF touches its own module here, one
//! line of [`build`], and its Python class.

use super::{ApplyMasksUdf, CoMUdf, DynUdf, StdDevUdf, SumSigUdf, SumUdf};
use crate::buffer::{InputKind, TypedVec};
use crate::error::{Error, Result};
use std::any::Any;
use std::collections::BTreeMap;

/// The values of an array parameter.
#[derive(Debug, Clone, PartialEq)]
pub enum ArrayData {
    /// Floating-point or complex values (masks, weights).
    Typed(TypedVec),
    /// Integers (indices of a sparse matrix).
    I64(Vec<i64>),
}

/// An array parameter: C-order values and their shape.
#[derive(Debug, Clone, PartialEq)]
pub struct ArrayParam {
    /// The array's shape.
    pub shape: Vec<usize>,
    /// `shape.iter().product()` values in C order.
    pub data: ArrayData,
}

/// One parameter of a native UDF.
#[derive(Debug, Clone, PartialEq)]
pub enum ParamValue {
    /// A boolean flag.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A real number.
    Float(f64),
    /// A word from a fixed set (a mode, a format).
    Str(String),
    /// An array, shared by every partition of a run.
    Array(ArrayParam),
}

/// Where a result buffer's values belong (LiberTEM's buffer kinds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResultKind {
    /// One entry per selected frame.
    Nav,
    /// One entry per signal pixel.
    Sig,
    /// One entry per run.
    Single,
}

impl ResultKind {
    /// LiberTEM's name of the kind.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            ResultKind::Nav => "nav",
            ResultKind::Sig => "sig",
            ResultKind::Single => "single",
        }
    }

    /// Parses LiberTEM's name of a kind.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] (`kind`) for another word.
    pub fn parse(kind: &str) -> Result<Self> {
        match kind {
            "nav" => Ok(ResultKind::Nav),
            "sig" => Ok(ResultKind::Sig),
            "single" => Ok(ResultKind::Single),
            other => Err(Error::param(
                "kind",
                format!("{other:?}"),
                "'nav', 'sig' or 'single'",
            )),
        }
    }
}

/// A result buffer: its name, kind, value kind and the shape of one entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResultDecl {
    /// The buffer's name (`intensity`).
    pub name: String,
    /// Per frame, per pixel or per run.
    pub kind: ResultKind,
    /// The values' dtype.
    pub dtype: InputKind,
    /// The shape of one entry (`()` for a scalar per frame).
    pub extra_shape: Vec<usize>,
}

/// A native UDF as declared by its caller: the registered name, the parameters and the result
/// buffers the caller expects, in the order the caller wants them back.
#[derive(Debug, Clone, PartialEq)]
pub struct NativeSpec {
    /// The registered name (see [`build`]).
    pub name: String,
    /// Parameters by name.
    pub params: BTreeMap<String, ParamValue>,
    /// The result buffers the caller declared.
    pub results: Vec<ResultDecl>,
}

impl NativeSpec {
    /// The parameter `name` (`None` when absent).
    #[must_use]
    pub fn get(&self, name: &str) -> Option<&ParamValue> {
        self.params.get(name)
    }

    /// The array parameter `name`.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] naming the parameter if it is absent or not an array.
    pub fn array(&self, name: &str) -> Result<&ArrayParam> {
        match self.get(name) {
            Some(ParamValue::Array(a)) => Ok(a),
            Some(other) => Err(Error::param(name, format!("{other:?}"), "an array")),
            None => Err(Error::param(
                name,
                "missing",
                format!("an array for {}", self.name),
            )),
        }
    }

    /// The string parameter `name`.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] naming the parameter if it is absent or not a string.
    pub fn str(&self, name: &str) -> Result<&str> {
        match self.get(name) {
            Some(ParamValue::Str(s)) => Ok(s),
            Some(other) => Err(Error::param(name, format!("{other:?}"), "a string")),
            None => Err(Error::param(
                name,
                "missing",
                format!("a string for {}", self.name),
            )),
        }
    }

    /// Refuses parameters other than `known`, so that a misspelt or unsupported parameter is an
    /// error instead of being ignored.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] naming the first unknown parameter.
    pub fn only(&self, known: &[&str]) -> Result<()> {
        match self.params.keys().find(|k| !known.contains(&k.as_str())) {
            Some(k) => Err(Error::param(
                k,
                "given",
                format!("one of {known:?} (the parameters of native {})", self.name),
            )),
            None => Ok(()),
        }
    }
}

/// A UDF built from a [`NativeSpec`]: the runner drives [`NativeUdf::udf`]; the run's output is
/// split into named result buffers by [`NativeUdf::split_results`].
pub trait NativeUdf: Send + Sync {
    /// The UDF the runner drives.
    fn udf(&self) -> &dyn DynUdf;
    /// The result buffers this UDF produces for a run with `input`, in a fixed order.
    fn results(&self, input: InputKind) -> Vec<ResultDecl>;
    /// Splits a run's output or a partition's partial (the same type for every native UDF)
    /// into the values of [`NativeUdf::results`], flat, in that order.
    ///
    /// # Errors
    /// [`Error::Internal`] if the output is not of the UDF's own type.
    fn split_results(&self, output: Box<dyn Any + Send>) -> Result<Vec<TypedVec>>;
}

/// A UDF whose output and partials are one [`TypedVec`], for the one result it declares.
pub(crate) fn single_result(
    udf: &dyn DynUdf,
    output: Box<dyn Any + Send>,
) -> Result<Vec<TypedVec>> {
    output
        .downcast::<TypedVec>()
        .map(|v| vec![*v])
        .map_err(|_| Error::udf_internal(udf.name_dyn(), "the output is not a typed vector"))
}

/// The registered native UDFs, by name.
pub const NATIVE_NAMES: &[&str] = &["sum", "sumsig", "masks", "stddev", "com"];

/// Builds the native UDF `spec` declares and checks that its results, for a run in `input`,
/// are the ones declared: same names in the same order, kinds, dtypes and entry shapes.
///
/// # Errors
/// [`Error::InvalidParameter`] for an unknown name, a bad parameter, or results that do not
/// match the declaration (naming the buffer).
pub fn build(spec: &NativeSpec, input: InputKind) -> Result<Box<dyn NativeUdf>> {
    let udf: Box<dyn NativeUdf> = match spec.name.as_str() {
        "sum" => SumUdf::from_spec(spec)?,
        "sumsig" => SumSigUdf::from_spec(spec)?,
        "masks" => ApplyMasksUdf::from_spec(spec)?,
        "stddev" => StdDevUdf::from_spec(spec)?,
        "com" => CoMUdf::from_spec(spec)?,
        other => {
            return Err(Error::param(
                "native UDF",
                format!("{other:?}"),
                format!("one of {NATIVE_NAMES:?}"),
            ))
        }
    };
    check_results(&spec.name, &udf.results(input), &spec.results)?;
    Ok(udf)
}

/// The error for a declaration that differs from what the UDF produces.
fn check_results(name: &str, made: &[ResultDecl], declared: &[ResultDecl]) -> Result<()> {
    let names = |d: &[ResultDecl]| d.iter().map(|r| r.name.clone()).collect::<Vec<_>>();
    if names(made) != names(declared) {
        return Err(Error::param(
            "result buffers",
            format!("{:?}", names(declared)),
            format!("the buffers native {name} computes: {:?}", names(made)),
        ));
    }
    for (m, d) in made.iter().zip(declared) {
        if m != d {
            return Err(Error::param(
                &format!("result buffer {:?}", d.name),
                format!(
                    "kind {:?}, dtype {:?}, extra_shape {:?}",
                    d.kind.name(),
                    d.dtype,
                    d.extra_shape
                ),
                format!(
                    "kind {:?}, dtype {:?}, extra_shape {:?} (what native {name} computes)",
                    m.kind.name(),
                    m.dtype,
                    m.extra_shape
                ),
            ));
        }
    }
    Ok(())
}
