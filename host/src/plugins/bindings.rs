//! Host bindings for every supported version of `stock-tracker:marketplace`: the current one
//! (`wit/adapter.wit`, 0.2.0) at the top, and each frozen one in a module of its own ([`v0_1`],
//! `wit/0.1.0/`). The rest of the host sees only the current shapes: a component built for an
//! older version is called through its own binding and its answers converted ([`legacy`]).

wasmtime::component::bindgen!({
    path: "../wit",
    world: "adapter-plugin",
    imports: { default: async | trappable },
    exports: { default: async },
    additional_derives: [PartialEq, Eq],
});

/// `stock-tracker:marketplace@0.1.0`, frozen.
pub mod v0_1 {
    wasmtime::component::bindgen!({
        path: "../wit/0.1.0",
        world: "adapter-plugin",
        imports: { default: async | trappable },
        exports: { default: async },
        additional_derives: [PartialEq, Eq],
    });
}

pub mod legacy;

/// The WIT package versions this host can load, oldest first.
pub const SUPPORTED_WIT_VERSIONS: &[&str] = &["0.1.0", "0.2.0"];
/// The package name, before `@version`.
pub const WIT_PACKAGE: &str = "stock-tracker:marketplace";

pub use self::exports::stock_tracker::marketplace::adapter::{
    PageRequest, PricePage, ProductPage, SalePage, StockPage,
};
pub use self::stock_tracker::marketplace::types::{
    Account, AdapterError, AdapterInfo, CallContext, Capability, Price, Product, ProductPrice, ProductRef,
    ProductTransit, RateLimit, SaleEvent, SaleKind, SettingField, StockLevel, WarehouseKind,
};
