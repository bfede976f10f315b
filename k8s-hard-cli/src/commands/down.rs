//! `k8s-hard down`: the cluster's AWS resources deleted; local files kept unless `--purge`.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde_json::json;

use crate::cli::DownArgs;
use crate::commands::infra;
use crate::output::Ui;
use k8s_cluster::Layout;

pub fn run(dir: &Path, args: &DownArgs, ui: &Ui) -> Result<bool> {
    // state.json may be lost or damaged: the cluster is then found by its tags.
    let cluster = infra::load_for_down(dir, ui)?;
    let spec = cluster.infra_spec()?;
    let purge_what = format!(
        "the PKI, kubeconfigs, encryption config and SSH key in {}",
        dir.display()
    );
    if !infra::confirm_down(&spec, args.purge.then_some(purge_what.as_str()), args.yes)? {
        ui.status("nothing deleted");
        return Ok(true);
    }
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    let report = runtime.block_on(async {
        let infra = infra::connect(&args.aws, ui).await?;
        Ok::<_, anyhow::Error>(cluster.infra_down(&infra).await?)
    })?;
    let clean = report.left_behind.is_empty();
    let purged = match (args.purge, clean) {
        (true, true) => purge(dir)?,
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
    ui.result(&json!({ "infra": report, "purged": purged }), || {
        let mut out = infra::down_text(&report);
        for p in &purged {
            out += &format!("removed {}\n", p.display());
        }
        out
    })?;
    Ok(clean)
}

/// Removes everything `up` generated in `dir`; cluster.yaml stays.
fn purge(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut removed = Vec::new();
    for path in Layout::new(dir).generated() {
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
