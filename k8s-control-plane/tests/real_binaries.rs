//! The real etcd v3.7.3 and Kubernetes v1.37.2 binaries judge the rendered flags and the
//! scheduler's config file.
//!
//! `<binary> <flags> --version`: etcd (Go's flag package) and the Kubernetes components
//! (pflag) parse every flag, and check each value's type, before they print the version, so an
//! unknown or malformed flag fails and a deprecated one warns on stderr; both are shown to
//! happen below. `--version` reads no file: the scheduler's config is read by
//! `kube-scheduler --write-config-to`, which decodes it strictly, binds the secure port, writes
//! the effective configuration and exits without reaching an API server. Whether the API server
//! accepts the files behind its flags (certificates, encryption config, audit policy) only a
//! running control plane shows: the control-plane harness of the `tests` crate starts it.

use std::net::{IpAddr, Ipv4Addr, TcpListener};
use std::path::Path;
use std::process::{Command, Output};

use k8s_control_plane::{BindAddress, Component, ControlPlane, ControlPlaneInputs, NodePaths};

mod common;

use common::peers_bin;

fn tutorial_inputs() -> ControlPlaneInputs {
    common::tutorial_inputs("k8s-api.example.com")
}

fn run(binary: &Path, args: &[String]) -> Output {
    Command::new(binary)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", binary.display()))
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The version line each binary prints.
fn version(component: Component) -> &'static str {
    match component {
        Component::Etcd => "etcd Version: 3.7.3\n",
        _ => "Kubernetes v1.37.2\n",
    }
}

fn with(args: &[String], extra: &str) -> Vec<String> {
    args.iter()
        .cloned()
        .chain([extra.to_string(), "--version".to_string()])
        .collect()
}

#[test]
#[ignore = "needs the Kubernetes peers: run scripts/test"]
fn every_binary_takes_every_rendered_flag_silently() {
    let bin = peers_bin();
    let plane = ControlPlane::new(tutorial_inputs()).expect("valid");
    for master in plane.masters() {
        for unit in plane.units(&master.hostname).expect("a master") {
            let binary = bin.join(unit.exec_start.binary.file_name().expect("a file name"));
            let mut args = unit.exec_start.args();
            args.push("--version".into());
            let out = run(&binary, &args);
            let component = Component::ALL
                .into_iter()
                .find(|c| c.unit_name() == unit.name)
                .expect("one of the four");
            assert!(
                out.status.success(),
                "{} refused its flags: {}",
                unit.name,
                text(&out.stderr)
            );
            assert!(
                text(&out.stdout).starts_with(version(component)),
                "{}: {}",
                unit.name,
                text(&out.stdout)
            );
            // Not a warning either (a deprecated flag prints one).
            assert_eq!(text(&out.stderr), "", "{}", unit.name);
        }
    }
}

#[test]
#[ignore = "needs the Kubernetes peers: run scripts/test"]
fn an_unknown_flag_fails_and_a_deprecated_one_warns() {
    let bin = peers_bin();
    let plane = ControlPlane::new(tutorial_inputs()).expect("valid");
    for unit in plane.units("ip-172-31-0-10").expect("a master") {
        let binary = bin.join(unit.exec_start.binary.file_name().expect("a file name"));
        let out = run(&binary, &with(&unit.exec_start.args(), "--made-up-flag=1"));
        assert!(!out.status.success(), "{} took a made-up flag", unit.name);
        let stderr = text(&out.stderr);
        let said = if unit.name == "etcd.service" {
            "flag provided but not defined: -made-up-flag"
        } else {
            "unknown flag: --made-up-flag"
        };
        assert!(stderr.contains(said), "{}: {stderr}", unit.name);
    }

    // The tutorial's --apiserver-count: still parsed, with a warning.
    let api = plane
        .unit(Component::KubeApiserver, "ip-172-31-0-10")
        .expect("a master");
    let out = run(
        &bin.join("kube-apiserver"),
        &with(&api.exec_start.args(), "--apiserver-count=3"),
    );
    assert!(out.status.success());
    assert_eq!(
        text(&out.stderr),
        "Flag --apiserver-count has been deprecated, apiserver-count is deprecated and will be removed in a future version.\n"
    );

    // A value of the wrong type fails too, so --version judges values, not only names.
    let etcd = plane
        .unit(Component::Etcd, "ip-172-31-0-10")
        .expect("a master");
    for (unit, binary, extra, said) in [
        (
            &api,
            "kube-apiserver",
            "--bind-address=not-an-ip",
            "invalid argument \"not-an-ip\" for \"--bind-address\" flag",
        ),
        (
            &etcd,
            "etcd",
            "--listen-client-urls=not-a-url",
            "invalid value \"not-a-url\" for flag -listen-client-urls",
        ),
    ] {
        let out = run(&bin.join(binary), &with(&unit.exec_start.args(), extra));
        assert!(!out.status.success(), "{binary} took {extra}");
        assert!(text(&out.stderr).contains(said), "{}", text(&out.stderr));
    }
}

