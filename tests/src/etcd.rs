//! A real etcd cluster (the etcd `scripts/build-peers` builds) with mutual TLS on loopback
//! addresses, to prove certificates work for what they are made for.

use std::net::{IpAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::master_flags::{EtcdMember, etcd_args};
use crate::process::Daemon;
use crate::require_tool;

/// The TLS files one etcd member serves with.
#[derive(Debug, Clone)]
pub struct EtcdTls {
    /// CA that signs clients and peers.
    pub ca: PathBuf,
    /// Server and peer certificate (the apiserver certificate in this project).
    pub cert: PathBuf,
    /// Its key.
    pub key: PathBuf,
}

/// A running etcd cluster; stopped on drop.
pub struct EtcdCluster {
    members: Vec<Daemon>,
    /// `https://<ip>:<port>` per member.
    pub client_urls: Vec<String>,
    _data: tempfile::TempDir,
}

fn free_port(ip: IpAddr) -> u16 {
    let l = TcpListener::bind((ip, 0)).unwrap_or_else(|e| panic!("cannot bind {ip}:0: {e}"));
    l.local_addr()
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("{e}"))
}

impl EtcdCluster {
    /// Starts one member per address (e.g. 127.0.0.10-12) with client and peer mutual TLS,
    /// with a master's flags ([`etcd_args`]), and waits until `etcdctl endpoint health` passes
    /// with the given client credentials.
    pub fn start(ips: &[IpAddr], tls: &EtcdTls, client_cert: &Path, client_key: &Path) -> Self {
        let etcd = require_tool("etcd");
        let data = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
        let ports: Vec<(u16, u16)> = ips
            .iter()
            .map(|ip| (free_port(*ip), free_port(*ip)))
            .collect();
        let initial: Vec<String> = ips
            .iter()
            .zip(&ports)
            .enumerate()
            .map(|(i, (ip, (_, peer)))| format!("m{i}=https://{ip}:{peer}"))
            .collect();
        let initial = initial.join(",");
        let mut members = Vec::new();
        let mut client_urls = Vec::new();
        for (i, (ip, (client, peer))) in ips.iter().zip(&ports).enumerate() {
            let member = EtcdMember {
                name: format!("m{i}"),
                data_dir: data.path().join(format!("m{i}")),
                client_url: format!("https://{ip}:{client}"),
                peer_url: format!("https://{ip}:{peer}"),
                initial_cluster: initial.clone(),
                ca: tls.ca.clone(),
                cert: tls.cert.clone(),
                key: tls.key.clone(),
            };
            let log = data.path().join(format!("m{i}.log"));
            members.push(Daemon::spawn(
                &format!("etcd m{i}"),
                &etcd,
                &etcd_args(&member),
                &log,
            ));
            client_urls.push(member.client_url);
        }
        let mut cluster = EtcdCluster {
            members,
            client_urls,
            _data: data,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let out = cluster.etcdctl(&tls.ca, client_cert, client_key, &["endpoint", "health"]);
            if out.is_ok() {
                return cluster;
            }
            let exited = cluster.members.iter_mut().any(|m| m.exited().is_some());
            if exited || Instant::now() > deadline {
                panic!(
                    "etcd cluster not healthy ({}): {out:?}\nlogs:\n{}",
                    if exited {
                        "a member exited"
                    } else {
                        "after 30 s"
                    },
                    cluster.logs()
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Every member's log, one after the other.
    pub fn logs(&self) -> String {
        self.members
            .iter()
            .map(|m| format!("---- {}\n{}", m.name(), m.log()))
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Runs `etcdctl` against every member with the given client credentials.
    ///
    /// # Errors
    /// etcdctl's output when it exits non-zero.
    pub fn etcdctl(
        &self,
        ca: &Path,
        cert: &Path,
        key: &Path,
        args: &[&str],
    ) -> Result<String, String> {
        crate::run_tool("etcdctl", self.etcdctl_args(ca, cert, key, args))
    }

    /// [`Self::etcdctl`], its stdout as bytes: values etcd stores are binary (an encrypted
    /// Secret, a protobuf object).
    ///
    /// # Errors
    /// etcdctl's output when it exits non-zero.
    pub fn etcdctl_raw(
        &self,
        ca: &Path,
        cert: &Path,
        key: &Path,
        args: &[&str],
    ) -> Result<Vec<u8>, String> {
        let out = std::process::Command::new(require_tool("etcdctl"))
            .args(self.etcdctl_args(ca, cert, key, args))
            .output()
            .map_err(|e| format!("cannot run etcdctl: {e}"))?;
        if out.status.success() {
            Ok(out.stdout)
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }

    fn etcdctl_args(&self, ca: &Path, cert: &Path, key: &Path, args: &[&str]) -> Vec<String> {
        let mut all = vec![
            format!("--endpoints={}", self.client_urls.join(",")),
            format!("--cacert={}", ca.display()),
            format!("--cert={}", cert.display()),
            format!("--key={}", key.display()),
            "--dial-timeout=3s".to_string(),
            "--command-timeout=5s".to_string(),
        ];
        all.extend(args.iter().map(|a| a.to_string()));
        all
    }
}
