//! Real OpenSSH servers on loopback addresses, one per address, for the SSH tests.
//!
//! Each host is a `/usr/sbin/sshd -D -e` with its own ed25519 host key (plus an RSA one on
//! request, [`SshdHost::add_rsa_host_key`]), config file, free port and home folder: sshd runs
//! under `unshare --mount --propagation private`, which bind-mounts a per-host temp folder over
//! the login user's home, so six hosts on one machine have six different `~`. Key-only authentication (no passwords, no keyboard-interactive); the login
//! user is the user running the tests (root, with `PermitRootLogin prohibit-password`).
//!
//! Every process is killed when [`SshdHosts`] is dropped. Missing tools are a panic that says
//! to run `./scripts/test`, never a silent skip.
//!
//! ```no_run
//! use k8s_hard_tests::sshd::SshdHosts;
//! let hosts = SshdHosts::start(&["127.0.0.10", "127.0.0.20"]);
//! let kh = hosts.write_known_hosts();
//! println!("{} {} {}", hosts[0].address(), hosts[0].port(), kh.display());
//! ```

use std::fs;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::require_tool;

/// The six addresses of the issue: masters on .10-.12, workers on .20-.22.
pub const SIX: [&str; 6] = [
    "127.0.0.10",
    "127.0.0.11",
    "127.0.0.12",
    "127.0.0.20",
    "127.0.0.21",
    "127.0.0.22",
];

const SSHD: &str = "/usr/sbin/sshd";

/// A set of sshd hosts sharing one client key pair (ed25519) and one RSA PEM key pair (the
/// AWS key pair format), both authorized on every host ([`SshdHosts::start_instances`]: none).
pub struct SshdHosts {
    hosts: Vec<SshdHost>,
    dir: tempfile::TempDir,
    client_key: PathBuf,
    client_rsa_key: PathBuf,
}

/// One sshd.
pub struct SshdHost {
    address: String,
    port: u16,
    root: PathBuf,
    home: PathBuf,
    setup: String,
    child: Option<Child>,
}

fn run(cmd: &mut Command) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e} (run ./scripts/test)"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn keygen(path: &Path, extra: &[&str]) {
    let _ = fs::remove_file(path);
    let _ = fs::remove_file(path.with_extension("pub"));
    run(Command::new(require_tool("ssh-keygen"))
        .args(["-q", "-N", "", "-C", "k8s-hard-test", "-f"])
        .arg(path)
        .args(extra));
}

fn pub_path(key: &Path) -> PathBuf {
    let mut s = key.as_os_str().to_owned();
    s.push(".pub");
    PathBuf::from(s)
}

/// A public key file's SHA256 fingerprint as `ssh-keygen -l` prints it (`SHA256:…`).
fn fingerprint_of(pub_key: &Path) -> String {
    let out = Command::new(require_tool("ssh-keygen"))
        .arg("-lf")
        .arg(pub_key)
        .output()
        .expect("ssh-keygen -l");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .nth(1)
        .unwrap_or_default()
        .to_string()
}

fn read_trim(path: &Path) -> String {
    fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .trim()
        .to_string()
}

/// The login user's name and home folder, as sshd will see them.
fn login_user() -> (String, PathBuf) {
    let out = Command::new("id").arg("-un").output().expect("run id -un");
    let user = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let out = Command::new("getent")
        .args(["passwd", &user])
        .output()
        .expect("run getent passwd");
    let line = String::from_utf8_lossy(&out.stdout).to_string();
    let home = line
        .trim()
        .split(':')
        .nth(5)
        .unwrap_or_else(|| panic!("no home folder for {user} in {line:?}"));
    (user, PathBuf::from(home))
}

fn free_port(address: &str) -> u16 {
    let ip: Ipv4Addr = address.parse().expect("an IPv4 loopback address");
    TcpListener::bind(SocketAddr::from((ip, 0)))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("no free port on {address}: {e}"))
}

impl SshdHosts {
    /// Starts one sshd per address and waits until each accepts connections.
    pub fn start(addresses: &[&str]) -> Self {
        Self::start_with(addresses, |_| String::new())
    }

