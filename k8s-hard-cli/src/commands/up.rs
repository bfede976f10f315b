//! `k8s-hard up`: the seed's whole procedure, each step the code of its own subcommand, so a
//! second run after any failure resumes and changes nothing that is already right.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use k8s_distribute::{Event, FileStatus, NodeReady};
use k8s_pki::{Pki, ReconcileOptions, store};
use serde::Serialize;
use serde_json::json;

use crate::cli::{Output, UpArgs};
use crate::commands::{distribute, encryption_config, infra, kubeconfig, pki};
use crate::output::{Ui, table};
use k8s_cluster::Cluster;

const STEPS: usize = 6;

pub fn run(dir: &Path, args: &UpArgs, ui: &Ui) -> Result<bool> {
    let cluster = load(dir)?;
    let spec = cluster.infra_spec()?;
    let previous = infra::previous_state(dir, &spec)?;
    // Everything that can be checked locally is, before AWS is touched.
    let early = Pki::new(cluster.pki_inputs())
        .with_context(|| format!("{}: invalid cluster spec", cluster.path.display()))?;
    if args.ssh.concurrency == 0 {
        bail!("--concurrency must be at least 1");
    }
    if let Some(identity) = args.ssh.identity.as_ref().filter(|p| !p.is_file()) {
        bail!("--identity {}: no such file", identity.display());
    }
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    if args.plan {
        return runtime.block_on(plan(dir, &cluster, &spec, &previous, args, ui));
    }
    runtime.block_on(apply(dir, early, &spec, &previous, args, ui))
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

/// What a run of `up` did, as `--output json` prints it.
#[derive(Serialize)]
struct UpResult<'a> {
    /// How many things this run created, changed or sent (0: everything was in place).
    changed: usize,
    api_endpoint: String,
    infra: &'a k8s_aws_infra::UpReport,
    certificates: Vec<pki::Row<'a>>,
    kubeconfigs: &'a [kubeconfig::FileResult],
    encryption_config: &'a str,
    ssh: &'a [NodeReady],
    distribute: &'a k8s_distribute::UploadReport,
    /// Wall time of each step, and of the key generation that overlapped the infra step.
    timings_ms: serde_json::Value,
}

