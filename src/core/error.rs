//! Typed errors with stable codes. Messages are assembled without `core::fmt` (it would dominate
//! the wasm binary); the JS side turns a code plus numeric details into a `ResourceGuardError`.
//!
//! ```
//! use resource_guard::core::error::{ErrorCode, GuardError};
//! let e = GuardError::invalid_option("retry.maxDelayMs", "must be >= retry.baseDelayMs");
//! assert_eq!(e.code(), ErrorCode::InvalidOption);
//! assert_eq!(e.message(), "invalid option: retry.maxDelayMs must be >= retry.baseDelayMs");
//! ```

/// Stable error codes. Public API: never renamed (the `codes_are_stable` test pins the list).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum ErrorCode {
    /// An option is unknown, of the wrong type or out of range.
    InvalidOption = 1,
    /// The category's queue is full and the new request was not admitted.
    QueueFull = 2,
    /// Shed by the guard: the heap is at its limit, or a higher priority took the queue slot.
    Shed = 3,
    /// An attempt, the queue wait, the overall deadline or a job ran out of time.
    Timeout = 4,
    /// The service's circuit breaker is open; nothing was sent.
    CircuitOpen = 5,
    /// Retries (or the retry budget) ran out after a network failure.
    RetriesExhausted = 6,
    /// The server asked to wait longer than `retry.maxRetryAfterMs` (or the deadline).
    RetryAfterTooLong = 7,
    /// A single record is larger than the endpoint accepts.
    PayloadTooLarge = 8,
    /// The environment lacks what is needed (no browser, no IndexedDB, ...).
    Unsupported = 9,
    /// The guard was disposed.
    Disposed = 10,
    /// Storage is full (IndexedDB `QuotaExceededError`): nothing of the call was stored.
    Quota = 11,
    /// The wasm module itself could not be fetched, read or instantiated. Raised by the JS loader
    /// only (the core cannot run without its module); listed so both code lists stay one list.
    WasmLoad = 12,
}

impl ErrorCode {
    /// Every code, in numeric order.
    pub const ALL: [ErrorCode; 12] = [
        ErrorCode::InvalidOption,
        ErrorCode::QueueFull,
        ErrorCode::Shed,
        ErrorCode::Timeout,
        ErrorCode::CircuitOpen,
        ErrorCode::RetriesExhausted,
        ErrorCode::RetryAfterTooLong,
        ErrorCode::PayloadTooLarge,
        ErrorCode::Unsupported,
        ErrorCode::Disposed,
        ErrorCode::Quota,
        ErrorCode::WasmLoad,
    ];

    /// The stable string, e.g. `"ERR_QUEUE_FULL"`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidOption => "ERR_INVALID_OPTION",
            ErrorCode::QueueFull => "ERR_QUEUE_FULL",
            ErrorCode::Shed => "ERR_SHED",
            ErrorCode::Timeout => "ERR_TIMEOUT",
            ErrorCode::CircuitOpen => "ERR_CIRCUIT_OPEN",
            ErrorCode::RetriesExhausted => "ERR_RETRIES_EXHAUSTED",
            ErrorCode::RetryAfterTooLong => "ERR_RETRY_AFTER_TOO_LONG",
            ErrorCode::PayloadTooLarge => "ERR_PAYLOAD_TOO_LARGE",
            ErrorCode::Unsupported => "ERR_UNSUPPORTED",
            ErrorCode::Disposed => "ERR_DISPOSED",
            ErrorCode::Quota => "ERR_QUOTA",
            ErrorCode::WasmLoad => "ERR_WASM_LOAD",
        }
    }

    /// The numeric form used across the wasm boundary.
    #[must_use]
    pub fn as_u8(self) -> u8 {
        self as u8
    }
}

/// Why a request or job was shed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum ShedReason {
    /// The heap guard is at its `limit` level and the work is `low` priority.
    HeapLimit = 1,
    /// A higher-priority request took the last queue slot.
    QueueFull = 2,
    /// Adaptive throttling: the service's backend is shedding load (SRE client-side throttling).
    Adaptive = 3,
}

impl ShedReason {
    /// The name in events, errors and reports: `heapLimit`, `queueFull` or `adaptive`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            ShedReason::HeapLimit => "heapLimit",
            ShedReason::QueueFull => "queueFull",
            ShedReason::Adaptive => "adaptive",
        }
    }
}

/// What ran out of time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum TimeoutKind {
    /// One attempt (`timeoutMs`).
    Attempt = 1,
    /// The whole call (`deadlineMs`).
    Deadline = 2,
    /// The wait in the queue (`queue.timeoutMs`).
    Queue = 3,
}

