//! `stock-tracker plugin check` as a plugin author and CI meet it: the first-party adapters pass
//! against their fakes, a misbehaving component fails with the reason and a non-zero exit code,
//! and the template builds from a clean copy (as docs/PLUGINS.md says) and passes.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

mod common;

use common::{command, temp_dir};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_owned()
}

/// `plugin check <wasm> --manifest <manifest> [extra…]`, stdout and status.
fn check(wasm: &Path, manifest: &Path, extra: &[&str]) -> (Output, String) {
    let dir = temp_dir();
    let out =
        command(&dir).args(["plugin", "check"]).arg(wasm).arg("--manifest").arg(manifest).args(extra).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    (out, stdout)
}

/// A component built for wasm32-wasip2 from `manifest_dir` (a crate), in a target directory of
/// its own under the build's.
fn build(manifest_dir: &Path, name: &str) -> PathBuf {
    let base = std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| workspace().join("target"));
    let target = base.join("plugin-check-builds");
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.current_dir(manifest_dir)
        .args(["build", "--release", "--target", "wasm32-wasip2", "--offline"])
        .env("CARGO_TARGET_DIR", &target);
    for var in ["RUSTC_WRAPPER", "RUSTC_WORKSPACE_WRAPPER", "RUSTFLAGS", "CARGO_ENCODED_RUSTFLAGS"] {
        cmd.env_remove(var);
    }
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "building {}:\n{}", manifest_dir.display(), String::from_utf8_lossy(&out.stderr));
    target.join("wasm32-wasip2/release").join(format!("{name}.wasm"))
}

#[test]
fn first_party_adapters_pass_against_their_fakes() {
    let dir = temp_dir();
    let mut checked = Vec::new();
    for (manifest, wasm) in stock_tracker::plugins::bundled::BUNDLED {
        let id = stock_tracker::plugins::manifest::Manifest::parse(manifest).unwrap().id;
        let (wasm_path, manifest_path) = (dir.join(format!("{id}.wasm")), dir.join(format!("{id}.toml")));
        std::fs::write(&wasm_path, wasm).unwrap();
        std::fs::write(&manifest_path, manifest).unwrap();
        let (out, stdout) = check(&wasm_path, &manifest_path, &[]);
        assert!(out.status.success(), "{id}:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
        assert!(!stdout.contains("FAIL"), "{id}:\n{stdout}");
        for line in ["PASS products", "PASS stocks", "PASS sales", "PASS rate limit", "PASS egress", ", 0 failed"] {
            assert!(stdout.contains(line), "{id}: no `{line}`:\n{stdout}");
        }
        checked.push(id);
    }
    checked.sort();
    assert_eq!(checked, ["ozon", "wildberries", "yandex-market"], "the binary embeds the three adapters");
}

#[test]
fn a_misbehaving_adapter_fails_with_the_reason() {
    let fixture = workspace().join("tests/fixtures/misbehaving");
    let wasm = build(&fixture, "fixture_misbehaving");
    let manifest = fixture.join("plugin.toml");
    let cases: [(&str, &[&str]); 3] = [
        ("repeat-cursor", &["FAIL products", "handed back cursor `again` again"]),
        ("forbidden-host", &["FAIL products", "FAIL egress", "were refused"]),
        ("loop", &["FAIL products", "deadline"]),
    ];
    for (behaviour, expected) in cases {
        let settings = format!(r#"{{"behaviour":"{behaviour}"}}"#);
        let (out, stdout) = check(&wasm, &manifest, &["--settings", &settings]);
        assert_eq!(out.status.code(), Some(1), "{behaviour}: a failed check must fail the command:\n{stdout}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("check(s) failed"), "{behaviour}");
        // The fixture declares no credentials: refused everywhere.
        assert!(stdout.contains("FAIL info") && stdout.contains("declares no credential fields"), "{stdout}");
        for line in expected {
            assert!(stdout.contains(line), "{behaviour}: no `{line}`:\n{stdout}");
        }
    }
}

#[test]
fn usage_mistakes_are_one_clear_line() {
    let dir = temp_dir();
    let out = command(&dir)
        .args(["plugin", "check", "/nonexistent.wasm", "--manifest", "/nonexistent.toml"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read /nonexistent.wasm"));
    let wasm = dir.join("x.wasm");
    std::fs::write(&wasm, b"\0asm").unwrap();
    let manifest = workspace().join("plugins/ozon/plugin.toml");
    let out = command(&dir)
        .arg("plugin")
        .arg("check")
        .arg(&wasm)
        .arg("--manifest")
        .arg(&manifest)
        .args(["--credentials", "[1]"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("--credentials must be a JSON object"));
    let (out, stdout) = check(&wasm, &manifest, &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout.contains("FAIL load"), "{stdout}");
}

/// Copies `from` to `to`, leaving out build output.
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        if entry.file_name() == "target" {
            continue;
        }
        let dest = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &dest);
        } else {
            std::fs::copy(entry.path(), dest).unwrap();
        }
    }
}

#[test]
fn the_template_builds_from_a_clean_copy_and_passes() {
    // docs/PLUGINS.md, step 1: copy the template and point its SDK path at the checkout.
    let copy = temp_dir().join("my-adapter");
    copy_dir(&workspace().join("examples/plugin-template"), &copy);
    let cargo_toml = copy.join("Cargo.toml");
    let sdk = workspace().join("plugins/sdk");
    let text = std::fs::read_to_string(&cargo_toml).unwrap();
    assert!(text.contains(r#"path = "../../plugins/sdk""#), "the docs' step 1 edits this line");
    std::fs::write(&cargo_toml, text.replace("../../plugins/sdk", sdk.to_str().unwrap())).unwrap();
    // Step 2: build; step 3: check.
    let wasm = build(&copy, "plugin_template");
    let (out, stdout) = check(&wasm, &copy.join("plugin.toml"), &[]);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    for line in ["PASS credentials", "PASS refusal", "PASS products", "PASS stocks", "PASS rate limit", "0 failed"] {
        assert!(stdout.contains(line), "no `{line}`:\n{stdout}");
    }
}
