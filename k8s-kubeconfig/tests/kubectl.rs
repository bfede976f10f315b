//! The real kubectl against our kubeconfigs: it reads every kind we render, and what it writes
//! itself for the tutorial's commands (STEP 6) is the same document as ours.

mod common;

use common::{Pki, kubectl, kubectl_view};
use k8s_kubeconfig::{
    ApiEndpoint, Component, Credentials, Kubeconfig, WorkerNode, build_kubeconfig,
    build_user_kubeconfig, parse_kubeconfig, render_kubeconfig,
};

const CLUSTER: &str = "k8s-cluster-from-ground-up";

/// The tutorial's five kinds (three kubelets), with the stem of their openssl client files.
fn components() -> Vec<(Component, String)> {
    let workers = (0..3).map(|i| WorkerNode {
        name: format!("k8s-worker-{i}"),
        hostname: format!("ip-172-31-0-2{i}"),
    });
    Component::tutorial_set(workers)
        .into_iter()
        .map(|c| {
            let stem = c.file_name().trim_end_matches(".kubeconfig").to_string();
            (c, stem)
        })
        .collect()
}

fn pki_with_clients() -> Pki {
    let pki = Pki::new();
    for (component, stem) in components() {
        pki.client(&stem, &component.user_name());
    }
    pki
}

fn build(pki: &Pki, component: &Component, stem: &str, endpoint: &ApiEndpoint) -> Kubeconfig {
    let ca = pki.read("ca.pem");
    let cert = pki.read(&format!("{stem}.pem"));
    let key = pki.read(&format!("{stem}-key.pem"));
    let credentials = Credentials {
        ca_pem: &ca,
        client_cert_pem: &cert,
        client_key_pem: &key,
    };
    build_kubeconfig(component, CLUSTER, endpoint, &credentials).expect("build")
}

/// The tutorial's four kubectl commands (STEP 6) for one kubeconfig, run in the PKI folder.
fn kubectl_tutorial_commands(pki: &Pki, file: &str, server: &str, user: &str, stem: &str) {
    let dir = pki.dir.path();
    let kc = format!("--kubeconfig={file}");
    kubectl(
        dir,
        &[
            "config",
            "set-cluster",
            CLUSTER,
            "--certificate-authority=ca.pem",
            "--embed-certs=true",
            &format!("--server={server}"),
            &kc,
        ],
    );
    kubectl(
        dir,
        &[
            "config",
            "set-credentials",
            user,
            &format!("--client-certificate={stem}.pem"),
            &format!("--client-key={stem}-key.pem"),
            "--embed-certs=true",
            &kc,
        ],
    );
    kubectl(
        dir,
        &[
            "config",
            "set-context",
            "default",
            &format!("--cluster={CLUSTER}"),
            &format!("--user={user}"),
            &kc,
        ],
    );
    kubectl(dir, &["config", "use-context", "default", &kc]);
}

fn yaml_of(text: &str) -> serde_yaml::Value {
    serde_yaml::from_str(text).expect("YAML")
}

#[test]
#[ignore = "needs openssl and kubectl: run scripts/test"]
fn kubectl_reads_every_kind_as_we_modelled_it() {
    let pki = pki_with_clients();
    for endpoint in ["k8s-api-123.elb.us-east-1.amazonaws.com", "fd00:10::5"] {
        let endpoint = ApiEndpoint::parse(endpoint).unwrap();
        for (component, stem) in components() {
            let ours = build(&pki, &component, &stem, &endpoint);
            let file = pki.path(&component.file_name());
            std::fs::write(&file, render_kubeconfig(&ours).unwrap()).unwrap();
            let seen = kubectl_view(&file);
            // Same clusters, users, contexts, current-context and data, key for key.
            assert_eq!(
                seen,
                serde_json::to_value(&ours).unwrap(),
                "{}",
                component.file_name()
            );
            assert_eq!(seen["current-context"], "default");
            assert_eq!(seen["users"][0]["name"], component.user_name().as_str());
        }
    }
}

#[test]
#[ignore = "needs openssl and kubectl: run scripts/test"]
fn same_document_as_kubectl_config_set_embed_certs() {
    let pki = pki_with_clients();
    let endpoint = ApiEndpoint::parse("k8s-api.example.com").unwrap();
    for (component, stem) in components() {
        let ours = build(&pki, &component, &stem, &endpoint);
        let server = ours.clusters[0].cluster.server.clone();
        let file = format!("kubectl-{}", component.file_name());
        kubectl_tutorial_commands(&pki, &file, &server, &component.user_name(), &stem);
        let theirs = std::fs::read_to_string(pki.path(&file)).unwrap();
        assert_eq!(
            yaml_of(&theirs),
            yaml_of(&render_kubeconfig(&ours).unwrap()),
            "{file}"
        );
        // and our parser reads kubectl's file as the same model
        assert_eq!(parse_kubeconfig(&theirs).unwrap(), ours, "{file}");
    }
}

