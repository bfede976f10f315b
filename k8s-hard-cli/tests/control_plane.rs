//! What `k8s-hard bundle` writes, consumed by the real Kubernetes control plane: etcd v3.7.3,
//! kube-apiserver, kube-controller-manager and kube-scheduler v1.37.2 (built by
//! scripts/build-peers) started on loopback from exactly the bundle's files with a master's
//! flags (`k8s_hard_tests::master_flags`), and judged by them and by kubectl, etcdctl and
//! openssl: identities, authorization, the serving certificate's names, service-account
//! tokens, CSR signing, encryption at rest and a staged key rotation through real restarts.
//!
//! The cluster is the tutorial's topology (3 masters at 172.31.0.10-12, 3 workers at .20-22);
//! its API endpoint is a loopback address of the test's own, where the API server listens on
//! 6443, so five of the seven kubeconfigs reach it unchanged.

mod common;

use std::fs;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::k8s_hard;
use k8s_hard_tests::control_plane::{
    Bundle, ControlPlane, Health, base64_decode, base64_encode, free_api_endpoint, jwt_claims,
};
use k8s_hard_tests::{openssl, run_tool};
use serde_json::{Value, json};

const CLUSTER: &str = "k8s-cluster-from-ground-up";

/// `k8s-hard bundle --api-endpoint <a free loopback address>` into `dir`, on the default
/// cluster.yaml (the values below are its defaults).
fn bundle(dir: &Path) -> Bundle {
    let endpoint = free_api_endpoint();
    k8s_hard(dir)
        .args(["bundle", "--api-endpoint", &endpoint.to_string()])
        .assert()
        .success();
    Bundle {
        dir: dir.to_path_buf(),
        cluster_name: CLUSTER.into(),
        endpoint,
        master_ip: "172.31.0.10".parse().unwrap(),
        service_cidr: "10.32.0.0/24".into(),
        pod_cidr: "172.20.0.0/16".into(),
    }
}

fn worker(i: usize) -> String {
    format!("{CLUSTER}-worker-{i}.kubeconfig")
}

/// kubectl with one of the bundle's kubeconfigs. The controller-manager's and the scheduler's
/// name `https://127.0.0.1:6443` (the API server on a master): they are sent to this API
/// server's address, still checking its certificate for 127.0.0.1.
fn kubectl(cp: &ControlPlane, file: &str, args: &[&str]) -> Result<String, String> {
    let url = cp.api_url();
    let mut all: Vec<&str> = Vec::new();
    if file == "kube-controller-manager.kubeconfig" || file == "kube-scheduler.kubeconfig" {
        all.extend(["--server", &url, "--tls-server-name", "127.0.0.1"]);
    }
    all.extend(args);
    cp.kubectl(&cp.kubeconfig(file), &all)
}

fn admin(cp: &ControlPlane, args: &[&str]) -> String {
    cp.kubectl(&cp.admin(), args)
        .unwrap_or_else(|e| panic!("kubectl {args:?} as admin: {e}"))
}

/// Waits (up to 2 minutes) until `kubectl get <object> -o jsonpath=<path>` as admin prints
/// something, and returns it: what a controller fills in.
fn wait_for_field(cp: &ControlPlane, what: &str, object: &[&str], path: &str) -> String {
    let jsonpath = format!("jsonpath={path}");
    let mut args = vec!["get"];
    args.extend(object);
    args.extend(["-o", &jsonpath]);
    cp.wait_for(what, Duration::from_secs(120), || {
        let out = cp.kubectl(&cp.admin(), &args)?;
        if out.is_empty() {
            Err(format!("{path} is empty"))
        } else {
            Ok(out)
        }
    })
}

/// `kubectl create -f -` of one object, as `file`'s user.
fn create(cp: &ControlPlane, file: &str, object: &Value) -> Result<String, String> {
    cp.kubectl_with_input(
        &cp.kubeconfig(file),
        &["create", "-f", "-"],
        Some(&object.to_string()),
    )
}

/// `kubectl auth can-i ...`'s answer, `yes` or `no` (it exits 1 for `no`).
fn can_i(cp: &ControlPlane, file: &str, args: &[&str]) -> String {
    let mut all = vec!["auth", "can-i"];
    all.extend(args);
    let out = match kubectl(cp, file, &all) {
        Ok(o) | Err(o) => o,
    };
    out.lines().last().unwrap_or_default().trim().to_string()
}

/// A Secret's `data.value`, decoded, read through the API server.
fn secret_value(cp: &ControlPlane, name: &str) -> Result<String, String> {
    let out = cp.kubectl(
        &cp.admin(),
        &["get", "secret", name, "-o", "jsonpath={.data.value}"],
    )?;
    Ok(String::from_utf8_lossy(&base64_decode(&out)).into_owned())
}

