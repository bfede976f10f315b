//! Every example is built by `cargo test` and run here, its output judged by openssl.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use k8s_hard_tests::openssl;

/// The example `name` as `cargo test` built it: target/<profile>/examples/<name>-<hash> (the
/// newest), or <name> as `cargo build --examples` leaves it, next to this test's own binary
/// in target/<profile>/deps.
fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let examples = exe
        .parent()
        .and_then(|d| d.parent())
        .unwrap()
        .join("examples");
    let prefix = format!("{name}-");
    let newest = std::fs::read_dir(&examples)
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok())
        .filter(|e| {
            let file = e.file_name().to_string_lossy().into_owned();
            file == name
                || (file.starts_with(&prefix)
                    && file[prefix.len()..].chars().all(|c| c.is_ascii_hexdigit()))
        })
        .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
        .max();
    let (_, path) = newest.unwrap_or_else(|| {
        panic!("{name} is not built in {examples:?}: run `cargo test -p k8s-hard-examples`")
    });
    path
}

#[test]
#[ignore = "needs openssl: run scripts/test"]
fn pki_for_existing_machines() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("pki");
    let run = || {
        Command::new(example("pki_for_existing_machines"))
            .arg(&dir)
            .args([
                "master:cp-1:10.0.0.10",
                "worker:node-1:10.0.0.21",
                "worker:node-2:10.0.0.22",
            ])
            .arg("endpoint:k8s.example.com")
            .output()
            .unwrap()
    };
    let first = run();
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    assert!(String::from_utf8_lossy(&first.stdout).contains("node-2                   created"));
    for name in ["master-kubernetes", "node-1", "node-2", "admin"] {
        openssl::verify(&dir.join("ca.pem"), &dir.join(format!("{name}.pem"))).unwrap();
    }
    assert_eq!(
        openssl::subject(&dir.join("node-1.pem")),
        "CN=system:node:node-1,OU=DAREY.IO DEVOPS,O=system:nodes,L=England,ST=London,C=UK"
    );
    assert!(
        openssl::sans(&dir.join("master-kubernetes.pem"))
            .contains(&"DNS:k8s.example.com".to_string())
    );

    let second = run();
    let out = String::from_utf8_lossy(&second.stdout);
    assert!(
        second.status.success() && out.lines().all(|l| l.ends_with("kept")),
        "{out}"
    );

    let bad = Command::new(example("pki_for_existing_machines"))
        .arg(&dir)
        .args(["master:cp-1:10.0.0.10", "worker:node-1:10.0.0.10"])
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("workers[0].private_ip"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
}

