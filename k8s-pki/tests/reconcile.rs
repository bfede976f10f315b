//! Re-running is safe: what is right is kept byte for byte, what changed is re-issued alone,
//! and a CA is never replaced behind the user's back.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::process::Command;

use k8s_hard_tests::{openssl, require_tool};
use k8s_pki::{Change, Error, KeyAlgorithm, Node, Pki, PkiInputs, ReconcileOptions, Renew, store};
use time::{Duration, OffsetDateTime};

fn inputs(algorithm: KeyAlgorithm) -> PkiInputs {
    let node = |name: &str, ip: &str| Node {
        name: name.into(),
        hostname: format!("ip-{}", ip.replace('.', "-")),
        fqdn: None,
        private_ip: ip.parse().unwrap(),
        public_ip: None,
    };
    let mut i = PkiInputs::new(
        "c",
        vec![node("c-master-0", "10.0.0.10")],
        vec![
            node("c-worker-0", "10.0.0.20"),
            node("c-worker-1", "10.0.0.21"),
        ],
    );
    i.key_algorithm = algorithm;
    i.api_endpoints = vec!["api.example.com".into()];
    i
}

fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                fs::read(e.path()).unwrap(),
            )
        })
        .collect()
}

fn run(pki: &Pki, dir: &Path, options: &ReconcileOptions) -> k8s_pki::Bundle {
    let existing = store::load(dir, pki.specs()).unwrap();
    let bundle = pki.reconcile(&existing, options).unwrap();
    store::save(dir, &bundle).unwrap();
    bundle
}

#[test]
fn rerun_keeps_every_file_byte_identical() {
    let pki = Pki::new(inputs(KeyAlgorithm::Rsa2048)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let first = run(&pki, dir.path(), &ReconcileOptions::default());
    assert!(first.items.iter().all(|i| i.change == Change::Created));
    let before = snapshot(dir.path());
    let second = run(&pki, dir.path(), &ReconcileOptions::default());
    assert!(
        second.items.iter().all(|i| i.change == Change::Kept),
        "{:?}",
        second.changed().collect::<Vec<_>>()
    );
    assert_eq!(snapshot(dir.path()), before);
}

#[test]
#[ignore = "needs openssl: run scripts/test"]
fn a_changed_worker_ip_reissues_only_that_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(inputs(KeyAlgorithm::EcdsaP256)).unwrap();
    run(&pki, dir.path(), &ReconcileOptions::default());
    let before = snapshot(dir.path());

    let mut changed = inputs(KeyAlgorithm::EcdsaP256);
    changed.workers[1].private_ip = "10.0.0.31".parse().unwrap();
    let pki = Pki::new(changed).unwrap();
    let bundle = run(&pki, dir.path(), &ReconcileOptions::default());
    let changed: Vec<_> = bundle.changed().collect();
    assert_eq!(changed.len(), 1, "{changed:?}");
    assert_eq!(changed[0].name, "c-worker-1");
    let Change::Reissued(reasons) = &changed[0].change else {
        panic!("{changed:?}")
    };
    assert!(
        reasons.iter().any(|r| r.contains("IP:10.0.0.31")),
        "{reasons:?}"
    );
    // Its key is kept; only its certificate file changed.
    let after = snapshot(dir.path());
    let differing: Vec<&String> = after
        .keys()
        .filter(|k| before.get(*k) != after.get(*k))
        .collect();
    assert_eq!(differing, ["c-worker-1.pem"]);
    openssl::verify(
        &dir.path().join("ca.pem"),
        &dir.path().join("c-worker-1.pem"),
    )
    .unwrap();
}

#[test]
fn a_changed_algorithm_or_endpoint_is_detected() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(inputs(KeyAlgorithm::EcdsaP256)).unwrap();
    run(&pki, dir.path(), &ReconcileOptions::default());

    let mut i = inputs(KeyAlgorithm::EcdsaP384);
    i.api_endpoints = vec!["lb.example.com".into()];
    let pki = Pki::new(i).unwrap();
    let bundle = run(&pki, dir.path(), &ReconcileOptions::default());
    // The CA keeps its key; every leaf gets a new P-384 key.
    assert_eq!(bundle.items[0].change, Change::Kept);
    assert!(bundle.items[1..].iter().all(|i| i.key_changed));
    let Change::Reissued(api) = &bundle.get("master-kubernetes").unwrap().change else {
        panic!()
    };
    assert!(
        api.iter().any(|r| r.contains("DNS:lb.example.com")),
        "{api:?}"
    );
    let rows = pki.check(
        &store::load(dir.path(), pki.specs()).unwrap(),
        OffsetDateTime::now_utc(),
    );
    assert!(rows.iter().all(|r| r.problems.is_empty()), "{rows:#?}");
}

