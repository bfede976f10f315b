//! Merging the admin kubeconfig into a user's kubeconfig file, checked by the real kubectl.

mod common;

use std::os::unix::fs::PermissionsExt;

use common::{Pki, kubectl, kubectl_view};
use k8s_kubeconfig::{
    ApiEndpoint, Component, Credentials, CurrentContext, Error, Kubeconfig, build_kubeconfig,
    merge_into_file, read_kubeconfig,
};

const CLUSTER: &str = "k8s-cluster-from-ground-up";

fn admin(pki: &Pki, host: &str) -> Kubeconfig {
    pki.client("admin", "admin");
    let (ca, cert, key) = (
        pki.read("ca.pem"),
        pki.read("admin.pem"),
        pki.read("admin-key.pem"),
    );
    let mut config = build_kubeconfig(
        &Component::Admin,
        CLUSTER,
        &ApiEndpoint::new(host).unwrap(),
        &Credentials {
            ca_pem: &ca,
            client_cert_pem: &cert,
            client_key_pem: &key,
        },
    )
    .unwrap();
    config.rename_context("default", CLUSTER).unwrap();
    config
}

/// A user's kubeconfig made by kubectl: a `work` context on another cluster, plus an old
/// entry for our cluster and user that the merge must replace.
fn existing_user_config(pki: &Pki, file: &str) {
    let dir = pki.dir.path();
    let kc = format!("--kubeconfig={file}");
    let run = |args: &[&str]| {
        let mut all = args.to_vec();
        all.push(&kc);
        kubectl(dir, &all);
    };
    run(&[
        "config",
        "set-cluster",
        "work",
        "--server=https://work:6443",
    ]);
    run(&["config", "set-credentials", "me", "--token=t0k3n"]);
    run(&[
        "config",
        "set-context",
        "work",
        "--cluster=work",
        "--user=me",
        "--namespace=dev",
    ]);
    run(&[
        "config",
        "set-cluster",
        CLUSTER,
        "--server=https://old:6443",
    ]);
    run(&["config", "set-credentials", "admin", "--token=old"]);
    run(&["config", "use-context", "work"]);
}

#[test]
#[ignore = "needs openssl and kubectl: run scripts/test"]
fn merge_keeps_other_entries_and_replaces_same_names() {
    let pki = Pki::new();
    let home = pki.path("home");
    let file = home.join(".kube/config");
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    existing_user_config(&pki, &file.to_string_lossy());
    let incoming = admin(&pki, "api.example.com");

    let merged = merge_into_file(&file, &incoming, CurrentContext::Keep).unwrap();
    assert_eq!(read_kubeconfig(&file).unwrap(), merged);
    assert_eq!(
        std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let contexts = kubectl(
        pki.dir.path(),
        &[
            "config",
            "get-contexts",
            "-o",
            "name",
            "--kubeconfig",
            &file.to_string_lossy(),
        ],
    );
    let mut names: Vec<_> = contexts.lines().collect();
    names.sort();
    assert_eq!(names, [CLUSTER, "work"]);

    let seen = kubectl_view(&file);
    assert_eq!(seen["current-context"], "work");
    let clusters = seen["clusters"].as_array().unwrap();
    assert_eq!(clusters.len(), 2);
    let ours = clusters.iter().find(|c| c["name"] == CLUSTER).unwrap();
    assert_eq!(ours["cluster"]["server"], "https://api.example.com:6443");
    assert!(ours["cluster"]["certificate-authority-data"].is_string());
    let users = seen["users"].as_array().unwrap();
    assert_eq!(users.len(), 2);
    let admin = users.iter().find(|u| u["name"] == "admin").unwrap();
    assert!(admin["user"].get("token").is_none(), "old token replaced");
    assert!(admin["user"]["client-key-data"].is_string());
    let me = users.iter().find(|u| u["name"] == "me").unwrap();
    assert_eq!(me["user"]["token"], "t0k3n");
    let work = seen["contexts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "work")
        .unwrap();
    assert_eq!(work["context"]["namespace"], "dev");

    // Merging again with UseIncoming switches kubectl to our context and changes nothing else.
    merge_into_file(&file, &incoming, CurrentContext::UseIncoming).unwrap();
    let current = kubectl(
        pki.dir.path(),
        &[
            "config",
            "current-context",
            "--kubeconfig",
            &file.to_string_lossy(),
        ],
    );
    assert_eq!(current.trim(), CLUSTER);
    let again = kubectl_view(&file);
    assert_eq!(again["clusters"], seen["clusters"]);
    assert_eq!(again["users"], seen["users"]);
}

#[test]
#[ignore = "needs openssl and kubectl: run scripts/test"]
fn missing_file_and_folder_are_created_private() {
    let pki = Pki::new();
    let file = pki.path("home/.kube/config");
    let incoming = admin(&pki, "10.0.0.1");
    merge_into_file(&file, &incoming, CurrentContext::UseIncoming).unwrap();
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&file), 0o600);
    assert_eq!(mode(file.parent().unwrap()), 0o700);
    let seen = kubectl_view(&file);
    assert_eq!(seen["current-context"], CLUSTER);
    assert_eq!(seen, serde_json::to_value(&incoming).unwrap());
}

#[test]
#[ignore = "needs openssl: run scripts/test"]
fn symlinked_kubeconfig_is_written_through() {
    let pki = Pki::new();
    let real = pki.path("real-config");
    std::fs::write(&real, "").unwrap();
    let link = pki.path("link-config");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    merge_into_file(&link, &admin(&pki, "10.0.0.1"), CurrentContext::Keep).unwrap();
    assert!(
        std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(read_kubeconfig(&real).unwrap().clusters.len(), 1);
}

#[test]
#[ignore = "needs openssl: run scripts/test"]
fn a_file_that_is_not_a_kubeconfig_is_left_untouched() {
    let pki = Pki::new();
    let file = pki.path("config");
    let junk = "clusters: [unclosed\n";
    std::fs::write(&file, junk).unwrap();
    let err = merge_into_file(&file, &admin(&pki, "10.0.0.1"), CurrentContext::Keep).unwrap_err();
    assert!(matches!(err, Error::Parse { .. }), "{err}");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), junk);
}
