//! Uploads and commands against real OpenSSH servers on 127.0.0.10-12 and 127.0.0.20-22.

mod common;

use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

use common::*;
use k8s_distribute::{
    Error, Event, FileStatus, HostKeys, Manifest, SendReason, SshClient, SshSettings, UnknownHosts,
    UploadOptions,
};
use k8s_hard_tests::require_tool;
use k8s_hard_tests::sshd::{SIX, SshdHosts};

fn opts() -> UploadOptions {
    UploadOptions::default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs sshd (root) and ssh-keygen: run scripts/test"]
async fn every_node_gets_exactly_its_manifest_and_a_second_run_sends_nothing() {
    let hosts = SshdHosts::start(&SIX);
    let manifest = manifest(&hosts, 3);
    // The AWS key pair format: PEM `BEGIN RSA PRIVATE KEY`.
    let pem = std::fs::read_to_string(hosts.client_rsa_key()).unwrap();
    assert!(pem.starts_with("-----BEGIN RSA PRIVATE KEY-----"));
    let client = client(
        hosts.client_rsa_key(),
        known_hosts(&hosts, UnknownHosts::Refuse),
    );
    let events = Events::default();

    let report = client
        .upload(&manifest, &opts(), &|e| events.push(e))
        .await
        .unwrap();
    assert!(report.is_success(), "{report:#?}");
    for (nf, (nr, host)) in manifest
        .nodes
        .iter()
        .zip(report.nodes.iter().zip(hosts.hosts()))
    {
        assert_eq!(nr.node, nf.node.name);
        assert_eq!(nr.count(&FileStatus::Sent), nf.files.len(), "{nr:?}");
        // Exactly the manifest, byte-identical, right modes, no temp files left.
        assert_eq!(
            home_files(host.home()),
            expected_files(nf),
            "{}",
            nf.node.name
        );
    }
    let events = events.take();
    for nf in &manifest.nodes {
        let mine: Vec<&Event> = events
            .iter()
            .filter(|e| match e {
                Event::Connecting { node, .. }
                | Event::Connected { node }
                | Event::File { node, .. }
                | Event::Done { node }
                | Event::Failed { node, .. } => *node == nf.node.name,
                _ => false,
            })
            .collect();
        assert!(matches!(
            mine.first(),
            Some(Event::Connecting { attempt: 1, .. })
        ));
        assert!(matches!(mine.last(), Some(Event::Done { .. })), "{mine:?}");
        let sent = mine
            .iter()
            .filter(|e| {
                matches!(
                    e,
                    Event::File {
                        status: FileStatus::Sent,
                        ..
                    }
                )
            })
            .count();
        assert_eq!(sent, nf.files.len());
    }

    // Second run: nothing sent.
    let again = client.upload(&manifest, &opts(), &|_| {}).await.unwrap();
    for nr in &again.nodes {
        assert_eq!(nr.count(&FileStatus::Unchanged), nr.files.len(), "{nr:?}");
    }

    // A changed mode is corrected without sending; a changed file is sent again, alone.
    use std::os::unix::fs::PermissionsExt;
    let w0 = &hosts[3];
    let key = format!("{NAME}-worker-0-key.pem");
    std::fs::set_permissions(w0.home().join(&key), std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::write(w0.home().join("ca.pem"), b"tampered").unwrap();
    let third = client.upload(&manifest, &opts(), &|_| {}).await.unwrap();
    let w0r = &third.nodes[3];
    let status = |n: &str| &w0r.files.iter().find(|f| f.name == n).unwrap().status;
    assert_eq!(status(&key), &FileStatus::ModeFixed);
    assert_eq!(status("ca.pem"), &FileStatus::Sent);
    assert_eq!(w0r.count(&FileStatus::Unchanged), 3);
    assert_eq!(home_files(w0.home()), expected_files(&manifest.nodes[3]));
    // The report serializes for `--output json`.
    let json = serde_json::to_value(&third.nodes[3]).unwrap();
    assert_eq!(json["files"][0]["status"], "sent");
}

#[tokio::test]
#[ignore = "needs sshd (root) and ssh-keygen: run scripts/test"]
async fn changed_host_key_stops_that_node_with_both_fingerprints() {
    let mut hosts = SshdHosts::start(&["127.0.0.10", "127.0.0.20"]);
    let manifest = manifest(&hosts, 1);
    let host_keys = known_hosts(&hosts, UnknownHosts::AcceptNew);
    let old = hosts[1].host_key_fingerprint();
    hosts.host_mut(1).regenerate_host_key();
    let new = hosts[1].host_key_fingerprint();
    assert_ne!(old, new);

    // Even with accept-new, a changed key is refused.
    let client = client(hosts.client_key(), host_keys);
    let report = client.upload(&manifest, &opts(), &|_| {}).await.unwrap();
    assert!(report.nodes[0].is_success(), "{:?}", report.nodes[0]);
    let bad = &report.nodes[1];
    match &bad.error {
        Some(
            e @ Error::HostKeyChanged {
                node,
                expected,
                found,
                ..
            },
        ) => {
            assert_eq!(node, &format!("{NAME}-worker-0"));
            assert_eq!(expected, &vec![old.clone()]);
            assert_eq!(found, &new);
            let msg = e.to_string();
            assert!(
                msg.contains(node) && msg.contains(&old) && msg.contains(&new),
                "{msg}"
            );
        }
        other => panic!("expected HostKeyChanged, got {other:?}"),
    }
    assert!(
        bad.files
            .iter()
            .all(|f| matches!(f.status, FileStatus::Failed(_)))
    );
    // Nothing reached the host.
    assert!(home_files(hosts[1].home()).is_empty());
}

#[tokio::test]
#[ignore = "needs sshd (root) and ssh-keygen: run scripts/test"]
async fn unknown_host_refused_by_default_accepted_and_recorded_with_accept_new() {
    let hosts = SshdHosts::start(&["127.0.0.11", "127.0.0.21"]);
    let manifest = manifest(&hosts, 1);
    let kh = hosts.scratch().join("empty_known_hosts");

    let strict = client(
        hosts.client_key(),
        HostKeys::KnownHosts {
            path: kh.clone(),
            unknown: UnknownHosts::Refuse,
        },
    );
    let report = strict.upload(&manifest, &opts(), &|_| {}).await.unwrap();
    for (nr, host) in report.nodes.iter().zip(hosts.hosts()) {
        match &nr.error {
            Some(Error::UnknownHostKey { fingerprint, .. }) => {
                assert_eq!(fingerprint, &host.host_key_fingerprint())
            }
            other => panic!("expected UnknownHostKey, got {other:?}"),
        }
        assert!(home_files(host.home()).is_empty());
    }
    assert!(!kh.exists());

    let accept = client(
        hosts.client_key(),
        HostKeys::KnownHosts {
            path: kh.clone(),
            unknown: UnknownHosts::AcceptNew,
        },
    );
    let report = accept.upload(&manifest, &opts(), &|_| {}).await.unwrap();
    assert!(report.is_success(), "{report:#?}");
    // OpenSSH itself finds each host, with its key, in the recorded file.
    for host in hosts.hosts() {
        let out = Command::new(require_tool("ssh-keygen"))
            .args(["-F", &format!("[{}]:{}", host.address(), host.port()), "-f"])
            .arg(&kh)
            .output()
            .unwrap();
        let found = String::from_utf8_lossy(&out.stdout);
        let key_b64 = host
            .host_public_key()
            .split_whitespace()
            .nth(1)
            .unwrap()
            .to_string();
        assert!(found.contains(&key_b64), "{found}");
    }
    // Now known: the strict client goes through too.
    let report = strict.upload(&manifest, &opts(), &|_| {}).await.unwrap();
    assert!(report.is_success(), "{report:#?}");
}

#[tokio::test]
#[ignore = "needs sshd (root) and ssh-keygen: run scripts/test"]
async fn pinned_host_keys() {
    let hosts = SshdHosts::start(&["127.0.0.12", "127.0.0.22"]);
    let manifest = manifest(&hosts, 1);
    let mut pins: BTreeMap<String, Vec<String>> = manifest
        .nodes
        .iter()
        .zip(hosts.hosts())
        .map(|(nf, h)| (nf.node.name.clone(), vec![h.host_public_key()]))
        .collect();
    let ok = client(hosts.client_key(), HostKeys::Pinned(pins.clone()));
    let report = ok.upload(&manifest, &opts(), &|_| {}).await.unwrap();
    assert!(report.is_success(), "{report:#?}");

    // Pin the master's key for the worker: refused as a changed key.
    pins.insert(
        manifest.nodes[1].node.name.clone(),
        vec![hosts[0].host_public_key()],
    );
    let wrong = client(hosts.client_key(), HostKeys::Pinned(pins));
    let report = wrong.upload(&manifest, &opts(), &|_| {}).await.unwrap();
    assert!(report.nodes[0].is_success());
    assert!(matches!(
        report.nodes[1].error,
        Some(Error::HostKeyChanged { .. })
    ));
}

#[tokio::test]
#[ignore = "needs sshd (root) and ssh-keygen: run scripts/test"]
async fn a_stopped_sshd_fails_that_node_only() {
    let mut hosts = SshdHosts::start(&SIX);
    let manifest = manifest(&hosts, 3);
    let client = client(
        hosts.client_key(),
        known_hosts(&hosts, UnknownHosts::Refuse),
    );
    hosts.host_mut(4).stop();
    let events = Events::default();
    let report = client
        .upload(&manifest, &opts(), &|e| events.push(e))
        .await
        .unwrap();
    for (i, nr) in report.nodes.iter().enumerate() {
        if i == 4 {
            assert!(
                matches!(&nr.error, Some(Error::Connect { node, .. }) if node.ends_with("worker-1")),
                "{nr:?}"
            );
            assert!(
                nr.files
                    .iter()
                    .all(|f| matches!(f.status, FileStatus::Failed(_)))
            );
        } else {
            assert!(nr.is_success(), "{nr:?}");
        }
    }
    // Connection failures are retried (once, in these settings).
    let attempts = events
        .take()
        .into_iter()
        .filter(|e| matches!(e, Event::Connecting { node, .. } if node.ends_with("worker-1")))
        .count();
    assert_eq!(attempts, 2);

    // Back up: the next run completes that node and leaves the others unchanged.
    hosts.host_mut(4).start();
    let report = client.upload(&manifest, &opts(), &|_| {}).await.unwrap();
    assert!(report.is_success(), "{report:#?}");
    assert_eq!(report.nodes[4].count(&FileStatus::Sent), 5);
    assert_eq!(report.nodes[0].count(&FileStatus::Unchanged), 10);
}

#[tokio::test]
#[ignore = "needs sshd (root) and ssh-keygen: run scripts/test"]
async fn check_only_reports_what_an_upload_would_do_and_changes_nothing() {
    use std::os::unix::fs::PermissionsExt;
    let hosts = SshdHosts::start(&["127.0.0.10", "127.0.0.20"]);
    let manifest = manifest(&hosts, 1);
    let client = client(
        hosts.client_key(),
        known_hosts(&hosts, UnknownHosts::Refuse),
    );
    let check = UploadOptions {
        check_only: true,
        ..UploadOptions::default()
    };
    let before = home_files(hosts[1].home());
    let fresh = client.upload(&manifest, &check, &|_| {}).await.unwrap();
    for nr in &fresh.nodes {
        assert!(nr.is_success(), "{nr:?}");
        assert!(
            nr.files
                .iter()
                .all(|f| f.status == FileStatus::WouldSend(SendReason::Missing)),
            "{nr:?}"
        );
    }
    assert_eq!(
        home_files(hosts[1].home()),
        before,
        "check-only wrote files"
    );

    client.upload(&manifest, &opts(), &|_| {}).await.unwrap();
    let w0 = &hosts[1];
    let key = format!("{NAME}-worker-0-key.pem");
    std::fs::set_permissions(w0.home().join(&key), std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::write(w0.home().join("ca.pem"), b"tampered").unwrap();
    let stale = w0.home().join(".ca.pem.k8s-hard-tmp.1-2-3");
    std::fs::write(&stale, b"half").unwrap();
    let report = client.upload(&manifest, &check, &|_| {}).await.unwrap();
    let status = |n: &str| {
        &report.nodes[1]
            .files
            .iter()
            .find(|f| f.name == n)
            .unwrap()
            .status
    };
    assert_eq!(
        status("ca.pem"),
        &FileStatus::WouldSend(SendReason::Differs)
    );
    assert_eq!(status(&key), &FileStatus::WouldFixMode);
    assert_eq!(report.nodes[1].count(&FileStatus::Unchanged), 3);
    assert!(
        report.nodes[0]
            .files
            .iter()
            .all(|f| f.status == FileStatus::Unchanged)
    );
    // Nothing was repaired or cleaned.
    assert_eq!(
        std::fs::read(w0.home().join("ca.pem")).unwrap(),
        b"tampered"
    );
    assert!(stale.exists());
    let json = serde_json::to_value(&report.nodes[1]).unwrap();
    assert_eq!(json["files"][0]["status"], "would_send");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs sshd (root) and ssh-keygen: run scripts/test"]
async fn wait_ready_waits_for_a_late_sshd_and_gives_up_on_time() {
    let mut hosts = SshdHosts::start(&["127.0.0.10", "127.0.0.20"]);
    let (mut nodes, workers) = nodes(&hosts, 1);
    nodes.extend(workers);
    let client = client(
        hosts.client_key(),
        known_hosts(&hosts, UnknownHosts::Refuse),
    );
    hosts.host_mut(1).stop();
    let events = Events::default();
    let record = |e| events.push(e);
    let wait = client.wait_ready(&nodes, Duration::from_secs(30), &record);
    let boot = async {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        hosts.host_mut(1).start();
    };
    let (ready, ()) = tokio::join!(wait, boot);
    assert!(ready.iter().all(|r| r.error.is_none()), "{ready:?}");
    assert_eq!(ready[0].attempts, 1);
    assert!(
        ready[1].attempts > 1 && ready[1].waited_ms >= 1000,
        "{:?}",
        ready[1]
    );
    let not_yet = events
        .take()
        .iter()
        .filter(|e| matches!(e, Event::NotYet { node, .. } if node.ends_with("worker-0")))
        .count();
    assert_eq!(not_yet, ready[1].attempts - 1);

    // Never up: gives up after the bound, naming the node and the bound.
    hosts.host_mut(1).stop();
    let start = std::time::Instant::now();
    let ready = client
        .wait_ready(&nodes[1..], Duration::from_secs(2), &|_| {})
        .await;
    assert!(start.elapsed() < Duration::from_secs(8));
    let err = ready[0].error.as_ref().unwrap().to_string();
    assert!(
        err.contains("worker-0") && err.contains("within 2 s"),
        "{err}"
    );

    // A key the machine does not accept yet is retried (EC2 installs the key pair a moment
    // after sshd starts) until the bound, then named as refused...
    let key = hosts.stranger_key();
    let stranger = client_with(&key, &hosts);
    let start = std::time::Instant::now();
    let ready = stranger
        .wait_ready(&nodes[..1], Duration::from_secs(2), &|_| {})
        .await;
    assert!(start.elapsed() < Duration::from_secs(8));
    assert!(
        matches!(ready[0].error, Some(Error::Auth { .. })),
        "{ready:?}"
    );
    assert!(ready[0].attempts > 1, "{ready:?}");
    // ... and accepted once it is installed.
    let public = std::fs::read_to_string(key.with_extension("pub")).unwrap();
    let wait = stranger.wait_ready(&nodes[..1], Duration::from_secs(30), &|_| {});
    let install = async {
        tokio::time::sleep(Duration::from_millis(1000)).await;
        hosts[0].authorize(&public);
    };
    let (ready, ()) = tokio::join!(wait, install);
    assert!(ready[0].error.is_none(), "{ready:?}");
    assert!(ready[0].attempts > 1, "{ready:?}");
}

fn client_with(key: &std::path::Path, hosts: &SshdHosts) -> SshClient {
    client(key, known_hosts(hosts, UnknownHosts::Refuse))
}

#[tokio::test]
#[ignore = "needs sshd (root) and ssh-keygen: run scripts/test"]
async fn a_wrong_private_key_is_an_auth_error_and_not_retried() {
    let hosts = SshdHosts::start(&["127.0.0.10"]);
    let manifest = manifest(&hosts, 1);
    let stranger = hosts.stranger_key();
    let client = client(&stranger, known_hosts(&hosts, UnknownHosts::Refuse));
    let events = Events::default();
    let report = client
        .upload(&manifest, &opts(), &|e| events.push(e))
        .await
        .unwrap();
    let err = report.nodes[0].error.as_ref().unwrap();
    assert!(matches!(err, Error::Auth { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains("authentication") && msg.contains(&hosts.user()) && msg.contains("stranger"),
        "{msg}"
    );
    assert!(!msg.contains("PRIVATE KEY"));
    let attempts = events
        .take()
        .iter()
        .filter(|e| matches!(e, Event::Connecting { .. }))
        .count();
    assert_eq!(attempts, 1);
}

#[tokio::test]
#[ignore = "needs sshd (root) and ssh-keygen: run scripts/test"]
async fn an_unreadable_private_key_or_local_file_fails_before_connecting() {
    let hosts = SshdHosts::start(&["127.0.0.11"]);
    let missing = hosts.scratch().join("no-such-key");
    let err = SshClient::new(&SshSettings::new(
        &missing,
        known_hosts(&hosts, UnknownHosts::Refuse),
    ))
    .unwrap_err();
    assert!(matches!(err, Error::PrivateKey { .. }), "{err}");
    assert!(err.to_string().contains("no-such-key"));

    let manifest = manifest(&hosts, 1);
    let gone = manifest.nodes[0].files[1].local.clone();
    std::fs::remove_file(&gone).unwrap();
    let client = client(
        hosts.client_key(),
        known_hosts(&hosts, UnknownHosts::Refuse),
    );
    let events = Events::default();
    let err = client
        .upload(&manifest, &opts(), &|e| events.push(e))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::LocalFile { path, .. } if *path == gone),
        "{err}"
    );
    assert!(err.to_string().contains("ca-key.pem"));
    assert!(events.take().is_empty(), "no connection was attempted");
    assert!(home_files(hosts[0].home()).is_empty());
}

/// A host whose `sha256sum` reports a wrong digest (bound over the real one inside that host's
/// mount namespace): every transfer fails its check, nothing is installed, no temp file stays.
#[tokio::test]
#[ignore = "needs sshd (root) and ssh-keygen: run scripts/test"]
async fn a_file_failing_its_hash_check_is_not_left_in_place() {
    let hosts = SshdHosts::start_with(&["127.0.0.12"], |_| {
        replace_tool(
            "sha256sum",
            "echo 0000000000000000000000000000000000000000000000000000000000000000  -",
        )
    });
    let manifest = manifest(&hosts, 1);
    let client = client(
        hosts.client_key(),
        known_hosts(&hosts, UnknownHosts::Refuse),
    );
    let report = client.upload(&manifest, &opts(), &|_| {}).await.unwrap();
    let nr = &report.nodes[0];
    assert!(nr.error.is_none(), "{nr:?}");
    for f in &nr.files {
        match &f.status {
            FileStatus::Failed(reason) => assert!(reason.contains("sha256"), "{reason}"),
            other => panic!("{}: {other:?}", f.name),
        }
    }
    assert!(!nr.is_success());
    assert!(
        home_files(hosts[0].home()).is_empty(),
        "{:?}",
        home_files(hosts[0].home())
    );
}

/// A target folder on a 8 KiB tmpfs: the files that fit are installed, the others fail with the
/// node's own error, and neither a partial file nor a temp file stays.
#[tokio::test]
#[ignore = "needs sshd (root) and ssh-keygen: run scripts/test"]
async fn a_full_target_folder_fails_those_files_cleanly() {
    let hosts = SshdHosts::start_with(&["127.0.0.20"], |_| {
        "mkdir -p \"$HOME_DIR/k8s\"\nmount -t tmpfs -o size=8k tmpfs \"$HOME_DIR/k8s\"".to_string()
    });
    let manifest = manifest(&hosts, 1);
    let client = client(
        hosts.client_key(),
        known_hosts(&hosts, UnknownHosts::Refuse),
    );
    let options = UploadOptions {
        target_dir: Some("k8s".into()),
        ..UploadOptions::default()
    };
    let report = client.upload(&manifest, &options, &|_| {}).await.unwrap();
    let nr = &report.nodes[0];
    let sent: Vec<&str> = nr
        .files
        .iter()
        .filter(|f| f.status == FileStatus::Sent)
        .map(|f| f.name.as_str())
        .collect();
    let failed: Vec<(&str, &str)> = nr
        .files
        .iter()
        .filter_map(|f| match &f.status {
            FileStatus::Failed(r) => Some((f.name.as_str(), r.as_str())),
            _ => None,
        })
        .collect();
    assert!(!sent.is_empty() && !failed.is_empty(), "{nr:?}");
    assert!(
        failed.iter().any(|(_, r)| r.contains("No space left")),
        "{failed:?}"
    );
    // The tmpfs is only visible inside the host's namespace: look through ssh.
    let runs = client
        .run(&manifest.nodes(), "cd k8s && ls -A", &|_| {})
        .await;
    let out = runs[0].result.as_ref().unwrap();
    let mut listed: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    listed.sort();
    let mut expected: Vec<String> = sent.iter().map(|s| s.to_string()).collect();
    expected.sort();
    assert_eq!(listed, expected);
}

/// A transfer cut off by its timeout leaves nothing under the final name; the next run cleans
/// the leftover temp file and completes.
#[tokio::test]
#[ignore = "needs sshd (root) and ssh-keygen: run scripts/test"]
async fn an_interrupted_transfer_leaves_no_partial_file() {
    let hosts = SshdHosts::start(&["127.0.0.21"]);
    let mut manifest: Manifest = manifest(&hosts, 0);
    let big = hosts.scratch().join("big.bin");
    std::fs::write(&big, vec![7u8; 64 << 20]).unwrap();
    manifest.nodes[0].files[3].local = big;
    let host_keys = known_hosts(&hosts, UnknownHosts::Refuse);
    let mut settings = SshSettings::new(hosts.client_key(), host_keys);
    settings.command_timeout = std::time::Duration::from_millis(300);
    let hasty = SshClient::new(&settings).unwrap();
    let report = hasty.upload(&manifest, &opts(), &|_| {}).await.unwrap();
    let nr = &report.nodes[0];
    assert!(matches!(nr.error, Some(Error::Timeout { .. })), "{nr:?}");
    let kubeconfig = &manifest.nodes[0].files[3].remote_name;
    assert!(!hosts[0].home().join(kubeconfig).exists());

    let client = client(
        hosts.client_key(),
        known_hosts(&hosts, UnknownHosts::Refuse),
    );
    let report = client.upload(&manifest, &opts(), &|_| {}).await.unwrap();
    assert!(report.is_success(), "{report:#?}");
    assert_eq!(
        home_files(hosts[0].home()),
        expected_files(&manifest.nodes[0])
    );
}

#[tokio::test]
#[ignore = "needs sshd (root) and ssh-keygen: run scripts/test"]
async fn remote_command_output_and_exit_status_per_node() {
    let mut hosts = SshdHosts::start(&["127.0.0.10", "127.0.0.11", "127.0.0.12"]);
    for (i, h) in hosts.hosts().iter().enumerate() {
        std::fs::write(h.home().join("marker"), format!("host-{i}\n")).unwrap();
    }
    let (masters, _) = nodes(&hosts, 3);
    let client = client(
        hosts.client_key(),
        known_hosts(&hosts, UnknownHosts::Refuse),
    );
    let runs = client
        .run(
            &masters,
            "cat marker; echo to-stderr >&2; [ \"$(cat marker)\" = host-1 ] && exit 3; exit 0",
            &|_| {},
        )
        .await;
    for (i, run) in runs.iter().enumerate() {
        assert_eq!(run.node, masters[i].name);
        let out = run.result.as_ref().unwrap();
        assert_eq!(out.stdout, format!("host-{i}\n").as_bytes());
        assert_eq!(out.stderr, b"to-stderr\n");
        assert_eq!(out.exit_status, Some(if i == 1 { 3 } else { 0 }));
        assert_eq!(out.success(), i != 1);
    }

    hosts.host_mut(2).stop();
    let runs = client.run(&masters, "true", &|_| {}).await;
    assert!(runs[0].result.is_ok() && runs[1].result.is_ok());
    assert!(matches!(runs[2].result, Err(Error::Connect { .. })));
}

/// Ubuntu's ssh hashes host names in known_hosts (`HashKnownHosts yes`): such a file, hashed
/// by `ssh-keygen -H` itself, works the same.
#[tokio::test]
#[ignore = "needs sshd (root) and ssh-keygen: run scripts/test"]
async fn hashed_known_hosts_entries_are_understood() {
    let hosts = SshdHosts::start(&["127.0.0.22"]);
    let manifest = manifest(&hosts, 0);
    let kh = hosts.write_known_hosts();
    let hashed = Command::new(require_tool("ssh-keygen"))
        .args(["-q", "-H", "-f"])
        .arg(&kh)
        .status();
    assert!(hashed.unwrap().success());
    let text = std::fs::read_to_string(&kh).unwrap();
    assert!(
        text.starts_with("|1|") && !text.contains("127.0.0.22"),
        "{text}"
    );
    let client = client(
        hosts.client_key(),
        HostKeys::KnownHosts {
            path: kh,
            unknown: UnknownHosts::Refuse,
        },
    );
    let report = client.upload(&manifest, &opts(), &|_| {}).await.unwrap();
    assert!(report.is_success(), "{report:#?}");
}
