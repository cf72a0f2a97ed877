//! The browser client: [`build_web`] builds it into `target/web` (the wasm, its JavaScript
//! bindings and the static files of `client-wasm/web/`), installing the tools it needs first;
//! [`ensure_chromium`] provides the browser its tests drive.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use flate2::Compression;
use flate2::write::GzEncoder;

use crate::{ensure_wasm_target, root, run_command, sh};

const WASM_TARGET: &str = "wasm32-unknown-unknown";
/// The Cargo profile of the shipped wasm (in the workspace Cargo.toml).
const PROFILE: &str = "wasm-release";
/// The name of the JavaScript module and wasm file wasm-bindgen writes into `pkg/`.
const OUT_NAME: &str = "arbiter";
const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// Builds the client into `<target dir>/web` and returns that directory's absolute path.
pub fn build_web() -> Result<PathBuf> {
    let root = root();
    ensure_wasm_target()?;
    let wasm_bindgen = ensure_wasm_bindgen(root)?;
    let cargo = ["build", "--package", "client-wasm", "--target", WASM_TARGET, "--profile"];
    run_command(Command::new("cargo").current_dir(root).args(cargo).arg(PROFILE))?;
    let target = target_dir(root)?;
    let wasm = target.join(WASM_TARGET).join(PROFILE).join("client_wasm.wasm");
    let web = target.join("web");
    // Start empty, so that a file deleted from client-wasm/web does not linger in the build.
    if web.exists() {
        std::fs::remove_dir_all(&web).with_context(|| format!("emptying {}", web.display()))?;
    }
    let pkg = web.join("pkg");
    run_command(
        Command::new(wasm_bindgen)
            // The name section is a quarter of the gzipped size and only names functions in traces.
            .args(["--target", "web", "--remove-name-section", "--out-name", OUT_NAME, "--out-dir"])
            .args([&pkg, &wasm]),
    )?;
    copy_tree(&root.join("client-wasm/web"), &web)?;
    report_size(&pkg.join(format!("{OUT_NAME}_bg.wasm")))?;
    Ok(web)
}

/// Where cargo builds: `CARGO_TARGET_DIR` (relative to the current directory, as cargo reads
/// it) or `target/` in the workspace.
pub(crate) fn target_dir(root: &Path) -> Result<PathBuf> {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => std::path::absolute(dir).context("resolving CARGO_TARGET_DIR"),
        None => Ok(root.join("target")),
    }
}

/// The `wasm-bindgen` CLI, installed at the version of the `wasm-bindgen` crate in Cargo.lock:
/// the CLI refuses a wasm whose bindings were made by any other version.
fn ensure_wasm_bindgen(root: &Path) -> Result<PathBuf> {
    let lock = std::fs::read_to_string(root.join("Cargo.lock")).context("reading Cargo.lock")?;
    let wanted = locked_version(&lock, "wasm-bindgen")
        .context("Cargo.lock has no wasm-bindgen (is client-wasm a workspace member?)")?;
    let exe = cargo_bin("wasm-bindgen");
    if installed_version(&exe).as_deref() == Some(wanted) {
        return Ok(exe);
    }
    // Without `--locked`: the CLI's own lock file pins a crate the registry here lacks.
    sh("cargo", &["install", "wasm-bindgen-cli", "--version", wanted])?;
    let exe = cargo_bin("wasm-bindgen");
    match installed_version(&exe) {
        Some(version) if version == wanted => Ok(exe),
        found => bail!("installed wasm-bindgen {wanted}, but {} reports {found:?}", exe.display()),
    }
}

/// The version of package `name` in a Cargo.lock (the first, if it is there twice).
fn locked_version<'a>(lock: &'a str, name: &str) -> Option<&'a str> {
    lock.split("[[package]]").skip(1).find_map(|block| {
        let field = |key: &str| {
            block.lines().find_map(|line| {
                line.trim().strip_prefix(key)?.strip_prefix(" = \"")?.strip_suffix('"')
            })
        };
        if field("name")? == name { field("version") } else { None }
    })
}

/// Where `cargo install` puts `name`, if it is there; otherwise `name`, looked up in `PATH`.
/// Cargo's own directory comes first so that an older copy elsewhere in `PATH` cannot shadow
/// the version just installed.
fn cargo_bin(name: &str) -> PathBuf {
    let home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| Path::new(&home).join(".cargo")));
    match home.map(|home| home.join("bin").join(name)) {
        Some(path) if path.is_file() => path,
        _ => PathBuf::from(name),
    }
}

/// What `<exe> --version` says (`wasm-bindgen 0.2.130` gives `0.2.130`); `None` when it does not
/// run.
fn installed_version(exe: &Path) -> Option<String> {
    let out = Command::new(exe).arg("--version").output().ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout);
    text.split_whitespace().nth(1).map(str::to_string)
}

