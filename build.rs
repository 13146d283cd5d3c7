//! Builds the PWA (`pwa/` → `pwa/dist`) so that `cargo run` on a fresh clone serves the app
//! without a separate step. It runs `npm ci` (when `node_modules` is missing) and
//! `npm run build` only when a source file is newer than `pwa/dist/index.html`.
//! `FANGZHA_SKIP_PWA_BUILD=1` skips it (the binary then serves a "not built" page if no
//! dist exists). Without npm the build continues with a warning.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::SystemTime;

fn main() {
    let pwa = Path::new("pwa");
    for p in [
        "src",
        "public",
        "index.html",
        "package.json",
        "package-lock.json",
        "vite.config.ts",
        "tsconfig.json",
    ] {
        println!("cargo:rerun-if-changed=pwa/{p}");
    }
    println!("cargo:rerun-if-env-changed=FANGZHA_SKIP_PWA_BUILD");
    if std::env::var_os("FANGZHA_SKIP_PWA_BUILD").is_some_and(|v| v == "1")
        || !pwa.join("package.json").exists()
    {
        return;
    }
    let dist_index = pwa.join("dist/index.html");
    let built = modified(&dist_index);
    let newest = newest_source(pwa);
    if built.is_some() && newest.is_some_and(|n| Some(n) <= built) {
        return;
    }
    let npm = if cfg!(windows) { "npm.cmd" } else { "npm" };
    if !pwa.join("node_modules").exists() && !run(Command::new(npm).arg("ci").current_dir(pwa)) {
        return;
    }
    run(Command::new(npm).args(["run", "build"]).current_dir(pwa));
}

fn run(cmd: &mut Command) -> bool {
    match cmd.status() {
        Ok(s) if s.success() => true,
        Ok(s) => panic!(
            "PWA build failed ({s}): {cmd:?}; set FANGZHA_SKIP_PWA_BUILD=1 to build the server alone"
        ),
        Err(e) => {
            println!("cargo:warning=npm not available ({e}); the PWA is not rebuilt");
            false
        }
    }
}

fn modified(p: &Path) -> Option<SystemTime> {
    std::fs::metadata(p).and_then(|m| m.modified()).ok()
}

fn newest_source(pwa: &Path) -> Option<SystemTime> {
    let mut stack: Vec<PathBuf> = [
        "src",
        "public",
        "index.html",
        "package.json",
        "package-lock.json",
        "vite.config.ts",
        "tsconfig.json",
    ]
    .iter()
    .map(|p| pwa.join(p))
    .collect();
    let mut newest = None;
    while let Some(p) = stack.pop() {
        if p.is_dir() {
            if let Ok(rd) = std::fs::read_dir(&p) {
                stack.extend(rd.flatten().map(|e| e.path()));
            }
        } else if let Some(t) = modified(&p) {
            newest = newest.max(Some(t));
        }
    }
    newest
}
