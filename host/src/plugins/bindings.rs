//! Host bindings for `stock-tracker:marketplace@0.1.0` (`wit/adapter.wit`). When a version is
//! frozen, its bindings move to a module of their own and keep being supported.

wasmtime::component::bindgen!({
    path: "../wit",
    world: "adapter-plugin",
    imports: { default: async | trappable },
    exports: { default: async },
});

/// The WIT package versions this host can load.
pub const SUPPORTED_WIT_VERSIONS: &[&str] = &["0.1.0"];
/// The package name, before `@version`.
pub const WIT_PACKAGE: &str = "stock-tracker:marketplace";