#[test]
fn renew_reissues_only_the_named_leaves_and_keeps_the_ca() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(inputs(KeyAlgorithm::EcdsaP256)).unwrap();
    run(&pki, dir.path(), &ReconcileOptions::default());
    let options = ReconcileOptions {
        renew: Renew::Only(vec!["admin".into()]),
        ..Default::default()
    };
    let bundle = run(&pki, dir.path(), &options);
    let names: Vec<&str> = bundle.changed().map(|i| i.name.as_str()).collect();
    assert_eq!(names, ["admin"]);

    let bad = ReconcileOptions {
        renew: Renew::Only(vec!["nope".into()]),
        ..Default::default()
    };
    let existing = store::load(dir.path(), pki.specs()).unwrap();
    let err = pki.reconcile(&existing, &bad).unwrap_err();
    assert!(matches!(err, Error::UnknownCertificate { .. }), "{err}");
    assert!(err.to_string().contains("admin"));
}

#[test]
fn expiring_leaves_are_reissued() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(inputs(KeyAlgorithm::EcdsaP256)).unwrap();
    // Issued 360 days ago: 5 days left of the 8760 h.
    let past = ReconcileOptions {
        now: OffsetDateTime::now_utc() - Duration::days(360),
        ..Default::default()
    };
    run(&pki, dir.path(), &past);
    let rows = pki.check(
        &store::load(dir.path(), pki.specs()).unwrap(),
        OffsetDateTime::now_utc(),
    );
    let admin = rows.iter().find(|r| r.name == "admin").unwrap();
    assert_eq!(admin.days_left, Some(4));
    assert!(admin.warnings[0].contains("expires in"), "{admin:?}");
    let bundle = run(&pki, dir.path(), &ReconcileOptions::default());
    assert_eq!(
        bundle.items[0].change,
        Change::Kept,
        "the CA has years left"
    );
    assert_eq!(bundle.changed().count(), bundle.items.len() - 1);
}

#[test]
#[ignore = "needs openssl: run scripts/test"]
fn a_mismatched_ca_is_refused_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(inputs(KeyAlgorithm::EcdsaP256)).unwrap();
    run(&pki, dir.path(), &ReconcileOptions::default());
    // Swap in another CA key.
    let other = tempfile::tempdir().unwrap();
    run(&pki, other.path(), &ReconcileOptions::default());
    fs::copy(
        other.path().join("ca-key.pem"),
        dir.path().join("ca-key.pem"),
    )
    .unwrap();
    let before = snapshot(dir.path());
    let existing = store::load(dir.path(), pki.specs()).unwrap();
    let err = pki
        .reconcile(&existing, &ReconcileOptions::default())
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("ca-key.pem does not belong to ca.pem"),
        "{err}"
    );
    assert_eq!(snapshot(dir.path()), before);

    // With replace_ca, everything is made anew and chains to the new CA.
    let options = ReconcileOptions {
        replace_ca: true,
        ..Default::default()
    };
    let bundle = run(&pki, dir.path(), &options);
    assert!(bundle.items.iter().all(|i| i.change != Change::Kept));
    openssl::verify(&dir.path().join("ca.pem"), &dir.path().join("admin.pem")).unwrap();
}

#[test]
#[ignore = "needs openssl: run scripts/test"]
fn a_cfssl_style_pkcs1_ca_is_reused() {
    // cfssl writes `BEGIN RSA PRIVATE KEY` (PKCS#1): a CA made by the tutorial must keep working.
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let status = Command::new(require_tool("openssl"))
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1825",
        ])
        .args([
            "-subj",
            "/C=UK/ST=London/L=England/O=Kubernetes/OU=DAREY.IO DEVOPS/CN=Kubernetes",
        ])
        .args(["-addext", "keyUsage=critical,keyCertSign,cRLSign"])
        .arg("-keyout")
        .arg(d.join("ca-key.tmp"))
        .arg("-out")
        .arg(d.join("ca.pem"))
        .status()
        .unwrap();
    assert!(status.success());
    let status = Command::new(require_tool("openssl"))
        .args(["rsa", "-traditional", "-in"])
        .arg(d.join("ca-key.tmp"))
        .arg("-out")
        .arg(d.join("ca-key.pem"))
        .status()
        .unwrap();
    assert!(status.success());
    fs::remove_file(d.join("ca-key.tmp")).unwrap();
    assert!(
        fs::read_to_string(d.join("ca-key.pem"))
            .unwrap()
            .contains("BEGIN RSA PRIVATE KEY")
    );
    let ca_before = fs::read(d.join("ca.pem")).unwrap();

    let pki = Pki::new(inputs(KeyAlgorithm::Rsa2048)).unwrap();
    let bundle = run(&pki, d, &ReconcileOptions::default());
    assert_eq!(bundle.items[0].change, Change::Kept);
    assert_eq!(fs::read(d.join("ca.pem")).unwrap(), ca_before);
    openssl::verify(&d.join("ca.pem"), &d.join("master-kubernetes.pem")).unwrap();
}

