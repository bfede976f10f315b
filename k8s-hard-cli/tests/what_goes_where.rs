//! What `k8s-hard bundle` makes for the tutorial's topology (3 masters, 3 workers at
//! 172.31.0.20-22), stated literally from "Kubernetes from the ground up" STEP 4 and STEP 6 and
//! judged by openssl and kubectl alone: every certificate's file name, subject, issuer,
//! validity and key size, and which certificate (and server) each of the seven kubeconfigs
//! carries. Nothing expected here comes from our own certificate table.

mod common;

use std::path::Path;
use std::process::Command;

use common::{init_with, k8s_hard};
use k8s_hard_tests::{require_tool, run_tool};

/// The tutorial's `names` block (STEP 4), in the order openssl prints a subject, around the
/// `O` and `CN` of one CSR.
fn subject(o: &str, cn: &str) -> String {
    format!("C = UK, ST = London, L = England, O = {o}, OU = DAREY.IO DEVOPS, CN = {cn}")
}

/// Every certificate of STEP 4: (file, O, CN, validity in hours).
const CERTIFICATES: [(&str, &str, &str, u64); 10] = [
    ("ca.pem", "Kubernetes", "Kubernetes", 43800),
    ("master-kubernetes.pem", "Kubernetes", "kubernetes", 8760),
    (
        "kube-scheduler.pem",
        "system:kube-scheduler",
        "system:kube-scheduler",
        8760,
    ),
    (
        "kube-proxy.pem",
        "system:node-proxier",
        "system:kube-proxy",
        8760,
    ),
    (
        "kube-controller-manager.pem",
        "system:kube-controller-manager",
        "system:kube-controller-manager",
        8760,
    ),
    (
        "k8s-cluster-from-ground-up-worker-0.pem",
        "system:nodes",
        "system:node:ip-172-31-0-20",
        8760,
    ),
    (
        "k8s-cluster-from-ground-up-worker-1.pem",
        "system:nodes",
        "system:node:ip-172-31-0-21",
        8760,
    ),
    (
        "k8s-cluster-from-ground-up-worker-2.pem",
        "system:nodes",
        "system:node:ip-172-31-0-22",
        8760,
    ),
    ("admin.pem", "system:masters", "admin", 8760),
    (
        "service-account.pem",
        "Kubernetes",
        "service-accounts",
        8760,
    ),
];

/// The seven kubeconfigs of STEP 6: (file, user, O and CN of its client certificate, server).
const KUBECONFIGS: [(&str, &str, &str, &str, &str); 7] = [
    (
        "k8s-cluster-from-ground-up-worker-0.kubeconfig",
        "system:node:ip-172-31-0-20",
        "system:nodes",
        "system:node:ip-172-31-0-20",
        "https://k8s-api.example.com:6443",
    ),
    (
        "k8s-cluster-from-ground-up-worker-1.kubeconfig",
        "system:node:ip-172-31-0-21",
        "system:nodes",
        "system:node:ip-172-31-0-21",
        "https://k8s-api.example.com:6443",
    ),
    (
        "k8s-cluster-from-ground-up-worker-2.kubeconfig",
        "system:node:ip-172-31-0-22",
        "system:nodes",
        "system:node:ip-172-31-0-22",
        "https://k8s-api.example.com:6443",
    ),
    (
        "kube-proxy.kubeconfig",
        "system:kube-proxy",
        "system:node-proxier",
        "system:kube-proxy",
        "https://k8s-api.example.com:6443",
    ),
    (
        "kube-controller-manager.kubeconfig",
        "system:kube-controller-manager",
        "system:kube-controller-manager",
        "system:kube-controller-manager",
        "https://127.0.0.1:6443",
    ),
    (
        "kube-scheduler.kubeconfig",
        "system:kube-scheduler",
        "system:kube-scheduler",
        "system:kube-scheduler",
        "https://127.0.0.1:6443",
    ),
    (
        "admin.kubeconfig",
        "admin",
        "system:masters",
        "admin",
        "https://k8s-api.example.com:6443",
    ),
];

/// `k8s-hard init` (the tutorial's topology, RSA 2048 as in its CSRs) and `bundle` into `dir`.
fn tutorial_bundle(dir: &Path) {
    init_with(dir, &["--api-endpoint", "k8s-api.example.com"], &[]);
    k8s_hard(dir).arg("bundle").assert().success();
}

fn openssl(args: &[&str], file: &Path) -> String {
    let mut all: Vec<&std::ffi::OsStr> = args.iter().map(|a| a.as_ref()).collect();
    all.extend(["-in".as_ref(), file.as_os_str()]);
    run_tool("openssl", all).unwrap_or_else(|e| panic!("{}: {e}", file.display()))
}

/// A `-dates -dateopt iso_8601` line's time, e.g. `notAfter=2027-12-04 19:21:34Z`.
fn date(dates: &str, field: &str) -> time::PrimitiveDateTime {
    let line = dates
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{field}=")))
        .unwrap_or_else(|| panic!("no {field} in {dates}"));
    let format = time::format_description::parse_borrowed::<2>(
        "[year]-[month]-[day] [hour]:[minute]:[second]Z",
    )
    .unwrap();
    time::PrimitiveDateTime::parse(line.trim(), &format).unwrap()
}

