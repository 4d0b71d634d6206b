//! The one place where an adapter's outcome becomes an HTTP answer. (In a sync run the same
//! [`CallError`] is recorded with its `Display` text as the run's error.)

use super::CallError;
use super::bindings::AdapterError;
use super::runtime::shown;
use crate::error::ApiError;

impl From<CallError> for ApiError {
    fn from(err: CallError) -> Self {
        match err {
            CallError::Adapter(AdapterError::InvalidCredentials(detail)) => ApiError::invalid(
                "credentials",
                format!("the marketplace refused these credentials: {}", shown(&detail)),
            ),
            CallError::Adapter(AdapterError::RateLimited(limit)) => ApiError::Unavailable {
                code: "marketplace_rate_limited",
                message: format!("the marketplace asks to wait {} s; try again then", limit.retry_after_secs),
                retry_after: Some(limit.retry_after_secs),
            },
            CallError::Adapter(AdapterError::Unsupported(m)) => {
                ApiError::invalid("settings", format!("unsupported: {}", shown(&m)))
            }
            CallError::Adapter(AdapterError::Upstream(m) | AdapterError::Transient(m)) => ApiError::BadGateway {
                code: "marketplace_error",
                message: format!("the marketplace failed: {}", shown(&m)),
            },
            other => ApiError::BadGateway {
                code: "adapter_failed",
                message: format!("the marketplace adapter failed: {other}"),
            },
        }
    }
}
