//! Real PEM material from the `openssl` CLI and a `kubectl` runner, shared by the tests.

#![allow(dead_code)] // each test file uses a part

use std::path::{Path, PathBuf};
use std::process::Command;

use k8s_hard_tests::require_tool;

/// A CA and client certificates made by openssl in a temp folder.
pub struct Pki {
    pub dir: tempfile::TempDir,
}

impl Pki {
    /// A new CA (`ca.pem`, `ca-key.pem`).
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let pki = Pki { dir };
        pki.new_key_and(&[
            "-x509",
            "-keyout",
            "ca-key.pem",
            "-out",
            "ca.pem",
            "-subj",
            "/CN=Kubernetes/O=Kubernetes",
            "-days",
            "1",
        ]);
        pki
    }

    pub fn path(&self, file: &str) -> PathBuf {
        self.dir.path().join(file)
    }

    pub fn read(&self, file: &str) -> Vec<u8> {
        std::fs::read(self.path(file)).unwrap_or_else(|e| panic!("read {file}: {e}"))
    }

    /// A client certificate `<stem>.pem` + `<stem>-key.pem` for `cn`, signed by the CA.
    pub fn client(&self, stem: &str, cn: &str) {
        let key = format!("{stem}-key.pem");
        let csr = format!("{stem}.csr");
        let cert = format!("{stem}.pem");
        self.new_key_and(&["-keyout", &key, "-out", &csr, "-subj", &format!("/CN={cn}")]);
        self.openssl(&[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca-key.pem",
            "-set_serial",
            "0x1001",
            "-out",
            &cert,
            "-days",
            "1",
        ]);
    }

    /// `openssl req` with a new P-256 key (fast, and what kubectl embeds is the same either way).
    fn new_key_and(&self, args: &[&str]) {
        let mut all = vec![
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
        ];
        all.extend_from_slice(args);
        self.openssl(&all);
    }

    fn openssl(&self, args: &[&str]) {
        run("openssl", self.dir.path(), args);
    }
}

/// Runs kubectl in `dir` with `args`; panics with its stderr when it fails. Returns stdout.
pub fn kubectl(dir: &Path, args: &[&str]) -> String {
    run("kubectl", dir, args)
}

/// Runs `tool` in `dir` with HOME there and no KUBECONFIG, so kubectl never reads or touches
/// the developer's own kubeconfig. Panics with the tool's stderr when it fails.
fn run(tool: &str, dir: &Path, args: &[&str]) -> String {
    let out = Command::new(require_tool(tool))
        .args(args)
        .current_dir(dir)
        .env_remove("KUBECONFIG")
        .env("HOME", dir)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {tool}: {e}"));
    assert!(
        out.status.success(),
        "{tool} {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `kubectl config view --raw -o json` of `file`, parsed.
pub fn kubectl_view(file: &Path) -> serde_json::Value {
    let dir = file.parent().expect("file in a folder");
    let text = kubectl(
        dir,
        &[
            "config",
            "view",
            "--raw",
            "-o",
            "json",
            "--kubeconfig",
            &file.to_string_lossy(),
        ],
    );
    serde_json::from_str(&text).expect("kubectl printed JSON")
}
