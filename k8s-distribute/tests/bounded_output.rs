//! A node that answers without end cannot make this process hold its answer: a command's
//! output is kept up to `MAX_OUTPUT` and said to be cut, an SCP answer line up to 64 KiB.

mod common;

use common::*;
use k8s_distribute::{FileStatus, MAX_OUTPUT, UnknownHosts, UploadOptions};
use k8s_hard_tests::sshd::SshdHosts;

#[tokio::test]
#[ignore = "needs sshd (root) and ssh-keygen: run scripts/test"]
async fn a_command_printing_more_than_the_limit_is_cut_there() {
    let hosts = SshdHosts::start(&["127.0.0.10"]);
    let manifest = manifest(&hosts, 1);
    let client = client(
        hosts.client_key(),
        known_hosts(&hosts, UnknownHosts::Refuse),
    );
    let runs = client
        .run(
            &manifest.nodes(),
            "head -c 3000000 /dev/zero; head -c 2000000 /dev/zero >&2; echo done >&2",
            &|_| {},
        )
        .await;
    let out = runs[0].result.as_ref().unwrap();
    assert_eq!(MAX_OUTPUT, 1_048_576);
    assert_eq!(out.stdout.len(), 1_048_576);
    assert_eq!(out.stderr.len(), 1_048_576);
    assert!(out.cut);
    assert_eq!(
        out.exit_status,
        Some(0),
        "read to the end, the rest dropped"
    );
    let runs = client.run(&manifest.nodes(), "echo small", &|_| {}).await;
    let out = runs[0].result.as_ref().unwrap();
    assert_eq!(out.stdout, b"small\n");
    assert!(!out.cut);
}

/// A host whose `scp` answers a warning (`\x01`) with 20 MB and no newline.
#[tokio::test]
#[ignore = "needs sshd (root) and ssh-keygen: run scripts/test"]
async fn an_scp_answer_without_end_fails_the_upload_at_64_kib() {
    let hosts = SshdHosts::start_with(&["127.0.0.20"], |_| {
        replace_tool(
            "scp",
            "printf '\\001'\nhead -c 20000000 /dev/zero | tr '\\0' y\nsleep 5",
        )
    });
    let manifest = manifest(&hosts, 0);
    let client = client(
        hosts.client_key(),
        known_hosts(&hosts, UnknownHosts::Refuse),
    );
    let report = client
        .upload(&manifest, &UploadOptions::default(), &|_| {})
        .await
        .unwrap();
    let node = &report.nodes[0];
    let reasons: Vec<String> = node
        .files
        .iter()
        .map(|f| match &f.status {
            FileStatus::Failed(r) => r.clone(),
            other => format!("{other:?}"),
        })
        .chain(node.error.iter().map(|e| e.to_string()))
        .collect();
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("an answer longer than 64 KiB without a newline")),
        "{reasons:?}"
    );
    assert!(!node.is_success());
}
