//! Builds the first-party adapters (`plugins/wildberries`, `plugins/ozon`, `plugins/yandex-market`) for `wasm32-wasip2` and embeds them, so
//! the binary can serve (and `serve --demo` can sync) with no plugin directory.
//!
//! The nested `cargo build` uses its own target directory, so it never waits on the outer build's
//! lock. When the `wasm32-wasip2` target is not installed, nothing is embedded and a warning says
//! how to fix it (`rustup target add wasm32-wasip2`); the host then needs PLUGINS_DIR.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const PLUGINS: &[(&str, &str)] =
    &[("wildberries-adapter", "wildberries"), ("ozon-adapter", "ozon"), ("yandex-market-adapter", "yandex-market")];

fn main() {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let root = manifest_dir.parent().unwrap().to_owned();
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap());
    for dir in [
        ".cargo/config.toml",
        "plugins/sdk/src",
        "plugins/sdk/Cargo.toml",
        "plugins/wildberries/src",
        "plugins/wildberries/plugin.toml",
        "plugins/wildberries/Cargo.toml",
        "plugins/ozon/src",
        "plugins/ozon/plugin.toml",
        "plugins/ozon/Cargo.toml",
        "plugins/yandex-market/src",
        "plugins/yandex-market/plugin.toml",
        "plugins/yandex-market/Cargo.toml",
        "wit",
        // `sqlx::migrate!` embeds these when the crate compiles and does not tell Cargo (on
        // stable Rust), so a new migration alone would not reach the binary.
        "migrations",
    ] {
        // Relative to this package, not absolute: clones at different paths share a target
        // directory (CI's cache), and an absolute path would watch another clone's files.
        println!("cargo:rerun-if-changed=../{dir}");
    }
    println!("cargo:rerun-if-env-changed=STOCK_TRACKER_SKIP_BUNDLED_PLUGINS");

    let mut entries = Vec::new();
    let skip = std::env::var_os("STOCK_TRACKER_SKIP_BUNDLED_PLUGINS").is_some();
    let built = !skip && build_plugins(&root, &out);
    for (package, id) in PLUGINS {
        let wasm = format!("plugins/wasm32-wasip2/release/{}.wasm", package.replace('-', "_"));
        if built && out.join(&wasm).is_file() {
            // Paths through `env!`, not written out: a clone at another path sharing this target
            // directory reuses this file without running the script again, and must read its own
            // manifests.
            entries.push(format!(
                "(include_str!(concat!(env!(\"CARGO_MANIFEST_DIR\"), \"/../plugins/{id}/plugin.toml\")), \
                 include_bytes!(concat!(env!(\"OUT_DIR\"), \"/{wasm}\")) as &[u8])"
            ));
        }
    }
    let code = format!(
        "/// `(manifest, component)` of each plugin built into this binary.\npub static BUNDLED: &[(&str, &[u8])] = &[{}];\n",
        entries.join(", ")
    );
    std::fs::write(out.join("bundled_plugins.rs"), code).unwrap();
}

fn build_plugins(root: &Path, out: &Path) -> bool {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(root)
        .args(["build", "--release", "--target", "wasm32-wasip2", "--locked"])
        .env("CARGO_TARGET_DIR", out.join("plugins"))
        // Anything on stdout would be read as build-script directives.
        .stdout(Stdio::null());
    for (package, _) in PLUGINS {
        cmd.args(["-p", package]);
    }
    // Settings meant for the outer build must not leak into the wasm one.
    for var in
        ["RUSTC_WRAPPER", "RUSTC_WORKSPACE_WRAPPER", "CARGO_ENCODED_RUSTFLAGS", "RUSTFLAGS", "CARGO_BUILD_TARGET"]
    {
        cmd.env_remove(var);
    }
    for (key, _) in std::env::vars() {
        if key.starts_with("CARGO_PROFILE_") || key.starts_with("CARGO_CFG_") || key.starts_with("CARGO_FEATURE_") {
            cmd.env_remove(key);
        }
    }
    match cmd.status() {
        Ok(status) if status.success() => true,
        Ok(status) => {
            println!(
                "cargo:warning=building the bundled plugins for wasm32-wasip2 failed ({status}); run `rustup target add wasm32-wasip2`. The binary will have no built-in plugins."
            );
            false
        }
        Err(err) => {
            println!("cargo:warning=cannot run cargo to build the bundled plugins: {err}");
            false
        }
    }
}
