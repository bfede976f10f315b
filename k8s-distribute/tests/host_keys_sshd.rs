//! Host key decisions against real OpenSSH servers: a server with two host keys (ed25519 and
//! RSA), revoked keys, accept-new on a new host, and keys pinned with `pin_known_hosts`.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use common::*;
use k8s_distribute::{Error, HostKeys, Node, PinOutcome, UnknownHosts, pin_known_hosts};
use k8s_hard_tests::sshd::SshdHosts;

fn policy(path: &Path, unknown: UnknownHosts) -> HostKeys {
    HostKeys::KnownHosts {
        path: path.to_path_buf(),
        unknown,
    }
}

/// The one node of a one-host set.
fn node(hosts: &SshdHosts) -> Node {
    Node::new("node-0", hosts[0].address())
        .with_port(hosts[0].port())
        .with_user(hosts.user())
}

/// `type base64` of a public key line, without its comment.
fn key_only(line: &str) -> String {
    line.split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(" ")
}

/// One connection (log in, run `true`).
async fn connect(hosts: &SshdHosts, host_keys: HostKeys) -> Result<(), Error> {
    let client = client(hosts.client_key(), host_keys);
    let mut runs = client.run(&[node(hosts)], "true", &|_| {}).await;
    runs.remove(0)
        .result
        .map(|out| assert_eq!(out.exit_status, Some(0)))
}

/// The case: known_hosts records the host's RSA key only; our client negotiates
/// ed25519. That is a changed key, not an unknown host, and accept-new must not learn it.
#[tokio::test]
#[ignore = "needs sshd (root), ssh-keygen and ssh-keyscan: run scripts/test"]
async fn a_host_known_by_its_rsa_key_offering_ed25519_is_changed_not_unknown() {
    let mut hosts = SshdHosts::start(&["127.0.0.30"]);
    hosts.host_mut(0).add_rsa_host_key();
    let host = &hosts[0];
    // The server really offers both keys (to a client that asks for RSA, it gives RSA).
    let scan = k8s_hard_tests::run_tool(
        "ssh-keyscan",
        ["-t", "rsa", "-p", &host.port().to_string(), host.address()],
    )
    .unwrap();
    assert!(
        scan.contains(&key_only(&host.rsa_host_public_key())),
        "{scan}"
    );
    let kh = hosts.scratch().join("rsa_only_known_hosts");
    let before = format!(
        "# only the RSA key\n[{}]:{} {}\n",
        host.address(),
        host.port(),
        key_only(&host.rsa_host_public_key())
    );
    std::fs::write(&kh, &before).unwrap();
    // OpenSSH itself finds a key for the host in the file.
    let found = k8s_hard_tests::run_tool(
        "ssh-keygen",
        [
            "-F".to_string(),
            format!("[{}]:{}", host.address(), host.port()),
            "-f".to_string(),
            kh.display().to_string(),
        ],
    )
    .unwrap();
    assert!(found.contains("ssh-rsa"), "{found}");

    for unknown in [UnknownHosts::Refuse, UnknownHosts::AcceptNew] {
        match &connect(&hosts, policy(&kh, unknown)).await {
            Err(
                e @ Error::HostKeyChanged {
                    expected,
                    found,
                    source_name,
                    ..
                },
            ) => {
                assert_eq!(expected, &vec![host.rsa_host_key_fingerprint()]);
                assert_eq!(found, &host.host_key_fingerprint());
                assert_eq!(source_name, &format!("{}:2", kh.display()));
                let msg = e.to_string();
                assert!(
                    msg.contains(&format!("{}:2", kh.display())) && msg.contains("node-0"),
                    "{msg}"
                );
            }
            other => panic!("{unknown:?}: expected HostKeyChanged, got {other:?}"),
        }
        // Not a byte added.
        assert_eq!(std::fs::read_to_string(&kh).unwrap(), before);
    }
}

#[tokio::test]
#[ignore = "needs sshd (root) and ssh-keygen: run scripts/test"]
async fn a_revoked_host_key_is_refused_even_if_also_listed() {
    let hosts = SshdHosts::start(&["127.0.0.31"]);
    let host = &hosts[0];
    let kh = hosts.scratch().join("revoked_known_hosts");
    let before = format!(
        "{}\n@revoked * {}\n",
        host.known_hosts_line(),
        key_only(&host.host_public_key())
    );
    std::fs::write(&kh, &before).unwrap();
    for unknown in [UnknownHosts::Refuse, UnknownHosts::AcceptNew] {
        match &connect(&hosts, policy(&kh, unknown)).await {
            Err(
                e @ Error::HostKeyRevoked {
                    fingerprint, line, ..
                },
            ) => {
                assert_eq!(fingerprint, &host.host_key_fingerprint());
                assert_eq!(*line, 2);
                assert!(e.to_string().contains("REVOKED"), "{e}");
            }
            other => panic!("{unknown:?}: expected HostKeyRevoked, got {other:?}"),
        }
        assert_eq!(std::fs::read_to_string(&kh).unwrap(), before);
    }
}

