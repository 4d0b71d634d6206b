//! Telemetry: logging ([`logging`]), Prometheus metrics ([`metrics`]) and Sentry ([`reporting`]).

pub mod logging;
pub mod metrics;
pub mod reporting;

pub use logging::init;
pub use metrics::Metrics;
