//! Every example is built by `cargo test` and run here, its output judged by openssl.

use std::path::PathBuf;
use std::process::Command;

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