#[tokio::test]
#[ignore = "needs sshd (root) and ssh-keygen: run scripts/test"]
async fn accept_new_records_a_new_host_in_one_line_then_knows_it() {
    let hosts = SshdHosts::start(&["127.0.0.32"]);
    let host = &hosts[0];
    let kh = hosts.scratch().join("fresh/.ssh/known_hosts");

    connect(&hosts, policy(&kh, UnknownHosts::AcceptNew))
        .await
        .unwrap();
    let recorded = std::fs::read_to_string(&kh).unwrap();
    assert_eq!(recorded, format!("{}\n", host.known_hosts_line()));
    assert_eq!(
        std::fs::metadata(&kh).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert_eq!(
        std::fs::metadata(kh.parent().unwrap())
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o700
    );
    // The second connection, strict, accepts it; nothing more is written.
    connect(&hosts, policy(&kh, UnknownHosts::Refuse))
        .await
        .unwrap();
    connect(&hosts, policy(&kh, UnknownHosts::AcceptNew))
        .await
        .unwrap();
    assert_eq!(std::fs::read_to_string(&kh).unwrap(), recorded);
}

/// What the CLI will do with the keys cloud-init prints to the console: pin them, then connect
/// strictly.
#[tokio::test]
#[ignore = "needs sshd (root), ssh-keygen and ssh: run scripts/test"]
async fn keys_pinned_in_known_hosts_let_a_strict_client_in() {
    let mut hosts = SshdHosts::start(&["127.0.0.33"]);
    hosts.host_mut(0).add_rsa_host_key();
    let host = &hosts[0];
    let kh = hosts.scratch().join("pinned_known_hosts");
    std::fs::write(&kh, "# the user's own file\n").unwrap();
    let keys = vec![host.rsa_host_public_key(), host.host_public_key()];
    let marker = "k8s-hard:console i-0abc cluster=test";

    let outcome = pin_known_hosts(&kh, host.address(), host.port(), &keys, marker).unwrap();
    assert_eq!(outcome, PinOutcome::Added);
    let pinned = std::fs::read_to_string(&kh).unwrap();
    let name = format!("[{}]:{}", host.address(), host.port());
    assert_eq!(
        pinned,
        format!(
            "# the user's own file\n{name} {} {marker}\n{name} {} {marker}\n",
            key_only(&keys[0]),
            key_only(&keys[1])
        )
    );
    assert_eq!(
        std::fs::metadata(&kh).unwrap().permissions().mode() & 0o777,
        0o600
    );
    connect(&hosts, policy(&kh, UnknownHosts::Refuse))
        .await
        .unwrap();
    // OpenSSH's own client agrees with the pinned file. It reads no config (`-F /dev/null`),
    // asks no agent and offers only the harness's key: nothing of the machine's own SSH setup.
    let ssh = k8s_hard_tests::run_tool(
        "ssh",
        [
            "-F".to_string(),
            "/dev/null".to_string(),
            "-o".to_string(),
            "IdentityAgent=none".to_string(),
            "-o".to_string(),
            "IdentitiesOnly=yes".to_string(),
            "-o".to_string(),
            "BatchMode=yes".to_string(),
            "-o".to_string(),
            "StrictHostKeyChecking=yes".to_string(),
            "-o".to_string(),
            format!("UserKnownHostsFile={}", kh.display()),
            "-o".to_string(),
            "GlobalKnownHostsFile=/dev/null".to_string(),
            "-i".to_string(),
            hosts.client_key().display().to_string(),
            "-p".to_string(),
            host.port().to_string(),
            format!("{}@{}", hosts.user(), host.address()),
            "echo pinned-ok".to_string(),
        ],
    );
    assert!(
        ssh.as_deref().unwrap_or_default().contains("pinned-ok"),
        "{ssh:?}"
    );

    // Pinning again is a no-op; the file stays as it was.
    let again = pin_known_hosts(&kh, host.address(), host.port(), &keys, marker).unwrap();
    assert_eq!(again, PinOutcome::Unchanged);
    assert_eq!(std::fs::read_to_string(&kh).unwrap(), pinned);
}
