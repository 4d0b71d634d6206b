//! Building plugin components for tests: the fixtures under `tests/fixtures/` (and the
//! first-party adapters), compiled for `wasm32-wasip2` on first use and cached per process.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

static BUILT: Mutex<Option<HashMap<String, Vec<u8>>>> = Mutex::new(None);

fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ sits in the workspace").to_owned()
}

/// Where nested builds keep their target directories: `$CARGO_TARGET_DIR`, else the workspace's
/// `target/`.
pub fn target_base() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| workspace_root().join("target"))
}

/// `cargo`, run from the workspace root into `target_dir`, without the outer build's wrappers and
/// compiler flags (so a nested build sees `.cargo/config.toml` as a fresh checkout would).
pub fn nested_cargo(target_dir: &Path) -> Command {
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.current_dir(workspace_root()).env("CARGO_TARGET_DIR", target_dir);
    for var in ["RUSTC_WRAPPER", "RUSTC_WORKSPACE_WRAPPER", "RUSTFLAGS", "CARGO_ENCODED_RUSTFLAGS"] {
        cmd.env_remove(var);
    }
    cmd
}

/// The component of `package` built in release mode, with `env` set for the build (so one crate
/// can give several variants). Built once per process; cargo keeps later runs incremental.
pub fn component(package: &str, env: &[(&str, &str)]) -> Vec<u8> {
    let variant = env.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(",");
    let key = format!("{package}[{variant}]");
    let mut built = BUILT.lock().unwrap();
    if let Some(bytes) = built.get_or_insert_with(HashMap::new).get(&key) {
        return bytes.clone();
    }
    let suffix: String = variant.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect();
    let target_dir = target_base().join(format!("test-plugins{}{suffix}", if suffix.is_empty() { "" } else { "-" }));
    let mut cmd = nested_cargo(&target_dir);
    cmd.args(["build", "--release", "--target", "wasm32-wasip2", "--locked", "-p", package]);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run cargo");
    assert!(
        out.status.success(),
        "building {package} for wasm32-wasip2 failed (is the target installed? `rustup target add wasm32-wasip2`):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let path = target_dir.join("wasm32-wasip2/release").join(format!("{}.wasm", package.replace('-', "_")));
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    built.as_mut().unwrap().insert(key, bytes.clone());
    bytes
}

/// The manifest text of a fixture directory (`tests/fixtures/<dir>/plugin.toml`).
pub fn manifest(dir: &str) -> String {
    std::fs::read_to_string(workspace_root().join("tests/fixtures").join(dir).join("plugin.toml"))
        .expect("fixture manifest")
}

/// A `multipart/form-data` body: returns the content type and the bytes.
pub fn multipart(parts: &[(&str, &[u8])]) -> (String, Vec<u8>) {
    let boundary = format!("stock-tracker-{}", uuid::Uuid::now_v7().simple());
    let mut body = Vec::new();
    for (name, bytes) in parts {
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{name}\"\r\nContent-Type: application/octet-stream\r\n\r\n").as_bytes(),
        );
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// The plugin template (`examples/plugin-template`, its own workspace) built for wasm32-wasip2,
/// with its manifest. Built once per process.
pub fn template() -> (String, Vec<u8>) {
    static TEMPLATE: Mutex<Option<Vec<u8>>> = Mutex::new(None);
    let dir = workspace_root().join("examples/plugin-template");
    let manifest = std::fs::read_to_string(dir.join("plugin.toml")).expect("template manifest");
    let mut built = TEMPLATE.lock().unwrap();
    if let Some(bytes) = built.as_ref() {
        return (manifest, bytes.clone());
    }
    let target_dir = target_base().join("plugin-check-builds");
    let mut cmd = nested_cargo(&target_dir);
    cmd.current_dir(&dir).args(["build", "--release", "--target", "wasm32-wasip2", "--offline"]);
    let out = cmd.output().expect("run cargo");
    assert!(out.status.success(), "building the template:\n{}", String::from_utf8_lossy(&out.stderr));
    let bytes = std::fs::read(target_dir.join("wasm32-wasip2/release/plugin_template.wasm")).expect("template wasm");
    *built = Some(bytes.clone());
    (manifest, bytes)
}