fn create_secret(cp: &ControlPlane, name: &str, value: &str) {
    admin(
        cp,
        &[
            "create",
            "secret",
            "generic",
            name,
            &format!("--from-literal=value={value}"),
        ],
    );
}

/// What etcd holds for the Secret `default/<name>`, raw.
fn stored_secret(cp: &ControlPlane, name: &str) -> Vec<u8> {
    cp.etcd_value(&format!("/registry/secrets/default/{name}"))
}

fn starts_with(bytes: &[u8], prefix: &str) -> bool {
    bytes.starts_with(prefix.as_bytes())
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

/// A value no other run of the test shares.
fn unique(what: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{what}-{nanos:x}-{}", std::process::id())
}

#[test]
#[ignore = "needs the Kubernetes peers: run scripts/test"]
fn the_real_control_plane_accepts_every_file_bundle_writes() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("cluster");
    let b = bundle(&dir);
    let cp = ControlPlane::start(&b);

    health_and_leader_leases(&cp);
    every_kubeconfig_is_its_user_and_groups(&cp);
    rbac_and_the_node_authorizer_allow_each_what_it_needs(&cp);
    the_serving_certificate_holds_every_name_clients_use(&cp, b.endpoint);
    service_account_tokens_are_signed_with_our_key(&cp, &dir, b.endpoint);
    the_controller_manager_signs_csrs_and_publishes_the_root_ca_with_our_ca(&cp, &dir);
    secrets_are_stored_encrypted_with_key1(&cp);
    a_renewed_serving_certificate_is_served_without_a_restart(&cp, &dir, b.endpoint);
}

fn health_and_leader_leases(cp: &ControlPlane) {
    assert_eq!(admin(cp, &["get", "--raw", "/readyz"]), "ok");
    assert_eq!(admin(cp, &["get", "--raw", "/livez"]), "ok");
    let verbose = admin(cp, &["get", "--raw", "/readyz?verbose"]);
    assert!(verbose.contains("[+]etcd ok"), "{verbose}");
    assert!(verbose.contains("readyz check passed"), "{verbose}");

    let host = fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let host = host.trim();
    for lease in ["kube-controller-manager", "kube-scheduler"] {
        let holder = wait_for_field(
            cp,
            &format!("the {lease} lease in kube-system"),
            &["-n", "kube-system", "lease", lease],
            "{.spec.holderIdentity}",
        );
        // A leader's identity is `<hostname>_<uuid>`.
        assert!(holder.starts_with(&format!("{host}_")), "{lease}: {holder}");
    }
}

