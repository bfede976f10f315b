//! The PKI judged by independent tools: `openssl verify`/`openssl x509`, and a real
//! 3-member etcd cluster doing mutual TLS with our certificates.

use std::fs;
use std::net::IpAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use k8s_hard_tests::etcd::{EtcdCluster, EtcdTls};
use k8s_hard_tests::openssl;
use k8s_pki::{KeyAlgorithm, Node, Pki, PkiInputs, San, Usage, store};

fn node(name: String, ip: String, region: &str) -> Node {
    let hostname = format!("ip-{}", ip.replace('.', "-"));
    Node {
        fqdn: Some(format!("{hostname}.{region}.compute.internal")),
        name,
        hostname,
        private_ip: ip.parse().unwrap(),
        public_ip: None,
    }
}

/// The tutorial's topology shape: masters at `<prefix>.10+i`, workers at `<prefix>.20+i` (or from
/// 100 on when there are many).
fn topology(prefix: &str, masters: usize, workers: usize) -> PkiInputs {
    let c = "k8s-cluster-from-ground-up";
    let m = (0..masters)
        .map(|i| {
            node(
                format!("{c}-master-{i}"),
                format!("{prefix}.{}", 10 + i),
                "us-east-2",
            )
        })
        .collect();
    let base = if workers > 10 { 100 } else { 20 };
    let w = (0..workers)
        .map(|i| {
            let mut n = node(
                format!("{c}-worker-{i}"),
                format!("{prefix}.{}", base + i),
                "us-east-2",
            );
            n.public_ip = Some(format!("3.0.0.{}", i + 1).parse().unwrap());
            n
        })
        .collect();
    let mut inputs = PkiInputs::new(c, m, w);
    inputs.api_endpoints = vec!["k8s-cluster-from-ground-up-1.us-east-2.elb.amazonaws.com".into()];
    inputs
}

fn openssl_san(s: &San) -> String {
    match s {
        San::Dns(d) => format!("DNS:{d}"),
        San::Ip(ip) => format!("IP Address:{ip}"),
    }
}

fn assert_openssl_agrees(pki: &Pki, dir: &Path) {
    let ca = store::cert_path(dir, "ca");
    assert_eq!(
        fs::metadata(dir).unwrap().permissions().mode() & 0o777,
        0o700
    );
    for spec in pki.specs() {
        let cert = store::cert_path(dir, &spec.name);
        let key = store::key_path(dir, &spec.name);
        assert_eq!(
            fs::metadata(&cert).unwrap().permissions().mode() & 0o777,
            0o644
        );
        assert_eq!(
            fs::metadata(&key).unwrap().permissions().mode() & 0o777,
            0o600
        );
        openssl::verify(&ca, &cert).unwrap_or_else(|e| panic!("{}: {e}", spec.name));
        assert!(
            openssl::key_matches(&cert, &key),
            "{}: key does not match",
            spec.name
        );

        let want_subject = format!(
            "CN={},OU=DAREY.IO DEVOPS,O={},L=England,ST=London,C=UK",
            spec.common_name, spec.organization
        );
        assert_eq!(openssl::subject(&cert), want_subject, "{}", spec.name);

        let mut have = openssl::sans(&cert);
        let mut want: Vec<String> = spec.sans.iter().map(openssl_san).collect();
        have.sort();
        want.sort();
        assert_eq!(have, want, "{}: SANs", spec.name);

        let bc = openssl::ext(&cert, "basicConstraints");
        let ku = openssl::ext(&cert, "keyUsage");
        let eku = openssl::ext(&cert, "extendedKeyUsage");
        if spec.is_ca() {
            assert!(bc.contains("CA:TRUE"), "{bc}");
            assert!(
                ku.contains("Certificate Sign") && ku.contains("CRL Sign"),
                "{ku}"
            );
        } else {
            assert!(bc.contains("CA:FALSE"), "{}: {bc}", spec.name);
            assert!(ku.contains("Digital Signature"), "{ku}");
            assert_eq!(
                ku.contains("Key Encipherment"),
                pki.inputs().key_algorithm.is_rsa()
            );
            assert!(
                !ku.contains("Certificate Sign"),
                "{}: leaf may sign: {ku}",
                spec.name
            );
            assert_eq!(
                eku.contains("TLS Web Server Authentication"),
                spec.usages.contains(&Usage::ServerAuth)
            );
            assert_eq!(
                eku.contains("TLS Web Client Authentication"),
                spec.usages.contains(&Usage::ClientAuth)
            );
            let text = openssl::text(&cert);
            assert!(
                text.contains("Authority Key Identifier"),
                "{}: no AKI",
                spec.name
            );
        }
    }
}