/// Copies every file under `from` into `to`, keeping the tree's shape.
fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to).with_context(|| format!("creating {}", to.display()))?;
    let entries = std::fs::read_dir(from).with_context(|| format!("reading {}", from.display()))?;
    for entry in entries {
        let entry = entry?;
        let (source, dest) = (entry.path(), to.join(entry.file_name()));
        if entry.file_type()?.is_dir() {
            copy_tree(&source, &dest)?;
        } else {
            std::fs::copy(&source, &dest)
                .with_context(|| format!("copying {} to {}", source.display(), dest.display()))?;
        }
    }
    Ok(())
}

/// Prints what a browser downloads: the wasm's size as built and as gzip -9 sends it.
fn report_size(wasm: &Path) -> Result<()> {
    let bytes = std::fs::read(wasm).with_context(|| format!("reading {}", wasm.display()))?;
    let mut gzip = GzEncoder::new(Vec::new(), Compression::best());
    gzip.write_all(&bytes)?;
    let gzipped = gzip.finish()?.len();
    println!(
        "{}: {} bytes ({:.1} KiB), gzipped {} bytes ({:.1} KiB)",
        wasm.display(),
        bytes.len(),
        bytes.len() as f64 / 1024.0,
        gzipped,
        gzipped as f64 / 1024.0,
    );
    Ok(())
}

/// Chromium and its WebDriver at the paths the browser tests use, installed from Debian's
/// packages when this runs as root. The browser tests never skip, so without them (and
/// without root to install them) this fails.
pub fn ensure_chromium() -> Result<()> {
    if Path::new(CHROMIUM).is_file() && Path::new(CHROMEDRIVER).is_file() {
        return Ok(());
    }
    if !is_root()? {
        bail!(
            "the browser tests need {CHROMIUM} and {CHROMEDRIVER}: install the Debian packages \
             `chromium` and `chromium-driver` (apt-get install chromium chromium-driver, as root)"
        );
    }
    sh("apt-get", &["update"])?;
    run_command(
        Command::new("apt-get")
            .args(["install", "-y", "chromium", "chromium-driver"])
            .env("DEBIAN_FRONTEND", "noninteractive"),
    )
}

/// Node.js, which runs the web client's wasm build outside a browser to compare its state
/// hashes with native ones (`tests/e2e/wasm.rs`): Debian's `nodejs` when `node` is missing.
pub fn ensure_node() -> Result<()> {
    if Command::new("node").arg("--version").output().is_ok_and(|o| o.status.success()) {
        return Ok(());
    }
    if !is_root()? {
        bail!("the wasm hash test needs `node`: install Debian's `nodejs` (as root)");
    }
    sh("apt-get", &["update"])?;
    run_command(
        Command::new("apt-get")
            .args(["install", "-y", "nodejs"])
            .env("DEBIAN_FRONTEND", "noninteractive"),
    )
}

/// Whether this process runs as root (`id -u` says 0).
pub(crate) fn is_root() -> Result<bool> {
    let out = Command::new("id").arg("-u").output().context("running `id -u`")?;
    Ok(out.status.success() && String::from_utf8_lossy(&out.stdout).trim() == "0")
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOCK: &str = r#"
version = 4

[[package]]
name = "wasm-bindgen-shared"
version = "0.2.129"

[[package]]
name = "wasm-bindgen"
version = "0.2.130"
source = "registry+https://github.com/rust-lang/crates.io-index"
dependencies = [
 "wasm-bindgen-shared",
]
"#;

    #[test]
    fn the_locked_version_is_the_named_packages() {
        assert_eq!(locked_version(LOCK, "wasm-bindgen"), Some("0.2.130"));
        assert_eq!(locked_version(LOCK, "wasm-bindgen-shared"), Some("0.2.129"));
        assert_eq!(locked_version(LOCK, "wasm"), None);
    }

    #[test]
    fn a_tree_is_copied_with_its_subdirectories() -> Result<()> {
        let from = tempfile::tempdir()?;
        let to = tempfile::tempdir()?;
        std::fs::create_dir_all(from.path().join("a/b"))?;
        std::fs::write(from.path().join("index.html"), "<p>")?;
        std::fs::write(from.path().join("a/b/c.css"), "p {}")?;
        copy_tree(from.path(), &to.path().join("web"))?;
        assert_eq!(std::fs::read_to_string(to.path().join("web/index.html"))?, "<p>");
        assert_eq!(std::fs::read_to_string(to.path().join("web/a/b/c.css"))?, "p {}");
        Ok(())
    }
}