fn every_kubeconfig_is_its_user_and_groups(cp: &ControlPlane) {
    let expected = [
        ("admin.kubeconfig", "admin", vec!["system:masters"]),
        (
            "kube-controller-manager.kubeconfig",
            "system:kube-controller-manager",
            vec!["system:kube-controller-manager"],
        ),
        (
            "kube-scheduler.kubeconfig",
            "system:kube-scheduler",
            vec!["system:kube-scheduler"],
        ),
        (
            "kube-proxy.kubeconfig",
            "system:kube-proxy",
            vec!["system:node-proxier"],
        ),
        (
            &worker(0),
            "system:node:ip-172-31-0-20",
            vec!["system:nodes"],
        ),
        (
            &worker(1),
            "system:node:ip-172-31-0-21",
            vec!["system:nodes"],
        ),
        (
            &worker(2),
            "system:node:ip-172-31-0-22",
            vec!["system:nodes"],
        ),
    ];
    let files: Vec<String> = fs::read_dir(cp.master.dir.join("kubeconfigs"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(files.len(), expected.len(), "{files:?}");
    for (file, user, groups) in &expected {
        let out = kubectl(cp, file, &["auth", "whoami", "-o", "json"])
            .unwrap_or_else(|e| panic!("{file}: {e}"));
        let review: Value = serde_json::from_str(&out).unwrap();
        let info = &review["status"]["userInfo"];
        assert_eq!(info["username"], *user, "{file}: {review}");
        let mut want: Vec<&str> = groups.clone();
        want.push("system:authenticated");
        assert_eq!(info["groups"], json!(want), "{file}: {review}");
    }
}

fn rbac_and_the_node_authorizer_allow_each_what_it_needs(cp: &ControlPlane) {
    let w0 = worker(0);
    let cases: &[(&str, &[&str], &str)] = &[
        ("admin.kubeconfig", &["*", "*", "--all-namespaces"], "yes"),
        // The controller-manager itself only runs leader election and hands each controller
        // its own service account (--use-service-account-credentials).
        (
            "kube-controller-manager.kubeconfig",
            &["create", "serviceaccounts/token", "-n", "kube-system"],
            "yes",
        ),
        (
            "kube-controller-manager.kubeconfig",
            &[
                "update",
                "leases/kube-controller-manager",
                "-n",
                "kube-system",
            ],
            "yes",
        ),
        (
            "kube-controller-manager.kubeconfig",
            &["create", "pods", "-n", "default"],
            "no",
        ),
        (
            "kube-scheduler.kubeconfig",
            &["create", "pods", "--subresource=binding"],
            "yes",
        ),
        ("kube-scheduler.kubeconfig", &["list", "nodes"], "yes"),
        ("kube-scheduler.kubeconfig", &["get", "secrets"], "no"),
        (
            "kube-proxy.kubeconfig",
            &[
                "list",
                "endpointslices.discovery.k8s.io",
                "--all-namespaces",
            ],
            "yes",
        ),
        ("kube-proxy.kubeconfig", &["watch", "services"], "yes"),
        ("kube-proxy.kubeconfig", &["get", "secrets"], "no"),
        ("kube-proxy.kubeconfig", &["create", "nodes"], "no"),
        // The Node authorizer: a kubelet may create its Node and report its status ...
        (&w0, &["create", "nodes"], "yes"),
        (
            &w0,
            &["update", "nodes/ip-172-31-0-20", "--subresource=status"],
            "yes",
        ),
        // ... but not read secrets no pod on its node uses, nor list them.
        (
            &w0,
            &["get", "secrets/some-secret", "-n", "default"],
            "no - node: no relationship found between node 'ip-172-31-0-20' and this object",
        ),
        (
            &w0,
            &["list", "secrets", "--all-namespaces"],
            "no - node: can only read namespaced object of this type",
        ),
        (&w0, &["create", "clusterrolebindings"], "no"),
    ];
    let wrong: Vec<String> = cases
        .iter()
        .filter_map(|(file, args, want)| {
            let got = can_i(cp, file, args);
            (got != *want).then(|| format!("{file}: can-i {args:?}: {got:?}, expected {want:?}"))
        })
        .collect();
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));

    // Writes, which the NodeRestriction admission plugin judges: its own Node, yes; another's,
    // neither created nor updated.
    let node = |name: &str| json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": name}});
    let created = create(cp, &w0, &node("ip-172-31-0-20")).unwrap();
    assert_eq!(created.trim(), "node/ip-172-31-0-20 created");
    let refused = create(cp, &w0, &node("ip-172-31-0-21")).unwrap_err();
    assert!(
        refused.contains(r#"node "ip-172-31-0-20" is not allowed to modify node "ip-172-31-0-21""#),
        "{refused}"
    );
    let annotate = |file: &str, name: &str| {
        kubectl(
            cp,
            file,
            &["annotate", "node", name, "example.com/checked-by=k8s-hard"],
        )
    };
    assert_eq!(
        annotate(&w0, "ip-172-31-0-20").unwrap().trim(),
        "node/ip-172-31-0-20 annotated"
    );
    create(cp, "admin.kubeconfig", &node("ip-172-31-0-22")).unwrap();
    // Another's Node: the Node authorizer does not even let it be read (annotate reads first),
    // and a blind update is stopped by NodeRestriction.
    let refused = annotate(&w0, "ip-172-31-0-22").unwrap_err();
    assert!(
        refused.contains(
            "node 'ip-172-31-0-20' cannot read 'ip-172-31-0-22', only its own Node object"
        ),
        "{refused}"
    );
    let mut theirs = node("ip-172-31-0-22");
    theirs["metadata"]["annotations"] = json!({"example.com/checked-by": "k8s-hard"});
    let refused = cp
        .kubectl_with_input(
            &cp.kubeconfig(&w0),
            &["replace", "-f", "-"],
            Some(&theirs.to_string()),
        )
        .unwrap_err();
    assert!(
        refused.contains(r#"node "ip-172-31-0-20" is not allowed to modify node "ip-172-31-0-22""#),
        "{refused}"
    );
}

fn the_serving_certificate_holds_every_name_clients_use(cp: &ControlPlane, endpoint: IpAddr) {
    let endpoint = endpoint.to_string();
    for name in [
        endpoint.as_str(),
        "172.31.0.10",
        "172.31.0.11",
        "172.31.0.12",
        "ip-172-31-0-10",
        "ip-172-31-0-11.us-east-2.compute.internal",
        "127.0.0.1",
        "10.32.0.1",
        "kubernetes",
        "kubernetes.default",
        "kubernetes.default.svc",
        "kubernetes.default.svc.cluster.local",
    ] {
        let version = cp
            .kubectl(
                &cp.admin(),
                &["--tls-server-name", name, "get", "--raw", "/version"],
            )
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(
            version.contains(r#""gitVersion": "v1.37.2""#),
            "{name}: {version}"
        );
    }
    // The check is real: a name the certificate does not hold is refused.
    let refused = cp
        .kubectl(
            &cp.admin(),
            &[
                "--tls-server-name",
                "elsewhere.example.com",
                "get",
                "--raw",
                "/version",
            ],
        )
        .unwrap_err();
    assert!(
        refused.contains("x509: certificate is valid for"),
        "{refused}"
    );
}

fn token_review(cp: &ControlPlane, token: &str) -> Value {
    let review = json!({
        "apiVersion": "authentication.k8s.io/v1",
        "kind": "TokenReview",
        "spec": {"token": token.trim()},
    });
    let out = cp
        .kubectl_with_input(
            &cp.admin(),
            &["create", "-f", "-", "-o", "json"],
            Some(&review.to_string()),
        )
        .unwrap();
    serde_json::from_str::<Value>(&out).unwrap()["status"].clone()
}

fn service_account_tokens_are_signed_with_our_key(cp: &ControlPlane, dir: &Path, endpoint: IpAddr) {
    let pki = dir.join("pki");
    admin(cp, &["create", "serviceaccount", "robot"]);
    let robot = json!({
        "username": "system:serviceaccount:default:robot",
        "groups": ["system:serviceaccounts", "system:serviceaccounts:default", "system:authenticated"],
    });

    // A token from the TokenRequest API: signed by the API server with
    // --service-account-signing-key-file, for --service-account-issuer.
    let token = admin(cp, &["create", "token", "robot"]);
    let status = token_review(cp, &token);
    assert_eq!(status["authenticated"], true, "{status}");
    assert_eq!(status["user"]["username"], robot["username"], "{status}");
    assert_eq!(status["user"]["groups"], robot["groups"], "{status}");
    let claims: Value = serde_json::from_str(&jwt_claims(&token)).unwrap();
    assert_eq!(
        claims["iss"],
        format!("https://{endpoint}:6443"),
        "{claims}"
    );
    assert_eq!(claims["sub"], "system:serviceaccount:default:robot");
    openssl::verify_jwt_rs256(&token, &pki.join("service-account.pem")).unwrap();
    // Another key does not verify it: the check is real.
    assert!(openssl::verify_jwt_rs256(&token, &pki.join("admin.pem")).is_err());

    // A legacy token Secret, which the controller-manager's token controller fills with a token
    // signed with --service-account-private-key-file.
    let secret = json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "kubernetes.io/service-account-token",
        "metadata": {
            "name": "robot-token",
            "annotations": {"kubernetes.io/service-account.name": "robot"},
        },
    });
    create(cp, "admin.kubeconfig", &secret).unwrap();
    let legacy = wait_for_field(
        cp,
        "the token controller fills robot-token",
        &["secret", "robot-token"],
        "{.data.token}",
    );
    let legacy = String::from_utf8(base64_decode(&legacy)).unwrap();
    openssl::verify_jwt_rs256(&legacy, &pki.join("service-account.pem")).unwrap();
    let claims: Value = serde_json::from_str(&jwt_claims(&legacy)).unwrap();
    assert_eq!(claims["iss"], "kubernetes/serviceaccount", "{claims}");
    let status = token_review(cp, &legacy);
    assert_eq!(status["authenticated"], true, "{status}");
    assert_eq!(status["user"]["username"], robot["username"], "{status}");
}

fn the_controller_manager_signs_csrs_and_publishes_the_root_ca_with_our_ca(
    cp: &ControlPlane,
    dir: &Path,
) {
    let pki = dir.join("pki");
    let work = dir.join("csr-check");
    fs::create_dir_all(&work).unwrap();
    let key = work.join("kubelet-key.pem");
    let csr = work.join("kubelet.csr");
    run_tool(
        "openssl",
        [
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/O=system:nodes/CN=system:node:ip-172-31-0-23",
            "-keyout",
            key.to_str().unwrap(),
            "-out",
            csr.to_str().unwrap(),
        ],
    )
    .unwrap();
    let request = json!({
        "apiVersion": "certificates.k8s.io/v1",
        "kind": "CertificateSigningRequest",
        "metadata": {"name": "kubelet-ip-172-31-0-23"},
        "spec": {
            "request": base64_encode(&fs::read(&csr).unwrap()),
            "signerName": "kubernetes.io/kube-apiserver-client-kubelet",
            "usages": ["digital signature", "key encipherment", "client auth"],
        },
    });
    create(cp, "admin.kubeconfig", &request).unwrap();
    assert_eq!(
        admin(cp, &["certificate", "approve", "kubelet-ip-172-31-0-23"]).trim(),
        "certificatesigningrequest.certificates.k8s.io/kubelet-ip-172-31-0-23 approved"
    );
    let issued = wait_for_field(
        cp,
        "the controller-manager signs the approved CSR",
        &["csr", "kubelet-ip-172-31-0-23"],
        "{.status.certificate}",
    );
    let cert = work.join("kubelet.pem");
    fs::write(&cert, base64_decode(&issued)).unwrap();
    openssl::verify(&pki.join("ca.pem"), &cert).unwrap();
    assert_eq!(
        openssl::subject(&cert),
        "CN=system:node:ip-172-31-0-23,O=system:nodes"
    );

    // --root-ca-file: every namespace gets our CA as kube-root-ca.crt.
    let published = wait_for_field(
        cp,
        "kube-root-ca.crt in default",
        &["configmap", "kube-root-ca.crt"],
        r"{.data.ca\.crt}",
    );
    assert_eq!(
        published.trim(),
        fs::read_to_string(pki.join("ca.pem")).unwrap().trim()
    );
}

fn secrets_are_stored_encrypted_with_key1(cp: &ControlPlane) {
    let plaintext = unique("plaintext-of-at-rest");
    create_secret(cp, "at-rest", &plaintext);
    assert_eq!(secret_value(cp, "at-rest").unwrap(), plaintext);
    let stored = stored_secret(cp, "at-rest");
    assert!(
        starts_with(&stored, "k8s:enc:aescbc:v1:key1:"),
        "{:?}",
        String::from_utf8_lossy(&stored)
    );
    // A ConfigMap is not encrypted: the search below finds plaintext when it is there.
    let visible = unique("plaintext-of-a-configmap");
    admin(
        cp,
        &[
            "create",
            "configmap",
            "not-encrypted",
            &format!("--from-literal=value={visible}"),
        ],
    );
    let everything = cp.etcd_everything();
    assert!(contains(&everything, &visible));
    assert!(
        !contains(&everything, &plaintext),
        "the secret's plaintext is in etcd"
    );
}

fn a_renewed_serving_certificate_is_served_without_a_restart(
    cp: &ControlPlane,
    dir: &Path,
    endpoint: IpAddr,
) {
    let file = dir.join("pki/master-kubernetes.pem");
    let addr = format!("{endpoint}:6443");
    let before = fs::read_to_string(&file).unwrap();
    assert_eq!(openssl::served_certificate(&addr), before);
    k8s_hard(dir)
        .args(["pki", "renew", "master-kubernetes"])
        .assert()
        .success();
    let after = fs::read_to_string(&file).unwrap();
    assert_ne!(after, before);
    let renewed = Instant::now();
    cp.wait_for(
        "the API server serves the renewed master-kubernetes.pem",
        Duration::from_secs(180),
        || {
            if openssl::served_certificate(&addr) == after {
                Ok(())
            } else {
                Err("still the old certificate".into())
            }
        },
    );
    eprintln!(
        "kube-apiserver served the renewed certificate {:.1} s after `pki renew`",
        renewed.elapsed().as_secs_f64()
    );
    // Clients with the bundle's kubeconfigs go on working: same CA.
    assert_eq!(admin(cp, &["get", "--raw", "/readyz"]), "ok");
    // etcd serves the same file, read again for every new connection.
    let etcd = cp.master.etcd_servers[0].trim_start_matches("https://");
    assert_eq!(openssl::served_certificate(etcd), after);
}

/// `k8s-hard encryption-config <step>`, which must succeed. The masters here are this
/// machine's control plane, restarted by the test, not SSH hosts: `promote` and `prune` skip
/// their check of the masters' copies (`--force`), and `prune` does not ask (`--yes`).
fn encryption_config(dir: &Path, step: &str) {
    let extra: &[&str] = match step {
        "promote" => &["--force"],
        "prune" => &["--force", "--yes"],
        _ => &[],
    };
    k8s_hard(dir)
        .args(["encryption-config", step])
        .args(extra)
        .assert()
        .success();
}

/// A Secret's name for every stage of the rotation test, with its literal value.
fn rotation_secrets(up_to: usize) -> Vec<(String, String)> {
    (0..up_to)
        .map(|i| (format!("s{i}"), format!("value of s{i}")))
        .collect()
}

fn every_secret_reads_back(cp: &ControlPlane, secrets: &[(String, String)], stage: &str) {
    for (name, value) in secrets {
        assert_eq!(
            secret_value(cp, name).unwrap_or_else(|e| panic!("{stage}: {name}: {e}")),
            *value,
            "{stage}: {name}"
        );
    }
}

fn prefix_of(cp: &ControlPlane, name: &str) -> String {
    let stored = stored_secret(cp, name);
    let text = String::from_utf8_lossy(&stored);
    text.split(':').take(5).collect::<Vec<_>>().join(":") + ":"
}

#[test]
#[ignore = "needs the Kubernetes peers: run scripts/test"]
fn a_staged_key_rotation_through_real_restarts_keeps_every_secret() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("cluster");
    let b = bundle(&dir);
    let mut cp = ControlPlane::start(&b);
    let all = rotation_secrets(4);
    let (s0, s1, s2) = (&all[0].0, &all[1].0, &all[2].0);
    create_secret(&cp, s0, &all[0].1);
    assert_eq!(prefix_of(&cp, s0), "k8s:enc:aescbc:v1:key1:");

    // Stage 1: key2 second. Pruning now is refused (it would drop key2 before any server
    // wrote with it).
    encryption_config(&dir, "rotate");
    k8s_hard(&dir)
        .args(["encryption-config", "prune"])
        .assert()
        .code(1)
        .stderr(predicates::str::contains("promote it"));
    cp.restart_apiserver();
    every_secret_reads_back(&cp, &all[..1], "rotate");
    create_secret(&cp, s1, &all[1].1);
    assert_eq!(prefix_of(&cp, s1), "k8s:enc:aescbc:v1:key1:");

    // Stage 2: key2 first: new writes use it, the old secrets stay as they were.
    encryption_config(&dir, "promote");
    cp.restart_apiserver();
    every_secret_reads_back(&cp, &all[..2], "promote");
    create_secret(&cp, s2, &all[2].1);
    assert_eq!(prefix_of(&cp, s2), "k8s:enc:aescbc:v1:key2:");
    assert_eq!(prefix_of(&cp, s0), "k8s:enc:aescbc:v1:key1:");

    // Why the rewrite comes before the prune: an API server given the pruned config before
    // the rewrite cannot read what key1 wrote. (A copy: the real folder stays promoted.)
    let early = tmp.path().join("pruned-too-early");
    fs::create_dir_all(&early).unwrap();
    fs::copy(
        dir.join("encryption-config.yaml"),
        early.join("encryption-config.yaml"),
    )
    .unwrap();
    encryption_config(&early, "prune");
    // It runs, but never becomes ready: its secrets cache cannot be filled.
    cp.master.encryption_config = early.join("encryption-config.yaml");
    cp.try_restart_apiserver(Health::Serving).unwrap();
    let unready = cp
        .kubectl(&cp.admin(), &["get", "--raw", "/readyz"])
        .unwrap_err();
    assert!(unready.contains("[-]informer-sync failed"), "{unready}");
    for name in [s0, s1] {
        let lost = secret_value(&cp, name).unwrap_err();
        assert!(
            lost.contains("no matching key was found for the provided AES transformer"),
            "{name}: {lost}"
        );
    }
    every_secret_reads_back(&cp, &all[2..3], "pruned too early");
    cp.master.encryption_config = dir.join("encryption-config.yaml");
    cp.restart_apiserver();
    every_secret_reads_back(&cp, &all[..3], "promoted again");

    // Stage 3: every secret rewritten, then key1 pruned.
    let secrets = admin(&cp, &["get", "secrets", "--all-namespaces", "-o", "json"]);
    cp.kubectl_with_input(&cp.admin(), &["replace", "-f", "-"], Some(&secrets))
        .unwrap();
    let keys = cp.etcd_keys("/registry/secrets/");
    assert!(keys.len() >= 3, "{keys:?}");
    for key in &keys {
        let stored = cp.etcd_value(key);
        assert!(
            starts_with(&stored, "k8s:enc:aescbc:v1:key2:"),
            "{key} after the rewrite: {:?}",
            String::from_utf8_lossy(&stored[..stored.len().min(40)])
        );
    }
    encryption_config(&dir, "prune");
    cp.restart_apiserver();
    every_secret_reads_back(&cp, &all[..3], "pruned");
    create_secret(&cp, &all[3].0, &all[3].1);
    every_secret_reads_back(&cp, &all, "pruned");
    assert!(!contains(&cp.etcd_everything(), "k8s:enc:aescbc:v1:key1:"));
    let config = fs::read_to_string(dir.join("encryption-config.yaml")).unwrap();
    assert!(!config.contains("key1"), "{config}");
}

