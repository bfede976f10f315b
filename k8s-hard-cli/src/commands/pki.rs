//! `k8s-hard pki generate | check | renew`.

use std::path::Path;

use anyhow::Result;
use k8s_pki::{Bundle, Change, CheckRow, KeyBatch, ReconcileOptions, Renew, store};
use serde::Serialize;

use crate::cli::PkiCommand;
use crate::output::{Ui, table};
use k8s_cluster::Cluster;

pub fn run(dir: &Path, cmd: &PkiCommand, ui: &Ui) -> Result<bool> {
    match cmd {
        PkiCommand::Generate { replace_ca } => {
            let options = ReconcileOptions {
                replace_ca: *replace_ca,
                ..Default::default()
            };
            generate(dir, options, ui)?;
            Ok(true)
        }
        PkiCommand::Renew { names } => {
            let renew = if names.is_empty() {
                Renew::All
            } else {
                Renew::Only(names.clone())
            };
            let options = ReconcileOptions {
                renew,
                ..Default::default()
            };
            generate(dir, options, ui)?;
            Ok(true)
        }
        PkiCommand::Check => check(dir, ui),
    }
}

/// Loads the cluster, writing the default spec when there is none (and saying so).
pub fn load(dir: &Path, ui: &Ui) -> Result<Cluster> {
    let (cluster, created) = Cluster::load_or_init(dir)?;
    if created {
        ui.status(format!(
            "no cluster.yaml in {}: wrote the default one (the topology of \"Kubernetes from the ground up\"); edit it and re-run to change",
            dir.display()
        ));
    }
    Ok(cluster)
}

/// A certificate and what this run did to it, as `--output json` shows it.
#[derive(Serialize)]
pub struct Row<'a> {
    pub name: &'a str,
    #[serde(flatten)]
    pub change: &'a Change,
}

impl<'a> Row<'a> {
    pub fn of(bundle: &'a Bundle) -> Vec<Row<'a>> {
        bundle
            .items
            .iter()
            .map(|i| Row {
                name: &i.name,
                change: &i.change,
            })
            .collect()
    }
}

/// Reconciles `<dir>/pki` with the spec and writes what changed. Shared by `bundle`.
pub fn generate(dir: &Path, options: ReconcileOptions, ui: &Ui) -> Result<Bundle> {
    generate_with_keys(dir, options, KeyBatch::default(), ui)
}

/// [`generate`], taking new keys from `keys` first (made while `up` waited for AWS).
pub fn generate_with_keys(
    dir: &Path,
    options: ReconcileOptions,
    keys: KeyBatch,
    ui: &Ui,
) -> Result<Bundle> {
    let cluster = load(dir, ui)?;
    let report = ui.spin("generating keys and certificates", || {
        cluster.generate_pki(&options, keys)
    })?;
    for w in &report.warnings {
        ui.warn(w);
    }
    let pki_dir = cluster.layout.pki_dir();
    if let Some(recovery) = &report.recovered {
        ui.status(format!("{}: {recovery}", pki_dir.display()));
    }
    for item in &report.bundle.items {
        match &item.change {
            Change::Kept => ui.detail(format!("kept     {}", item.name)),
            Change::Created => ui.status(format!("created  {}", item.name)),
            Change::Reissued(why) => {
                ui.status(format!("reissued {}: {}", item.name, why.join("; ")))
            }
        }
    }
    ui.status(format!(
        "{}: {} certificates, {} files written",
        pki_dir.display(),
        report.bundle.items.len(),
        report.written.len()
    ));
    ui.result(&Row::of(&report.bundle), String::new)?;
    Ok(report.bundle)
}

/// Refuses to go on when an interrupted run left the CA half-written, saying what finishes
/// it: every command that reads the CA and does not finish it itself calls this first.
pub fn refuse_pending_ca(cluster: &Cluster) -> Result<()> {
    store::check_no_pending_ca(&cluster.layout.pki_dir()).map_err(|e| {
        anyhow::anyhow!(
            "{e}; `k8s-hard pki generate` finishes it (and re-issues what the old CA signed)"
        )
    })
}

fn check(dir: &Path, ui: &Ui) -> Result<bool> {
    // Read-only (it takes no lock): no default cluster.yaml is written here.
    let cluster = Cluster::load(dir)?;
    refuse_pending_ca(&cluster)?;
    let certificates = cluster.check_pki()?;
    let kubeconfigs = cluster.check_kubeconfigs()?;
    let bad = |rows: &[CheckRow]| rows.iter().filter(|r| !r.problems.is_empty()).count();
    let (bad_certificates, bad_kubeconfigs) = (bad(&certificates), bad(&kubeconfigs));
    let ok = bad_certificates + bad_kubeconfigs == 0;
    let rows: Vec<&CheckRow> = certificates.iter().chain(&kubeconfigs).collect();
    ui.result(&rows, || {
        let mut out = check_table(&certificates);
        if !kubeconfigs.is_empty() {
            out += "\n";
            out += &check_table_named("KUBECONFIG", &kubeconfigs);
        }
        out
    })?;
    if bad_certificates > 0 {
        ui.status(format!(
            "{bad_certificates} certificate(s) with problems: `k8s-hard pki generate` re-issues them"
        ));
    }
    if bad_kubeconfigs > 0 {
        ui.status(format!(
            "{bad_kubeconfigs} kubeconfig(s) with problems: `k8s-hard kubeconfig generate` rewrites them from pki/"
        ));
    }
    Ok(ok)
}

/// kubeadm's `certs check-expiration` table, with what is wrong.
pub fn check_table(rows: &[CheckRow]) -> String {
    check_table_named("CERTIFICATE", rows)
}

/// [`check_table`] with `first` as the first column's header.
pub fn check_table_named(first: &str, rows: &[CheckRow]) -> String {
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let expires = r
                .not_after
                .and_then(|t| {
                    t.format(&time::format_description::well_known::Rfc3339)
                        .ok()
                })
                .unwrap_or_else(|| "-".into());
            let residual = r.days_left.map_or("-".into(), |d| format!("{d}d"));
            let status = if !r.problems.is_empty() {
                r.problems.join("; ")
            } else if !r.warnings.is_empty() {
                r.warnings.join("; ")
            } else {
                "ok".into()
            };
            vec![
                r.name.clone(),
                expires,
                residual,
                r.issuer.clone().unwrap_or_else(|| "(self)".into()),
                status,
            ]
        })
        .collect();
    table(
        &[first, "EXPIRES", "RESIDUAL TIME", "ISSUER", "STATUS"],
        &cells,
    )
}
