//! `k8s-hard bundle`: everything "Kubernetes from the ground up" makes before distribution
//! (STEPS 4, 6, 7): the PKI, the kubeconfigs and the encryption config.

use std::path::Path;

use anyhow::{Context, Result, bail};
use k8s_pki::ReconcileOptions;
use serde_json::json;

use crate::cli::{BundleArgs, Output};
use crate::commands::{encryption_config, kubeconfig, pki};
use crate::output::Ui;
use k8s_cluster::{Cluster, ClusterSpec, InitOptions, Layout, MissingEndpoint, render_default};

pub fn run(dir: &Path, args: &BundleArgs, ui: &Ui) -> Result<bool> {
    if let Some(endpoint) = &args.api_endpoint {
        ensure_endpoint(dir, endpoint, ui)?;
    }
    // The steps print status lines; the one result on stdout is bundle's own.
    let inner = Ui {
        output: Output::Human,
        ..*ui
    };
    let bundle = pki::generate(dir, ReconcileOptions::default(), &inner)?;
    let cluster = Cluster::load(dir)?;
    let kubeconfigs = kubeconfig::generate(&cluster, MissingEndpoint::Skip, ui)?.files;
    let encryption = encryption_config::generate(dir, &inner)?;
    let changed = bundle.changed().count();
    let expected = cluster.kubeconfig_components().len();
    ui.status(format!(
        "bundle ready in {}: {} certificates ({changed} changed), {} of {expected} kubeconfigs, encryption config {encryption}",
        dir.display(),
        bundle.items.len(),
        kubeconfigs.len()
    ));
    ui.result(
        &json!({
            "certificates": pki::Row::of(&bundle),
            "kubeconfigs": kubeconfigs,
            "encryption_config": encryption,
        }),
        String::new,
    )?;
    Ok(true)
}

/// Makes `endpoint` the cluster's API endpoint: written into the default cluster.yaml when
/// there is none; an existing cluster (cluster.yaml, or the load balancer `infra up` recorded)
/// must already name it, since editing the user's file is theirs to do.
fn ensure_endpoint(dir: &Path, endpoint: &str, ui: &Ui) -> Result<()> {
    let path = Layout::new(dir).cluster_file();
    if !path.exists() {
        let opts = InitOptions {
            api_endpoint: Some(endpoint.to_string()),
            ..InitOptions::new()?
        };
        let text = render_default(&opts);
        // Validate before writing: a bad --api-endpoint leaves nothing behind.
        let cluster = ClusterSpec::parse(&text, &path)?
            .resolve(path.clone())
            .context("--api-endpoint")?;
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        k8s_files::write_file(&path, text.as_bytes(), k8s_files::Mode::Public)
            .with_context(|| format!("cannot write {}", path.display()))?;
        ui.status(format!(
            "no cluster.yaml in {}: wrote the default one (the tutorial's topology: {} masters, {} workers) \
             with api.endpoint {endpoint}; edit it and re-run to change",
            dir.display(),
            cluster.masters.len(),
            cluster.workers.len()
        ));
        return Ok(());
    }
    let cluster = Cluster::load(dir)?;
    match cluster.api_endpoint() {
        Some(known) if known == endpoint => Ok(()),
        Some(known) => {
            let source = if cluster.spec.api.endpoint.is_some() {
                format!("api.endpoint in {}", path.display())
            } else {
                "the load balancer `infra up` recorded in state.json".to_string()
            };
            bail!(
                "--api-endpoint {endpoint} differs from the cluster's API endpoint {known} \
                 ({source}): set api.endpoint in {} to change it",
                path.display()
            )
        }
        None => bail!(
            "{} exists and names no API endpoint: set `endpoint: {endpoint}` under `api:` in it \
             and run `k8s-hard bundle` again (--api-endpoint is written only into a cluster.yaml \
             that bundle creates)",
            path.display()
        ),
    }
}
