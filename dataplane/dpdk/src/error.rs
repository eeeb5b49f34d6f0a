use crate::sys;
use std::ffi::CStr;
use std::fmt;

/// A failed DPDK call: what was being done and DPDK's error code, shown
/// with `rte_strerror`'s text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    context: String,
    code: Option<i32>,
    hint: Option<String>,
}

impl Error {
    /// An error with no DPDK code (a precondition this crate checks).
    pub(crate) fn new(context: impl Into<String>) -> Error {
        Error { context: context.into(), code: None, hint: None }
    }

    /// An error whose code is the calling thread's `rte_errno`.
    pub(crate) fn from_rte_errno(context: impl Into<String>) -> Error {
        // SAFETY: reads the calling thread's rte_errno; no arguments, no other effect.
        let code = unsafe { sys::netcraq_rte_errno() };
        Error { context: context.into(), code: Some(code), hint: None }
    }

    /// An error from a call that returns `-errno` (`rc < 0`).
    pub(crate) fn from_return(context: impl Into<String>, rc: i32) -> Error {
        Error { context: context.into(), code: Some(rc.saturating_abs()), hint: None }
    }

    /// Adds advice on what to do about it, shown after the error.
    pub(crate) fn with_hint(mut self, hint: impl Into<String>) -> Error {
        self.hint = Some(hint.into());
        self
    }

    /// DPDK's error code (an errno value or one of `rte_errno.h`'s), if any.
    pub fn code(&self) -> Option<i32> {
        self.code
    }
}

/// `rte_strerror`'s text for `code`.
pub(crate) fn describe(code: i32) -> String {
    // SAFETY: rte_strerror accepts any value and returns a NUL-terminated
    // string (static, or in a per-thread buffer) valid until the next call
    // on this thread; it is copied out at once.
    let text = unsafe { CStr::from_ptr(sys::rte_strerror(code)) };
    text.to_string_lossy().into_owned()
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.context)?;
        if let Some(code) = self.code {
            write!(f, ": {} (error {code})", describe(code))?;
        }
        if let Some(hint) = &self.hint {
            write!(f, "\n{hint}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {}
