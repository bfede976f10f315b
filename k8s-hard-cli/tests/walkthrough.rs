//! README's "On AWS, start to finish", as a new user runs it: the commands as written, from an
//! empty folder, a HOME with no `~/.ssh` (so an empty known_hosts) and no key of their own,
//! AWS credentials from a profile. AWS is moto behind the emulation of AWS's timing and of what
//! EC2 does to a new machine: the six machines are real sshd hosts that accept no key until
//! the key pair `up` made reaches their `authorized_keys`, a moment after launch, and whose
//! consoles show what cloud-init's own script prints over their host keys, late. Everything
//! is judged by moto's describe calls, `kubectl`, `ssh-keygen`, `stat` and the files on the
//! hosts.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{edit_cluster_yaml, host_edits};
use k8s_hard_tests::aws_timing::{AwsTiming, Timing};
use k8s_hard_tests::moto::{self, Moto, UBUNTU_IMAGE_NAME};
use k8s_hard_tests::require_tool;
use k8s_hard_tests::sshd::{SIX, SshdHost, SshdHosts};

/// README's region and the cluster name `init` writes.
const REGION: &str = "eu-west-1";
const NAME: &str = "k8s-cluster-from-ground-up";

/// The private IP `init` gives node `i` (the tutorial's addresses, STEP 3).
fn private_ip(i: usize) -> String {
    match i {
        0..3 => format!("172.31.0.1{i}"),
        _ => format!("172.31.0.2{}", i - 3),
    }
}

/// The user's machine: a working folder, a HOME with an AWS profile `lab` and nothing else.
struct User {
    tmp: tempfile::TempDir,
    aws: String,
}

impl User {
    fn new(aws: String) -> User {
        let tmp = tempfile::tempdir().unwrap();
        let aws_dir = tmp.path().join("home/.aws");
        std::fs::create_dir_all(&aws_dir).unwrap();
        std::fs::write(
            aws_dir.join("credentials"),
            format!(
                "[lab]\naws_access_key_id = {}\naws_secret_access_key = {}\n",
                moto::ACCESS_KEY_ID,
                moto::SECRET_ACCESS_KEY
            ),
        )
        .unwrap();
        User { tmp, aws }
    }

    fn home(&self) -> PathBuf {
        self.tmp.path().join("home")
    }

    fn work(&self) -> PathBuf {
        self.tmp.path().join("work")
    }

    fn lab(&self) -> PathBuf {
        self.work().join("lab")
    }

    /// `k8s-hard ARGS` in the working folder: README's `export AWS_PROFILE=lab`, an emulator's
    /// `AWS_ENDPOINT_URL`, a KUBECONFIG of the user's, nothing else inherited.
    fn k8s_hard(&self, args: &str) -> assert_cmd::Command {
        std::fs::create_dir_all(self.work()).unwrap();
        let mut cmd = assert_cmd::Command::cargo_bin("k8s-hard").unwrap();
        cmd.current_dir(self.work())
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.home())
            .env("AWS_PROFILE", "lab")
            .env("AWS_ENDPOINT_URL", &self.aws)
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("KUBECONFIG", self.tmp.path().join("kubeconfig"))
            .args(args.split_whitespace());
        cmd
    }
}

/// moto's answer to one describe call in README's region.
fn describe(service: &str, params: &[(&str, &str)]) -> String {
    let (status, body) = moto::query(Moto::shared().url(), REGION, service, params);
    assert_eq!(status, 200, "{params:?}: {body}");
    body
}

/// The instances moto holds for installation `id`, as (state, key name, private IP).
fn instances(id: &str) -> Vec<(String, String, String)> {
    let body = describe(
        "ec2",
        &[
            ("Action", "DescribeInstances"),
            ("Filter.1.Name", "tag:k8s-hard/installation"),
            ("Filter.1.Value.1", id),
        ],
    );
    body.split("<instancesSet>")
        .skip(1)
        .flat_map(|set| set.split("<item>").skip(1).map(str::to_string))
        .filter(|item| item.contains("<instanceId>"))
        .map(|item| {
            let state = moto::texts(&item, "name")
                .first()
                .cloned()
                .unwrap_or_default();
            let key = moto::texts(&item, "keyName")
                .first()
                .cloned()
                .unwrap_or_default();
            let ip = moto::texts(&item, "privateIpAddress")
                .first()
                .cloned()
                .unwrap_or_default();
            (state, key, ip)
        })
        .collect()
}

/// The VPCs moto holds for installation `id`.
fn vpcs(id: &str) -> Vec<String> {
    let body = describe(
        "ec2",
        &[
            ("Action", "DescribeVpcs"),
            ("Filter.1.Name", "tag:k8s-hard/installation"),
            ("Filter.1.Value.1", id),
        ],
    );
    moto::texts(&body, "vpcId")
}

/// `ssh-keygen -y`: the public half of a private key file, `type base64`.
fn public_half(key: &Path) -> String {
    let out = Command::new(require_tool("ssh-keygen"))
        .arg("-y")
        .arg("-f")
        .arg(key)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    words(&String::from_utf8_lossy(&out.stdout), 2)
}

