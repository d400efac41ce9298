//! The harness's one error type.

use std::io;

/// Everything that can stop a benchmark run.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: io::Error,
    },
    #[error("cannot parse {0}")]
    Proc(String),
    #[error("HTTP {method} {path}: {message}")]
    Api {
        method: &'static str,
        path: String,
        message: String,
    },
    #[error("{0}")]
    Target(String),
    /// The load generator, not the SFU, was the limit (`rtc_run::verdict`).
    #[error("{0}")]
    Saturated(String),
    #[error("invalid arguments: {0}")]
    Args(String),
}

impl BenchError {
    pub fn io(what: impl Into<String>, source: io::Error) -> Self {
        Self::Io {
            what: what.into(),
            source,
        }
    }
}