/// An error the guard reports. Transient versus permanent is data, not a type.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum GuardError {
    /// An option failed validation; `path` is the JS option path (`retry.maxDelayMs`).
    InvalidOption {
        /// JS path of the option.
        path: String,
        /// What is wrong, e.g. "must be a positive integer".
        reason: &'static str,
    },
    /// The queue holds `capacity` waiting requests already.
    QueueFull {
        /// The configured depth.
        capacity: u32,
    },
    /// Shed by the guard.
    Shed {
        /// Why.
        reason: ShedReason,
    },
    /// Ran out of time.
    Timeout {
        /// Which limit.
        kind: TimeoutKind,
    },
    /// The breaker is open.
    CircuitOpen {
        /// Milliseconds until it half-opens.
        retry_in_ms: u64,
    },
    /// Gave up after network failures.
    RetriesExhausted {
        /// Attempts made.
        attempts: u32,
        /// Last HTTP status, 0 for a network failure.
        last_status: u16,
    },
    /// The server's hint is longer than allowed.
    RetryAfterTooLong {
        /// The hint in milliseconds.
        retry_after_ms: u64,
    },
    /// A record alone exceeds what the endpoint accepts.
    PayloadTooLarge {
        /// Its serialised size.
        bytes: u64,
    },
    /// The environment lacks a needed API.
    Unsupported {
        /// Which one.
        what: &'static str,
    },
    /// The guard was disposed.
    Disposed,
}

impl GuardError {
    /// Shorthand for [`GuardError::InvalidOption`].
    #[must_use]
    pub fn invalid_option(path: &str, reason: &'static str) -> Self {
        GuardError::InvalidOption {
            path: path.to_owned(),
            reason,
        }
    }

    /// The stable code.
    #[must_use]
    pub fn code(&self) -> ErrorCode {
        match self {
            GuardError::InvalidOption { .. } => ErrorCode::InvalidOption,
            GuardError::QueueFull { .. } => ErrorCode::QueueFull,
            GuardError::Shed { .. } => ErrorCode::Shed,
            GuardError::Timeout { .. } => ErrorCode::Timeout,
            GuardError::CircuitOpen { .. } => ErrorCode::CircuitOpen,
            GuardError::RetriesExhausted { .. } => ErrorCode::RetriesExhausted,
            GuardError::RetryAfterTooLong { .. } => ErrorCode::RetryAfterTooLong,
            GuardError::PayloadTooLarge { .. } => ErrorCode::PayloadTooLarge,
            GuardError::Unsupported { .. } => ErrorCode::Unsupported,
            GuardError::Disposed => ErrorCode::Disposed,
        }
    }

    /// The one numeric detail each error carries across the boundary (ms, bytes, status...).
    #[must_use]
    pub fn detail(&self) -> f64 {
        match self {
            GuardError::QueueFull { capacity } => f64::from(*capacity),
            GuardError::Shed { reason } => f64::from(*reason as u8),
            GuardError::Timeout { kind } => f64::from(*kind as u8),
            GuardError::CircuitOpen { retry_in_ms } => *retry_in_ms as f64,
            GuardError::RetriesExhausted { last_status, .. } => f64::from(*last_status),
            GuardError::RetryAfterTooLong { retry_after_ms } => *retry_after_ms as f64,
            GuardError::PayloadTooLarge { bytes } => *bytes as f64,
            _ => 0.0,
        }
    }

    /// A human message. Only option errors are built here (they carry a path); the JS side words
    /// the others from code and detail, which keeps `core::fmt` out of the binary.
    #[must_use]
    pub fn message(&self) -> String {
        match self {
            GuardError::InvalidOption { path, reason } => {
                let mut m = String::with_capacity(path.len() + reason.len() + 17);
                m.push_str("invalid option: ");
                m.push_str(path);
                m.push(' ');
                m.push_str(reason);
                m
            }
            GuardError::Unsupported { what } => {
                let mut m = String::from("unsupported: ");
                m.push_str(what);
                m
            }
            other => other.code().as_str().to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_stable() {
        let got: Vec<(&str, u8)> = ErrorCode::ALL
            .iter()
            .map(|c| (c.as_str(), c.as_u8()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("ERR_INVALID_OPTION", 1),
                ("ERR_QUEUE_FULL", 2),
                ("ERR_SHED", 3),
                ("ERR_TIMEOUT", 4),
                ("ERR_CIRCUIT_OPEN", 5),
                ("ERR_RETRIES_EXHAUSTED", 6),
                ("ERR_RETRY_AFTER_TOO_LONG", 7),
                ("ERR_PAYLOAD_TOO_LARGE", 8),
                ("ERR_UNSUPPORTED", 9),
                ("ERR_DISPOSED", 10),
                ("ERR_QUOTA", 11),
                ("ERR_WASM_LOAD", 12),
            ]
        );
    }

    #[test]
    fn option_message_names_the_path() {
        let e = GuardError::invalid_option("heap.budgetBytes", "must be a positive integer");
        assert_eq!(
            e.message(),
            "invalid option: heap.budgetBytes must be a positive integer"
        );
        assert_eq!(e.code().as_str(), "ERR_INVALID_OPTION");
    }
}
