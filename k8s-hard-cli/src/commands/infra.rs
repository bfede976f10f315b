//! `k8s-hard infra plan | up | status | down` ("Kubernetes from the ground up": AWS CLOUD RESOURCES through STEP 3).

use std::collections::HashSet;
use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use k8s_aws_infra::{Action, AwsOptions, Infra, Inventory, Plan, Progress, Status, Timeouts};

use crate::cli::{AwsArgs, InfraArgs, InfraCommand};
use crate::output::{Ui, Waits, fitted_table};
use k8s_cluster::{Cluster, DownScope, DownState, InfraDown};

pub fn run(dir: &Path, args: &InfraArgs, ui: &Ui) -> Result<bool> {
    let task = match args.command {
        InfraCommand::Down { yes } => {
            let Some(outcome) = down(dir, &args.aws, yes, None, ui)? else {
                return Ok(true);
            };
            ui.result(&outcome, || down_text(&outcome))?;
            return Ok(outcome.clean());
        }
        InfraCommand::Plan => Task::Plan,
        InfraCommand::Up => Task::Up,
        InfraCommand::Status => Task::Status,
    };
    let cluster = Cluster::load(dir)?;
    let spec = cluster.infra_spec()?;
    let previous = cluster.infra_state();
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(async {
        let infra = connect(&args.aws, ui).await?;
        match task {
            Task::Plan => {
                let plan = infra.plan(&spec, &previous, dir).await?;
                ui.result(&plan, || plan_text(&plan))?;
                Ok(true)
            }
            Task::Up => {
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
            Task::Status => {
                let status = infra.status(&spec, &previous).await?;
                ui.result(&status, || status_text(&status))?;
                Ok(status.ok)
            }
        }
    })
}

/// The subcommands that work from a readable state.json.
enum Task {
    Plan,
    Up,
    Status,
}

/// `down` and `infra down`: the cluster from cluster.yaml (a state.json that is damaged or
/// another cluster's is reported, and the resources are found by their installation tag),
/// the question (what was found, and `also`; without a state.json of this cluster, the
/// installation ID to type), then the deletion in every region a state file records and in
/// cluster.yaml's. `None` when the answer was no.
pub fn down(
    dir: &Path,
    aws: &AwsArgs,
    yes: bool,
    also: Option<&str>,
    ui: &Ui,
) -> Result<Option<InfraDown>> {
    let scope = Cluster::load_for_down(dir)?;
    if let DownState::Unusable { reason, .. } = &scope.state {
        let chain: Vec<String> =
            std::iter::successors(Some(reason.as_ref() as &dyn std::error::Error), |e| {
                e.source()
            })
            .map(ToString::to_string)
            .collect();
        ui.warn(format!(
            "{}; finding the cluster's resources by their installation tag instead (the file is set aside, not overwritten)",
            chain.join(": ")
        ));
    }
    if scope.regions.len() > 1 {
        ui.status(format!(
            "a state file in {} names another region than {} ({}): searching {}",
            dir.display(),
            scope.cluster.path.display(),
            scope.cluster.spec.region,
            scope.regions.join(", ")
        ));
    }
    if !yes && !std::io::stdin().is_terminal() {
        bail!(
            "refusing to delete cluster {:?} without --yes (stdin is not a terminal to ask)",
            scope.cluster.spec.name
        );
    }
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(async {
        let infra = connect(aws, ui).await?;
        if !yes {
            let found = scope.inventory(&infra).await?;
            if !confirm_down(&scope, &found, also)? {
                ui.status("nothing deleted");
                return Ok(None);
            }
        }
        let outcome = scope.down(&infra).await?;
        if let Some(to) = &outcome.set_aside {
            ui.status(format!(
                "moved {} aside to {} (`down --purge` keeps it)",
                scope.cluster.layout.state_file().display(),
                to.display()
            ));
        }
        Ok(Some(outcome))
    })
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

/// Asks on the terminal whether to delete what `found` lists and then `also`: `y`, or, when
/// state.json does not record this cluster (everything was found by the installation tag
/// alone), the installation ID typed out.
fn confirm_down(scope: &DownScope, found: &[Inventory], also: Option<&str>) -> Result<bool> {
    let cluster = &scope.cluster.spec;
    let installation = cluster.installation_id.as_deref().unwrap_or("?");
    eprint!("{}", found_text(found));
    let also = also.map(|a| format!(", then {a}")).unwrap_or_default();
    let what = format!(
        "delete every AWS resource of cluster {:?} (installation {installation}) in {}{also}",
        cluster.name,
        scope.regions.join(", ")
    );
    let recorded = matches!(scope.state, DownState::Recorded);
    if recorded {
        eprint!("{what}? [y/N] ");
    } else {
        eprint!(
            "{} does not record this cluster: these were found by the installation tag alone.\nTo {what}, type the installation ID (installation_id: in {}): ",
            scope.cluster.layout.state_file().display(),
            scope.cluster.path.display()
        );
    }
    std::io::stderr().flush().ok();
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    let answer = answer.trim();
    Ok(if recorded {
        matches!(answer, "y" | "Y" | "yes")
    } else {
        answer == installation
    })
}

/// What `down` found, region by region, as a table (text from AWS made printable).
fn found_text(found: &[Inventory]) -> String {
    let printable = |s: &str| -> String { crate::output::printable(s, false).into_owned() };
    let cell = |v: &Option<String>| v.as_deref().map_or_else(|| "-".into(), printable);
    let mut out = String::new();
    for inv in found {
        if inv.found.is_empty() {
            out += &format!("nothing of this installation in {}\n", inv.region);
        } else {
            let rows: Vec<Vec<String>> = inv
                .found
                .iter()
                .map(|f| {
                    vec![
                        f.kind.to_string(),
                        crate::output::short_name(&cell(&f.name)),
                        cell(&f.state),
                        cell(&f.created),
                        crate::output::short_id(&printable(&f.id)),
                    ]
                })
                .collect();
            out += &format!("found in {}:\n", inv.region);
            out += &fitted_table(&["KIND", "NAME", "STATE", "CREATED", "ID"], &rows);
        }
        for n in &inv.not_ours {
            out += &format!(
                "not ours, untouched: {} {}\n",
                n.kind,
                printable(n.id.as_deref().unwrap_or("-"))
            );
        }
    }
    out
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

pub fn down_text(report: &InfraDown) -> String {
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