#[test]
#[ignore = "needs kubectl, etcd and etcdctl: run scripts/test"]
fn kubeconfig_for_custom_user_does_mutual_tls() {
    use k8s_hard_tests::etcd::{EtcdCluster, EtcdTls};
    use k8s_pki::{Node, Pki, PkiInputs, store};

    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let node = |name: &str, ip: &str| Node {
        name: name.into(),
        hostname: name.into(),
        fqdn: None,
        private_ip: ip.parse().unwrap(),
        public_ip: None,
    };
    let mut inputs = PkiInputs::new("c", vec![node("m0", "127.0.0.10")], vec![]);
    inputs.key_algorithm = k8s_pki::KeyAlgorithm::EcdsaP256;
    inputs.api_endpoints = vec!["k8s.example.com".into()];
    let pki = Pki::new(inputs).unwrap();
    store::save(dir, &pki.generate().unwrap()).unwrap();
    let out = dir.join("alice.kubeconfig");
    let run = Command::new(example("kubeconfig_for_custom_user"))
        .arg(dir)
        .args(["alice", "developers", "https://k8s.example.com:6443"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );

    let view = k8s_hard_tests::run_tool(
        "kubectl",
        [
            "config",
            "view",
            "--raw",
            "-o",
            "json",
            "--kubeconfig",
            out.to_str().unwrap(),
        ],
    )
    .unwrap();
    let view: serde_json::Value = serde_json::from_str(&view).unwrap();
    assert_eq!(view["users"][0]["name"], "alice");
    assert_eq!(
        view["clusters"][0]["cluster"]["server"],
        "https://k8s.example.com:6443"
    );

    let tls = EtcdTls {
        ca: dir.join("ca.pem"),
        cert: dir.join("master-kubernetes.pem"),
        key: dir.join("master-kubernetes-key.pem"),
    };
    let etcd = EtcdCluster::start(
        &["127.0.0.10".parse().unwrap()],
        &tls,
        &dir.join("admin.pem"),
        &dir.join("admin-key.pem"),
    );
    let version = k8s_hard_tests::run_tool(
        "kubectl",
        [
            "--kubeconfig",
            out.to_str().unwrap(),
            "--server",
            &etcd.client_urls[0],
            "--tls-server-name",
            "k8s.example.com",
            "get",
            "--raw",
            "/version",
        ],
    )
    .unwrap();
    assert!(version.contains("etcdserver"), "{version}");
}

#[test]
#[ignore = "needs sshd (root) and ssh-keygen: run scripts/test"]
fn distribute_files_to_real_sshd_hosts() {
    use k8s_hard_tests::sshd::SshdHosts;

    let hosts = SshdHosts::start(&["127.0.0.30", "127.0.0.31"]);
    let tmp = tempfile::tempdir().unwrap();
    let a = tmp.path().join("motd.txt");
    std::fs::write(&a, "hello").unwrap();
    let hosts_args: Vec<String> = hosts
        .hosts()
        .iter()
        .map(|h| format!("{}:{}", h.address(), h.port()))
        .collect();
    let run = || {
        Command::new(example("distribute_files"))
            .arg(hosts.client_key())
            .arg(hosts.write_known_hosts())
            .arg(hosts.user())
            .arg("--files")
            .arg(&a)
            .arg("--hosts")
            .args(&hosts_args)
            .output()
            .unwrap()
    };
    let first = run();
    assert!(
        first.status.success(),
        "{}{}",
        String::from_utf8_lossy(&first.stdout),
        String::from_utf8_lossy(&first.stderr)
    );
    assert!(String::from_utf8_lossy(&first.stdout).contains("1 sent"));
    for h in hosts.hosts() {
        assert_eq!(
            std::fs::read_to_string(h.home().join("motd.txt")).unwrap(),
            "hello"
        );
    }
    let second = run();
    assert!(String::from_utf8_lossy(&second.stdout).contains("0 sent, 1 unchanged"));
}

/// `aws_infra_plan_apply` with the environment a user would have, pointed at moto: dummy
/// credentials, `AWS_ENDPOINT_URL`, no instance metadata, a HOME of its own and AWS config
/// files there that do not exist (never the real ~/.aws).
fn aws_infra(home: &Path, dir: &Path, cluster: &str, extra: &[&str]) -> Output {
    aws_infra_command(home, dir, cluster)
        .args(extra)
        .output()
        .unwrap()
}

fn aws_infra_command(home: &Path, dir: &Path, cluster: &str) -> Command {
    use k8s_hard_tests::moto::{ACCESS_KEY_ID, Moto, SECRET_ACCESS_KEY, UBUNTU_IMAGE_NAME};
    let mut cmd = Command::new(example("aws_infra_plan_apply"));
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("AWS_CONFIG_FILE", home.join(".aws/config"))
        .env("AWS_SHARED_CREDENTIALS_FILE", home.join(".aws/credentials"))
        .env("AWS_ENDPOINT_URL", Moto::shared().url())
        .env("AWS_ACCESS_KEY_ID", ACCESS_KEY_ID)
        .env("AWS_SECRET_ACCESS_KEY", SECRET_ACCESS_KEY)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .arg(dir)
        .args([cluster, "1", "2", "--image-name", UBUNTU_IMAGE_NAME]);
    cmd
}

fn success(out: &Output) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// Every line of a plan that still has to make the whole cluster: one of each kind, an
/// instance per node, a route per worker.
fn assert_plans_everything(plan: &str, cluster: &str) {
    for kind in [
        "vpc",
        "dhcp options",
        "subnet",
        "internet gateway",
        "route table",
        "security group",
        "load balancer",
        "target group",
        "listener",
        "key pair",
    ] {
        assert!(plan.contains(&format!("create {kind} ")), "{kind}: {plan}");
    }
    for node in ["master-0", "worker-0", "worker-1"] {
        let line = format!("create instance {cluster}-{node}\n");
        assert!(plan.contains(&line), "{plan}");
    }
    assert_eq!(plan.matches("create route 172.20.").count(), 2, "{plan}");
}

#[test]
#[ignore = "needs moto_server: run scripts/test"]
fn aws_infra_plan_apply_against_moto() {
    use k8s_hard_tests::moto::{Moto, REGION};

    Moto::shared().warm_up();
    let tmp = tempfile::tempdir().unwrap();
    let (home, dir) = (tmp.path().join("home"), tmp.path().join("cluster"));
    std::fs::create_dir_all(&home).unwrap();
    // moto keeps one state for every test of this binary: a name of our own.
    let cluster = format!("ex-infra-{}", std::process::id());
    let region = ["--region", REGION];

    let first = success(&aws_infra(&home, &dir, &cluster, &region));
    assert_plans_everything(&first, &cluster);
    let id = std::fs::read_to_string(dir.join("installation-id")).unwrap();
    assert_eq!(id.trim().len(), 32, "{id:?}");
    // A plan makes nothing: the next one still plans everything, with the same installation.
    assert!(!dir.join("state.json").exists());
    let second = success(&aws_infra(&home, &dir, &cluster, &region));
    // Kinds without a dependency between them are planned concurrently: compare as sets.
    let sorted = |plan: &str| {
        let mut lines: Vec<String> = plan.lines().map(str::to_string).collect();
        lines.sort();
        lines
    };
    assert_eq!(sorted(&first), sorted(&second));
    assert_eq!(
        std::fs::read_to_string(dir.join("installation-id")).unwrap(),
        id
    );

    let apply = aws_infra(&home, &dir, &cluster, &["--region", REGION, "--apply"]);
    let out = success(&apply);
    assert!(
        out.contains(&format!("API endpoint: https://{cluster}-")) && out.contains(":6443\n"),
        "{out}"
    );
    assert!(
        out.lines()
            .any(|l| l.starts_with("worker-1: i-") && l.contains(" private 172.31.0.21")),
        "{out}"
    );
    assert!(String::from_utf8_lossy(&apply.stderr).contains("created  vpc vpc-"));
    assert!(dir.join("state.json").is_file());
    assert!(dir.join(format!("ssh/{cluster}.id_rsa")).is_file());

    // The region from the AWS chain (AWS_REGION) instead of --region: same cluster.
    let again = success(
        &aws_infra_command(&home, &dir, &cluster)
            .env("AWS_REGION", REGION)
            .output()
            .unwrap(),
    );
    assert_eq!(again.trim(), "nothing to do: every resource is in place");

    let destroy = success(&aws_infra(
        &home,
        &dir,
        &cluster,
        &["--region", REGION, "--destroy"],
    ));
    assert!(destroy.contains("deleted instance i-"), "{destroy}");
    assert!(
        destroy.contains(&format!("nothing left of {cluster} in AWS")),
        "{destroy}"
    );
    assert_plans_everything(
        &success(&aws_infra(&home, &dir, &cluster, &region)),
        &cluster,
    );

    // A bad name is refused before any call, naming the field; nothing is written.
    let fresh = tmp.path().join("fresh");
    let bad = aws_infra(&home, &fresh, "Bad_Name", &region);
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(
        !bad.status.success() && stderr.contains("\"cluster\""),
        "{stderr}"
    );
    assert!(!fresh.exists());
}

/// What the tutorial puts on each node (STEP 5–7), with modes: file name, mode, and where the
/// pipeline keeps it locally (relative to its folder).
fn tutorial_files(master: bool, node: &str) -> Vec<(String, u32, String)> {
    let pem = |n: &str, mode| (n.to_string(), mode, format!("pki/{n}"));
    let kc = |n: &str| (n.to_string(), 0o600, format!("kubeconfigs/{n}"));
    if master {
        vec![
            pem("ca.pem", 0o644),
            pem("ca-key.pem", 0o600),
            pem("service-account.pem", 0o644),
            pem("service-account-key.pem", 0o600),
            pem("master-kubernetes.pem", 0o644),
            pem("master-kubernetes-key.pem", 0o600),
            kc("kube-controller-manager.kubeconfig"),
            kc("kube-scheduler.kubeconfig"),
            kc("admin.kubeconfig"),
            (
                "encryption-config.yaml".into(),
                0o600,
                "encryption-config.yaml".into(),
            ),
        ]
    } else {
        vec![
            pem("ca.pem", 0o644),
            pem(&format!("{node}.pem"), 0o644),
            pem(&format!("{node}-key.pem"), 0o600),
            kc(&format!("{node}.kubeconfig")),
            kc("kube-proxy.kubeconfig"),
        ]
    }
}

/// Every file in a host's home but sshd's own `.ssh`.
fn files_in(home: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(home)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != ".ssh")
        .collect();
    names.sort();
    names
}

