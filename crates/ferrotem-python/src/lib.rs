//! `ferrotem._core`: the Python binding of `ferrotem-core`. This file only registers; each area
//! lives in its own module. Every slow call goes through `enter::enter`, the one entry helper.

mod callback;
mod chunked;
mod corrections;
mod enter;
mod errors;
mod export;
mod formats;
mod formats_dm;
mod formats_empad;
mod formats_frms6;
mod formats_k2is;
mod formats_mrc;
mod formats_rawcsr;
mod formats_seq;
mod formats_ser;
mod formats_tvips;
mod native_spec;
mod numpy_bytes;
mod partition;
mod runner;
mod source;

use pyo3::prelude::*;

/// The extension module.
#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_class::<source::PyDataSource>()?;
    m.add_class::<runner::PyRunner>()?;
    m.add_class::<runner::PyNativeSet>()?;
    m.add_class::<chunked::PyChunkedArray>()?;
    m.add_class::<corrections::PyCorrections>()?;
    m.add_function(wrap_pyfunction!(source::npy_header, m)?)?;
    m.add_function(wrap_pyfunction!(chunked::chunk_filter_supported, m)?)?;
    m.add_function(wrap_pyfunction!(partition::split_frames, m)?)?;
    m.add_function(wrap_pyfunction!(partition::default_partition_count, m)?)?;
    m.add_function(wrap_pyfunction!(runner::run_native_partition, m)?)?;
    m.add_function(wrap_pyfunction!(runner::native_udf_names, m)?)?;
    m.add_function(wrap_pyfunction!(formats::mib_frame_header, m)?)?;
    m.add_function(wrap_pyfunction!(formats::mib_read_hdr, m)?)?;
    m.add_function(wrap_pyfunction!(formats::mib_scan, m)?)?;
    m.add_function(wrap_pyfunction!(formats::open_mib, m)?)?;
    m.add_function(wrap_pyfunction!(formats::blo_header, m)?)?;
    m.add_function(wrap_pyfunction!(formats::open_blo, m)?)?;
    m.add_function(wrap_pyfunction!(formats_seq::seq_header, m)?)?;
    m.add_function(wrap_pyfunction!(formats_seq::open_seq, m)?)?;
    m.add_function(wrap_pyfunction!(formats_seq::mrc_reference, m)?)?;
    m.add_function(wrap_pyfunction!(formats_seq::seq_metadata, m)?)?;
    m.add_function(wrap_pyfunction!(formats_frms6::frms6_headers, m)?)?;
    m.add_function(wrap_pyfunction!(formats_frms6::open_frms6, m)?)?;
    m.add_function(wrap_pyfunction!(formats_rawcsr::open_raw_csr, m)?)?;
    m.add_function(wrap_pyfunction!(formats_rawcsr::read_csr_rows, m)?)?;
    m.add_function(wrap_pyfunction!(formats_ser::ser_header, m)?)?;
    m.add_function(wrap_pyfunction!(formats_ser::open_ser, m)?)?;
    m.add_function(wrap_pyfunction!(formats_mrc::mrc_header, m)?)?;
    m.add_function(wrap_pyfunction!(formats_mrc::open_mrc, m)?)?;
    m.add_function(wrap_pyfunction!(formats_tvips::tvips_scan, m)?)?;
    m.add_function(wrap_pyfunction!(formats_tvips::open_tvips, m)?)?;
    m.add_function(wrap_pyfunction!(formats_empad::empad_scan, m)?)?;
    m.add_function(wrap_pyfunction!(formats_empad::empad_xml, m)?)?;
    m.add_function(wrap_pyfunction!(formats_empad::open_empad, m)?)?;
    m.add_function(wrap_pyfunction!(formats_k2is::k2is_scan, m)?)?;
    m.add_function(wrap_pyfunction!(formats_k2is::k2is_gtg_scan_shape, m)?)?;
    m.add_function(wrap_pyfunction!(formats_k2is::open_k2is, m)?)?;
    m.add_function(wrap_pyfunction!(export::encode_chunks, m)?)?;
    m.add_function(wrap_pyfunction!(formats_dm::dm_info, m)?)?;
    m.add_function(wrap_pyfunction!(formats_dm::open_dm_frames, m)?)?;
    m.add_function(wrap_pyfunction!(formats_dm::open_dm_transposed, m)?)?;
    Ok(())
}
