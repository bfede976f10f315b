//! A Kubernetes control plane on loopback, from exactly the files `k8s-hard bundle` wrote: a
//! TLS etcd, then kube-apiserver, kube-controller-manager and kube-scheduler with a master's
//! flags ([`crate::master_flags`]), the real binaries `scripts/build-peers` builds.
//!
//! The API server listens on the API endpoint, a loopback address of its own
//! ([`free_api_endpoint`]) at the cluster's port 6443, so the kubelets', kube-proxy's and the
//! admin's kubeconfigs reach it unchanged; etcd listens on 127.0.0.1 (its certificate, the API
//! server's, names 127.0.0.1) on free ports. One control plane runs at a time per test process
//! (each is several CPU-heavy processes, on a 2-core machine); every process stops
//! when the [`ControlPlane`] is dropped, or when the test process dies. When a test fails, the
//! components' logs are printed and their folder is kept.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::etcd::{EtcdCluster, EtcdTls};
use crate::master_flags::{
    Master, kube_apiserver_args, kube_controller_manager_args, kube_scheduler_args,
    kube_scheduler_config,
};
use crate::peers::peer;
use crate::process::Daemon;

/// How long the API server may take to answer `/readyz` with `ok` (seconds on an idle
/// machine; much longer when the two cores are busy with builds).
pub const READY_TIMEOUT: Duration = Duration::from_secs(180);

/// What the test knows of the folder `k8s-hard bundle` wrote (cluster.yaml's values).
#[derive(Debug, Clone)]
pub struct Bundle {
    /// The k8s-hard folder.
    pub dir: PathBuf,
    /// cluster.yaml `name`.
    pub cluster_name: String,
    /// cluster.yaml `api.endpoint`: a loopback address from [`free_api_endpoint`].
    pub endpoint: IpAddr,
    /// The private IP of the master this control plane plays (advertised by the API server).
    pub master_ip: IpAddr,
    /// cluster.yaml `network.service_cidr`.
    pub service_cidr: String,
    /// cluster.yaml `network.pod_cidr`.
    pub pod_cidr: String,
}

/// The port of the API server (cluster.yaml `api.port`, the only one k8s-hard uses).
pub const API_PORT: u16 = 6443;

/// A loopback address in 127.100.0.0-127.199.255.255 whose port 6443 is free: the API endpoint
/// of one control plane (another test run on the machine may hold 127.0.0.1:6443).
pub fn free_api_endpoint() -> IpAddr {
    for _ in 0..100 {
        let n = RandomState::new().build_hasher().finish();
        let ip = Ipv4Addr::new(
            127,
            100 + (n % 100) as u8,
            (n >> 8) as u8,
            1 + ((n >> 16) % 254) as u8,
        );
        if TcpListener::bind((ip, API_PORT)).is_ok() {
            return IpAddr::V4(ip);
        }
    }
    panic!("no loopback address with a free port {API_PORT} in 127.100.0.0/9")
}