#[test]
#[ignore = "needs sshd (root), ssh-keygen, openssl and kubectl: run scripts/test"]
fn custom_bootstrap_to_real_sshd_hosts() {
    use std::os::unix::fs::PermissionsExt;

    use k8s_hard_tests::sshd::SshdHosts;

    let hosts = SshdHosts::start(&["127.0.0.40", "127.0.0.41", "127.0.0.42"]);
    let tmp = tempfile::tempdir().unwrap();
    let (home, dir) = (tmp.path().join("home"), tmp.path().join("bootstrap"));
    std::fs::create_dir_all(&home).unwrap();
    // (master?, name, private IP) on hosts 0, 1, 2.
    let nodes = [
        (true, "cp-1", "10.0.0.10"),
        (false, "node-1", "10.0.0.21"),
        (false, "node-2", "10.0.0.22"),
    ];
    let node_args: Vec<String> = nodes
        .iter()
        .zip(hosts.hosts())
        .map(|((master, name, ip), h)| {
            let role = if *master { "master" } else { "worker" };
            format!("{role}:{name}:{ip}:{}:{}", h.address(), h.port())
        })
        .collect();
    let run = |dir: &Path, known_hosts: &Path| {
        let out = Command::new(example("custom_bootstrap"))
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", &home)
            .arg(dir)
            .args(["--endpoint", "k8s-api.example.test:6443"])
            .args(["--user", &hosts.user()])
            .arg("--key")
            .arg(hosts.client_key())
            .arg("--known-hosts")
            .arg(known_hosts)
            .args(["--cluster", "on-prem"])
            .args(&node_args)
            .output()
            .unwrap();
        (
            out.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    };

    // Hosts missing from known_hosts are refused: nothing is sent to them.
    let empty = tmp.path().join("empty_known_hosts");
    std::fs::write(&empty, "").unwrap();
    let (ok, out) = run(&tmp.path().join("refused"), &empty);
    assert!(!ok && out.matches(": failed: ").count() == 3, "{out}");
    for h in hosts.hosts() {
        assert!(files_in(h.home()).is_empty(), "{:?}", files_in(h.home()));
    }

    let known_hosts = hosts.write_known_hosts();
    let (ok, first) = run(&dir, &known_hosts);
    assert!(ok, "{first}");
    assert!(first.contains("pki: created node-2\n"), "{first}");
    assert!(
        first.contains("kubeconfig: wrote node-1.kubeconfig (https://k8s-api.example.test:6443)")
    );
    assert!(first.contains("kubeconfig: wrote kube-scheduler.kubeconfig (https://127.0.0.1:6443)"));
    for ((master, name, _), h) in nodes.iter().zip(hosts.hosts()) {
        let expected = tutorial_files(*master, name);
        let mut names: Vec<String> = expected.iter().map(|(n, _, _)| n.clone()).collect();
        names.sort();
        assert_eq!(files_in(h.home()), names, "{name}");
        for (file, mode, local) in &expected {
            let remote = h.home().join(file);
            assert_eq!(
                std::fs::read(&remote).unwrap(),
                std::fs::read(dir.join(local)).unwrap(),
                "{name}: {file}"
            );
            let bits = std::fs::metadata(&remote).unwrap().permissions().mode() & 0o777;
            assert_eq!(bits, *mode, "{name}: {file} is {bits:o}");
        }
        let line = format!(
            "{name} ({}:{}): {} sent, 0 unchanged, 0 failed",
            h.address(),
            h.port(),
            expected.len()
        );
        assert!(first.contains(&line), "{line}: {first}");
    }

    // Checked on the worker, with the worker's own copies.
    let worker = hosts.hosts()[1].home();
    openssl::verify(&worker.join("ca.pem"), &worker.join("node-1.pem")).unwrap();
    assert!(
        openssl::subject(&worker.join("node-1.pem")).starts_with("CN=system:node:node-1,"),
        "{}",
        openssl::subject(&worker.join("node-1.pem"))
    );
    let view = k8s_hard_tests::run_tool(
        "kubectl",
        [
            "config",
            "view",
            "-o",
            "json",
            "--kubeconfig",
            worker.join("node-1.kubeconfig").to_str().unwrap(),
        ],
    )
    .unwrap();
    let view: serde_json::Value = serde_json::from_str(&view).unwrap();
    assert_eq!(
        view["clusters"][0]["cluster"]["server"],
        "https://k8s-api.example.test:6443"
    );
    assert_eq!(view["users"][0]["name"], "system:node:node-1");
    assert_eq!(view["clusters"][0]["name"], "on-prem");

    // Everything still right: nothing regenerated, nothing sent.
    let (ok, second) = run(&dir, &known_hosts);
    assert!(ok, "{second}");
    assert!(
        !second.contains("pki:")
            && !second.contains("kubeconfig:")
            && !second.contains("encryption"),
        "{second}"
    );
    for ((master, name, _), h) in nodes.iter().zip(hosts.hosts()) {
        let n = tutorial_files(*master, name).len();
        let line = format!(
            "{name} ({}:{}): 0 sent, {n} unchanged, 0 failed",
            h.address(),
            h.port()
        );
        assert!(second.contains(&line), "{line}: {second}");
    }
}

#[test]
fn cluster_plan_prints_the_tutorials_cluster() {
    let tmp = tempfile::tempdir().unwrap();
    let opts = k8s_cluster::InitOptions {
        name: "demo".into(),
        ..k8s_cluster::InitOptions::new().unwrap()
    };
    std::fs::write(
        tmp.path().join("cluster.yaml"),
        k8s_cluster::render_default(&opts),
    )
    .unwrap();
    let out = Command::new(example("cluster_plan"))
        .arg(tmp.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for line in [
        "cluster demo in us-east-2",
        "  worker demo-worker-2 172.31.0.22 ip-172-31-0-22.us-east-2.compute.internal pods 172.20.2.0/24",
        "  demo-worker-1.kubeconfig                 user system:node:ip-172-31-0-21 with demo-worker-1.pem",
        "  admin.kubeconfig                         user admin with admin.pem",
    ] {
        assert!(
            stdout.lines().any(|l| l == line),
            "{line:?} missing from:\n{stdout}"
        );
    }
    let master = stdout
        .lines()
        .find(|l| l.starts_with("  demo-master-0 ("))
        .unwrap();
    assert!(master.ends_with(": ca.pem ca-key.pem service-account.pem service-account-key.pem master-kubernetes.pem master-kubernetes-key.pem kube-controller-manager.kubeconfig kube-scheduler.kubeconfig admin.kubeconfig encryption-config.yaml"), "{master}");
    assert!(
        stdout.contains("  ca ") && stdout.contains("CN=Kubernetes O=Kubernetes"),
        "{stdout}"
    );
    // Only read: nothing written beside cluster.yaml.
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 1);
}
