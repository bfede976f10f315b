//! `k8s-hard init`: write a commented cluster.yaml.

use std::path::Path;

use anyhow::{Context, Result, bail};
use serde_json::json;

use crate::cli::InitArgs;
use crate::output::Ui;
use k8s_cluster::{ClusterSpec, InitOptions, Layout, render_default};

pub fn run(dir: &Path, args: &InitArgs, ui: &Ui) -> Result<()> {
    let path = Layout::new(dir).cluster_file();
    if path.exists() && !args.force {
        bail!(
            "{} already exists (use --force to replace it, or edit it)",
            path.display()
        );
    }
    // `init --force` over a cluster keeps its installation ID: a new one would orphan
    // whatever AWS resources carry the old one.
    let kept = match std::fs::read(&path) {
        Ok(bytes) => ClusterSpec::installation_id_to_keep(&String::from_utf8_lossy(&bytes), &path)?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    let installation_id = match &kept {
        Some(id) => id.clone(),
        None => k8s_aws_infra::new_installation_id()?,
    };
    let opts = InitOptions {
        name: args.name.clone(),
        installation_id,
        region: args.region.clone(),
        masters: args.masters,
        workers: args.workers,
        api_endpoint: args.api_endpoint.clone(),
    };
    let text = render_default(&opts);
    // Validate before writing: a bad --name or --region leaves nothing behind.
    let cluster = ClusterSpec::parse(&text, &path)?
        .resolve(path.clone())
        .context("invalid options")?;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    k8s_files::write_file(&path, text.as_bytes(), k8s_files::Mode::Public)
        .with_context(|| format!("cannot write {}", path.display()))?;
    ui.status(format!(
        "wrote {} ({} masters, {} workers, region {}, installation {}{})",
        path.display(),
        cluster.masters.len(),
        cluster.workers.len(),
        cluster.spec.region,
        opts.installation_id,
        if kept.is_some() { ", kept" } else { "" }
    ));
    ui.result(
        &json!({
            "path": path,
            "installation_id": opts.installation_id,
            "masters": cluster.masters,
            "workers": cluster.workers,
        }),
        String::new,
    )
}
