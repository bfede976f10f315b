//! The `openssl` command line, as an independent judge of certificates and keys.

use std::path::Path;
use std::process::Command;

use crate::require_tool;

fn run(args: &[&str]) -> (bool, String) {
    let out = Command::new(require_tool("openssl"))
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run openssl {args:?}: {e}"));
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap_or_else(|| panic!("non-UTF-8 path {p:?}"))
}

/// `openssl verify -CAfile ca cert`: `Ok` when it prints `cert: OK`.
pub fn verify(ca: &Path, cert: &Path) -> Result<(), String> {
    let (ok, text) = run(&["verify", "-CAfile", s(ca), s(cert)]);
    if ok && text.contains(": OK") {
        Ok(())
    } else {
        Err(text)
    }
}

/// `openssl x509 -noout -text`: the whole certificate as openssl reads it.
pub fn text(cert: &Path) -> String {
    let (ok, text) = run(&["x509", "-in", s(cert), "-noout", "-text"]);
    assert!(ok, "openssl cannot read {cert:?}: {text}");
    text
}

/// The subject in RFC 2253 form, e.g. `CN=admin,OU=DAREY.IO DEVOPS,O=system:masters,L=England,ST=London,C=UK`.
pub fn subject(cert: &Path) -> String {
    let (ok, text) = run(&[
        "x509",
        "-in",
        s(cert),
        "-noout",
        "-subject",
        "-nameopt",
        "RFC2253",
    ]);
    assert!(ok, "openssl cannot read {cert:?}: {text}");
    text.trim().trim_start_matches("subject=").to_string()
}

/// The SANs as openssl prints them, split: `["DNS:kubernetes", "IP Address:10.32.0.1", ...]`.
pub fn sans(cert: &Path) -> Vec<String> {
    let (ok, text) = run(&["x509", "-in", s(cert), "-noout", "-ext", "subjectAltName"]);
    assert!(ok, "openssl cannot read {cert:?}: {text}");
    text.lines()
        .skip(1)
        .flat_map(|l| l.split(','))
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

/// One extension's value line(s), e.g. `ext(cert, "keyUsage")` → `critical\nDigital Signature, Key Encipherment`.
pub fn ext(cert: &Path, name: &str) -> String {
    let (ok, text) = run(&["x509", "-in", s(cert), "-noout", "-ext", name]);
    assert!(ok, "openssl cannot read {cert:?}: {text}");
    text.lines()
        .skip(1)
        .map(str::trim)
        .collect::<Vec<_>>()
        .join("\n")
}

/// Whether the private key in `key` is the one of the certificate `cert` (public keys equal).
pub fn key_matches(cert: &Path, key: &Path) -> bool {
    let (ok1, from_cert) = run(&["x509", "-in", s(cert), "-noout", "-pubkey"]);
    let (ok2, from_key) = run(&["pkey", "-in", s(key), "-pubout"]);
    ok1 && ok2 && from_cert == from_key
}

/// Writes a self-signed CA and a client cert it signs (RSA-2048) into `dir`, made by openssl
/// alone: `other-ca.pem`, `other-ca-key.pem`, `other-client.pem`, `other-client-key.pem`.
pub fn foreign_client(dir: &Path, cn: &str) {
    let p = |n: &str| dir.join(n).to_string_lossy().into_owned();
    let steps: Vec<Vec<String>> = vec![
        vec![
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=other-ca",
            "-keyout",
            &p("other-ca-key.pem"),
            "-out",
            &p("other-ca.pem"),
        ]
        .into_iter()
        .map(String::from)
        .collect(),
        vec![
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            &format!("/O=system:masters/CN={cn}"),
            "-keyout",
            &p("other-client-key.pem"),
            "-out",
            &p("other-client.csr"),
        ]
        .into_iter()
        .map(String::from)
        .collect(),
        vec![
            "x509",
            "-req",
            "-in",
            &p("other-client.csr"),
            "-CA",
            &p("other-ca.pem"),
            "-CAkey",
            &p("other-ca-key.pem"),
            "-CAcreateserial",
            "-days",
            "2",
            "-out",
            &p("other-client.pem"),
        ]
        .into_iter()
        .map(String::from)
        .collect(),
    ];
    for step in steps {
        let args: Vec<&str> = step.iter().map(String::as_str).collect();
        let (ok, text) = run(&args);
        assert!(ok, "openssl {args:?} failed: {text}");
    }
}