/// A shell pipeline of independent tools over `file` ($1), in an empty HOME.
fn pipeline(script: &str, file: &Path, home: &Path) -> String {
    let out = Command::new(require_tool("sh"))
        .args(["-c", script, "sh"])
        .arg(file)
        .env("HOME", home)
        .env_remove("KUBECONFIG")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{script} on {}: {}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
#[ignore = "needs openssl: run scripts/test"]
fn every_certificate_of_the_tutorials_topology_has_its_subject_validity_and_key_size() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("lab");
    tutorial_bundle(&dir);
    let pki = dir.join("pki");

    // Exactly these files: each certificate and its key, nothing else.
    let mut want: Vec<String> = CERTIFICATES
        .iter()
        .flat_map(|(file, ..)| [file.to_string(), file.replace(".pem", "-key.pem")])
        .collect();
    want.sort();
    let mut have: Vec<String> = std::fs::read_dir(&pki)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    have.sort();
    assert_eq!(have, want);

    let ca_subject = subject("Kubernetes", "Kubernetes");
    for (file, o, cn, hours) in CERTIFICATES {
        let cert = pki.join(file);
        assert_eq!(
            openssl(&["x509", "-noout", "-subject"], &cert).trim(),
            format!("subject={}", subject(o, cn)),
            "{file}"
        );
        assert_eq!(
            openssl(&["x509", "-noout", "-issuer"], &cert).trim(),
            format!("issuer={ca_subject}"),
            "{file}"
        );
        // Valid from 5 minutes before it was made (clock skew) to `hours` after.
        let dates = openssl(&["x509", "-noout", "-dates", "-dateopt", "iso_8601"], &cert);
        let span = date(&dates, "notAfter") - date(&dates, "notBefore");
        assert_eq!(
            span,
            time::Duration::hours(hours as i64) + time::Duration::minutes(5),
            "{file}: {dates}"
        );
        // openssl's own clock: still valid an hour short of `hours` from now, not at `hours`.
        let left = |secs: u64| {
            run_tool(
                "openssl",
                [
                    "x509".as_ref(),
                    "-noout".as_ref(),
                    "-checkend".as_ref(),
                    secs.to_string().as_ref(),
                    "-in".as_ref(),
                    cert.as_os_str(),
                ],
            )
        };
        assert!(left((hours - 1) * 3600).is_ok(), "{file}: {dates}");
        assert!(left(hours * 3600).is_err(), "{file}: {dates}");
        let text = openssl(&["x509", "-noout", "-text"], &cert);
        assert!(
            text.contains("Public Key Algorithm: rsaEncryption")
                && text.contains("Public-Key: (2048 bit)"),
            "{file}: {text}"
        );
        let key = pki.join(file.replace(".pem", "-key.pem"));
        assert!(
            openssl(&["pkey", "-noout", "-text"], &key).contains("Private-Key: (2048 bit"),
            "{file}'s key"
        );
    }
}

#[test]
#[ignore = "needs openssl and kubectl: run scripts/test"]
fn each_kubeconfig_carries_its_components_certificate() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("lab");
    tutorial_bundle(&dir);
    let home = tmp.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let mut have: Vec<String> = std::fs::read_dir(dir.join("kubeconfigs"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    have.sort();
    let mut want: Vec<&str> = KUBECONFIGS.iter().map(|k| k.0).collect();
    want.sort();
    assert_eq!(have, want);

    let view = |jsonpath: &str| {
        format!("kubectl config view --raw --kubeconfig \"$1\" -o jsonpath='{{{jsonpath}}}'")
    };
    let ca = pipeline(
        "openssl x509 -noout -fingerprint -sha256 -in \"$1\"",
        &dir.join("pki/ca.pem"),
        &home,
    );
    for (file, user, o, cn, server) in KUBECONFIGS {
        let kubeconfig = dir.join("kubeconfigs").join(file);
        let cert = format!(
            "{} | base64 -d | openssl x509 -noout",
            view(".users[0].user.client-certificate-data")
        );
        assert_eq!(
            pipeline(&format!("{cert} -subject"), &kubeconfig, &home),
            format!("subject={}", subject(o, cn)),
            "{file}"
        );
        // Its key is that certificate's key; its CA is pki/ca.pem.
        let key_pub = pipeline(
            &format!(
                "{} | base64 -d | openssl pkey -pubout",
                view(".users[0].user.client-key-data")
            ),
            &kubeconfig,
            &home,
        );
        assert_eq!(
            pipeline(&format!("{cert} -pubkey"), &kubeconfig, &home),
            key_pub,
            "{file}"
        );
        assert_eq!(
            pipeline(
                &format!(
                    "{} | base64 -d | openssl x509 -noout -fingerprint -sha256",
                    view(".clusters[0].cluster.certificate-authority-data")
                ),
                &kubeconfig,
                &home
            ),
            ca,
            "{file}"
        );
        assert_eq!(
            pipeline(
                &view(".users[0].name} {.clusters[0].cluster.server} {.current-context"),
                &kubeconfig,
                &home
            ),
            format!("{user} {server} default"),
            "{file}"
        );
    }
}
