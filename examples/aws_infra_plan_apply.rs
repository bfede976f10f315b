//! The AWS machines of "Kubernetes from the ground up" (STEP 1–3: VPC, subnet, gateway, routes,
//! security group, network load balancer, key pair, instances) with `k8s-aws-infra` alone: no
//! cluster.yaml, no CLI. Prints the plan; `--apply` creates what is missing, `--destroy`
//! deletes everything this installation owns.
//!
//! ```sh
//! cargo run -p k8s-hard-examples --example aws_infra_plan_apply -- \
//!     ./my-cluster k8s-cluster-from-ground-up 3 3 --region us-east-2            # plan only
//! cargo run -p k8s-hard-examples --example aws_infra_plan_apply -- \
//!     ./my-cluster k8s-cluster-from-ground-up 3 3 --region us-east-2 --apply
//! cargo run -p k8s-hard-examples --example aws_infra_plan_apply -- \
//!     ./my-cluster k8s-cluster-from-ground-up 3 3 --region us-east-2 --destroy
//! ```
//!
//! AWS is found the standard way (`AWS_PROFILE`, `AWS_REGION` when `--region` is not given,
//! `~/.aws`, `AWS_ENDPOINT_URL` for an emulator such as moto). `--image-name PATTERN` changes
//! the Ubuntu image name filter. The folder keeps the installation ID, `state.json` and the
//! key pair's private key (`ssh/<cluster>.id_rsa`); progress goes to stderr.

use std::error::Error;
use std::path::{Path, PathBuf};

use k8s_aws_infra::{
    AwsOptions, Infra, InfraSpec, InfraState, Progress, load_state, new_installation_id, save_state,
};
use k8s_files::{Mode, ensure_private_dir, write_file};

const USAGE: &str = "usage: DIR CLUSTER MASTERS WORKERS [--region REGION] \
                     [--image-name PATTERN] [--apply | --destroy]";

const ID_FILE: &str = "installation-id";