/// A kubeconfig the scheduler can load (it never connects with `--write-config-to`).
const KUBECONFIG: &str = "apiVersion: v1
kind: Config
clusters:
- name: c
  cluster:
    server: https://127.0.0.1:6443
contexts:
- name: c
  context:
    cluster: c
    user: u
current-context: c
users:
- name: u
  user: {}
";

/// The tutorial's inputs moved under `root`, one master listening on 127.0.0.1, the
/// scheduler on a port that was free a moment ago (`--write-config-to` binds it).
fn scheduler_plane(root: &Path) -> ControlPlane {
    let mut inputs = tutorial_inputs();
    inputs.masters.truncate(1);
    inputs.masters[0].listen_ip = Some(IpAddr::V4(Ipv4Addr::LOCALHOST));
    inputs.bind = BindAddress::ListenIp;
    inputs.paths = NodePaths::under(root);
    let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    inputs.ports.scheduler = port;
    ControlPlane::new(inputs).expect("valid")
}

fn write(path: &Path, contents: &str) {
    std::fs::create_dir_all(path.parent().expect("a folder")).expect("mkdir");
    std::fs::write(path, contents).expect("write");
}

#[test]
#[ignore = "needs the Kubernetes peers: run scripts/test"]
fn the_scheduler_reads_the_rendered_config() {
    let bin = peers_bin();
    let root = tempfile::tempdir().expect("temp dir");
    let plane = scheduler_plane(root.path());
    let paths = &plane.inputs().paths;
    let kubeconfig = paths.kubernetes_dir.join("kube-scheduler.kubeconfig");
    write(&kubeconfig, KUBECONFIG);
    let config = paths.config_dir.join("kube-scheduler.yaml");
    write(&config, &plane.render_scheduler_config().expect("renders"));

    let unit = plane
        .unit(Component::KubeScheduler, "ip-172-31-0-10")
        .expect("a master");
    let effective = root.path().join("effective.yaml");
    let mut args = unit.exec_start.args();
    args.extend(["--write-config-to".into(), effective.display().to_string()]);
    let out = run(&bin.join("kube-scheduler"), &args);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let written = std::fs::read_to_string(&effective).expect("the scheduler wrote it");
    for line in [
        "apiVersion: kubescheduler.config.k8s.io/v1\n".to_string(),
        "kind: KubeSchedulerConfiguration\n".to_string(),
        format!("  kubeconfig: {}\n", kubeconfig.display()),
        "  leaderElect: true\n".to_string(),
    ] {
        assert!(written.contains(&line), "{line:?} not in:\n{written}");
    }

    // A misspelt field is refused (the decoding is strict)…
    let rendered = plane.render_scheduler_config().expect("renders");
    write(&config, &rendered.replace("leaderElect:", "leaderElects:"));
    let out = run(&bin.join("kube-scheduler"), &args);
    assert!(!out.status.success(), "a misspelt field was accepted");
    assert!(
        text(&out.stderr)
            .contains("strict decoding error: unknown field \\\"leaderElection.leaderElects\\\""),
        "{}",
        text(&out.stderr)
    );

    // …and so is the tutorial's v1beta1 file: the file is really read.
    let tutorial = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/tutorial/kube-scheduler.yaml"),
    )
    .expect("the tutorial's file")
    .replace(
        "/var/lib/kubernetes/kube-scheduler.kubeconfig",
        &kubeconfig.display().to_string(),
    );
    write(&config, &tutorial);
    let out = run(&bin.join("kube-scheduler"), &args);
    assert!(!out.status.success(), "v1beta1 was accepted");
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(
            "no kind \\\"KubeSchedulerConfiguration\\\" is registered for version \\\"kubescheduler.config.k8s.io/v1beta1\\\""
        ),
        "{stderr}"
    );
}
