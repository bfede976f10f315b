//! `k8s-hard kubeconfig generate | use-admin` ("Kubernetes from the ground up" STEP 6).

use std::path::Path;

use anyhow::{Context, Result};
use k8s_kubeconfig::{
    Component, CurrentContext, Replace, merge_into_file_checked, read_kubeconfig,
    user_kubeconfig_path,
};

use crate::cli::KubeconfigCommand;
use crate::output::{Ui, table};
use k8s_cluster::{Cluster, FileChange, KubeconfigFile, KubeconfigReport, Layout, MissingEndpoint};

pub fn run(dir: &Path, cmd: &KubeconfigCommand, ui: &Ui) -> Result<bool> {
    match cmd {
        KubeconfigCommand::Generate => {
            let cluster = Cluster::load(dir)?;
            crate::commands::pki::refuse_pending_ca(&cluster)?;
            let results = generate(&cluster, MissingEndpoint::Fail, ui)?;
            report(&results.files, ui)?;
            Ok(true)
        }
        KubeconfigCommand::UseAdmin { kubeconfig, force } => {
            use_admin(dir, kubeconfig.as_deref(), *force, ui).map(|()| true)
        }
    }
}

/// Renders every kubeconfig of the tutorial's STEP 6 into the cluster's `kubeconfigs/`,
/// writing only what changed, and says what it did.
pub fn generate(cluster: &Cluster, missing: MissingEndpoint, ui: &Ui) -> Result<KubeconfigReport> {
    let report = cluster.generate_kubeconfigs(missing)?;
    for f in &report.files {
        match f.status {
            FileChange::Written => ui.status(format!("wrote     {}", f.file.display())),
            FileChange::Unchanged => ui.detail(format!("unchanged {}", f.file.display())),
        }
    }
    if !report.skipped.is_empty() {
        ui.warn(format!(
            "skipped {} ({})",
            report.skipped.join(", "),
            k8s_cluster::Error::NoEndpoint {
                path: cluster.path.clone()
            }
        ));
    }
    Ok(report)
}

fn report(results: &[KubeconfigFile], ui: &Ui) -> Result<()> {
    ui.result(&results, || {
        let rows: Vec<Vec<String>> = results
            .iter()
            .map(|r| {
                vec![
                    r.file.display().to_string(),
                    r.user.clone(),
                    r.server.clone(),
                    match r.status {
                        FileChange::Written => "written".to_string(),
                        FileChange::Unchanged => "unchanged".to_string(),
                    },
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
    let admin = Layout::new(dir)
        .kubeconfig_dir()
        .join(Component::Admin.file_name());
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
