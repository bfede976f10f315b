//! `k8s-hard distribute`: the right files to the right nodes ("Kubernetes from the ground up" STEP 5, STEP 6's TASK and
//! the end of STEP 7), all nodes at once.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use k8s_distribute::{
    Event, FileStatus, HostKeys, Manifest, PinOutcome, SshClient, SshSettings, UnknownHosts,
    UploadOptions, UploadReport,
};

use crate::cli::{AwsArgs, DistributeArgs, SshArgs};
use crate::commands::{infra, pki};
use crate::output::{Ui, table};
use k8s_cluster::Cluster;

pub fn run(dir: &Path, args: &DistributeArgs, ui: &Ui) -> Result<bool> {
    let cluster = Cluster::load(dir)?;
    let manifest = cluster.manifest().context("the distribution manifest")?;
    if args.plan {
        print_plan(&manifest, ui)?;
        return Ok(true);
    }
    // The CA's pair goes to every master: never one of each of two CAs.
    pki::refuse_pending_ca(&cluster)?;
    let client = client(&cluster, &args.ssh)?;
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    let report = runtime.block_on(async {
        pin_or_use_pins(&args.aws, &cluster, &manifest, &args.ssh, ui).await?;
        upload(&client, &manifest, &args.ssh, false, ui).await
    })?;
    print_report(&report, ui)?;
    if !report.is_success() {
        let failed: Vec<&str> = report.failed().map(|n| n.node.as_str()).collect();
        ui.status(format!(
            "failed on {} of {} nodes: {} (run again to retry; nodes already done send nothing)",
            failed.len(),
            report.nodes.len(),
            failed.join(", ")
        ));
        if let Some(hint) = hint(report.nodes.iter().filter_map(|n| n.error.as_ref())) {
            ui.status(format!("hint: {hint}"));
        }
    }
    Ok(report.is_success())
}

/// What to do about the SSH errors among `errors`, most pressing first.
pub fn hint<'a>(
    errors: impl Iterator<Item = &'a k8s_distribute::Error> + Clone,
) -> Option<&'static str> {
    use k8s_distribute::Error as E;
    let any = |f: fn(&E) -> bool| errors.clone().any(f);
    if any(|e| matches!(e, E::HostKeyChanged { .. })) {
        Some(
            "a host offered a key other than the one recorded (for an instance of this cluster: other than its console output shows), and nothing was sent to it: something else may be answering at that address. If the machine was re-created outside k8s-hard, remove its old line (ssh-keygen -R HOST -f KNOWN_HOSTS); otherwise do not trust it",
        )
    } else if any(|e| matches!(e, E::HostKeyRevoked { .. })) {
        Some("a host offered a key marked @revoked in known_hosts: do not trust that machine")
    } else if any(|e| matches!(e, E::UnknownHostKey { .. })) {
        Some(
            "new machines are not in known_hosts yet: pass --accept-new to trust and record their keys (as ssh -o StrictHostKeyChecking=accept-new), or add them to the file given with --known-hosts",
        )
    } else if any(|e| matches!(e, E::Auth { .. })) {
        Some(
            "the key was refused: the machines were started with the AWS key pair (DIR/ssh/CLUSTER.id_rsa); pass --identity for another key",
        )
    } else {
        None
    }
}

/// The known_hosts file `args` name: `--known-hosts`, else `~/.ssh/known_hosts`.
pub fn known_hosts_path(args: &SshArgs) -> Result<PathBuf> {
    match &args.known_hosts {
        Some(path) => Ok(path.clone()),
        None => match HostKeys::user_known_hosts()? {
            HostKeys::KnownHosts { path, .. } => Ok(path),
            HostKeys::Pinned(_) => bail!("no known_hosts file to check host keys against"),
        },
    }
}

/// Pins the host keys of the cluster's own instances from their consoles, connecting to AWS
/// first. When AWS cannot be reached (or a
/// console read), the known_hosts file is enough if an earlier run pinned there the console
/// keys of every instance as `state.json` records it: a warning, not an error. A key that
/// cannot be pinned (another one recorded for the host) stays an error.
pub async fn pin_or_use_pins(
    aws: &AwsArgs,
    cluster: &Cluster,
    manifest: &Manifest,
    args: &SshArgs,
    ui: &Ui,
) -> Result<()> {
    let Some(state) = cluster.state.as_ref().filter(|s| !s.instances.is_empty()) else {
        return Ok(());
    };
    let path = known_hosts_path(args)?;
    let pinned = async {
        let infra = infra::connect(aws, ui).await?;
        pin_console_host_keys(&infra, cluster, state, manifest, &path, ui).await
    };
    let Err(e) = pinned.await else {
        return Ok(());
    };
    let from_aws = e.chain().any(|c| {
        c.downcast_ref::<k8s_aws_infra::Error>().is_some()
            || matches!(
                c.downcast_ref::<k8s_cluster::Error>(),
                Some(k8s_cluster::Error::Infra(_))
            )
    });
    if !from_aws {
        return Err(e);
    }
    let unpinned = cluster.unpinned_instances(state, manifest, &path)?;
    if !unpinned.is_empty() {
        return Err(e.context(format!(
            "cannot read the host keys of {} from their consoles, and {} holds no pin of them from an earlier run",
            unpinned.join(", "),
            path.display()
        )));
    }
    ui.warn(format!(
        "cannot read the host keys from the consoles ({e:#}); an earlier run pinned every instance's in {}: the nodes are checked against those",
        path.display()
    ));
    Ok(())
}

