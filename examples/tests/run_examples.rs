//! Every example is built by `cargo test` and run here, its output judged by openssl.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use k8s_hard_tests::openssl;

/// target/<profile>/examples/<name>, next to this test's own binary in target/<profile>/deps.
fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().and_then(|d| d.parent()).unwrap();
    let path = profile_dir.join("examples").join(name);
    assert!(
        path.is_file(),
        "{path:?} is not built: run `cargo test -p k8s-hard-examples`"
    );
    path
}

#[test]
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
/// credentials, `AWS_ENDPOINT_URL`, no instance metadata, a HOME of its own (never the real
/// ~/.aws).
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
    assert_eq!(first, second);
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
}