    /// Hosts as EC2 launches instances: each with an ed25519, an ECDSA and an RSA host key
    /// (as a stock Ubuntu image makes at first boot) and no authorized key at all: the key
    /// pair reaches them later ([`crate::aws_timing::AwsTiming::add_machine`]), and what
    /// their consoles show comes from cloud-init's own script ([`SshdHost::console`]).
    pub fn start_instances(addresses: &[&str]) -> Self {
        Self::start_inner(addresses, |_| String::new(), false)
    }

    /// The six hosts of [`SIX`].
    pub fn start_six() -> Self {
        Self::start(&SIX)
    }

    /// Like [`SshdHosts::start`], with a shell snippet per host run inside its mount namespace
    /// (after its home is mounted, before sshd starts), e.g. to mount a tiny tmpfs or bind a
    /// different tool over a system one. The snippet may use `$HOME_DIR` (the login home).
    pub fn start_with(addresses: &[&str], setup: impl Fn(&str) -> String) -> Self {
        Self::start_inner(addresses, setup, true)
    }

    fn start_inner(
        addresses: &[&str],
        setup: impl Fn(&str) -> String,
        authorize_clients: bool,
    ) -> Self {
        require_tool("ssh-keygen");
        require_tool("unshare");
        assert!(
            Path::new(SSHD).exists(),
            "{SSHD} is not installed: run ./scripts/test, which installs openssh-server"
        );
        let uid = Command::new("id").arg("-u").output().expect("run id -u");
        assert_eq!(
            String::from_utf8_lossy(&uid.stdout).trim(),
            "0",
            "the sshd harness mounts a home folder per host and needs root (as in CI)"
        );
        // Privilege separation needs this folder.
        fs::create_dir_all("/run/sshd").expect("create /run/sshd");
        let dir = tempfile::Builder::new()
            .prefix("k8s-hard-sshd.")
            .tempdir()
            .expect("temp dir");
        let client_key = dir.path().join("id_ed25519");
        keygen(&client_key, &["-t", "ed25519"]);
        let client_rsa_key = dir.path().join("id_rsa.pem");
        keygen(&client_rsa_key, &["-t", "rsa", "-b", "2048", "-m", "PEM"]);
        let authorized = if authorize_clients {
            format!(
                "{}\n{}\n",
                read_trim(&pub_path(&client_key)),
                read_trim(&pub_path(&client_rsa_key))
            )
        } else {
            String::new()
        };
        let mut hosts = Vec::new();
        for address in addresses {
            let root = dir.path().join(address);
            let home = root.join("home");
            fs::create_dir_all(home.join(".ssh")).expect("create host home");
            fs::set_permissions(&home, fs::Permissions::from_mode(0o700)).expect("chmod home");
            fs::write(home.join(".ssh/authorized_keys"), &authorized).expect("authorized_keys");
            let mut host = SshdHost {
                address: address.to_string(),
                port: free_port(address),
                root,
                home,
                setup: setup(address),
                child: None,
            };
            keygen(&host.host_key_path(), &["-t", "ed25519"]);
            if !authorize_clients {
                keygen(&host.ecdsa_host_key_path(), &["-t", "ecdsa"]);
                keygen(&host.rsa_host_key_path(), &["-t", "rsa", "-b", "2048"]);
            }
            host.start();
            hosts.push(host);
        }
        SshdHosts {
            hosts,
            dir,
            client_key,
            client_rsa_key,
        }
    }

    /// What an earlier boot of some machine printed (cloud-init's script over fresh host keys
    /// of its own), for consoles that hold two boots.
    pub fn earlier_boot_console(&self) -> String {
        let dir = self.dir.path().join("earlier-boot");
        fs::create_dir_all(&dir).expect("create earlier-boot");
        keygen(&dir.join("ssh_host_ed25519_key"), &["-t", "ed25519"]);
        keygen(&dir.join("ssh_host_ecdsa_key"), &["-t", "ecdsa"]);
        crate::cloud_init::host_keys_console(&dir)
    }