#[test]
fn check_finds_swapped_and_tampered_files() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let pki = Pki::new(inputs(KeyAlgorithm::EcdsaP256)).unwrap();
    run(&pki, d, &ReconcileOptions::default());
    fs::copy(d.join("c-worker-0.pem"), d.join("c-worker-1.pem")).unwrap();
    fs::write(d.join("admin.pem"), "not a certificate").unwrap();
    fs::remove_file(d.join("kube-proxy-key.pem")).unwrap();
    let rows = pki.check(
        &store::load(d, pki.specs()).unwrap(),
        OffsetDateTime::now_utc(),
    );
    let problems = |n: &str| {
        rows.iter()
            .find(|r| r.name == n)
            .unwrap()
            .problems
            .join("; ")
    };
    assert!(
        problems("c-worker-1").contains("CN is \"system:node:ip-10-0-0-20\""),
        "{}",
        problems("c-worker-1")
    );
    assert!(
        problems("c-worker-1").contains("does not match"),
        "{}",
        problems("c-worker-1")
    );
    assert!(
        problems("admin").contains("does not parse"),
        "{}",
        problems("admin")
    );
    assert!(problems("kube-proxy").contains("kube-proxy-key.pem is missing"));
    assert!(problems("ca").is_empty() && problems("c-worker-0").is_empty());
    // Ten years on, everything has expired.
    let later = pki.check(
        &store::load(d, pki.specs()).unwrap(),
        OffsetDateTime::now_utc() + Duration::days(3650),
    );
    assert!(later.iter().all(|r| !r.problems.is_empty()));
}

/// `up`'s order: keys while the machines are created, signing once the addresses are known.
#[test]
fn keys_made_before_the_addresses_are_the_keys_signed_for_after() {
    let mut before = inputs(KeyAlgorithm::EcdsaP256);
    before.api_endpoints.clear();
    let early = Pki::new(before).unwrap();
    let options = ReconcileOptions::default();
    let batch = early.pregenerate_keys(&BTreeMap::new(), &options).unwrap();
    assert_eq!(batch.len(), early.specs().len());
    let expected: BTreeMap<String, Vec<u8>> = batch
        .names()
        .map(|n| (n.to_string(), batch.public_key_der(n).unwrap()))
        .collect();

    let mut after = inputs(KeyAlgorithm::EcdsaP256);
    after.masters[0].public_ip = Some("3.3.3.3".parse().unwrap());
    let pki = Pki::new(after).unwrap();
    let bundle = pki
        .reconcile_with_keys(&BTreeMap::new(), &options, batch)
        .unwrap();
    for item in &bundle.items {
        let key = rcgen::KeyPair::from_pem(item.key_pem.expose()).unwrap();
        assert_eq!(
            rcgen::PublicKeyData::subject_public_key_info(&key),
            expected[&item.name],
            "{}",
            item.name
        );
        assert_eq!(item.change, Change::Created);
    }
    let rows = pki.check(&bundle.to_existing(), OffsetDateTime::now_utc());
    assert!(rows.iter().all(|r| r.problems.is_empty()), "{rows:?}");

    // Nothing left to pre-generate for a complete PKI, even with changed addresses.
    let existing = bundle.to_existing();
    assert!(
        early
            .pregenerate_keys(&existing, &options)
            .unwrap()
            .is_empty()
    );
    // One key lost: only that one is made; replacing the CA makes the CA's.
    let mut damaged = existing.clone();
    damaged.get_mut("admin").unwrap().key_pem = None;
    let one = early.pregenerate_keys(&damaged, &options).unwrap();
    assert_eq!(one.names().collect::<Vec<_>>(), ["admin"]);
    let replace = ReconcileOptions {
        replace_ca: true,
        ..ReconcileOptions::default()
    };
    let ca = early.pregenerate_keys(&existing, &replace).unwrap();
    assert_eq!(ca.names().collect::<Vec<_>>(), ["ca"]);

    // A batch of another algorithm is not used: the keys are of the PKI's algorithm.
    let p384_batch = Pki::new(inputs(KeyAlgorithm::EcdsaP384))
        .unwrap()
        .pregenerate_keys(&BTreeMap::new(), &options)
        .unwrap();
    let fresh = pki
        .reconcile_with_keys(&BTreeMap::new(), &options, p384_batch)
        .unwrap();
    let rows = pki.check(&fresh.to_existing(), OffsetDateTime::now_utc());
    assert!(rows.iter().all(|r| r.problems.is_empty()), "{rows:?}");
}
