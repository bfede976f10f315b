//! `k8s-hard infra plan | up | status | down` (seed "AWS CLOUD RESOURCES" through STEP 3).

use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;

use anyhow::{Context, Result, bail};
use k8s_aws_infra::{Action, AwsOptions, Infra, InfraState, Progress, load_state, save_state};

use crate::cli::{InfraArgs, InfraCommand};
use crate::output::{Ui, table};
use crate::spec::Cluster;

pub fn run(dir: &Path, args: &InfraArgs, ui: &Ui) -> Result<bool> {
    let cluster = Cluster::load(dir)?;
    let spec = cluster.infra_spec()?;
    let previous = load_state(dir)?.unwrap_or_else(|| InfraState::new(spec.cluster.clone()));
    let options = AwsOptions {
        profile: args.profile.clone(),
        region: None,
        endpoint_url: args.endpoint_url.clone(),
    };
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(async {
        let infra = connect(&options, ui).await?;
        match &args.command {
            InfraCommand::Plan => {
                let plan = infra.plan(&spec, &previous, dir).await?;
                for w in &plan.warnings {
                    ui.warn(w);
                }
                ui.result(&plan, || {
                    if plan.changes.is_empty() {
                        "nothing to do: every resource is in place\n".to_string()
                    } else {
                        plan.changes.iter().map(|c| format!("{c}\n")).collect()
                    }
                })?;
                Ok(true)
            }
            InfraCommand::Up => up(&infra, &spec, &previous, dir, ui).await.map(|()| true),
            InfraCommand::Status => {
                let status = infra.status(&spec, &previous).await?;
                ui.result(&status, || {
                    let rows: Vec<Vec<String>> = status
                        .resources
                        .iter()
                        .map(|r| {
                            vec![
                                r.kind.to_string(),
                                r.name.clone(),
                                r.id.clone().unwrap_or_else(|| "-".into()),
                                r.state.clone(),
                            ]
                        })
                        .collect();
                    let endpoint = status.api_endpoint.as_deref().unwrap_or("(none yet)");
                    table(&["KIND", "NAME", "ID", "STATE"], &rows)
                        + &format!("API endpoint: {endpoint}\n")
                })?;
                Ok(status.resources.iter().all(|r| r.state != "missing"))
            }
            InfraCommand::Down { yes } => down(&infra, &spec, &previous, dir, *yes, ui).await,
        }
    })
}

async fn connect(options: &AwsOptions, ui: &Ui) -> Result<Infra> {
    let ui = *ui;
    let infra = Infra::connect(options)
        .await
        .context("cannot use AWS (credentials come from AWS_PROFILE, AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or ~/.aws)")?;
    Ok(infra.with_progress(move |p| match p {
        Progress::Created { kind, id } => ui.status(format!("created  {kind} {id}")),
        Progress::Updating { kind, id, what } => ui.status(format!("updating {kind} {id}: {what}")),
        Progress::Deleted { kind, id } => ui.status(format!("deleted  {kind} {id}")),
        Progress::Waiting {
            what,
            ready,
            total,
            elapsed_secs,
        } => ui.status(format!(
            "waiting  {what}: {ready}/{total} ready ({elapsed_secs} s)"
        )),
        Progress::Retrying { kind, id, reason } => {
            ui.detail(format!("retrying {kind} {id}: {reason}"))
        }
        Progress::Found { kind, id } => ui.detail(format!("found    {kind} {id}")),
        Progress::Creating { kind, name } => ui.detail(format!("creating {kind} {name}")),
        Progress::Deleting { kind, id } => ui.detail(format!("deleting {kind} {id}")),
        Progress::Warning { message } => ui.warn(message),
        _ => {}
    }))
}

async fn up(
    infra: &Infra,
    spec: &k8s_aws_infra::InfraSpec,
    previous: &InfraState,
    dir: &Path,
    ui: &Ui,
) -> Result<()> {
    let report = infra.up(spec, previous, dir).await?;
    save_state(dir, &report.state)?;
    let endpoint = report.state.api_endpoint().unwrap_or("(none)").to_string();
    ui.status(format!(
        "{} change(s), {} API calls ({} mutating); API endpoint {endpoint} recorded in {}",
        report.changes.len(),
        report.calls.total(),
        report.calls.mutating,
        dir.join(k8s_aws_infra::STATE_FILE).display()
    ));
    ui.result(&report, || {
        let creates = report
            .changes
            .iter()
            .filter(|c| c.action == Action::Create)
            .count();
        format!("infrastructure ready: {creates} created, API endpoint {endpoint}\n")
    })
}

async fn down(
    infra: &Infra,
    spec: &k8s_aws_infra::InfraSpec,
    previous: &InfraState,
    dir: &Path,
    yes: bool,
    ui: &Ui,
) -> Result<bool> {
    if !yes {
        if !std::io::stdin().is_terminal() {
            bail!(
                "refusing to delete cluster {:?} without --yes (stdin is not a terminal to ask)",
                spec.cluster
            );
        }
        eprint!(
            "delete every AWS resource of cluster {:?} in {}? [y/N] ",
            spec.cluster,
            spec.region.as_deref().unwrap_or("?")
        );
        std::io::stderr().flush().ok();
        let mut answer = String::new();
        std::io::stdin().lock().read_line(&mut answer)?;
        if !matches!(answer.trim(), "y" | "Y" | "yes") {
            ui.status("nothing deleted");
            return Ok(true);
        }
    }
    let report = infra.down(spec, previous).await?;
    // Keep the IDs of anything left behind, so the next `down` finds it again.
    let state = if report.left_behind.is_empty() {
        InfraState::new(spec.cluster.clone())
    } else {
        previous.clone()
    };
    save_state(dir, &state)?;
    ui.result(&report, || {
        let mut out = format!("deleted {} resource(s)\n", report.deleted.len());
        for l in &report.left_behind {
            out += &format!(
                "left behind: {} {}: {}\n",
                l.kind,
                l.id.as_deref().unwrap_or("-"),
                l.reason
            );
        }
        out
    })?;
    Ok(report.left_behind.is_empty())
}