/// The first `n` words of `line`, joined by a space.
fn words(line: &str, n: usize) -> String {
    line.split_whitespace()
        .take(n)
        .collect::<Vec<_>>()
        .join(" ")
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// `kubectl config view` of the user's KUBECONFIG, one jsonpath.
fn kubectl_view(kubeconfig: &Path, jsonpath: &str) -> String {
    let out = Command::new(require_tool("kubectl"))
        .args(["config", "view", "--kubeconfig"])
        .arg(kubeconfig)
        .args(["-o", &format!("jsonpath={jsonpath}")])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout).unwrap()
}

/// The `type base64` of every known_hosts line for `host`, sorted.
fn pinned_keys(known_hosts: &Path, host: &SshdHost) -> Vec<String> {
    let prefix = format!("[{}]:{} ", host.address(), host.port());
    let mut keys: Vec<String> = std::fs::read_to_string(known_hosts)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.strip_prefix(&prefix))
        .map(|rest| words(rest, 2))
        .collect();
    keys.sort();
    keys
}

#[test]
#[ignore = "needs moto_server, sshd (root), ssh-keygen, cloud-init's script and kubectl: run scripts/test"]
fn readme_walkthrough_from_an_empty_folder() {
    Moto::shared().warm_up();
    let hosts = SshdHosts::start_instances(&SIX);
    let aws = AwsTiming::start(Moto::shared().url(), Timing::short());
    aws.launch_as(&hosts, private_ip);
    let user = User::new(aws.url());
    let lab = user.lab();
    let known_hosts = user.home().join(".ssh/known_hosts");

    // k8s-hard --dir lab init --region eu-west-1
    user.k8s_hard("--dir lab init --region eu-west-1")
        .assert()
        .success();
    let yaml = std::fs::read_to_string(lab.join("cluster.yaml")).unwrap();
    let id = yaml
        .lines()
        .find_map(|l| l.strip_prefix("installation_id: "))
        .unwrap()
        .trim()
        .to_string();
    assert_eq!(id.len(), 32, "{yaml}");

    // $EDITOR lab/cluster.yaml: narrow the SSH ingress (README's advice), and, this being a
    // test, the machines' SSH addresses are the test hosts and the image is one moto knows.
    let mut edits = host_edits(&hosts, private_ip);
    edits.push((
        "ssh_ingress_cidr: 0.0.0.0/0",
        "ssh_ingress_cidr: 198.51.100.7/32".into(),
    ));
    edits.push((
        "ubuntu/images/hvm-ssd/ubuntu-jammy-22.04-amd64-server-*",
        UBUNTU_IMAGE_NAME.into(),
    ));
    let edits: Vec<(&str, &str)> = edits.iter().map(|(f, t)| (*f, t.as_str())).collect();
    edit_cluster_yaml(&lab, &edits);

    // k8s-hard --dir lab up --plan: AWS is only read, nothing is written.
    user.k8s_hard("--dir lab up --plan").assert().success();
    assert_eq!(instances(&id), []);
    assert_eq!(vpcs(&id), Vec::<String>::new());
    for made in ["state.json", "pki", "ssh"] {
        assert!(!lab.join(made).exists(), "{made}");
    }
    assert!(!known_hosts.exists());

    // k8s-hard --dir lab up
    let up = user.k8s_hard("--dir lab up").assert().success();
    let stderr = String::from_utf8_lossy(&up.get_output().stderr).to_string();
    for step in 1..=6 {
        assert!(stderr.contains(&format!("[{step}/6]")), "{stderr}");
    }
    // EC2 really was late: consoles without keys, machines refusing the key at first.
    let counts = aws.counts();
    assert!(counts.console_not_yet > 0, "{counts:?}");
    assert_eq!(counts.key_installed, 6, "{counts:?}");
    // sshd's own log: a login refused at authentication before the key arrived.
    assert!(
        hosts
            .hosts()
            .iter()
            .any(|h| h.log().contains("Connection closed by authenticating user")),
        "no machine refused the key first: {}",
        hosts.hosts()[0].log()
    );

    // Six running machines of this installation, each with the cluster's key pair.
    let mut running = instances(&id);
    running.sort_by(|a, b| a.2.cmp(&b.2));
    let want: Vec<(String, String, String)> = (0..6)
        .map(|i| ("running".to_string(), NAME.to_string(), private_ip(i)))
        .collect();
    assert_eq!(running, want);
    let pairs = describe(
        "ec2",
        &[("Action", "DescribeKeyPairs"), ("KeyName.1", NAME)],
    );
    assert_eq!(moto::texts(&pairs, "keyName"), [NAME], "{pairs}");
    let lbs = describe(
        "elasticloadbalancing",
        &[
            ("Action", "DescribeLoadBalancers"),
            ("Names.member.1", NAME),
        ],
    );
    assert_eq!(moto::texts(&lbs, "Code"), ["active"], "{lbs}");
    let dns = moto::texts(&lbs, "DNSName")[0].clone();

    // The key pair `up` made is saved privately, and is what every machine now accepts.
    let key = lab.join(format!("ssh/{NAME}.id_rsa"));
    assert_eq!(mode(&lab.join("ssh")), 0o700);
    assert_eq!(mode(&key), 0o600);
    let public = public_half(&key);
    for host in hosts.hosts() {
        let authorized: Vec<String> = std::fs::read_to_string(host.authorized_keys())
            .unwrap()
            .lines()
            .map(|l| words(l, 2))
            .collect();
        assert_eq!(
            authorized,
            std::slice::from_ref(&public),
            "{}",
            host.address()
        );
    }

    // ~/.ssh/known_hosts was made, holding exactly each machine's three host keys.
    assert_eq!(mode(&user.home().join(".ssh")), 0o700);
    for host in hosts.hosts() {
        let mut served: Vec<String> = host
            .host_public_keys()
            .iter()
            .map(|k| words(k, 2))
            .collect();
        served.sort();
        assert_eq!(served.len(), 3);
        assert_eq!(
            pinned_keys(&known_hosts, host),
            served,
            "{}",
            host.address()
        );
    }

    // Every machine holds its files of STEPS 5-7, byte for byte.
    let pki = lab.join("pki");
    let same = |host: &SshdHost, name: &str, local: &Path| {
        assert_eq!(
            std::fs::read(host.home().join(name)).unwrap(),
            std::fs::read(local).unwrap(),
            "{name} on {}",
            host.address()
        );
    };
    for host in &hosts.hosts()[..3] {
        for file in [
            "ca.pem",
            "ca-key.pem",
            "master-kubernetes.pem",
            "master-kubernetes-key.pem",
            "service-account.pem",
            "service-account-key.pem",
        ] {
            same(host, file, &pki.join(file));
        }
        for file in [
            "admin.kubeconfig",
            "kube-controller-manager.kubeconfig",
            "kube-scheduler.kubeconfig",
        ] {
            same(host, file, &lab.join("kubeconfigs").join(file));
        }
        same(
            host,
            "encryption-config.yaml",
            &lab.join("encryption-config.yaml"),
        );
    }
    for (i, host) in hosts.hosts()[3..].iter().enumerate() {
        let worker = format!("{NAME}-worker-{i}");
        for file in [
            "ca.pem".to_string(),
            format!("{worker}.pem"),
            format!("{worker}-key.pem"),
        ] {
            same(host, &file, &pki.join(&file));
        }
        for file in [
            format!("{worker}.kubeconfig"),
            "kube-proxy.kubeconfig".into(),
        ] {
            same(host, &file, &lab.join("kubeconfigs").join(&file));
        }
    }

    // k8s-hard --dir lab status
    user.k8s_hard("--dir lab status").assert().success();

    // k8s-hard --dir lab kubeconfig use-admin: kubectl reads the merged entry.
    user.k8s_hard("--dir lab kubeconfig use-admin")
        .assert()
        .success();
    let kubeconfig = user.tmp.path().join("kubeconfig");
    assert_eq!(kubectl_view(&kubeconfig, "{.current-context}"), NAME);
    assert_eq!(
        kubectl_view(
            &kubeconfig,
            &format!("{{.clusters[?(@.name==\"{NAME}\")].cluster.server}}")
        ),
        format!("https://{dns}:6443")
    );
    assert_eq!(
        kubectl_view(
            &kubeconfig,
            &format!("{{.contexts[?(@.name==\"{NAME}\")].context.user}}")
        ),
        format!("{NAME}-admin")
    );

    // k8s-hard --dir lab down: asks first (no terminal here: refuses, naming --yes)...
    let refused = user.k8s_hard("--dir lab down").assert().code(1);
    assert!(
        String::from_utf8_lossy(&refused.get_output().stderr).contains("--yes"),
        "{refused:?}"
    );
    assert_eq!(instances(&id).len(), 6);
    // ... and with --yes deletes what this installation owns, and nothing of the user's files.
    user.k8s_hard("--dir lab down --yes").assert().success();
    let states: Vec<String> = instances(&id).into_iter().map(|(s, _, _)| s).collect();
    assert_eq!(states, ["terminated"; 6]);
    assert_eq!(vpcs(&id), Vec::<String>::new());
    let (status, body) = moto::query(
        Moto::shared().url(),
        REGION,
        "ec2",
        &[("Action", "DescribeKeyPairs"), ("KeyName.1", NAME)],
    );
    assert!(
        status == 400 && body.contains("InvalidKeyPair.NotFound"),
        "{status} {body}"
    );
    let (status, body) = moto::query(
        Moto::shared().url(),
        REGION,
        "elasticloadbalancing",
        &[
            ("Action", "DescribeLoadBalancers"),
            ("Names.member.1", NAME),
        ],
    );
    assert!(
        status == 400 && body.contains("LoadBalancerNotFound"),
        "{status} {body}"
    );
    assert!(pki.join("ca-key.pem").exists() && key.exists());
}
