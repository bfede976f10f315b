//! `k8s-hard kubeconfig generate | use-admin` (seed STEP 6).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use k8s_files::{FileWrite, Mode, ensure_private_dir, write_files_if_changed};
use k8s_kubeconfig::{
    ApiEndpoint, Component, Credentials, CurrentContext, Replace, ServerChoice, WorkerNode,
    build_kubeconfig, merge_into_file_checked, read_kubeconfig, render_kubeconfig,
    user_kubeconfig_path,
};
use k8s_pki::store;
use serde::Serialize;

use crate::cli::KubeconfigCommand;
use crate::output::{Ui, table};
use k8s_cluster::Cluster;

/// What to do when the cluster has no API endpoint yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MissingEndpoint {
    /// Fail, saying how to set it (`kubeconfig generate`).
    Fail,
    /// Make the loopback ones and skip the rest with a warning (`bundle` before the AWS step).
    Skip,
}

#[derive(Debug, Serialize)]
pub struct FileResult {
    pub file: PathBuf,
    pub user: String,
    pub server: Option<String>,
    pub status: &'static str,
}

pub fn run(dir: &Path, cmd: &KubeconfigCommand, ui: &Ui) -> Result<bool> {
    match cmd {
        KubeconfigCommand::Generate => {
            let cluster = Cluster::load(dir)?;
            let results = generate(dir, &cluster, MissingEndpoint::Fail, ui)?;
            report(&results, ui)?;
            Ok(true)
        }
        KubeconfigCommand::UseAdmin { kubeconfig, force } => {
            use_admin(dir, kubeconfig.as_deref(), *force, ui).map(|()| true)
        }
    }
}

fn endpoint_missing_help(cluster: &Cluster) -> String {
    format!(
        "the cluster's API endpoint is not known yet: run `k8s-hard infra up` (it records the load \
         balancer's DNS name), or set api.endpoint in {}",
        cluster.path.display()
    )
}

/// Renders every kubeconfig of the seed into `<dir>/kubeconfigs/`, writing only what changed.
pub fn generate(
    dir: &Path,
    cluster: &Cluster,
    missing: MissingEndpoint,
    ui: &Ui,
) -> Result<Vec<FileResult>> {
    let endpoint = match cluster.api_endpoint() {
        Some(host) => Some(
            ApiEndpoint::with_port(&host, cluster.spec.api.port)
                .with_context(|| format!("{}: api.endpoint", cluster.path.display()))?,
        ),
        None if missing == MissingEndpoint::Fail => bail!(endpoint_missing_help(cluster)),
        None => None,
    };
    let pki_dir = Cluster::pki_dir(dir);
    let read = |name: &str, key: bool| -> Result<Vec<u8>> {
        let path = if key {
            store::key_path(&pki_dir, name)
        } else {
            store::cert_path(&pki_dir, name)
        };
        std::fs::read(&path).with_context(|| {
            format!(
                "cannot read {} (run `k8s-hard pki generate` first)",
                path.display()
            )
        })
    };
    let ca = read(k8s_pki::CA, false)?;
    let out_dir = kubeconfig_dir(dir);
    ensure_private_dir(&out_dir)?;
    let mut results = Vec::new();
    let mut rendered = Vec::new();
    let mut skipped = Vec::new();
    for component in components(cluster) {
        let file = out_dir.join(component.file_name());
        let server = match (component.server(), &endpoint) {
            (ServerChoice::Loopback, _) => ApiEndpoint::loopback(),
            (ServerChoice::ApiEndpoint, Some(e)) => e.clone(),
            (ServerChoice::ApiEndpoint, None) => {
                skipped.push(component.file_name());
                continue;
            }
        };
        let stem = component
            .file_name()
            .trim_end_matches(".kubeconfig")
            .to_string();
        let cert = read(&stem, false)?;
        let key = read(&stem, true)?;
        let credentials = Credentials {
            ca_pem: &ca,
            client_cert_pem: &cert,
            client_key_pem: &key,
        };
        let kubeconfig = build_kubeconfig(&component, &cluster.spec.name, &server, &credentials)
            .with_context(|| format!("building {}", file.display()))?;
        let text = render_kubeconfig(&kubeconfig)?;
        rendered.push((file, component.user_name(), server.url(), text));
    }
    // One batch: written and flushed in parallel, renamed, one folder flush.
    let batch: Vec<FileWrite> = rendered
        .iter()
        .map(|(file, _, _, text)| FileWrite::new(file, text.as_bytes(), Mode::Secret))
        .collect();
    let written = write_files_if_changed(&batch)?;
    for (file, user, server, _) in rendered {
        let changed = written.contains(&file);
        if changed {
            ui.status(format!("wrote     {}", file.display()));
        } else {
            ui.detail(format!("unchanged {}", file.display()));
        }
        results.push(FileResult {
            file,
            user,
            server: Some(server),
            status: if changed { "written" } else { "unchanged" },
        });
    }
    if !skipped.is_empty() {
        ui.warn(format!(
            "skipped {} ({})",
            skipped.join(", "),
            endpoint_missing_help(cluster)
        ));
    }
    Ok(results)
}