/// The installation ID kept in `<dir>/installation-id`, or a new one (`true`: not saved yet).
///
/// Every resource is tagged with this ID, and `up` adopts and `down` deletes only resources
/// carrying it: that is what keeps two clusters of the same name (yours and a colleague's, or
/// an old one) apart in one account. Lose it and a new run makes a second cluster beside the
/// first, and `--destroy` no longer touches the first one: keep the file with the cluster.
fn installation_id(dir: &Path) -> Result<(String, bool), Box<dyn Error>> {
    let path = dir.join(ID_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => Ok((text.trim().to_string(), false)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok((new_installation_id()?, true)),
        Err(e) => Err(format!("{}: {e}", path.display()).into()),
    }
}

/// One line per event on stderr; stdout is for the results.
fn print_progress(p: &Progress) {
    match p {
        Progress::Created { kind, id } => eprintln!("created  {kind} {id}"),
        Progress::Deleted { kind, id } => eprintln!("deleted  {kind} {id}"),
        Progress::Updating { kind, id, what } => eprintln!("updating {kind} {id}: {what}"),
        Progress::Waiting {
            what,
            ready,
            total,
            elapsed_secs,
        } => eprintln!("waiting  {what}: {ready}/{total} ({elapsed_secs}s)"),
        Progress::Retrying { kind, id, reason } => eprintln!("retrying {kind} {id}: {reason}"),
        Progress::Warning { message } => eprintln!("warning: {message}"),
        _ => {}
    }
}

fn main() -> Result<(), Box<dyn Error>> {
    let mut positional = Vec::new();
    let (mut region, mut image_name, mut apply, mut destroy) = (None, None, false, false);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--apply" => apply = true,
            "--destroy" => destroy = true,
            "--region" => region = Some(args.next().ok_or(USAGE)?),
            "--image-name" => image_name = Some(args.next().ok_or(USAGE)?),
            _ if arg.starts_with("--") => return Err(format!("unknown flag {arg}; {USAGE}").into()),
            _ => positional.push(arg),
        }
    }
    let [dir, cluster, masters, workers] = positional.as_slice() else {
        return Err(USAGE.into());
    };
    if apply && destroy {
        return Err("give --apply or --destroy, not both".into());
    }
    let dir = PathBuf::from(dir);
    let masters: u8 = masters
        .parse()
        .map_err(|e| format!("MASTERS {masters:?}: {e}"))?;
    let workers: u8 = workers
        .parse()
        .map_err(|e| format!("WORKERS {workers:?}: {e}"))?;

    // The tutorial's layout (172.31.0.0/16, masters at .10+, workers at .20+ with pod CIDRs
    // 172.20.i.0/24); change any field of the spec before using it.
    let (id, new_id) = installation_id(&dir)?;
    let mut spec = InfraSpec::new(cluster.as_str(), id, masters, workers);
    spec.region = region;
    if let Some(name) = image_name {
        spec.image.name = name;
    }
    spec.validate()?; // names the bad field (a damaged ID file too), before any AWS call
    if new_id {
        ensure_private_dir(&dir)?;
        let path = dir.join(ID_FILE);
        write_file(
            &path,
            format!("{}\n", spec.installation_id).as_bytes(),
            Mode::Secret,
        )?;
        eprintln!(
            "new installation {}, kept in {}",
            spec.installation_id,
            path.display()
        );
    }

    // A lost state.json is no loss: resources are found again by their tags.
    let previous = load_state(&dir)?.unwrap_or_else(|| InfraState::new(cluster.as_str()));

    // Libraries never build a runtime: the program does.
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let infra = Infra::connect(&AwsOptions::default())
            .await?
            .with_progress(print_progress);

        if destroy {
            let report = infra.down(&spec, &previous).await?;
            for d in &report.deleted {
                println!("deleted {} {}", d.kind, d.id);
            }
            for n in &report.not_ours {
                println!("not ours, left alone: {} {:?}", n.kind, n.id);
            }
            if !report.left_behind.is_empty() {
                for l in &report.left_behind {
                    println!("left behind: {} {:?}: {}", l.kind, l.id, l.reason);
                }
                // Keep the old state: its IDs help the next --destroy find what is left.
                return Err("some resources are left behind: run --destroy again".into());
            }
            // Nothing left: the recorded IDs would only be stale.
            save_state(&dir, &InfraState::new(spec.cluster.as_str()))?;
            println!("nothing left of {} in AWS", spec.cluster);
            return Ok(());
        }

        if !apply {
            let plan = infra.plan(&spec, &previous, &dir).await?;
            for w in &plan.warnings {
                eprintln!("warning: {w}");
            }
            if plan.changes.is_empty() {
                println!("nothing to do: every resource is in place");
            }
            for change in &plan.changes {
                println!("{change}");
            }
            return Ok(());
        }

        // The state is saved before the first change and after each creation: a run that
        // fails or is interrupted still pins the region and tells --destroy what it made.
        let record = |state: &InfraState| save_state(&dir, state);
        let report = infra.up_recording(&spec, &previous, &dir, &record).await?;
        // Save at once: the next run finds everything by ID, even if the wait below fails.
        save_state(&dir, &report.state)?;
        for change in &report.changes {
            println!("done: {change}");
        }
        // A bootstrap tool signs the certificates for the endpoint while the load balancer
        // provisions (see the custom_bootstrap example for the steps after this one).
        infra
            .wait_load_balancer_active(&spec, &report.state)
            .await?;
        let endpoint = report
            .state
            .api_endpoint()
            .ok_or("AWS gave the load balancer no DNS name")?;
        println!(
            "API endpoint: https://{endpoint}:{}",
            k8s_aws_infra::API_PORT
        );
        for (name, instance) in &report.state.instances {
            println!(
                "{name}: {} public {} private {}",
                instance.id,
                instance.public_ip.as_deref().unwrap_or("-"),
                instance.private_ip.as_deref().unwrap_or("-")
            );
        }
        if let Some(key) = &report.state.key_path {
            println!("SSH key: {}", key.display());
        }
        // Before the first SSH connection, pin each instance's host keys from its console
        // (`Infra::console_host_keys`, then `k8s_distribute::pin_known_hosts`): a machine
        // that merely answers at the address is then refused.
        Ok::<(), Box<dyn Error>>(())
    })
}
