//! An interrupted save never leaves a CA key beside another CA's certificate: what a crash
//! leaves, `store::recover` turns into a state the next reconcile completes.

use std::fs;
use std::path::Path;

use k8s_pki::store::{self, CA_PENDING, Recovery};
use k8s_pki::{Change, Error, KeyAlgorithm, Node, Pki, PkiInputs, ReconcileOptions};
use time::OffsetDateTime;

fn pki() -> Pki {
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
        vec![node("c-worker-0", "10.0.0.20")],
    );
    i.key_algorithm = KeyAlgorithm::EcdsaP256;
    i.api_endpoints = vec!["api.example.com".into()];
    Pki::new(i).unwrap()
}

fn reconcile_and_save(pki: &Pki, dir: &Path, options: &ReconcileOptions) -> k8s_pki::Bundle {
    let existing = store::load(dir, pki.specs()).unwrap();
    let bundle = pki.reconcile(&existing, options).unwrap();
    store::save(dir, &bundle).unwrap();
    bundle
}

fn all_right(pki: &Pki, dir: &Path) {
    let existing = store::load(dir, pki.specs()).unwrap();
    for row in pki.check(&existing, OffsetDateTime::now_utc()) {
        assert!(row.problems.is_empty(), "{}: {:?}", row.name, row.problems);
    }
}

#[test]
fn a_save_leaves_no_pending_file_and_nothing_to_recover() {
    let pki = pki();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("pki");
    reconcile_and_save(&pki, &dir, &ReconcileOptions::default());
    assert!(!dir.join(CA_PENDING).exists());
    assert_eq!(store::recover(&dir).unwrap(), None);
    all_right(&pki, &dir);
}

/// `--replace-ca` killed after the pending file and the new `ca-key.pem` were renamed, before
/// the new `ca.pem`: the old certificate and the new key do not match.
#[test]
fn a_ca_write_cut_after_the_key_is_finished_from_the_pending_file() {
    let pki = pki();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("pki");
    reconcile_and_save(&pki, &dir, &ReconcileOptions::default());
    let old_ca = fs::read_to_string(dir.join("ca.pem")).unwrap();
    let replacing = ReconcileOptions {
        replace_ca: true,
        ..Default::default()
    };
    let new = pki
        .reconcile(&store::load(&dir, pki.specs()).unwrap(), &replacing)
        .unwrap();
    let ca = new.get(k8s_pki::CA).unwrap();
    fs::write(
        dir.join(CA_PENDING),
        format!("{}{}", ca.cert_pem, ca.key_pem.expose()),
    )
    .unwrap();
    fs::write(dir.join("ca-key.pem"), ca.key_pem.expose()).unwrap();
    // The mismatch is what every run refused before.
    let err = pki
        .reconcile(
            &store::load(&dir, pki.specs()).unwrap(),
            &ReconcileOptions::default(),
        )
        .unwrap_err();
    assert!(matches!(err, Error::CaUnusable { .. }), "{err}");

    assert_eq!(
        store::recover(&dir).unwrap(),
        Some(Recovery::FinishedCaWrite)
    );
    assert!(!dir.join(CA_PENDING).exists());
    assert_eq!(fs::read_to_string(dir.join("ca.pem")).unwrap(), ca.cert_pem);
    assert_ne!(ca.cert_pem, old_ca);
    // The next run keeps the new CA and re-issues what the old one signed.
    let next = reconcile_and_save(&pki, &dir, &ReconcileOptions::default());
    assert_eq!(next.get(k8s_pki::CA).unwrap().change, Change::Kept);
    assert!(
        next.items
            .iter()
            .filter(|i| i.name != k8s_pki::CA)
            .all(|i| matches!(i.change, Change::Reissued(_)))
    );
    all_right(&pki, &dir);
}

#[test]
fn a_lone_ca_key_that_signed_nothing_is_set_aside_not_deleted() {
    let pki = pki();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("pki");
    fs::create_dir_all(&dir).unwrap();
    let key = pki
        .generate()
        .unwrap()
        .get(k8s_pki::CA)
        .unwrap()
        .key_pem
        .expose()
        .to_string();
    fs::write(dir.join("ca-key.pem"), &key).unwrap();
    let Some(Recovery::SetAsideLoneCaKey { moved_to }) = store::recover(&dir).unwrap() else {
        panic!("expected the key to be set aside");
    };
    assert_eq!(fs::read_to_string(&moved_to).unwrap(), key);
    assert!(!dir.join("ca-key.pem").exists());
    reconcile_and_save(&pki, &dir, &ReconcileOptions::default());
    all_right(&pki, &dir);
}

#[test]
fn a_lone_ca_key_beside_certificates_is_kept_and_refused() {
    let pki = pki();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("pki");
    reconcile_and_save(&pki, &dir, &ReconcileOptions::default());
    fs::remove_file(dir.join("ca.pem")).unwrap();
    assert_eq!(store::recover(&dir).unwrap(), None);
    assert!(dir.join("ca-key.pem").exists());
    let err = pki
        .reconcile(
            &store::load(&dir, pki.specs()).unwrap(),
            &ReconcileOptions::default(),
        )
        .unwrap_err();
    assert!(matches!(err, Error::CaUnusable { .. }), "{err}");
}
