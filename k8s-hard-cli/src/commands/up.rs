//! `k8s-hard up`: the whole procedure of "Kubernetes from the ground up" (STEPS 1–7), as
//! `k8s_cluster::Cluster::up` runs it; this prints its progress and result.

use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use k8s_cluster::{Cluster, PlannedAction, UP_STEPS, UpEvent, UpOptions, UpPlan, UpReport};
use k8s_distribute::{Event, FileStatus};
use k8s_pki::Change;

use crate::cli::UpArgs;
use crate::commands::{distribute, infra};
use crate::output::{Counter, Ui, table};

pub fn run(dir: &Path, args: &UpArgs, ui: &Ui) -> Result<bool> {
    let cluster = load(dir)?;
    // Everything that can be checked locally is, before AWS is touched.
    cluster.infra_spec()?;
    cluster.pki()?;
    if let Some(identity) = args.ssh.identity.as_ref().filter(|p| !p.is_file()) {
        bail!("--identity {}: no such file", identity.display());
    }
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(async {
        let aws = infra::connect(&args.aws, ui).await?;
        if args.plan {
            let plan = cluster.plan_up(&aws).await?;
            ui.result(&plan, || plan_text(&plan, args.ssh_wait))?;
            return Ok(true);
        }
        let options = UpOptions {
            ssh: distribute::settings(&cluster, &args.ssh)?,
            target_dir: args.ssh.target_dir.clone(),
            ssh_wait: Duration::from_secs(args.ssh_wait),
        };
        let shown = Shown::new(*ui);
        let report = cluster
            .up(&aws, &options, &|e| shown.event(e))
            .await
            .map_err(with_hint)?;
        shown.finish();
        print(&cluster, &report, ui)
    })
}

/// `cluster.yaml` must exist: `up` spends money, so it never runs on a default written for it.
fn load(dir: &Path) -> Result<Cluster> {
    let path = k8s_cluster::Layout::new(dir).cluster_file();
    if !path.exists() {
        bail!(
            "no {} yet: run `k8s-hard --dir {} init` and review it first",
            path.display(),
            dir.display()
        );
    }
    Ok(Cluster::load(dir)?)
}

/// What to do about the errors that stop `up` at the SSH step.
fn with_hint(e: k8s_cluster::Error) -> anyhow::Error {
    let hint = match &e {
        k8s_cluster::Error::ConsoleKeysMissing { .. } => Some(
            "run `k8s-hard up` again to wait longer (--ssh-wait), or pass --accept-new to trust these machines' keys on first use instead",
        ),
        k8s_cluster::Error::SshNotReady { nodes, .. } => Some(
            distribute::hint(nodes.iter().filter_map(|r| r.error.as_ref())).unwrap_or(
                "machines may still be booting or the security group may not admit you (aws.ssh_ingress_cidr): wait longer with --ssh-wait, or run `k8s-hard up` again",
            ),
        ),
        _ => None,
    };
    match hint {
        Some(hint) => anyhow::anyhow!("{e}\nhint: {hint}"),
        None => e.into(),
    }
}

/// Shows `up`'s progress: a line per step, per certificate, per pinned machine; a bar for the
/// SSH wait and the distribution on a terminal.
struct Shown {
    ui: Ui,
    bar: Mutex<Option<Counter>>,
}

impl Shown {
    fn new(ui: Ui) -> Self {
        Shown {
            ui,
            bar: Mutex::new(None),
        }
    }

    fn event(&self, e: UpEvent) {
        let ui = self.ui;
        let total = UP_STEPS.len();
        match e {
            UpEvent::StepStarted { index, title } => {
                self.finish();
                ui.status(format!("[{index}/{total}] {title}"));
                if index >= 5
                    && let Ok(mut bar) = self.bar.lock()
                {
                    let what = if index == 5 {
                        "nodes accept SSH"
                    } else {
                        "nodes done"
                    };
                    *bar = Some(ui.counter(what, 0));
                }
            }
            UpEvent::StepDone {
                index,
                summary,
                millis,
            } => {
                self.finish();
                ui.status(format!(
                    "[{index}/{total}] {summary} ({:.1} s)",
                    millis as f64 / 1000.0
                ));
            }
            UpEvent::Certificate { name, change } => match change {
                Change::Kept => ui.detail(format!("kept     {name}")),
                Change::Created => ui.status(format!("created  {name}")),
                Change::Reissued(why) => ui.status(format!("reissued {name}: {}", why.join("; "))),
            },
            UpEvent::Kubeconfig { file, status } => {
                ui.detail(format!("{status:?} {}", file.display()).to_lowercase())
            }
            UpEvent::EncryptionConfig { change } => {
                ui.detail(format!("encryption config {change}"))
            }
            UpEvent::Pinned(pin) => ui.status(format!(
                "{}: pinned {} host key(s) from the console of {} ({:?})",
                pin.node, pin.keys, pin.instance_id, pin.outcome
            )),
            UpEvent::Warning(w) => ui.warn(w),
            UpEvent::Node(event) => self.node(event),
            UpEvent::WaitingForLoadBalancer => {
                ui.status("waiting for the load balancer to be active")
            }
            _ => {}
        }
    }

