//! Plugins built into the binary by `host/build.rs` (the first-party adapters), used when
//! `PLUGINS_DIR` has no version of the same id.

include!(concat!(env!("OUT_DIR"), "/bundled_plugins.rs"));
