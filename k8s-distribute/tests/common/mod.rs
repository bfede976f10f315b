//! Shared setup for the tests against real sshd hosts.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use k8s_distribute::{
    Event, HostKeys, LocalFiles, Manifest, Node, SshClient, SshSettings, UnknownHosts,
};
use k8s_hard_tests::sshd::SshdHosts;
use sha2::{Digest, Sha256};

pub const NAME: &str = "k8s-cluster-from-ground-up";

/// An sshd host setup snippet ([`SshdHosts::start_with`]) that binds a shell script with
/// `body` over the host's `tool` (`/usr/bin/<tool>`), inside that host's mount namespace only.
pub fn replace_tool(tool: &str, body: &str) -> String {
    format!(
        "cat > /tmp/k8s-hard-{tool}.$$ <<'K8S_HARD_TOOL'\n#!/bin/sh\n{body}\nK8S_HARD_TOOL\n\
         chmod +x /tmp/k8s-hard-{tool}.$$\n\
         mount --bind /tmp/k8s-hard-{tool}.$$ /usr/bin/{tool}\n\
         rm /tmp/k8s-hard-{tool}.$$"
    )
}

/// Dummy PKI and kubeconfig files with the real names and realistic sizes; content unique per
/// file so a file on the wrong node would show.
pub fn dummy_files(root: &Path, workers: usize) -> LocalFiles {
    let pki = root.join("pki");
    let kc = root.join("kubeconfigs");
    std::fs::create_dir_all(&pki).unwrap();
    std::fs::create_dir_all(&kc).unwrap();
    let mut pki_names = vec![
        "ca".to_string(),
        "service-account".to_string(),
        "master-kubernetes".to_string(),
    ];
    let mut kc_names = vec![
        "kube-proxy".to_string(),
        "kube-controller-manager".to_string(),
        "kube-scheduler".to_string(),
        "admin".to_string(),
    ];
    for i in 0..workers {
        pki_names.push(format!("{NAME}-worker-{i}"));
        kc_names.push(format!("{NAME}-worker-{i}"));
    }
    for n in &pki_names {
        write_sized(&pki.join(format!("{n}.pem")), 1300);
        write_sized(&pki.join(format!("{n}-key.pem")), 1700);
    }
    for n in &kc_names {
        write_sized(&kc.join(format!("{n}.kubeconfig")), 6000);
    }
    let enc = root.join("encryption-config.yaml");
    write_sized(&enc, 240);
    LocalFiles {
        pki_dir: pki,
        kubeconfig_dir: kc,
        encryption_config: enc,
    }
}

fn write_sized(path: &Path, size: usize) {
    let mut s = format!("{}\n", path.display());
    while s.len() < size {
        s.push_str("0123456789abcdefghijklmnopqrstuvwxyz");
    }
    s.truncate(size);
    std::fs::write(path, s).unwrap();
}

/// Masters on the first `masters` hosts, workers on the rest.
pub fn nodes(hosts: &SshdHosts, masters: usize) -> (Vec<Node>, Vec<Node>) {
    let user = hosts.user();
    let node = |name: String, i: usize| {
        Node::new(name, hosts[i].address())
            .with_port(hosts[i].port())
            .with_user(user.clone())
    };
    let m = (0..masters)
        .map(|i| node(format!("{NAME}-master-{i}"), i))
        .collect();
    let w = (masters..hosts.hosts().len())
        .map(|i| node(format!("{NAME}-worker-{}", i - masters), i))
        .collect();
    (m, w)
}

pub fn manifest(hosts: &SshdHosts, masters: usize) -> Manifest {
    let (m, w) = nodes(hosts, masters);
    let files = dummy_files(&hosts.scratch().join("local"), w.len());
    Manifest::for_cluster(&m, &w, &files).unwrap()
}

pub fn known_hosts(hosts: &SshdHosts, unknown: UnknownHosts) -> HostKeys {
    HostKeys::KnownHosts {
        path: hosts.write_known_hosts(),
        unknown,
    }
}

pub fn client(key: &Path, host_keys: HostKeys) -> SshClient {
    let mut settings = SshSettings::new(key, host_keys);
    settings.connect_retries = 1;
    settings.connect_timeout = std::time::Duration::from_secs(5);
    SshClient::new(&settings).unwrap()
}

pub fn sha256(data: &[u8]) -> String {
    Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Every entry of a host's home, except `.ssh`: name -> (sha256, mode).
pub fn home_files(home: &Path) -> BTreeMap<String, (String, u32)> {
    std::fs::read_dir(home)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_name() != ".ssh")
        .map(|e| {
            let p: PathBuf = e.path();
            let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
            let hash = if p.is_file() {
                sha256(&std::fs::read(&p).unwrap())
            } else {
                "dir".to_string()
            };
            (e.file_name().to_string_lossy().into_owned(), (hash, mode))
        })
        .collect()
}

/// What a node's home must hold after a successful upload: exactly its manifest.
pub fn expected_files(nf: &k8s_distribute::NodeFiles) -> BTreeMap<String, (String, u32)> {
    nf.files
        .iter()
        .map(|f| {
            (
                f.remote_name.clone(),
                (sha256(&std::fs::read(&f.local).unwrap()), f.mode.bits()),
            )
        })
        .collect()
}

/// Collects progress events.
#[derive(Default)]
pub struct Events(pub Mutex<Vec<Event>>);

impl Events {
    pub fn push(&self, e: Event) {
        self.0.lock().unwrap().push(e);
    }
    pub fn take(&self) -> Vec<Event> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}