    fn node(&self, event: Event) {
        let ui = self.ui;
        let drawn = self
            .bar
            .lock()
            .ok()
            .and_then(|b| b.as_ref().map(Counter::is_drawn))
            .unwrap_or(false);
        let tick = || {
            if let Ok(bar) = self.bar.lock()
                && let Some(bar) = bar.as_ref()
            {
                bar.tick_one();
            }
        };
        match event {
            Event::Connected { node } if !drawn => ui.detail(format!("{node}: connected")),
            Event::NotYet { node, reason } => ui.detail(format!("{node}: not yet ({reason})")),
            Event::File { node, file, status } => match status {
                FileStatus::Sent => ui.detail(format!("{node}: sent {file}")),
                FileStatus::Failed(why) => ui.status(format!("{node}: {file} failed: {why}")),
                _ => {}
            },
            Event::Done { node } => {
                tick();
                if !drawn {
                    ui.status(format!("{node}: done"));
                }
            }
            Event::Failed { node, reason } => {
                tick();
                ui.status(format!("{node}: FAILED: {reason}"));
            }
            _ => {}
        }
    }

    fn finish(&self) {
        if let Ok(mut bar) = self.bar.lock()
            && let Some(bar) = bar.take()
        {
            bar.finish();
        }
    }
}

fn print(cluster: &Cluster, report: &UpReport, ui: &Ui) -> Result<bool> {
    let ok = report.distribute.is_success();
    ui.result(report, || {
        if ok {
            format!(
                "cluster {:?} is up: API endpoint {}; {} change(s) this run\nadmin kubeconfig: {} (`k8s-hard kubeconfig use-admin` merges it into ~/.kube/config)\n",
                cluster.spec.name,
                report.api_endpoint,
                report.changed,
                cluster
                    .layout
                    .kubeconfig_dir()
                    .join(k8s_kubeconfig::Component::Admin.file_name())
                    .display()
            )
        } else {
            String::new()
        }
    })?;
    if !ok {
        let failed: Vec<String> = report
            .distribute
            .failed()
            .map(|n| match &n.error {
                Some(e) => format!("{}: {e}", n.node),
                None => format!("{}: some files failed", n.node),
            })
            .collect();
        ui.status(format!(
            "distribution failed on {} of {} nodes (run `k8s-hard up` again to resume):\n  {}",
            failed.len(),
            report.distribute.nodes.len(),
            failed.join("\n  ")
        ));
    }
    Ok(ok)
}

fn plan_text(plan: &UpPlan, ssh_wait: u64) -> String {
    let total = UP_STEPS.len();
    let to_issue: Vec<Vec<String>> = plan
        .certificates
        .iter()
        .filter(|c| c.action == PlannedAction::Issue)
        .map(|c| vec![c.name.clone(), c.reasons.join("; ")])
        .collect();
    let mut out = format!("[1/{total}] infra\n");
    out += &indent(&infra::plan_text(&plan.infra));
    out += &format!(
        "[2/{total}] pki: {} of {} certificates to issue{}\n",
        to_issue.len(),
        plan.certificates.len(),
        if plan.addresses_change {
            " (more once the new load balancer and machines have addresses)"
        } else {
            ""
        }
    );
    if !to_issue.is_empty() {
        out += &indent(&table(&["CERTIFICATE", "WHY"], &to_issue));
    }
    out += &format!(
        "[3/{total}] kubeconfigs: {} files, {} missing; the others are rewritten only if they differ\n",
        plan.kubeconfigs.files.len(),
        plan.kubeconfigs.missing.len()
    );
    out += &format!(
        "[4/{total}] encryption config: {:?}\n",
        plan.encryption_config
    )
    .to_lowercase();
    let nodes = plan.distribute.nodes.len();
    out += &format!(
        "[5/{total}] host keys from the consoles, then wait up to {ssh_wait} s for SSH on {nodes} nodes\n"
    );
    let files: usize = plan.distribute.nodes.iter().map(|n| n.files.len()).sum();
    out += &format!(
        "[6/{total}] distribute {files} files to {nodes} nodes (only those that differ are sent; `k8s-hard distribute --plan` lists them)\n"
    );
    out
}

fn indent(text: &str) -> String {
    text.lines().map(|l| format!("      {l}\n")).collect()
}