#[test]
#[ignore = "needs openssl: run scripts/test"]
fn default_topology_passes_openssl() {
    let pki = Pki::new(topology("172.31.0", 3, 3)).unwrap();
    let bundle = pki.generate().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let pki_dir = dir.path().join("pki");
    store::save(&pki_dir, &bundle).unwrap();
    assert_openssl_agrees(&pki, &pki_dir);

    // The tutorial's file names, cfssljson style.
    for name in [
        "ca",
        "master-kubernetes",
        "kube-scheduler",
        "kube-proxy",
        "kube-controller-manager",
        "k8s-cluster-from-ground-up-worker-0",
        "k8s-cluster-from-ground-up-worker-2",
        "admin",
        "service-account",
    ] {
        assert!(pki_dir.join(format!("{name}.pem")).is_file(), "{name}.pem");
        assert!(
            pki_dir.join(format!("{name}-key.pem")).is_file(),
            "{name}-key.pem"
        );
    }
    let api = openssl::sans(&store::cert_path(&pki_dir, "master-kubernetes"));
    assert!(api.contains(&"IP Address:10.32.0.1".to_string()), "{api:?}");
    let validity = openssl::text(&store::cert_path(&pki_dir, "ca"));
    assert!(validity.contains("Signature Algorithm: sha256WithRSAEncryption"));
}

#[test]
#[ignore = "needs openssl: run scripts/test"]
fn fifty_workers_pass_openssl() {
    let pki = Pki::new(topology("172.31.0", 3, 50)).unwrap();
    let bundle = pki.generate().unwrap();
    assert_eq!(bundle.items.len(), 1 + 6 + 50);
    let dir = tempfile::tempdir().unwrap();
    store::save(dir.path(), &bundle).unwrap();
    assert_openssl_agrees(&pki, dir.path());
}

#[test]
#[ignore = "needs openssl: run scripts/test"]
fn ecdsa_p384_passes_openssl() {
    let mut inputs = topology("172.31.0", 1, 2);
    inputs.key_algorithm = KeyAlgorithm::EcdsaP384;
    let pki = Pki::new(inputs).unwrap();
    let dir = tempfile::tempdir().unwrap();
    store::save(dir.path(), &pki.generate().unwrap()).unwrap();
    assert_openssl_agrees(&pki, dir.path());
    assert!(openssl::text(&store::cert_path(dir.path(), "admin")).contains("ecdsa-with-SHA384"));
}

#[test]
#[ignore = "needs etcd, etcdctl and openssl: run scripts/test"]
fn etcd_cluster_runs_on_the_apiserver_certificate() {
    // Masters on 127.0.0.10-12: the apiserver certificate names them, as etcd on the masters.
    let pki = Pki::new(topology("127.0.0", 3, 1)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    store::save(d, &pki.generate().unwrap()).unwrap();
    let ips: Vec<IpAddr> = pki.inputs().masters.iter().map(|m| m.private_ip).collect();
    let tls = EtcdTls {
        ca: store::cert_path(d, "ca"),
        cert: store::cert_path(d, "master-kubernetes"),
        key: store::key_path(d, "master-kubernetes"),
    };
    let admin = (store::cert_path(d, "admin"), store::key_path(d, "admin"));
    let etcd = EtcdCluster::start(&ips, &tls, &admin.0, &admin.1);

    let members = etcd
        .etcdctl(&tls.ca, &admin.0, &admin.1, &["member", "list"])
        .unwrap();
    assert_eq!(
        members.lines().filter(|l| l.contains("started")).count(),
        3,
        "{members}"
    );
    etcd.etcdctl(&tls.ca, &admin.0, &admin.1, &["put", "k8s-hard", "ok"])
        .unwrap();
    let kubelet = (
        store::cert_path(d, "k8s-cluster-from-ground-up-worker-0"),
        store::key_path(d, "k8s-cluster-from-ground-up-worker-0"),
    );
    let got = etcd
        .etcdctl(&tls.ca, &kubelet.0, &kubelet.1, &["get", "k8s-hard"])
        .unwrap();
    assert!(got.contains("ok"), "{got}");

    // A client certificate from another CA is refused.
    openssl::foreign_client(d, "admin");
    let refused = etcd.etcdctl(
        &tls.ca,
        &d.join("other-client.pem"),
        &d.join("other-client-key.pem"),
        &["member", "list"],
    );
    assert!(
        refused.is_err(),
        "a foreign client was accepted: {refused:?}"
    );
}
