//! systemd itself judges each rendered unit: `systemd-analyze verify` in a root folder that
//! holds systemd's own units, the real binaries at the units' paths and the rendered units.
//!
//! `verify` exits 0 on unknown keys and bad values, and says so on stderr: a unit passes only
//! with nothing printed. A unit with a bad value and one whose binary is missing are shown to
//! be reported.

use std::path::Path;
use std::process::Command;

use k8s_control_plane::{ControlPlane, render_unit};

mod common;

const NEEDS: &str = "needs systemd-analyze and the Kubernetes peers: run scripts/test";

fn plane() -> ControlPlane {
    ControlPlane::new(common::tutorial_inputs("k8s-api.example.com")).expect("valid")
}

/// A root folder with systemd's units (`multi-user.target` and what it needs) and, at
/// `/usr/local/bin`, the real binaries (hard links, or copies across file systems).
fn root_with_systemd_and(binaries: &[&str]) -> tempfile::TempDir {
    let root = tempfile::tempdir().expect("temp dir");
    let system = ["/usr/lib/systemd/system", "/lib/systemd/system"]
        .into_iter()
        .map(Path::new)
        .find(|p| p.join("multi-user.target").is_file())
        .unwrap_or_else(|| panic!("no systemd unit folder with multi-user.target: {NEEDS}"));
    let target = root.path().join("usr/lib/systemd");
    std::fs::create_dir_all(&target).expect("mkdir");
    let status = Command::new("cp")
        .arg("-a")
        .arg(system)
        .arg(&target)
        .status()
        .expect("cp");
    assert!(status.success(), "cannot copy {}", system.display());
    let bin = root.path().join("usr/local/bin");
    std::fs::create_dir_all(&bin).expect("mkdir");
    let peers = common::peers_bin();
    for name in binaries {
        let from = peers.join(name);
        let to = bin.join(name);
        if std::fs::hard_link(&from, &to).is_err() {
            std::fs::copy(&from, &to)
                .unwrap_or_else(|e| panic!("cannot copy {}: {e}", from.display()));
        }
    }
    std::fs::create_dir_all(root.path().join("etc/systemd/system")).expect("mkdir");
    root
}

/// What `systemd-analyze verify` says about a unit installed in `root`: success and output.
fn verify(root: &Path, name: &str, text: &str) -> (bool, String) {
    std::fs::write(root.join("etc/systemd/system").join(name), text).expect("write unit");
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(format!("--root={}", root.display()))
        .arg(name)
        .output()
        .unwrap_or_else(|e| panic!("cannot run systemd-analyze ({e}): {NEEDS}"));
    let said =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), said)
}

#[test]
#[ignore = "needs systemd-analyze and the Kubernetes peers: run scripts/test"]
fn systemd_finds_nothing_to_say_about_any_unit() {
    let root = root_with_systemd_and(&[
        "etcd",
        "kube-apiserver",
        "kube-controller-manager",
        "kube-scheduler",
    ]);
    let plane = plane();
    for master in plane.masters() {
        for unit in plane.units(&master.hostname).expect("a master") {
            let (ok, said) = verify(root.path(), &unit.name, &render_unit(&unit));
            assert!(ok && said.is_empty(), "{}: {said}", unit.name);
        }
    }
}

#[test]
#[ignore = "needs systemd-analyze and the Kubernetes peers: run scripts/test"]
fn systemd_reports_a_bad_value_and_a_missing_binary() {
    let root = root_with_systemd_and(&["etcd"]);
    let unit = plane()
        .unit(k8s_control_plane::Component::Etcd, "ip-172-31-0-10")
        .expect("a master");
    let good = render_unit(&unit);

    let (ok, said) = verify(
        root.path(),
        "etcd.service",
        &good.replace("Restart=on-failure", "Restart=sometimes"),
    );
    assert!(ok, "verify only warns about a bad value");
    assert!(
        said.contains("Failed to parse service restart specifier, ignoring: sometimes"),
        "{said}"
    );

    let mut missing = unit.clone();
    missing.exec_start.binary = "/usr/local/bin/etcd-missing".into();
    missing.name = "etcd-missing.service".into();
    let (ok, said) = verify(root.path(), &missing.name, &render_unit(&missing));
    assert!(!ok, "a missing binary passed");
    assert!(
        said.contains("Command /usr/local/bin/etcd-missing is not executable"),
        "{said}"
    );
}
