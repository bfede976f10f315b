//! `k8s-hard bundle`: everything "Kubernetes from the ground up" makes before distribution (STEPS 4, 6, 7).

use std::path::Path;

use anyhow::Result;
use k8s_pki::ReconcileOptions;
use serde_json::json;

use crate::cli::Output;
use crate::commands::{encryption_config, kubeconfig, pki};
use crate::output::Ui;
use k8s_cluster::{Cluster, MissingEndpoint};

pub fn run(dir: &Path, ui: &Ui) -> Result<bool> {
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
    ui.status(format!(
        "bundle ready in {}: {} certificates ({changed} changed), {} kubeconfigs, encryption config {encryption}",
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
