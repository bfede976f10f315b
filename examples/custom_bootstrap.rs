//! The files of "Kubernetes from the ground up" for machines that are not ours (on premises,
//! another cloud, made by your own tool), the way a custom bootstrap tool would compose the
//! libraries: the PKI (STEP 5, `k8s-pki`), the five kinds of kubeconfig (STEP 6,
//! `k8s-kubeconfig`), the encryption config (STEP 7), and every file copied to the node that
//! needs it (`k8s-distribute`), over SSH with host keys checked against known_hosts.
//!
//! ```sh
//! cargo run -p k8s-hard-examples --example custom_bootstrap -- ./bootstrap \
//!     --endpoint k8s-api.example.com:6443 --user ubuntu \
//!     --key ~/.ssh/id_ed25519 --known-hosts ~/.ssh/known_hosts \
//!     master:cp-1:10.0.0.10:203.0.113.10 \
//!     worker:node-1:10.0.0.21:203.0.113.21:2222 worker:node-2:10.0.0.22:203.0.113.22
//! ```
//!
//! A node is `ROLE:NAME:PRIVATE_IP:SSH_HOST[:SSH_PORT]`: the private IP goes into the
//! certificates, SSH_HOST (an IPv4 address or a DNS name) is where the files are sent. The
//! folder receives `pki/`, `kubeconfigs/` and `encryption-config.yaml`. A host missing from
//! known_hosts is refused before anything is sent (`ssh-keyscan` it only if you can check
//! the key). Run it again: what is still right is kept, and nothing is sent.

use std::error::Error;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use k8s_distribute::{
    FileStatus, HostKeys, LocalFiles, Manifest, SshClient, SshSettings, UnknownHosts, UploadOptions,
};
use k8s_files::{Mode, ensure_private_dir, write_if_changed};
use k8s_kubeconfig::{
    ApiEndpoint, Component, Credentials, ServerChoice, WorkerNode, build_kubeconfig,
    prepare_encryption_config, render_encryption_config, render_kubeconfig,
};
use k8s_pki::{Bundle, Change, Pki, PkiInputs, ReconcileOptions, store};

const USAGE: &str = "usage: DIR --endpoint HOST[:PORT] --user USER --key KEY --known-hosts FILE \
                     [--cluster NAME] (master|worker):NAME:PRIVATE_IP:SSH_HOST[:SSH_PORT]…";

/// One machine as given on the command line.
struct Machine {
    master: bool,
    name: String,
    private_ip: IpAddr,
    ssh_host: String,
    ssh_port: u16,
}

fn parse_machine(arg: &str) -> Result<Machine, Box<dyn Error>> {
    let bad = |why: String| format!("{arg:?}: {why}; want ROLE:NAME:PRIVATE_IP:SSH_HOST[:PORT]");
    let parts: Vec<&str> = arg.split(':').collect();
    let (role, name, ip, host, port) = match parts.as_slice() {
        [r, n, i, h] => (*r, *n, *i, *h, "22"),
        [r, n, i, h, p] => (*r, *n, *i, *h, *p),
        _ => return Err(bad("wrong number of fields".into()).into()),
    };
    let master = match role {
        "master" => true,
        "worker" => false,
        _ => return Err(bad(format!("{role:?} is not master or worker")).into()),
    };
    Ok(Machine {
        master,
        name: name.to_string(),
        private_ip: ip.parse().map_err(|e| bad(format!("{ip:?}: {e}")))?,
        ssh_host: host.to_string(),
        ssh_port: port.parse().map_err(|e| bad(format!("{port:?}: {e}")))?,
    })
}

/// STEP 5: every certificate and key, reconciled with what `pki_dir` holds (only what is
/// missing or wrong is made, only what changed is written).
fn pki(
    pki_dir: &Path,
    cluster: &str,
    endpoint: &ApiEndpoint,
    machines: &[Machine],
) -> Result<Bundle, Box<dyn Error>> {
    let node = |m: &Machine| k8s_pki::Node {
        name: m.name.clone(),
        // The kubelet registers under its hostname: here the name you gave the machine.
        hostname: m.name.clone(),
        fqdn: None,
        private_ip: m.private_ip,
        public_ip: None,
    };
    let (masters, workers): (Vec<&Machine>, Vec<&Machine>) =
        machines.iter().partition(|m| m.master);
    let mut inputs = PkiInputs::new(
        cluster,
        masters.into_iter().map(node).collect(),
        workers.into_iter().map(node).collect(),
    );
    inputs.api_endpoints = vec![endpoint.host().to_string()];
    let pki = Pki::new(inputs)?; // names the bad field: duplicate names or IPs, ...
    for warning in pki.warnings() {
        eprintln!("warning: {warning}");
    }
    let existing = store::load(pki_dir, pki.specs())?;
    let bundle = pki.reconcile(&existing, &ReconcileOptions::default())?;
    store::save(pki_dir, &bundle)?;
    for item in &bundle.items {
        match &item.change {
            Change::Kept => {}
            Change::Created => println!("pki: created {}", item.name),
            Change::Reissued(why) => println!("pki: reissued {} ({})", item.name, why.join("; ")),
        }
    }
    Ok(bundle)
}

