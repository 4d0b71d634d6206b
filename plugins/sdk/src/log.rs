//! Log lines to the host log, tagged with the plugin id there.

pub use crate::bindings::stock_tracker::marketplace::log::Level;

/// Writes one line.
pub fn write(level: Level, message: &str) {
    crate::bindings::stock_tracker::marketplace::log::write(level, message);
}

/// `info` line.
pub fn info(message: &str) {
    write(Level::Info, message);
}

/// `warn` line.
pub fn warn(message: &str) {
    write(Level::Warn, message);
}
