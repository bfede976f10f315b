//! `k8s-hard status`: infra, certificate expiry and what is on each node, in one report. Each
//! part is independent: one that cannot be read (no credentials, nodes down) is reported as
//! such and the others still are.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};
use k8s_aws_infra::Status;
use k8s_distribute::{Manifest, SshClient, UploadReport};
use serde_json::{Value, json};

use crate::cli::{AwsArgs, Output, SshArgs, StatusArgs};
use crate::commands::{distribute, infra, pki};
use crate::output::{Ui, fitted_table};
use k8s_cluster::{Cluster, MastersEncryption, masters_stage_on_nodes};

/// Library progress (found, waiting...) is noise here: only the result is printed.
const SILENT: Ui = Ui {
    output: Output::Human,
    quiet: true,
    verbose: false,
};

pub fn run(dir: &Path, args: &StatusArgs, ui: &Ui) -> Result<bool> {
    let cluster = Cluster::load(dir)?;
    pki::refuse_pending_ca(&cluster)?;
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    let silent = SILENT;

    let infra: Result<Status> = runtime.block_on(async {
        let aws = infra::connect(&args.aws, &silent).await?;
        Ok(aws
            .status(&cluster.infra_spec()?, &cluster.infra_state())
            .await?)
    });
    let certificates = cluster.check_pki()?;
    let nodes: Result<(UploadReport, SshClient, Manifest)> = runtime.block_on(async {
        let (client, manifest) = quick_client(&cluster, &args.ssh, &args.aws).await?;
        let report = distribute::upload(&client, &manifest, &args.ssh, true, &silent).await?;
        Ok((report, client, manifest))
    });
    // Which stage of a key rotation the masters' encryption configs are in: from the
    // check above, and the text of the copies that differ from the local file.
    let encryption: Option<Result<MastersEncryption>> = match (
        &nodes,
        std::fs::read_to_string(cluster.layout.encryption_config()),
    ) {
        (Ok((report, client, manifest)), Ok(local)) => Some(
            runtime
                .block_on(masters_stage_on_nodes(
                    client,
                    manifest,
                    report,
                    &local,
                    args.ssh.target_dir.as_deref(),
                ))
                .map_err(anyhow::Error::from),
        ),
        _ => None,
    };
    let nodes = nodes.map(|(report, ..)| report);

    let infra_ok = infra.as_ref().is_ok_and(|s| s.ok);
    let certs_ok = certificates.iter().all(|r| r.problems.is_empty());
    let nodes_ok = nodes.as_ref().is_ok_and(|r| {
        r.nodes
            .iter()
            .all(|n| n.error.is_none() && n.files.iter().all(|f| f.status.is_in_place()))
    });
    let ok = infra_ok && certs_ok && nodes_ok;
    let value = json!({
        "ok": ok,
        "infra": section(&infra),
        "certificates": certificates,
        "nodes": section(&nodes),
        "encryption_config": encryption.as_ref().map(section),
    });
    ui.result(&value, || {
        let mut out = String::from("INFRA\n");
        match &infra {
            Ok(status) => out += &infra::status_text(status),
            Err(e) => out += &format!("unavailable: {e:#}\n"),
        }
        out += "\nCERTIFICATES\n";
        out += &pki::check_table(&certificates);
        out += "\nNODES\n";
        match &nodes {
            Ok(report) => out += &nodes_text(report),
            Err(e) => out += &format!("unavailable: {e:#}\n"),
        }
        match &encryption {
            Some(Ok(stage)) => out += &format!("\nENCRYPTION CONFIG\n{}\n", stage.summary),
            Some(Err(e)) => out += &format!("\nENCRYPTION CONFIG\nunavailable: {e:#}\n"),
            None => {}
        }
        out += if ok {
            "\nall in place\n"
        } else {
            "\nnot all in place: `k8s-hard up` makes what is missing\n"
        };
        out
    })?;
    Ok(ok)
}

/// An SSH client for a quick look at the nodes (one attempt per node, 5 s each), with the host
/// keys of the cluster's own instances pinned from their consoles first when AWS answers, and
/// the distribution manifest.
///
/// # Errors
/// When the manifest, the known_hosts pins or the SSH settings fail.
pub async fn quick_client(
    cluster: &Cluster,
    ssh: &SshArgs,
    aws: &AwsArgs,
) -> Result<(SshClient, Manifest)> {
    let silent = SILENT;
    let manifest = cluster.manifest()?;
    // The cluster's own instances: their keys as their consoles show them (or as an earlier
    // run pinned them, when AWS cannot be reached).
    distribute::pin_or_use_pins(aws, cluster, &manifest, ssh, &silent).await?;
    let mut settings = distribute::settings(cluster, ssh)?;
    distribute::require_key(&settings)?;
    // A quick answer: one attempt per node.
    settings.connect_retries = 0;
    settings.connect_timeout = Duration::from_secs(5);
    Ok((SshClient::new(&settings)?, manifest))
}

/// A part of the report as JSON, or `{"error": ...}` when it could not be read.
fn section<T: serde::Serialize>(part: &Result<T>) -> Value {
    match part {
        Ok(v) => json!(v),
        Err(e) => json!({ "error": format!("{e:#}") }),
    }
}

fn nodes_text(report: &UploadReport) -> String {
    let rows: Vec<Vec<String>> = report
        .nodes
        .iter()
        .map(|n| {
            let in_place = n.files.iter().filter(|f| f.status.is_in_place()).count();
            let outdated: Vec<&str> = n
                .files
                .iter()
                .filter(|f| !f.status.is_in_place())
                .map(|f| f.name.as_str())
                .collect();
            let state = match &n.error {
                Some(e) => format!("unreachable: {e}"),
                None if outdated.is_empty() => "ok".to_string(),
                None => format!("to send: {}", outdated.join(", ")),
            };
            vec![
                n.node.clone(),
                n.address.clone(),
                format!("{in_place}/{}", n.files.len()),
                state,
            ]
        })
        .collect();
    fitted_table(&["NODE", "ADDRESS", "FILES IN PLACE", "STATE"], &rows)
}