/// STEP 6: the kubelet's (one per worker), kube-proxy's, kube-controller-manager's,
/// kube-scheduler's and admin's kubeconfigs, written only when they changed.
fn kubeconfigs(
    bundle: &Bundle,
    out_dir: &Path,
    cluster: &str,
    endpoint: &ApiEndpoint,
    machines: &[Machine],
) -> Result<(), Box<dyn Error>> {
    let get = |name: &str| {
        bundle
            .get(name)
            .ok_or(format!("no certificate {name} in the PKI"))
    };
    let ca = get(k8s_pki::CA)?;
    ensure_private_dir(out_dir)?;
    let workers = machines.iter().filter(|m| !m.master).map(|m| WorkerNode {
        name: m.name.clone(),
        hostname: m.name.clone(),
    });
    for component in Component::tutorial_set(workers) {
        let file_name = component.file_name();
        // The kubeconfig's stem is its client certificate's: node-1.kubeconfig, node-1.pem.
        let stem = file_name.trim_end_matches(".kubeconfig");
        let client = get(stem)?;
        let server = match component.server() {
            ServerChoice::ApiEndpoint => endpoint.clone(),
            ServerChoice::Loopback => ApiEndpoint::loopback(),
        };
        let credentials = Credentials {
            ca_pem: ca.cert_pem.as_bytes(),
            client_cert_pem: client.cert_pem.as_bytes(),
            client_key_pem: client.key_pem.expose().as_bytes(),
        };
        let kubeconfig = build_kubeconfig(&component, cluster, &server, &credentials)?;
        // It embeds the client key: 0600.
        let path = out_dir.join(&file_name);
        if write_if_changed(
            &path,
            render_kubeconfig(&kubeconfig)?.as_bytes(),
            Mode::Secret,
        )? {
            println!("kubeconfig: wrote {file_name} ({})", server.url());
        }
    }
    Ok(())
}

/// STEP 7: the API server's encryption key, made once and then kept (a new key would make
/// every stored secret unreadable).
fn encryption_config(path: &Path) -> Result<(), Box<dyn Error>> {
    let existing = match std::fs::read_to_string(path) {
        Ok(text) => Some(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(format!("{}: {e}", path.display()).into()),
    };
    let prepared = prepare_encryption_config(existing.as_deref())
        .map_err(|e| format!("{}: {e}", path.display()))?;
    if prepared.needs_write() {
        let text = render_encryption_config(prepared.config())?;
        k8s_files::write_file(path, text.as_bytes(), Mode::Secret)?;
        println!("encryption config: wrote {}", path.display());
    }
    Ok(())
}

fn main() -> Result<(), Box<dyn Error>> {
    let (mut endpoint, mut user, mut key, mut known_hosts) = (None, None, None, None);
    let mut cluster = "kubernetes".to_string();
    let (mut dir, mut machines) = (None, Vec::new());
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || {
            args.next()
                .ok_or_else(|| format!("{arg} needs a value; {USAGE}"))
        };
        match arg.as_str() {
            "--endpoint" => endpoint = Some(ApiEndpoint::parse(&value()?)?),
            "--user" => user = Some(value()?),
            "--key" => key = Some(PathBuf::from(value()?)),
            "--known-hosts" => known_hosts = Some(PathBuf::from(value()?)),
            "--cluster" => cluster = value()?,
            _ if arg.starts_with("--") => return Err(format!("unknown flag {arg}; {USAGE}").into()),
            _ if dir.is_none() => dir = Some(PathBuf::from(&arg)),
            _ => machines.push(parse_machine(&arg)?),
        }
    }
    let (Some(dir), Some(endpoint), Some(user), Some(key), Some(known_hosts)) =
        (dir, endpoint, user, key, known_hosts)
    else {
        return Err(USAGE.into());
    };

    let files = LocalFiles {
        pki_dir: dir.join("pki"),
        kubeconfig_dir: dir.join("kubeconfigs"),
        encryption_config: dir.join("encryption-config.yaml"),
    };
    ensure_private_dir(&dir)?;
    let bundle = pki(&files.pki_dir, &cluster, &endpoint, &machines)?;
    kubeconfigs(
        &bundle,
        &files.kubeconfig_dir,
        &cluster,
        &endpoint,
        &machines,
    )?;
    encryption_config(&files.encryption_config)?;

    // Which file goes where, per the tutorial: plain data, to print or change before sending.
    let node = |m: &Machine| {
        k8s_distribute::Node::new(m.name.clone(), m.ssh_host.clone())
            .with_port(m.ssh_port)
            .with_user(user.clone())
    };
    let masters: Vec<_> = machines.iter().filter(|m| m.master).map(node).collect();
    let workers: Vec<_> = machines.iter().filter(|m| !m.master).map(node).collect();
    let manifest = Manifest::for_cluster(&masters, &workers, &files)?;

    // Machines that are not ours: the only proof of who answers is known_hosts.
    let host_keys = HostKeys::KnownHosts {
        path: known_hosts,
        unknown: UnknownHosts::Refuse,
    };
    let client = SshClient::new(&SshSettings::new(key, host_keys))?;
    // Libraries never build a runtime: the program does.
    let runtime = tokio::runtime::Runtime::new()?;
    let report = runtime.block_on(client.upload(&manifest, &UploadOptions::default(), &|_| {}))?;
    for node in &report.nodes {
        match &node.error {
            Some(e) => println!("{} ({}): failed: {e}", node.node, node.address),
            None => println!(
                "{} ({}): {} sent, {} unchanged, {} failed",
                node.node,
                node.address,
                node.count(&FileStatus::Sent),
                node.count(&FileStatus::Unchanged) + node.count(&FileStatus::ModeFixed),
                node.files
                    .iter()
                    .filter(|f| matches!(f.status, FileStatus::Failed(_)))
                    .count()
            ),
        }
    }
    if report.is_success() {
        Ok(())
    } else {
        Err("some nodes did not receive all their files: run again to retry".into())
    }
}