    /// The OpenSSH-format ed25519 private key every host accepts.
    pub fn client_key(&self) -> &Path {
        &self.client_key
    }

    /// The PEM `BEGIN RSA PRIVATE KEY` private key (AWS key pair format) every host accepts.
    pub fn client_rsa_key(&self) -> &Path {
        &self.client_rsa_key
    }

    /// A fresh ed25519 key no host accepts.
    pub fn stranger_key(&self) -> PathBuf {
        let path = self.dir.path().join("stranger");
        keygen(&path, &["-t", "ed25519"]);
        path
    }

    /// The login user on every host.
    pub fn user(&self) -> String {
        login_user().0
    }

    /// A scratch folder that lives as long as the hosts.
    pub fn scratch(&self) -> &Path {
        self.dir.path()
    }

    /// Writes a known_hosts file with every host's current key and returns its path.
    pub fn write_known_hosts(&self) -> PathBuf {
        let path = self.dir.path().join("known_hosts");
        let lines: String = self
            .hosts
            .iter()
            .map(|h| h.known_hosts_line() + "\n")
            .collect();
        fs::write(&path, lines).expect("write known_hosts");
        path
    }

    /// The hosts, in the order given.
    pub fn hosts(&self) -> &[SshdHost] {
        &self.hosts
    }

    /// One host, to stop, restart or re-key.
    pub fn host_mut(&mut self, i: usize) -> &mut SshdHost {
        &mut self.hosts[i]
    }
}

impl std::ops::Index<usize> for SshdHosts {
    type Output = SshdHost;
    fn index(&self, i: usize) -> &SshdHost {
        &self.hosts[i]
    }
}

impl SshdHost {
    /// The loopback address it listens on.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// Its port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The folder that is the login user's home inside this host.
    pub fn home(&self) -> &Path {
        &self.home
    }

    fn host_key_path(&self) -> PathBuf {
        self.root.join("ssh_host_ed25519_key")
    }

    fn rsa_host_key_path(&self) -> PathBuf {
        self.root.join("ssh_host_rsa_key")
    }

    fn ecdsa_host_key_path(&self) -> PathBuf {
        self.root.join("ssh_host_ecdsa_key")
    }

    /// The login user's `authorized_keys` on this host.
    pub fn authorized_keys(&self) -> PathBuf {
        self.home.join(".ssh/authorized_keys")
    }