#[test]
#[ignore = "needs the Kubernetes peers: run scripts/test"]
fn a_bad_encryption_key_is_named_by_k8s_hard_before_the_api_server_refuses_it() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("cluster");
    let b = bundle(&dir);
    let mut cp = ControlPlane::start(&b);
    let good = dir.join("encryption-config.yaml");
    let key1 = |bytes: usize| {
        let mut text = fs::read_to_string(&good).unwrap();
        let start = text.find("secret: ").unwrap() + "secret: ".len();
        let end = start + text[start..].find('\n').unwrap();
        text.replace_range(start..end, &base64_encode(&vec![7u8; bytes]));
        text
    };
    let variant = |name: &str, text: &str| -> PathBuf {
        let folder = tmp.path().join(name);
        fs::create_dir_all(&folder).unwrap();
        fs::write(folder.join("encryption-config.yaml"), text).unwrap();
        folder
    };

    // A 16-byte key is AES-128: valid for aescbc, and both agree.
    let aes128 = variant("aes-128", &key1(16));
    encryption_config(&aes128, "status");
    cp.master.encryption_config = aes128.join("encryption-config.yaml");
    cp.restart_apiserver();
    create_secret(&cp, "with-aes-128", "sixteen");
    assert_eq!(prefix_of(&cp, "with-aes-128"), "k8s:enc:aescbc:v1:key1:");
    assert_eq!(secret_value(&cp, "with-aes-128").unwrap(), "sixteen");
    // (The other configs below have another key1: the server would not become ready with a
    // secret it cannot read.)
    admin(&cp, &["delete", "secret", "with-aes-128"]);

    // A 20-byte key is no AES key: the API server does not start, and `encryption-config
    // status` says so, naming the field, before any server sees the file.
    let bad = variant("twenty-bytes", &key1(20));
    k8s_hard(&bad)
        .args(["encryption-config", "status"])
        .assert()
        .code(1)
        .stderr(predicates::str::contains(
            "resources[0].providers[0].aescbc.keys[0].secret",
        ))
        .stderr(predicates::str::contains(
            "decodes to 20 bytes; an AES key is 16, 24 or 32 bytes",
        ));
    cp.master.encryption_config = bad.join("encryption-config.yaml");
    let refused = cp.try_restart_apiserver(Health::Ready).unwrap_err();
    // (klog quotes the error: `Invalid value: \"REDACTED\": …`.)
    for part in [
        "error while parsing file: resources[0].providers[0].aescbc.keys[0].secret: Invalid value:",
        "secret is not of the expected length, got 20, expected one of [16 24 32]",
    ] {
        assert!(refused.contains(part), "{part}: {refused}");
    }

    // The tutorial's own form (STEP 7: `kind: EncryptionConfig`, `apiVersion: v1`) is still
    // read by v1.37; `encryption-config generate` rewrites it in the documented form
    // (`apiserver.config.k8s.io/v1`, `EncryptionConfiguration`), same key: the secret written
    // under the first is read under the second.
    let legacy_text = fs::read_to_string(&good)
        .unwrap()
        .replace("apiVersion: apiserver.config.k8s.io/v1", "apiVersion: v1")
        .replace("kind: EncryptionConfiguration", "kind: EncryptionConfig");
    assert!(
        legacy_text.contains("apiVersion: v1\n")
            && legacy_text.contains("kind: EncryptionConfig\n"),
        "{legacy_text}"
    );
    let legacy = variant("tutorial-form", &legacy_text);
    cp.master.encryption_config = legacy.join("encryption-config.yaml");
    cp.restart_apiserver();
    create_secret(&cp, "under-the-tutorial-form", "same key");
    assert_eq!(
        prefix_of(&cp, "under-the-tutorial-form"),
        "k8s:enc:aescbc:v1:key1:"
    );
    k8s_hard(&legacy)
        .args(["encryption-config", "generate"])
        .assert()
        .success()
        .stderr(predicates::str::contains(
            "in the current EncryptionConfiguration form, same keys",
        ));
    let upgraded = fs::read_to_string(legacy.join("encryption-config.yaml")).unwrap();
    assert!(
        upgraded.contains("kind: EncryptionConfiguration\n"),
        "{upgraded}"
    );
    cp.restart_apiserver();
    assert_eq!(
        secret_value(&cp, "under-the-tutorial-form").unwrap(),
        "same key"
    );
}