fn free_port(ip: IpAddr) -> u16 {
    TcpListener::bind((ip, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("no free port on {ip}: {e}"))
}

/// One control plane at a time in this process.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// A running control plane. Its fields stop in order on drop: scheduler, controller-manager,
/// API server, etcd.
pub struct ControlPlane {
    /// The flags' inputs: change one (e.g. `encryption_config`), then
    /// [`ControlPlane::restart_apiserver`].
    pub master: Master,
    /// How long the last API server start took, from exec to `/readyz` ok.
    pub apiserver_start: Duration,
    scheduler: Daemon,
    controller_manager: Daemon,
    apiserver: Daemon,
    etcd: EtcdCluster,
    etcd_tls: EtcdTls,
    home: PathBuf,
    work: Option<tempfile::TempDir>,
    _one_at_a_time: MutexGuard<'static, ()>,
}

impl ControlPlane {
    /// Starts etcd, the API server (and waits for `/readyz`), the controller-manager and the
    /// scheduler from `bundle`'s files; panics with the logs when a component fails.
    pub fn start(bundle: &Bundle) -> ControlPlane {
        let guard = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
        let work = tempfile::Builder::new()
            .prefix("k8s-hard-control-plane-")
            .tempdir()
            .unwrap_or_else(|e| panic!("tempdir: {e}"));
        let state = work.path().join("state");
        let home = work.path().join("home");
        for d in [&state, &home] {
            std::fs::create_dir_all(d).unwrap_or_else(|e| panic!("{}: {e}", d.display()));
        }
        let pki = bundle.dir.join("pki");
        let etcd_tls = EtcdTls {
            ca: pki.join("ca.pem"),
            cert: pki.join("master-kubernetes.pem"),
            key: pki.join("master-kubernetes-key.pem"),
        };
        let etcd = EtcdCluster::start(
            &[IpAddr::V4(Ipv4Addr::LOCALHOST)],
            &etcd_tls,
            &etcd_tls.cert,
            &etcd_tls.key,
        );
        let api_url = format!("https://{}:{API_PORT}", bundle.endpoint);
        let master = Master {
            dir: bundle.dir.clone(),
            encryption_config: bundle.dir.join("encryption-config.yaml"),
            cluster_name: bundle.cluster_name.clone(),
            advertise_address: bundle.master_ip,
            port: API_PORT,
            etcd_servers: etcd.client_urls.clone(),
            service_cidr: bundle.service_cidr.clone(),
            pod_cidr: bundle.pod_cidr.clone(),
            service_account_issuer: api_url.clone(),
            test_bind_address: bundle.endpoint,
            test_component_ports: (free_port(bundle.endpoint), free_port(bundle.endpoint)),
            test_state_dir: state.clone(),
            test_api_url: Some(api_url),
        };
        let config = master.scheduler_config_path();
        std::fs::write(&config, kube_scheduler_config(&master))
            .unwrap_or_else(|e| panic!("{}: {e}", config.display()));
        let log = |name: &str| work.path().join(format!("{name}.log"));
        let apiserver = Daemon::spawn(
            "kube-apiserver",
            &peer("kube-apiserver"),
            &kube_apiserver_args(&master),
            &log("kube-apiserver"),
        );
        let controller_manager = Daemon::spawn(
            "kube-controller-manager",
            &peer("kube-controller-manager"),
            &kube_controller_manager_args(&master),
            &log("kube-controller-manager"),
        );
        let scheduler = Daemon::spawn(
            "kube-scheduler",
            &peer("kube-scheduler"),
            &kube_scheduler_args(&master),
            &log("kube-scheduler"),
        );
        let started = Instant::now();
        let mut plane = ControlPlane {
            master,
            apiserver_start: Duration::ZERO,
            scheduler,
            controller_manager,
            apiserver,
            etcd,
            etcd_tls,
            home,
            work: Some(work),
            _one_at_a_time: guard,
        };
        match plane.wait_healthy(started, Health::Ready) {
            Ok(took) => plane.apiserver_start = took,
            Err(e) => panic!("{e}"),
        }
        eprintln!(
            "control plane: kube-apiserver ready after {:.1} s on {}",
            plane.apiserver_start.as_secs_f64(),
            plane.api_url()
        );
        plane
    }

    /// `https://<endpoint>:6443`.
    pub fn api_url(&self) -> String {
        format!("https://{}:{API_PORT}", self.master.test_bind_address)
    }

    /// `<dir>/kubeconfigs/<file>`.
    pub fn kubeconfig(&self, file: &str) -> PathBuf {
        self.master.kubeconfig(file)
    }

    /// The admin's kubeconfig, as bundled.
    pub fn admin(&self) -> PathBuf {
        self.kubeconfig("admin.kubeconfig")
    }

    /// `kubectl --kubeconfig <kubeconfig> ARGS`, with a HOME of its own (its cache never goes
    /// to the real `~/.kube`).
    ///
    /// # Errors
    /// stderr and stdout when kubectl exits non-zero.
    pub fn kubectl(&self, kubeconfig: &Path, args: &[&str]) -> Result<String, String> {
        self.kubectl_with_input(kubeconfig, args, None)
    }

    /// [`ControlPlane::kubectl`] with `input` on its stdin (`kubectl replace -f -`).
    ///
    /// # Errors
    /// stderr and stdout when kubectl exits non-zero.
    pub fn kubectl_with_input(
        &self,
        kubeconfig: &Path,
        args: &[&str],
        input: Option<&str>,
    ) -> Result<String, String> {
        let mut child = Command::new(peer("kubectl"))
            .env("HOME", &self.home)
            .env_remove("KUBECONFIG")
            .arg("--kubeconfig")
            .arg(kubeconfig)
            .args(args)
            .stdin(if input.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot run kubectl: {e}"))?;
        if let (Some(text), Some(mut stdin)) = (input, child.stdin.take()) {
            stdin
                .write_all(text.as_bytes())
                .map_err(|e| format!("cannot write kubectl's stdin: {e}"))?;
        }
        let out = child
            .wait_with_output()
            .map_err(|e| format!("cannot wait for kubectl: {e}"))?;
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        if out.status.success() {
            Ok(stdout)
        } else {
            Err(format!("{}{stdout}", String::from_utf8_lossy(&out.stderr)))
        }
    }

    /// The value etcd stores under `key`, raw (as the API server wrote it), read with
    /// etcdctl and the API server's etcd client certificate; empty when there is none.
    pub fn etcd_value(&self, key: &str) -> Vec<u8> {
        let mut value = self.etcdctl_raw(&["get", key, "--print-value-only"]);
        if value.last() == Some(&b'\n') {
            value.pop();
        }
        value
    }

    /// Every key and value etcd holds, raw.
    pub fn etcd_everything(&self) -> Vec<u8> {
        self.etcdctl_raw(&["get", "", "--from-key"])
    }

    /// The keys under `prefix`, one per line.
    pub fn etcd_keys(&self, prefix: &str) -> Vec<String> {
        let out = self.etcdctl_raw(&["get", prefix, "--prefix", "--keys-only"]);
        String::from_utf8_lossy(&out)
            .lines()
            .filter(|l| !l.is_empty())
            .map(String::from)
            .collect()
    }

    fn etcdctl_raw(&self, args: &[&str]) -> Vec<u8> {
        let t = &self.etcd_tls;
        self.etcd
            .etcdctl_raw(&t.ca, &t.cert, &t.key, args)
            .unwrap_or_else(|e| panic!("etcdctl {args:?}: {e}"))
    }

    /// Stops the API server and starts it again with [`ControlPlane::master`]'s flags, as
    /// `systemctl restart kube-apiserver` does; panics with its log when it does not become
    /// ready. Returns how long it took to become ready.
    pub fn restart_apiserver(&mut self) -> Duration {
        self.try_restart_apiserver(Health::Ready)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// [`ControlPlane::restart_apiserver`], waiting for `health`, and returning what went
    /// wrong (with the API server's output of this start) instead of panicking.
    ///
    /// # Errors
    /// The API server exited, or did not reach `health` within [`READY_TIMEOUT`].
    pub fn try_restart_apiserver(&mut self, health: Health) -> Result<Duration, String> {
        self.apiserver.stop();
        let before = self.apiserver.log().len();
        let log = self.apiserver.log_path().to_path_buf();
        self.apiserver = Daemon::spawn(
            "kube-apiserver",
            &peer("kube-apiserver"),
            &kube_apiserver_args(&self.master),
            &log,
        );
        let took = self.wait_healthy(Instant::now(), health).map_err(|e| {
            let this_run = self
                .apiserver
                .log()
                .get(before..)
                .unwrap_or_default()
                .to_string();
            format!("{e}\n---- kube-apiserver, this start:\n{this_run}")
        })?;
        self.apiserver_start = took;
        eprintln!(
            "control plane: kube-apiserver restarted, {} after {:.1} s",
            health.path(),
            took.as_secs_f64()
        );
        Ok(took)
    }

    /// Everything the API server logged, every start.
    pub fn apiserver_log(&self) -> String {
        self.apiserver.log()
    }

    /// Calls `probe` until it returns `Ok` (every 250 ms, up to `timeout`); panics naming
    /// `what`, with the last error, when it never does.
    pub fn wait_for<T>(
        &self,
        what: &str,
        timeout: Duration,
        mut probe: impl FnMut() -> Result<T, String>,
    ) -> T {
        let deadline = Instant::now() + timeout;
        loop {
            match probe() {
                Ok(v) => return v,
                Err(e) if Instant::now() > deadline => {
                    panic!("{what}: not within {} s: {e}", timeout.as_secs())
                }
                Err(_) => std::thread::sleep(Duration::from_millis(250)),
            }
        }
    }

    /// Waits until `health`'s endpoint through the admin kubeconfig answers; `Err` when
    /// the API server exits first or takes longer than [`READY_TIMEOUT`].
    fn wait_healthy(&mut self, started: Instant, health: Health) -> Result<Duration, String> {
        let admin = self.admin();
        loop {
            let probe = self.kubectl(&admin, &["get", "--raw", health.path()]);
            let ok = match health {
                Health::Serving => probe.is_ok(),
                Health::Ready => probe.as_deref().map(str::trim) == Ok("ok"),
            };
            if ok {
                return Ok(started.elapsed());
            }
            if let Some(status) = self.apiserver.exited() {
                return Err(format!(
                    "kube-apiserver exited ({status}) before {} answered",
                    health.path()
                ));
            }
            if started.elapsed() > READY_TIMEOUT {
                return Err(format!(
                    "kube-apiserver's {} did not answer within {} s: {probe:?}",
                    health.path(),
                    READY_TIMEOUT.as_secs()
                ));
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }
}

/// What a (re)started API server is waited for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    /// `/readyz` ok: it serves, and every informer has synced.
    Ready,
    /// `/version` answers: it serves requests, maybe before its start-up is done.
    Serving,
}

impl Health {
    /// The endpoint that says so.
    pub fn path(self) -> &'static str {
        match self {
            Health::Ready => "/readyz",
            Health::Serving => "/version",
        }
    }
}

impl Drop for ControlPlane {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            return;
        }
        for d in [&self.apiserver, &self.controller_manager, &self.scheduler] {
            eprintln!(
                "---- {} ({}):\n{}",
                d.name(),
                d.log_path().display(),
                tail(&d.log(), 80)
            );
        }
        eprintln!("---- etcd:\n{}", tail(&self.etcd.logs(), 40));
        if let Some(work) = self.work.take() {
            eprintln!(
                "control plane logs and state kept in {}",
                work.keep().display()
            );
        }
    }
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Standard base64 (a Secret's `.data`, a CSR's `.status.certificate`), decoded; panics on
/// anything else.
pub fn base64_decode(text: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .unwrap_or_else(|e| panic!("not base64 ({e}): {text:?}"))
}

/// Standard base64 of `bytes` (a CSR's `.spec.request`).
pub fn base64_encode(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// The claims of a JSON Web Token (its middle part), as JSON text; panics on anything else.
pub fn jwt_claims(token: &str) -> String {
    use base64::Engine;
    let claims = token
        .trim()
        .split('.')
        .nth(1)
        .unwrap_or_else(|| panic!("not a JWT: {token:?}"));
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(claims)
        .unwrap_or_else(|e| panic!("the JWT's claims are not base64url ({e}): {token:?}"));
    String::from_utf8_lossy(&bytes).into_owned()
}