#[test]
#[ignore = "needs openssl and kubectl: run scripts/test"]
fn custom_user_with_ipv6_endpoint_matches_kubectl() {
    let pki = Pki::new();
    pki.client("jane", "jane");
    let (ca, cert, key) = (
        pki.read("ca.pem"),
        pki.read("jane.pem"),
        pki.read("jane-key.pem"),
    );
    let endpoint = ApiEndpoint::with_port("[fd00::1]", 443).unwrap();
    let ours = build_user_kubeconfig(
        CLUSTER,
        &endpoint,
        "jane",
        &Credentials {
            ca_pem: &ca,
            client_cert_pem: &cert,
            client_key_pem: &key,
        },
    )
    .unwrap();
    assert_eq!(ours.clusters[0].cluster.server, "https://[fd00::1]:443");
    kubectl_tutorial_commands(
        &pki,
        "jane.kubeconfig",
        "https://[fd00::1]:443",
        "jane",
        "jane",
    );
    let theirs = std::fs::read_to_string(pki.path("jane.kubeconfig")).unwrap();
    assert_eq!(
        yaml_of(&theirs),
        yaml_of(&render_kubeconfig(&ours).unwrap())
    );
}

#[test]
#[ignore = "needs openssl and kubectl: run scripts/test"]
fn fields_kubectl_sets_beyond_the_tutorial_survive_our_round_trip() {
    let pki = Pki::new();
    pki.client("admin", "admin");
    let dir = pki.dir.path();
    let kc = "--kubeconfig=extra.kubeconfig";
    kubectl_tutorial_commands(
        &pki,
        "extra.kubeconfig",
        "https://10.0.0.1:6443",
        "admin",
        "admin",
    );
    kubectl(
        dir,
        &[
            "config",
            "set-cluster",
            CLUSTER,
            "--tls-server-name=api.internal",
            "--proxy-url=http://proxy:3128",
            kc,
        ],
    );
    kubectl(
        dir,
        &[
            "config",
            "set-credentials",
            "eks",
            "--exec-command=aws",
            "--exec-api-version=client.authentication.k8s.io/v1beta1",
            "--exec-arg=eks,get-token",
            "--exec-env=AWS_PROFILE=prod",
            kc,
        ],
    );
    kubectl(
        dir,
        &[
            "config",
            "set-context",
            "eks",
            "--cluster",
            CLUSTER,
            "--user=eks",
            "--namespace=kube-system",
            kc,
        ],
    );
    kubectl(
        dir,
        &[
            "config",
            "set",
            "clusters.other.server",
            "https://o:6443",
            kc,
        ],
    );
    let theirs = std::fs::read_to_string(pki.path("extra.kubeconfig")).unwrap();
    let parsed = parse_kubeconfig(&theirs).unwrap();
    let cluster = parsed.cluster(CLUSTER).unwrap();
    assert_eq!(cluster.tls_server_name.as_deref(), Some("api.internal"));
    assert_eq!(
        parsed.context("eks").unwrap().namespace.as_deref(),
        Some("kube-system")
    );
    assert!(parsed.user("eks").unwrap().extra.contains_key("exec"));
    let ours = render_kubeconfig(&parsed).unwrap();
    assert_eq!(yaml_of(&ours), yaml_of(&theirs));
    // kubectl reads our rendering back as the same document it wrote
    let file = pki.path("ours.kubeconfig");
    std::fs::write(&file, &ours).unwrap();
    assert_eq!(
        kubectl_view(&file),
        kubectl_view(&pki.path("extra.kubeconfig"))
    );
}

#[test]
#[ignore = "needs openssl: run scripts/test"]
fn debug_never_shows_the_client_key() {
    let pki = Pki::new();
    pki.client("admin", "admin");
    let ours = build(
        &pki,
        &Component::Admin,
        "admin",
        &ApiEndpoint::new("10.0.0.1").unwrap(),
    );
    let key_pem = String::from_utf8(pki.read("admin-key.pem")).unwrap();
    let key_data = ours.users[0]
        .user
        .client_key_data
        .as_ref()
        .unwrap()
        .expose()
        .to_string();
    let debug = format!("{ours:?} {ours:#?}");
    assert!(!debug.contains(&key_data));
    // not even a line of the PEM body
    for line in key_pem.lines().filter(|l| !l.starts_with("-----")) {
        assert!(!debug.contains(line), "{line}");
    }
    assert!(debug.contains("<redacted>"));
}