/// The seed's kubeconfigs for `cluster`: one per worker, then the shared ones.
pub fn components(cluster: &Cluster) -> Vec<Component> {
    Component::seed_set(cluster.workers.iter().map(|w| WorkerNode {
        name: w.name.clone(),
        hostname: w.hostname.clone(),
    }))
}

/// `<dir>/kubeconfigs`.
pub fn kubeconfig_dir(dir: &Path) -> PathBuf {
    dir.join("kubeconfigs")
}

fn report(results: &[FileResult], ui: &Ui) -> Result<()> {
    ui.result(&results, || {
        let rows: Vec<Vec<String>> = results
            .iter()
            .map(|r| {
                vec![
                    r.file.display().to_string(),
                    r.user.clone(),
                    r.server.clone().unwrap_or_default(),
                    r.status.to_string(),
                ]
            })
            .collect();
        table(&["KUBECONFIG", "USER", "SERVER", "STATUS"], &rows)
    })
}

/// The names `use-admin` merges under, kubectl-style and carrying the cluster's name so that
/// two clusters' admins live side by side: (cluster, user, context).
pub fn admin_entry_names(cluster: &str) -> (String, String, String) {
    (
        cluster.to_string(),
        format!("{cluster}-admin"),
        cluster.to_string(),
    )
}

fn use_admin(dir: &Path, target: Option<&Path>, force: bool, ui: &Ui) -> Result<()> {
    let cluster = Cluster::load(dir)?;
    let admin = kubeconfig_dir(dir).join(Component::Admin.file_name());
    let mut kubeconfig = read_kubeconfig(&admin).with_context(|| {
        format!(
            "cannot read {} (run `k8s-hard kubeconfig generate` first)",
            admin.display()
        )
    })?;
    // "Kubernetes from the ground up" names the user `admin` and the context `default`; in
    // the user's file both carry the cluster's name, so that neither clobbers nor is
    // clobbered by another cluster's `admin` or `default`. The cluster entry already does.
    let (cluster_name, user, context) = admin_entry_names(&cluster.spec.name);
    kubeconfig.rename_context(k8s_kubeconfig::DEFAULT_CONTEXT, &context)?;
    kubeconfig.rename_user(&Component::Admin.user_name(), &user)?;
    let target = match target {
        Some(t) => t.to_path_buf(),
        None => user_kubeconfig_path()?,
    };
    let replace = if force {
        Replace::Always
    } else {
        Replace::Never
    };
    merge_into_file_checked(&target, &kubeconfig, CurrentContext::UseIncoming, replace)
        .with_context(|| format!("merging into {}", target.display()))?;
    ui.status(format!(
        "merged cluster {cluster_name:?}, user {user:?} and context {context:?} into {} and made the context current: try `kubectl get nodes`",
        target.display()
    ));
    ui.result(
        &serde_json::json!({
            "kubeconfig": target,
            "cluster": cluster_name,
            "user": user,
            "context": context,
        }),
        String::new,
    )
}
