//! `k8s-hard down`: the cluster's AWS resources deleted; local files kept unless `--purge`.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde_json::json;

use crate::cli::DownArgs;
use crate::commands::infra;
use crate::output::Ui;
use k8s_cluster::{InfraDown, Layout};

pub fn run(dir: &Path, args: &DownArgs, ui: &Ui) -> Result<bool> {
    let purge_what = format!(
        "the PKI, kubeconfigs, encryption config and SSH key in {}",
        dir.display()
    );
    let also = args.purge.then_some(purge_what.as_str());
    let Some(outcome) = infra::down(dir, &args.aws, args.yes, also, ui)? else {
        return Ok(true);
    };
    let layout = Layout::new(dir);
    let purged = match (args.purge, outcome.clean()) {
        (true, true) => {
            let keep = (!outcome.verified()).then(|| layout.ssh_dir());
            if let Some(ssh) = &keep {
                ui.warn(unverified(&outcome, ssh));
            }
            purge(&layout, keep.as_deref())?
        }
        (true, false) => {
            ui.warn(
                "local files kept: AWS resources are left behind, and deleting them may still need the key and state",
            );
            Vec::new()
        }
        (false, _) => {
            ui.status(format!(
                "kept the PKI, kubeconfigs, encryption config and SSH key in {} (`k8s-hard down --purge` deletes them)",
                dir.display()
            ));
            Vec::new()
        }
    };
    ui.result(&json!({ "infra": outcome, "purged": purged }), || {
        let mut out = infra::down_text(&outcome);
        for p in &purged {
            out += &format!("removed {}\n", p.display());
        }
        out
    })?;
    Ok(outcome.clean())
}

/// Why `--purge` keeps the SSH key although `down` left nothing in the regions it searched.
fn unverified(outcome: &InfraDown, ssh: &Path) -> String {
    let files: Vec<String> = outcome
        .unknown_regions
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    format!(
        "kept {}: {} records no region that can be read, so machines of this installation may still run in a region other than {} and need this key; once none do, remove {} and {} yourself",
        ssh.display(),
        files.join(", "),
        outcome.regions.join(", "),
        ssh.display(),
        files.join(", ")
    )
}

/// Removes everything `up` generated in the folder but `keep`; cluster.yaml and state files
/// `down` set aside stay.
fn purge(layout: &Layout, keep: Option<&Path>) -> Result<Vec<PathBuf>> {
    let mut removed = Vec::new();
    for path in layout.generated() {
        if Some(path.as_path()) == keep {
            continue;
        }
        let result = match std::fs::symlink_metadata(&path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => Err(e),
            Ok(meta) if meta.is_dir() => std::fs::remove_dir_all(&path),
            Ok(_) => std::fs::remove_file(&path),
        };
        result.with_context(|| format!("cannot remove {}", path.display()))?;
        removed.push(path);
    }
    Ok(removed)
}