/// `cp -r` of the files `bundle` wrote.
fn copy_folder(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_folder(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), target).unwrap();
        }
    }
}

#[test]
#[ignore = "needs the Kubernetes peers: run scripts/test"]
fn bad_kubeconfigs_and_certificates_are_refused_and_named_first_by_pki_check() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("cluster");
    let b = bundle(&dir);
    let cp = ControlPlane::start(&b);
    // A copy to break; the control plane runs from the original.
    let bad = tmp.path().join("broken");
    copy_folder(&dir, &bad);
    k8s_hard(&bad).args(["pki", "check"]).assert().success();
    openssl::foreign_client(tmp.path(), "admin");
    let other = |f: &str| tmp.path().join(f).to_str().unwrap().to_string();
    let file = |f: &str| bad.join("kubeconfigs").join(f);
    let set = |args: &[&str], kubeconfig: &Path| {
        let mut all = args.to_vec();
        all.extend([
            "--embed-certs=true",
            "--kubeconfig",
            kubeconfig.to_str().unwrap(),
        ]);
        run_tool("kubectl", all).unwrap();
    };

    // The admin kubeconfig trusts another CA: `pki check` names it, kubectl refuses the API
    // server's certificate.
    set(
        &[
            "config",
            "set-cluster",
            CLUSTER,
            &format!("--certificate-authority={}", other("other-ca.pem")),
        ],
        &file("admin.kubeconfig"),
    );
    k8s_hard(&bad)
        .args(["pki", "check"])
        .assert()
        .code(1)
        .stdout(predicates::str::contains(
            "embeds another CA than ca.pem: kubectl and the components refuse the API server's certificate",
        ));
    let refused = cp
        .kubectl(&file("admin.kubeconfig"), &["get", "--raw", "/readyz"])
        .unwrap_err();
    assert!(
        refused.contains("x509: certificate signed by unknown authority"),
        "{refused}"
    );

    // kube-proxy's kubeconfig presents a certificate of another CA: `pki check` names it, the
    // API server does not authenticate it.
    let proxy = file("kube-proxy.kubeconfig");
    let user = run_tool(
        "kubectl",
        [
            "config",
            "view",
            "--kubeconfig",
            proxy.to_str().unwrap(),
            "-o",
            "jsonpath={.contexts[0].context.user}",
        ],
    )
    .unwrap();
    assert_eq!(user, "system:kube-proxy");
    set(
        &[
            "config",
            "set-credentials",
            &user,
            &format!("--client-certificate={}", other("other-client.pem")),
            &format!("--client-key={}", other("other-client-key.pem")),
        ],
        &proxy,
    );
    k8s_hard(&bad)
        .args(["pki", "check"])
        .assert()
        .code(1)
        .stdout(predicates::str::contains(
            "embeds another client certificate than kube-proxy.pem",
        ))
        .stdout(predicates::str::contains(
            "its client certificate is not signed by ca.pem: the API server refuses it",
        ));
    let refused = cp
        .kubectl(&proxy, &["get", "--raw", "/readyz"])
        .unwrap_err();
    assert!(
        refused.contains("error: You must be logged in to the server (Unauthorized)"),
        "{refused}"
    );

    // An expired admin certificate (signed by our CA, valid 1-2 January 2020), embedded by
    // `kubeconfig generate`: `pki check` says expired, the API server refuses it.
    let pki = bad.join("pki");
    openssl::expired_client(
        &pki,
        "admin",
        &pki.join("ca.pem"),
        &pki.join("ca-key.pem"),
        "admin",
        "system:masters",
    );
    k8s_hard(&bad)
        .args(["kubeconfig", "generate"])
        .assert()
        .success();
    let check = k8s_hard(&bad)
        .args(["pki", "check", "-o", "json"])
        .assert()
        .code(1);
    let rows = common::json(&check);
    let row = |name: &str| {
        rows.as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == name)
            .unwrap_or_else(|| panic!("no {name} in {rows}"))
            .clone()
    };
    assert!(
        row("admin")["problems"]
            .as_array()
            .unwrap()
            .contains(&json!("expired")),
        "{rows}"
    );
    assert!(
        row("admin.kubeconfig")["problems"]
            .as_array()
            .unwrap()
            .contains(&json!(
                "its client certificate expired: the API server refuses it"
            )),
        "{rows}"
    );
    assert_eq!(row("admin.kubeconfig")["not_after"], "2020-01-02T00:00:00Z");
    let refused = cp
        .kubectl(&file("admin.kubeconfig"), &["get", "--raw", "/readyz"])
        .unwrap_err();
    assert!(
        refused.contains("error: You must be logged in to the server (Unauthorized)"),
        "{refused}"
    );
    assert!(
        cp.apiserver_log()
            .contains("x509: certificate has expired or is not yet valid"),
        "the API server's log (printed below) does not say why"
    );
}
