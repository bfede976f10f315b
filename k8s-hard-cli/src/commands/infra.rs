//! `k8s-hard infra plan | up | status | down` ("Kubernetes from the ground up": AWS CLOUD RESOURCES through STEP 3).

use std::collections::HashSet;
use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use k8s_aws_infra::{
    Action, AwsOptions, DownReport, Infra, InfraSpec, Plan, Progress, Status, Timeouts,
};

use crate::cli::{AwsArgs, InfraArgs, InfraCommand};
use crate::output::{Ui, Waits, fitted_table};
use k8s_cluster::Cluster;

pub fn run(dir: &Path, args: &InfraArgs, ui: &Ui) -> Result<bool> {
    // `down` must work when state.json is lost or damaged: it finds resources by their tags.
    let cluster = if matches!(args.command, InfraCommand::Down { .. }) {
        load_for_down(dir, ui)?
    } else {
        Cluster::load(dir)?
    };
    let spec = cluster.infra_spec()?;
    let previous = cluster.infra_state();
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(async {
        let infra = connect(&args.aws, ui).await?;
        match &args.command {
            InfraCommand::Plan => {
                let plan = infra.plan(&spec, &previous, dir).await?;
                ui.result(&plan, || plan_text(&plan))?;
                Ok(true)
            }
            InfraCommand::Up => {
                let report = cluster.infra_up(&infra).await?;
                if !report.load_balancer_active {
                    infra
                        .wait_load_balancer_active(&spec, &report.state)
                        .await?;
                }
                let endpoint = report.state.api_endpoint().unwrap_or("(none)");
                ui.result(&report, || {
                    let creates = report
                        .changes
                        .iter()
                        .filter(|c| c.action == Action::Create)
                        .count();
                    format!("infrastructure ready: {creates} created, API endpoint {endpoint}\n")
                })?;
                Ok(true)
            }
            InfraCommand::Status => {
                let status = infra.status(&spec, &previous).await?;
                ui.result(&status, || status_text(&status))?;
                Ok(status.ok)
            }
            InfraCommand::Down { yes } => {
                if !confirm_down(&spec, None, *yes)? {
                    ui.status("nothing deleted");
                    return Ok(true);
                }
                let report = cluster.infra_down(&infra).await?;
                ui.result(&report, || down_text(&report))?;
                Ok(report.left_behind.is_empty())
            }
        }
    })
}

/// The cluster for `down`: a damaged state.json is reported and set aside, and the cluster
/// is found by its installation tag instead.
pub fn load_for_down(dir: &Path, ui: &Ui) -> Result<Cluster> {
    let (cluster, unreadable) = Cluster::load_for_down(dir)?;
    if let Some(e) = unreadable {
        ui.warn(format!(
            "{:#}; finding the cluster's resources by their tags instead",
            anyhow::Error::from(e)
        ));
    }
    Ok(cluster)
}

/// Connects to AWS with the standard chain, reporting the library's progress on `ui`.
pub async fn connect(args: &AwsArgs, ui: &Ui) -> Result<Infra> {
    let mut timeouts = Timeouts::default();
    timeouts.call = Duration::from_secs(args.call_timeout);
    let options = AwsOptions {
        profile: args.profile.clone(),
        region: None,
        endpoint_url: args.endpoint_url.clone(),
    };
    let ui = *ui;
    let infra = Infra::connect(&options)
        .await
        .context("cannot use AWS (credentials come from AWS_PROFILE, AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or ~/.aws)")?;
    let waits = Arc::new(Waits::new(ui));
    // Eventual consistency: say once per resource that AWS does not know it yet.
    let retried = Mutex::new(HashSet::new());
    Ok(infra
        .with_timeouts(timeouts)
        .with_progress(move |p| match p {
            Progress::Created { kind, id } => ui.status(format!("created  {kind} {id}")),
            Progress::Updating { kind, id, what } => {
                ui.status(format!("updating {kind} {id}: {what}"))
            }
            Progress::Deleted { kind, id } => ui.status(format!("deleted  {kind} {id}")),
            Progress::Waiting {
                what,
                ready,
                total,
                elapsed_secs,
            } => waits.update(what, *ready, *total, *elapsed_secs),
            Progress::Retrying { kind, id, reason } => {
                let first = retried
                    .lock()
                    .is_ok_and(|mut seen| seen.insert(format!("{kind} {id}")));
                if first {
                    ui.status(format!("retrying {kind} {id}: {reason}"));
                } else {
                    ui.detail(format!("retrying {kind} {id}: {reason}"));
                }
            }
            Progress::Found { kind, id } => ui.detail(format!("found    {kind} {id}")),
            Progress::Creating { kind, name } => ui.detail(format!("creating {kind} {name}")),
            Progress::Deleting { kind, id } => ui.detail(format!("deleting {kind} {id}")),
            Progress::Warning { message } => ui.warn(message),
            _ => {}
        }))
}

/// Asks on the terminal, unless `yes`, whether to delete the cluster's AWS resources and then
/// `also`; refuses when there is no terminal to ask.
pub fn confirm_down(spec: &InfraSpec, also: Option<&str>, yes: bool) -> Result<bool> {
    if yes {
        return Ok(true);
    }
    let cluster = &spec.cluster;
    if !std::io::stdin().is_terminal() {
        bail!(
            "refusing to delete cluster {cluster:?} without --yes (stdin is not a terminal to ask)"
        );
    }
    let region = spec.region.as_deref().unwrap_or("?");
    let also = also.map(|a| format!(", then {a}")).unwrap_or_default();
    eprint!("delete every AWS resource of cluster {cluster:?} in {region}{also}? [y/N] ");
    std::io::stderr().flush().ok();
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
}

pub fn plan_text(plan: &Plan) -> String {
    if plan.changes.is_empty() {
        "nothing to do: every resource is in place\n".to_string()
    } else {
        plan.changes.iter().map(|c| format!("{c}\n")).collect()
    }
}

pub fn status_text(status: &Status) -> String {
    let rows: Vec<Vec<String>> = status
        .resources
        .iter()
        .map(|r| {
            vec![
                r.kind.to_string(),
                crate::output::short_name(&r.name),
                r.state.clone(),
                r.id.as_deref()
                    .map_or_else(|| "-".into(), crate::output::short_id),
            ]
        })
        .collect();
    let endpoint = status.api_endpoint.as_deref().unwrap_or("(none yet)");
    let mut out = fitted_table(&["KIND", "NAME", "STATE", "ID"], &rows)
        + &format!("API endpoint: {endpoint}\n");
    let fixes: Vec<String> = status
        .resources
        .iter()
        .filter_map(|r| {
            r.up_would
                .as_ref()
                .map(|w| format!("  {} {}: {w}\n", r.kind, r.name))
        })
        .collect();
    if !fixes.is_empty() {
        out += "not as `k8s-hard up` leaves it; `up` would:\n";
        out += &fixes.concat();
    }
    out
}

pub fn down_text(report: &DownReport) -> String {
    let mut out = format!("deleted {} resource(s)\n", report.deleted.len());
    for n in &report.not_ours {
        out += &format!(
            "not ours, untouched: {} {}\n",
            n.kind,
            n.id.as_deref().unwrap_or("-")
        );
    }
    for l in &report.left_behind {
        out += &format!(
            "left behind: {} {}: {}\n",
            l.kind,
            l.id.as_deref().unwrap_or("-"),
            l.reason
        );
    }
    out
}
