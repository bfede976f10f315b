//! `k8s-hard status`: infra, certificate expiry and what is on each node, in one report. Each
//! part is independent: one that cannot be read (no credentials, nodes down) is reported as
//! such and the others still are.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};
use k8s_aws_infra::Status;
use k8s_distribute::{SshClient, UploadReport};
use serde_json::{Value, json};

use crate::cli::{Output, StatusArgs};
use crate::commands::{distribute, infra, pki};
use crate::output::{Ui, fitted_table};
use crate::spec::Cluster;

pub fn run(dir: &Path, args: &StatusArgs, ui: &Ui) -> Result<bool> {
    let cluster = Cluster::load(dir)?;
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    // Library progress (found, waiting...) is noise here: only the result is printed.
    let silent = Ui {
        output: Output::Human,
        quiet: true,
        verbose: false,
    };

    let infra: Result<Status> = runtime.block_on(async {
        let spec = cluster.infra_spec()?;
        let previous = infra::previous_state(dir, &spec)?;
        let aws = infra::connect(&args.aws, &silent).await?;
        Ok(aws.status(&spec, &previous).await?)
    });
    let certificates = pki::check_rows(dir, &cluster)?;
    let nodes: Result<UploadReport> = runtime.block_on(async {
        let manifest = distribute::manifest(dir, &cluster)?;
        let mut settings = distribute::settings(dir, &cluster, &args.ssh)?;
        // A status should answer quickly: one attempt per node.
        settings.connect_retries = 0;
        settings.connect_timeout = Duration::from_secs(5);
        let client = SshClient::new(&settings)?;
        distribute::upload(&client, &manifest, &args.ssh, true, &silent).await
    });

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
        out += if ok {
            "\nall in place\n"
        } else {
            "\nnot all in place: `k8s-hard up` makes what is missing\n"
        };
        out
    })?;
    Ok(ok)
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