/// Pins the host keys of the cluster's own instances from their consoles (no wait: `up`
/// waits for them) in `path` and says what it did; machines that are not ours are left to
/// known_hosts.
async fn pin_console_host_keys(
    aws: &k8s_aws_infra::Infra,
    cluster: &Cluster,
    state: &k8s_aws_infra::InfraState,
    manifest: &Manifest,
    path: &Path,
    ui: &Ui,
) -> Result<()> {
    let pins = cluster
        .pin_console_host_keys(aws, state, manifest, path, Duration::ZERO)
        .await?;
    for pin in &pins.pinned {
        match pin.outcome {
            PinOutcome::Unchanged => ui.detail(format!(
                "{}: host keys as its console shows, already in {}",
                pin.node,
                path.display()
            )),
            _ => ui.status(format!(
                "{}: pinned {} host key(s) from the console of {} in {}",
                pin.node,
                pin.keys,
                pin.instance_id,
                path.display()
            )),
        }
    }
    for rejected in &pins.rejected {
        ui.warn(rejected.to_string());
    }
    if !pins.missing.is_empty() {
        ui.warn(format!(
            "no host keys in the console output of {} yet: their keys are checked against known_hosts only",
            pins.missing.join(", ")
        ));
    }
    Ok(())
}

/// The SSH settings `args` describe: the key (default the AWS key pair's, which need not
/// exist yet) and known_hosts.
pub fn settings(cluster: &Cluster, args: &SshArgs) -> Result<SshSettings> {
    let unknown = if args.accept_new {
        UnknownHosts::AcceptNew
    } else {
        UnknownHosts::Refuse
    };
    let host_keys = HostKeys::KnownHosts {
        path: known_hosts_path(args)?,
        unknown,
    };
    let identity = args
        .identity
        .clone()
        .unwrap_or_else(|| cluster.layout.ssh_key(&cluster.spec.name));
    let mut settings = SshSettings::new(identity, host_keys);
    if args.concurrency == 0 {
        bail!("--concurrency must be at least 1");
    }
    settings.concurrency = args.concurrency;
    Ok(settings)
}

/// The SSH client `args` describe (see [`settings`]), once its key exists.
pub fn client(cluster: &Cluster, args: &SshArgs) -> Result<SshClient> {
    let settings = settings(cluster, args)?;
    require_key(&settings)?;
    Ok(SshClient::new(&settings)?)
}

/// The settings' private key exists: `up` makes it in its first step, every other command
/// needs it before it connects.
pub fn require_key(settings: &SshSettings) -> Result<()> {
    if !settings.private_key.exists() {
        bail!(
            "no private key at {} (`k8s-hard up` or `k8s-hard infra up` saves the AWS key pair there; pass --identity for another key)",
            settings.private_key.display()
        );
    }
    Ok(())
}

/// Sends every node its files (or, `check_only`, compares); nodes fail independently.
pub async fn upload(
    client: &SshClient,
    manifest: &Manifest,
    args: &SshArgs,
    check_only: bool,
    ui: &Ui,
) -> Result<UploadReport> {
    let options = UploadOptions {
        target_dir: args.target_dir.clone(),
        check_only,
    };
    let ui = *ui;
    let counter = ui.counter("nodes done", manifest.nodes.len());
    let bar = &counter;
    let progress = move |event: Event| match event {
        Event::Connecting { node, attempt } if attempt > 1 => {
            ui.status(format!("{node}: connecting (attempt {attempt})"))
        }
        Event::Connected { node } => ui.detail(format!("{node}: connected")),
        Event::File { node, file, status } => match status {
            FileStatus::Sent => ui.detail(format!("{node}: sent {file}")),
            FileStatus::WouldSend(why) => ui.detail(format!("{node}: {file} {why}")),
            FileStatus::Failed(why) => ui.status(format!("{node}: {file} failed: {why}")),
            _ => {}
        },
        Event::Done { node } => {
            bar.tick_one();
            if !bar.is_drawn() {
                ui.status(format!("{node}: done"));
            }
        }
        Event::Failed { node, reason } => {
            bar.tick_one();
            ui.status(format!("{node}: FAILED: {reason}"));
        }
        _ => {}
    };
    let report = client.upload(manifest, &options, &progress).await?;
    counter.finish();
    Ok(report)
}

fn print_plan(manifest: &Manifest, ui: &Ui) -> Result<()> {
    ui.result(manifest, || {
        let rows: Vec<Vec<String>> = manifest
            .nodes
            .iter()
            .flat_map(|n| {
                n.files.iter().map(move |f| {
                    vec![
                        n.node.name.clone(),
                        n.node.host_port(),
                        f.remote_name.clone(),
                        format!("{:o}", f.mode.bits()),
                        f.local.display().to_string(),
                    ]
                })
            })
            .collect();
        table(&["NODE", "ADDRESS", "FILE", "MODE", "FROM"], &rows)
    })
}

fn print_report(report: &UploadReport, ui: &Ui) -> Result<()> {
    ui.result(report, || {
        let rows: Vec<Vec<String>> = report
            .nodes
            .iter()
            .map(|n| {
                let failed = n
                    .files
                    .iter()
                    .filter(|f| matches!(f.status, FileStatus::Failed(_)))
                    .count();
                vec![
                    n.node.clone(),
                    n.address.clone(),
                    n.count(&FileStatus::Sent).to_string(),
                    (n.count(&FileStatus::Unchanged) + n.count(&FileStatus::ModeFixed)).to_string(),
                    failed.to_string(),
                    n.error.as_ref().map(|e| e.to_string()).unwrap_or_default(),
                ]
            })
            .collect();
        table(
            &["NODE", "ADDRESS", "SENT", "UNCHANGED", "FAILED", "ERROR"],
            &rows,
        )
    })
}
