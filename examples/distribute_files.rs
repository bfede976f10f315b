//! Any set of files to any set of hosts, with `k8s-distribute` alone: in parallel, host keys
//! checked against known_hosts, each file verified by sha256 on the host before it is renamed
//! into place. A second run sends nothing.
//!
//! ```sh
//! cargo run -p k8s-hard-examples --example distribute_files -- \
//!     ~/.ssh/id_ed25519 ~/.ssh/known_hosts ubuntu \
//!     --files motd.txt app.conf --hosts 10.0.0.5 10.0.0.6:2222
//! ```

use std::error::Error;
use std::path::PathBuf;

use k8s_distribute::{
    FileMode, FileToSend, HostKeys, Manifest, Node, NodeFiles, Role, SshClient, SshSettings,
    UnknownHosts, UploadOptions,
};

fn main() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: KEY KNOWN_HOSTS USER --files FILE… --hosts HOST[:PORT]…";
    let (key, known_hosts, user) = match args.as_slice() {
        [k, h, u, ..] => (k, h, u),
        _ => return Err(usage.into()),
    };
    let files_at = args.iter().position(|a| a == "--files").ok_or(usage)?;
    let hosts_at = args.iter().position(|a| a == "--hosts").ok_or(usage)?;
    let files: Vec<FileToSend> = args[files_at + 1..hosts_at]
        .iter()
        .map(|f| {
            let local = PathBuf::from(f);
            let remote_name = local
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            FileToSend {
                local,
                remote_name,
                mode: FileMode::Public,
            }
        })
        .collect();

    // The manifest is plain data: here every host gets the same files.
    let nodes = args[hosts_at + 1..]
        .iter()
        .map(|h| {
            let (address, port) = match h.rsplit_once(':') {
                Some((a, p)) => (
                    a.to_string(),
                    p.parse::<u16>().map_err(|e| format!("{h}: {e}"))?,
                ),
                None => (h.clone(), 22),
            };
            let node = Node::new(h.clone(), address)
                .with_port(port)
                .with_user(user.clone());
            Ok(NodeFiles {
                node,
                role: Role::Worker,
                files: files.clone(),
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    let manifest = Manifest { nodes };

    let host_keys = HostKeys::KnownHosts {
        path: known_hosts.into(),
        unknown: UnknownHosts::Refuse,
    };
    let client = SshClient::new(&SshSettings::new(key, host_keys))?;
    // Libraries never build a runtime: the program does.
    let runtime = tokio::runtime::Runtime::new()?;
    let report = runtime.block_on(client.upload(&manifest, &UploadOptions::default(), &|_| {}))?;
    for node in &report.nodes {
        match &node.error {
            Some(e) => println!("{}: failed: {e}", node.node),
            None => {
                let sent = node.count(&k8s_distribute::FileStatus::Sent);
                println!(
                    "{}: {sent} sent, {} unchanged",
                    node.node,
                    node.files.len() - sent
                );
            }
        }
    }
    if report.is_success() {
        Ok(())
    } else {
        Err("some hosts failed".into())
    }
}
