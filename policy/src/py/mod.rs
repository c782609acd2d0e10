//! The small slices of Python that oslo.policy's behaviour depends on:
//! `str()`/`repr()` of JSON values, `%`-formatting with a mapping, and
//! `ast.literal_eval` of a generic check's kind.

use std::fmt;

pub mod literal;
pub mod pyfmt;
pub(crate) mod tables;
pub mod value;

pub use literal::{classify_kind, KindClass};
pub use pyfmt::{Formatted, PyFormat};
pub use value::PyValue;

/// The Python exception class an evaluation would raise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[non_exhaustive]
pub enum PyErrorKind {
    /// `ValueError` (bad format string).
    ValueError,
    /// `TypeError` (wrong operand type, indexing a string with a string).
    TypeError,
    /// `SyntaxError` (a generic check's kind is not a Python expression).
    SyntaxError,
    /// `OverflowError`.
    OverflowError,
    /// `RecursionError` (a rule that references itself).
    RecursionError,
    /// `MemoryError` (a format width or precision too large to allocate).
    MemoryError,
    /// `AttributeError` (a role that is not a string).
    AttributeError,
    /// `KeyError` raised where oslo does not catch it (remote check URLs).
    KeyError,
    /// A construct this implementation does not model (documented gap).
    Unsupported,
}

impl PyErrorKind {
    /// The Python class name.
    pub fn name(self) -> &'static str {
        match self {
            PyErrorKind::ValueError => "ValueError",
            PyErrorKind::TypeError => "TypeError",
            PyErrorKind::SyntaxError => "SyntaxError",
            PyErrorKind::OverflowError => "OverflowError",
            PyErrorKind::RecursionError => "RecursionError",
            PyErrorKind::MemoryError => "MemoryError",
            PyErrorKind::AttributeError => "AttributeError",
            PyErrorKind::KeyError => "KeyError",
            PyErrorKind::Unsupported => "Unsupported",
        }
    }
}

/// A Python exception: class and message (the message is best effort).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PyError {
    /// Exception class.
    pub kind: PyErrorKind,
    /// `str(exception)`.
    pub message: String,
}

impl PyError {
    pub(crate) fn new(kind: PyErrorKind, message: impl Into<String>) -> PyError {
        PyError {
            kind,
            message: message.into(),
        }
    }
    pub(crate) fn value(message: impl Into<String>) -> PyError {
        PyError::new(PyErrorKind::ValueError, message)
    }
    pub(crate) fn type_error(message: impl Into<String>) -> PyError {
        PyError::new(PyErrorKind::TypeError, message)
    }
    pub(crate) fn overflow(message: impl Into<String>) -> PyError {
        PyError::new(PyErrorKind::OverflowError, message)
    }
    pub(crate) fn syntax(message: impl Into<String>) -> PyError {
        PyError::new(
            PyErrorKind::SyntaxError,
            format!("{} (<unknown>, line 1)", message.into()),
        )
    }
}

impl fmt::Display for PyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind.name(), self.message)
    }
}

impl std::error::Error for PyError {}