async fn apply(
    dir: &Path,
    early: Pki,
    spec: &k8s_aws_infra::InfraSpec,
    previous: &k8s_aws_infra::InfraState,
    args: &UpArgs,
    ui: &Ui,
) -> Result<bool> {
    // The inner steps print status lines; the one result on stdout is `up`'s own.
    let inner = Ui {
        output: Output::Human,
        ..*ui
    };
    // No key depends on an address: make them while AWS works, sign once the names are known.
    let existing = store::load(&Cluster::pki_dir(dir), early.specs())?;
    let keygen = std::thread::spawn(move || {
        let start = Instant::now();
        let keys = early.pregenerate_keys(&existing, &ReconcileOptions::default());
        (keys, millis(start.elapsed()))
    });

    let step = ui.step(1, STEPS, "infra: network, load balancer, machines");
    let infra = infra::connect(&args.aws, ui).await?;
    let report = infra::up(&infra, spec, previous, dir, ui).await?;
    let endpoint = report
        .state
        .api_endpoint()
        .ok_or_else(|| anyhow!("AWS reported no DNS name for the load balancer"))?
        .to_string();
    let infra_ms = step.done(format!(
        "infra: {} change(s), {} API calls; API endpoint {endpoint}{}",
        report.changes.len(),
        report.calls.total(),
        if report.load_balancer_active {
            ""
        } else {
            " (load balancer still provisioning)"
        }
    ));
    // The steps below need the load balancer's name, not the load balancer: it settles
    // meanwhile, and `up` waits for it only before it reports success.
    let lb_wait = (!report.load_balancer_active).then(|| {
        let (infra, spec, state) = (
            infra.clone().with_progress(|_| {}),
            spec.clone(),
            report.state.clone(),
        );
        let start = Instant::now();
        tokio::spawn(async move {
            infra.wait_load_balancer_active(&spec, &state).await?;
            Ok::<u64, k8s_aws_infra::Error>(millis(start.elapsed()))
        })
    });

    let step = ui.step(
        2,
        STEPS,
        "pki: sign with the endpoint and the machines' addresses",
    );
    let (keys, keygen_ms) = keygen
        .join()
        .map_err(|_| anyhow!("the key generation thread panicked"))?;
    let keys = keys?;
    let early_keys = match keys.len() {
        0 => "no new key needed".to_string(),
        n => format!(
            "{n} keys made during the infra step in {:.1} s",
            keygen_ms as f64 / 1000.0
        ),
    };
    let bundle = pki::generate_with_keys(dir, ReconcileOptions::default(), keys, &inner)?;
    let pki_changed = bundle.changed().count();
    let pki_ms = step.done(format!(
        "pki: {} certificates, {pki_changed} issued ({early_keys})",
        bundle.items.len(),
    ));

    let cluster = Cluster::load(dir)?;
    let step = ui.step(3, STEPS, "kubeconfigs");
    let kubeconfigs =
        kubeconfig::generate(dir, &cluster, kubeconfig::MissingEndpoint::Fail, &inner)?;
    let written = kubeconfigs.iter().filter(|k| k.status == "written").count();
    let kubeconfig_ms = step.done(format!(
        "kubeconfigs: {} files, {written} written",
        kubeconfigs.len()
    ));

    let step = ui.step(4, STEPS, "encryption config");
    let encryption = encryption_config::generate(dir, &inner)?;
    let encryption_ms = step.done(format!("encryption config: {encryption}"));

    let step = ui.step(
        5,
        STEPS,
        "host keys from the instances' consoles, then wait for SSH on every node",
    );
    let manifest = cluster.manifest()?;
    let client = distribute::client(dir, &cluster, &args.ssh)?;
    // Verified, not trusted: no byte goes to a machine whose key is not the one its console
    // shows. The keys appear a minute or more after boot; that wait counts against --ssh-wait
    // (half of it when --accept-new would trust the machines that never show them).
    let ssh_start = Instant::now();
    let bound = if args.ssh.accept_new {
        Duration::from_secs(args.ssh_wait) / 2
    } else {
        Duration::from_secs(args.ssh_wait)
    };
    let missing = distribute::pin_console_host_keys(
        &infra,
        spec,
        &report.state,
        &cluster,
        &manifest,
        &args.ssh,
        bound,
        ui,
    )
    .await?;
    if !missing.is_empty() {
        if !args.ssh.accept_new {
            bail!(
                "{} of {} machines did not show their SSH host keys in their console output within {} s ({}); everything before this step is done and kept\nhint: run `k8s-hard up` again to wait longer (--ssh-wait), or pass --accept-new to trust these machines' keys on first use instead",
                missing.len(),
                manifest.nodes.len(),
                bound.as_secs(),
                missing.join(", ")
            );
        }
        ui.warn(format!(
            "no host keys in the console output of {}: trusting their keys on first use (--accept-new)",
            missing.join(", ")
        ));
    }
    let left = args
        .ssh_wait
        .saturating_sub(ssh_start.elapsed().as_secs())
        .max(args.ssh_wait / 2)
        .max(1);
    let ready = wait_for_ssh(&client, &manifest, left, ui).await;
    let not_ready: Vec<&NodeReady> = ready.iter().filter(|r| r.error.is_some()).collect();
    if !not_ready.is_empty() {
        return Err(ssh_failure(&not_ready, ready.len()));
    }
    let ssh_ms = step.done(format!("ssh: {} nodes answer", ready.len()));

    let step = ui.step(
        6,
        STEPS,
        "distribute certificates, kubeconfigs, encryption config",
    );
    let uploaded = distribute::upload(&client, &manifest, &args.ssh, false, ui).await?;
    let count = |f: fn(&FileStatus) -> bool| {
        uploaded
            .nodes
            .iter()
            .flat_map(|n| &n.files)
            .filter(|file| f(&file.status))
            .count()
    };
    let sent = count(|s| matches!(s, FileStatus::Sent | FileStatus::ModeFixed));
    let distribute_ms = step.done(format!(
        "distribute: {sent} file(s) sent, {} unchanged, on {} nodes",
        count(|s| *s == FileStatus::Unchanged),
        uploaded.nodes.len()
    ));

    let lb_active_ms = match lb_wait {
        Some(wait) => {
            if !wait.is_finished() {
                ui.status("waiting for the load balancer to be active");
            }
            wait.await
                .context("the load balancer wait stopped")?
                .context("the load balancer did not become active")?
        }
        None => 0,
    };

    let infra_changes = report.changes.len();
    let encryption_changed = usize::from(encryption != "kept");
    let result = UpResult {
        changed: infra_changes + pki_changed + written + encryption_changed + sent,
        api_endpoint: format!("https://{endpoint}:{}", cluster.spec.api.port),
        infra: &report,
        certificates: pki::Row::of(&bundle),
        kubeconfigs: &kubeconfigs,
        encryption_config: encryption,
        ssh: &ready,
        distribute: &uploaded,
        timings_ms: json!({
            "infra": infra_ms,
            "key_generation_during_infra": keygen_ms,
            "pki": pki_ms,
            "kubeconfigs": kubeconfig_ms,
            "encryption_config": encryption_ms,
            "ssh_wait": ssh_ms,
            "distribute": distribute_ms,
            "load_balancer_active_after_infra": lb_active_ms,
        }),
    };
    let ok = uploaded.is_success();
    ui.result(&result, || {
        if ok {
            format!(
                "cluster {:?} is up: API endpoint {}; {} change(s) this run\nadmin kubeconfig: {} (`k8s-hard kubeconfig use-admin` merges it into ~/.kube/config)\n",
                cluster.spec.name,
                result.api_endpoint,
                result.changed,
                kubeconfig::kubeconfig_dir(dir)
                    .join(k8s_kubeconfig::Component::Admin.file_name())
                    .display()
            )
        } else {
            String::new()
        }
    })?;
    if !ok {
        let failed: Vec<String> = uploaded
            .failed()
            .map(|n| match &n.error {
                Some(e) => format!("{}: {e}", n.node),
                None => format!("{}: some files failed", n.node),
            })
            .collect();
        ui.status(format!(
            "distribution failed on {} of {} nodes (run `k8s-hard up` again to resume):\n  {}",
            failed.len(),
            uploaded.nodes.len(),
            failed.join("\n  ")
        ));
    }
    Ok(ok)
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

async fn wait_for_ssh(
    client: &k8s_distribute::SshClient,
    manifest: &k8s_distribute::Manifest,
    within_secs: u64,
    ui: &Ui,
) -> Vec<NodeReady> {
    let nodes = manifest.nodes();
    let bar = ui.counter("nodes accept SSH", nodes.len());
    let ui = *ui;
    let progress = |event: Event| match event {
        Event::Connected { node } => {
            bar.tick_one();
            if !bar.is_drawn() {
                ui.status(format!("{node}: SSH ready"));
            }
        }
        Event::NotYet { node, reason } => ui.detail(format!("{node}: not yet ({reason})")),
        Event::Failed { node, reason } => ui.status(format!("{node}: {reason}")),
        _ => {}
    };
    let ready = client
        .wait_ready(&nodes, Duration::from_secs(within_secs), &progress)
        .await;
    bar.finish();
    ready
}

/// The error for nodes that never accepted a login, with what to do about it.
fn ssh_failure(not_ready: &[&NodeReady], total: usize) -> anyhow::Error {
    let lines: Vec<String> = not_ready
        .iter()
        .map(|r| match &r.error {
            Some(e) => format!("{} ({}): {e}", r.node, r.address),
            None => r.node.clone(),
        })
        .collect();
    let hint = distribute::hint(not_ready.iter().filter_map(|r| r.error.as_ref())).unwrap_or(
        "machines may still be booting or the security group may not admit you (aws.ssh_ingress_cidr): wait longer with --ssh-wait, or run `k8s-hard up` again",
    );
    anyhow!(
        "{} of {total} nodes do not accept SSH; everything before this step is done and kept:\n  {}\nhint: {hint}",
        not_ready.len(),
        lines.join("\n  ")
    )
}

/// `up --plan`: AWS is read, nothing is written, no node is contacted.
async fn plan(
    dir: &Path,
    cluster: &Cluster,
    spec: &k8s_aws_infra::InfraSpec,
    previous: &k8s_aws_infra::InfraState,
    args: &UpArgs,
    ui: &Ui,
) -> Result<bool> {
    let infra = infra::connect(&args.aws, ui).await?;
    let infra_plan = infra.plan(spec, previous, dir).await?;
    let rows = pki::check_rows(dir, cluster)?;
    let certificates: Vec<serde_json::Value> = rows
        .iter()
        .map(|r| {
            let action = if r.problems.is_empty() {
                "keep"
            } else {
                "issue"
            };
            json!({ "name": r.name, "action": action, "reasons": r.problems })
        })
        .collect();
    let to_issue = rows.iter().filter(|r| !r.problems.is_empty()).count();
    let kubeconfig_dir = kubeconfig::kubeconfig_dir(dir);
    let manifest = cluster.manifest()?;
    let kubeconfigs: Vec<String> = kubeconfig::components(cluster)
        .iter()
        .map(|c| c.file_name())
        .collect();
    let missing: Vec<&String> = kubeconfigs
        .iter()
        .filter(|k| !kubeconfig_dir.join(k).exists())
        .collect();
    let encryption = if encryption_config::path(dir).exists() {
        "keep"
    } else {
        "generate"
    };
    let addresses_change = infra_plan.changes.iter().any(|c| {
        matches!(
            c.kind,
            k8s_aws_infra::Kind::Instance | k8s_aws_infra::Kind::LoadBalancer
        )
    });
    let value = json!({
        "infra": infra_plan,
        "certificates": certificates,
        "kubeconfigs": { "files": kubeconfigs, "missing": missing },
        "encryption_config": encryption,
        "distribute": manifest,
        "addresses_change": addresses_change,
    });
    ui.result(&value, || {
        let mut out = String::from("[1/6] infra\n");
        out += &indent(&infra::plan_text(&infra_plan));
        out += &format!(
            "[2/6] pki: {to_issue} of {} certificates to issue{}\n",
            rows.len(),
            if addresses_change {
                " (more once the new load balancer and machines have addresses)"
            } else {
                ""
            }
        );
        let cells: Vec<Vec<String>> = rows
            .iter()
            .filter(|r| !r.problems.is_empty())
            .map(|r| vec![r.name.clone(), r.problems.join("; ")])
            .collect();
        if !cells.is_empty() {
            out += &indent(&table(&["CERTIFICATE", "WHY"], &cells));
        }
        out += &format!(
            "[3/6] kubeconfigs: {} files, {} missing; the others are rewritten only if they differ\n",
            kubeconfigs.len(),
            missing.len()
        );
        out += &format!("[4/6] encryption config: {encryption}\n");
        out += &format!(
            "[5/6] wait up to {} s for SSH on {} nodes\n",
            args.ssh_wait,
            manifest.nodes.len()
        );
        let files: usize = manifest.nodes.iter().map(|n| n.files.len()).sum();
        out += &format!(
            "[6/6] distribute {files} files to {} nodes (only those that differ are sent; `k8s-hard distribute --plan` lists them)\n",
            manifest.nodes.len()
        );
        out
    })?;
    Ok(true)
}

fn indent(text: &str) -> String {
    text.lines().map(|l| format!("      {l}\n")).collect()
}
