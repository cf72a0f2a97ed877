//! The server, the bots and the client must build off Unix too: `cargo xtask test` checks them
//! for Windows (`x86_64-pc-windows-gnu`), installing the target and, as root, Debian's MinGW
//! cross compiler (ring builds C code even for `cargo check`).

use std::path::Path;
use std::process::Command;

use anyhow::{Result, bail};

use crate::web::is_root;
use crate::{run_command, sh};

const TARGET: &str = "x86_64-pc-windows-gnu";
const CROSS_GCC: &str = "/usr/bin/x86_64-w64-mingw32-gcc";

/// Checks that the platform-facing crates compile for Windows.
pub fn check_windows() -> Result<()> {
    let installed = Command::new("rustup").args(["target", "list", "--installed"]).output()?;
    if !String::from_utf8_lossy(&installed.stdout).lines().any(|l| l.trim() == TARGET) {
        sh("rustup", &["target", "add", TARGET])?;
    }
    if !Path::new(CROSS_GCC).is_file() {
        if !is_root()? {
            bail!(
                "checking the Windows build needs {CROSS_GCC}: install the Debian package \
                 `gcc-mingw-w64-x86-64` (apt-get install gcc-mingw-w64-x86-64, as root)"
            );
        }
        run_command(
            Command::new("apt-get")
                .args(["install", "-y", "gcc-mingw-w64-x86-64"])
                .env("DEBIAN_FRONTEND", "noninteractive"),
        )?;
    }
    let crates = ["--package", "server", "--package", "bots", "--package", "client-wasm"];
    let mut args = vec!["check", "--target", TARGET];
    args.extend(crates);
    sh("cargo", &args)
}
