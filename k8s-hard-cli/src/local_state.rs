//! DIR's guard for every command that writes: one writer at a time, secrets at their modes,
//! leftovers of killed runs removed. Called once, from `main`'s dispatch.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use anyhow::{Context, Result};
use k8s_cluster::Layout;
use k8s_files::{DirLock, sweep_temp_files, tighten};

use crate::output::Ui;

/// The command line as the lock records it: `k8s-hard <args>`.
fn command_line() -> String {
    let args: Vec<String> = std::env::args().skip(1).collect();
    format!("k8s-hard {}", args.join(" "))
        .trim_end()
        .to_string()
}

/// Takes DIR's lock (refused at once when another k8s-hard writes there; a missing DIR is
/// created 0700), removes the temp files a killed run left, and narrows every secret file and
/// folder to 0600 / 0700, saying which. DIR itself keeps its mode (it may be the user's own
/// folder), with a warning when others may write in it. The lock is held until the returned
/// value is dropped.
///
/// # Errors
/// When the lock is held by another process (naming it), or a path cannot be read or changed.
pub fn guard(dir: &Path, ui: &Ui) -> Result<DirLock> {
    let lock = DirLock::acquire(dir, &command_line())?;
    let mode = std::fs::metadata(dir)
        .with_context(|| format!("cannot read {}", dir.display()))?
        .permissions()
        .mode();
    if mode & 0o022 != 0 {
        ui.warn(format!(
            "{} is {:04o}: other users may add, rename or replace files in it (its secrets stay 0600, in 0700 folders); k8s-hard leaves the mode of a folder it did not create: `chmod go-w {}` closes it",
            dir.display(),
            mode & 0o7777,
            dir.display()
        ));
    }
    let layout = Layout::new(dir);
    for folder in layout.folders() {
        for stale in sweep_temp_files(&folder)? {
            ui.status(format!(
                "removed {} (a temp file of an interrupted run)",
                stale.display()
            ));
        }
    }
    for changed in tighten(&layout.private_paths()).context("bringing secrets to mode 0600/0700")? {
        ui.status(changed.to_string());
    }
    Ok(lock)
}
