//! A real 3-member etcd cluster with mutual TLS on loopback addresses, to prove certificates
//! work for what they are made for.

use std::net::{IpAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

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

/// A running etcd cluster; killed on drop.
pub struct EtcdCluster {
    children: Vec<Child>,
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
    /// and waits until `etcdctl endpoint health` passes with the given client credentials.
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
        let mut children = Vec::new();
        let mut client_urls = Vec::new();
        for (i, (ip, (client, peer))) in ips.iter().zip(&ports).enumerate() {
            let dir = data.path().join(format!("m{i}"));
            let log = std::fs::File::create(data.path().join(format!("m{i}.log")))
                .unwrap_or_else(|e| panic!("log file: {e}"));
            let client_url = format!("https://{ip}:{client}");
            let peer_url = format!("https://{ip}:{peer}");
            let child = Command::new(&etcd)
                .arg(format!("--name=m{i}"))
                .arg(format!("--data-dir={}", dir.display()))
                .arg(format!("--listen-client-urls={client_url}"))
                .arg(format!("--advertise-client-urls={client_url}"))
                .arg(format!("--listen-peer-urls={peer_url}"))
                .arg(format!("--initial-advertise-peer-urls={peer_url}"))
                .arg(format!("--initial-cluster={initial}"))
                .arg("--initial-cluster-state=new")
                .arg("--initial-cluster-token=k8s-hard-test")
                .arg(format!("--cert-file={}", tls.cert.display()))
                .arg(format!("--key-file={}", tls.key.display()))
                .arg(format!("--trusted-ca-file={}", tls.ca.display()))
                .arg("--client-cert-auth")
                .arg(format!("--peer-cert-file={}", tls.cert.display()))
                .arg(format!("--peer-key-file={}", tls.key.display()))
                .arg(format!("--peer-trusted-ca-file={}", tls.ca.display()))
                .arg("--peer-client-cert-auth")
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start etcd: {e}"));
            children.push(child);
            client_urls.push(client_url);
        }
        let cluster = EtcdCluster {
            children,
            client_urls,
            _data: data,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let out = cluster.etcdctl(&tls.ca, client_cert, client_key, &["endpoint", "health"]);
            if out.is_ok() {
                return cluster;
            }
            if Instant::now() > deadline {
                let logs: String = (0..ips.len())
                    .map(|i| {
                        std::fs::read_to_string(cluster._data.path().join(format!("m{i}.log")))
                            .unwrap_or_default()
                    })
                    .collect::<Vec<_>>()
                    .join("\n----\n");
                panic!("etcd cluster not healthy after 30 s: {out:?}\nlogs:\n{logs}");
            }
            std::thread::sleep(Duration::from_millis(200));
        }
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
        // etcdctl 3.4 speaks the v3 API by default.
        let mut all = vec![
            format!("--endpoints={}", self.client_urls.join(",")),
            format!("--cacert={}", ca.display()),
            format!("--cert={}", cert.display()),
            format!("--key={}", key.display()),
            "--dial-timeout=3s".to_string(),
            "--command-timeout=5s".to_string(),
        ];
        all.extend(args.iter().map(|a| a.to_string()));
        crate::run_tool("etcdctl", all)
    }
}

impl Drop for EtcdCluster {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