    /// Appends `public_key` (an OpenSSH public key line) to its `authorized_keys`.
    pub fn authorize(&self, public_key: &str) {
        let path = self.authorized_keys();
        let mut text = fs::read_to_string(&path).unwrap_or_default();
        text.push_str(public_key.trim());
        text.push('\n');
        fs::write(&path, text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    }

    /// Every host public key it serves, as OpenSSH lines (`ssh-ed25519 AAAA… comment`).
    pub fn host_public_keys(&self) -> Vec<String> {
        [
            self.host_key_path(),
            self.ecdsa_host_key_path(),
            self.rsa_host_key_path(),
        ]
        .iter()
        .map(|k| pub_path(k))
        .filter(|p| p.exists())
        .map(|p| read_trim(&p))
        .collect()
    }

    /// What its console shows at first boot: cloud-init's `write-ssh-key-fingerprints` run
    /// over its host keys ([`crate::cloud_init::host_keys_console`]).
    pub fn console(&self) -> String {
        crate::cloud_init::host_keys_console(&self.root)
    }

    /// Gives it a second host key, RSA, and restarts sshd with both (as a stock server has).
    /// Clients that prefer ed25519 still get the ed25519 key.
    pub fn add_rsa_host_key(&mut self) {
        keygen(&self.rsa_host_key_path(), &["-t", "rsa", "-b", "2048"]);
        self.restart();
    }

    /// Its RSA host public key line (after [`SshdHost::add_rsa_host_key`]).
    pub fn rsa_host_public_key(&self) -> String {
        read_trim(&pub_path(&self.rsa_host_key_path()))
    }

    /// Its RSA host key's SHA256 fingerprint (after [`SshdHost::add_rsa_host_key`]).
    pub fn rsa_host_key_fingerprint(&self) -> String {
        fingerprint_of(&pub_path(&self.rsa_host_key_path()))
    }

    /// Its host public key, as an OpenSSH line (`ssh-ed25519 AAAA… comment`).
    pub fn host_public_key(&self) -> String {
        read_trim(&pub_path(&self.host_key_path()))
    }

    /// Its host key's SHA256 fingerprint as `ssh-keygen -l` prints it (`SHA256:…`).
    pub fn host_key_fingerprint(&self) -> String {
        fingerprint_of(&pub_path(&self.host_key_path()))
    }

    /// Its known_hosts line: `[address]:port ssh-ed25519 AAAA…`.
    pub fn known_hosts_line(&self) -> String {
        let key = self.host_public_key();
        let mut parts = key.split_whitespace();
        let (alg, b64) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
        format!("[{}]:{} {alg} {b64}", self.address, self.port)
    }

    /// sshd's log so far (its stderr), for assertion messages.
    pub fn log(&self) -> String {
        fs::read_to_string(self.root.join("sshd.log")).unwrap_or_default()
    }

    fn write_config(&self) -> PathBuf {
        let path = self.root.join("sshd_config");
        let mut host_keys = format!("HostKey {}\n", self.host_key_path().display());
        for key in [self.ecdsa_host_key_path(), self.rsa_host_key_path()] {
            if key.exists() {
                host_keys += &format!("HostKey {}\n", key.display());
            }
        }
        let config = format!(
            "ListenAddress {addr}:{port}\n\
             {host_keys}\
             PidFile none\n\
             PasswordAuthentication no\n\
             KbdInteractiveAuthentication no\n\
             PubkeyAuthentication yes\n\
             PermitRootLogin prohibit-password\n\
             AuthorizedKeysFile .ssh/authorized_keys\n\
             UsePAM no\n\
             StrictModes no\n\
             MaxStartups 64:30:128\n\
             Subsystem sftp internal-sftp\n",
            addr = self.address,
            port = self.port,
        );
        fs::write(&path, config).expect("write sshd_config");
        path
    }

    /// Starts sshd (again) on the same address and port and waits until it accepts connections.
    pub fn start(&mut self) {
        assert!(self.child.is_none(), "{} is already running", self.address);
        let config = self.write_config();
        let (_, login_home) = login_user();
        let log = fs::File::create(self.root.join("sshd.log")).expect("sshd log");
        let script = format!(
            "set -e\nHOME_DIR={lh}\nmount --bind {home} \"$HOME_DIR\"\n{setup}\nexec {SSHD} -D -e -f {config}\n",
            lh = login_home.display(),
            home = self.home.display(),
            setup = self.setup,
            config = config.display()
        );
        // unshare without --fork execs sh, which execs sshd: one pid to kill.
        let child = Command::new(require_tool("unshare"))
            .args(["--mount", "--propagation", "private", "sh", "-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start sshd on {}: {e}", self.address));
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        let addr: SocketAddr = format!("{}:{}", self.address, self.port)
            .parse()
            .expect("socket address");
        loop {
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return;
            }
            if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                self.child = None;
                panic!("sshd on {addr} exited ({status}): {}", self.log());
            }
            assert!(
                Instant::now() < deadline,
                "sshd on {addr} did not listen within 10 s: {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills sshd (sessions already open may finish); new connections are refused.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// [`SshdHost::stop`] then [`SshdHost::start`].
    pub fn restart(&mut self) {
        self.stop();
        self.start();
    }

    /// Makes a new host key and restarts sshd with it (as a rebuilt instance would).
    pub fn regenerate_host_key(&mut self) {
        keygen(&self.host_key_path(), &["-t", "ed25519"]);
        self.restart();
    }

    /// Whether sshd is running.
    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }
}

impl Drop for SshdHost {
    fn drop(&mut self) {
        self.stop();
    }
}
