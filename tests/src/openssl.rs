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

/// The certificate a TLS server presents at `addr` (`127.x.y.z:port`), as PEM:
/// `openssl s_client -connect`, no SNI.
pub fn served_certificate(addr: &str) -> String {
    let (_, text) = run(&["s_client", "-connect", addr, "-showcerts"]);
    let begin = "-----BEGIN CERTIFICATE-----";
    let end = "-----END CERTIFICATE-----";
    match (text.find(begin), text.find(end)) {
        (Some(b), Some(e)) if b < e => format!("{}\n", &text[b..e + end.len()]),
        _ => panic!("no certificate served at {addr}: {text}"),
    }
}

/// Writes a client certificate for `/O=<org>/CN=<cn>`, signed by `ca`/`ca_key`, that expired on
/// 2 January 2020 (valid from 1 January 2020), made by `openssl ca` alone: `<name>.pem` and
/// `<name>-key.pem` in `dir`.
pub fn expired_client(dir: &Path, name: &str, ca: &Path, ca_key: &Path, cn: &str, org: &str) {
    let p = |n: &str| dir.join(n).to_string_lossy().into_owned();
    let work = dir.join(format!("{name}.openssl-ca"));
    std::fs::create_dir_all(&work).unwrap_or_else(|e| panic!("{}: {e}", work.display()));
    std::fs::write(work.join("index.txt"), "").unwrap_or_else(|e| panic!("index.txt: {e}"));
    let config = format!(
        "[ca]\ndefault_ca = test\n\
         [test]\ndatabase = {db}\nnew_certs_dir = {dir}\nserial = {serial}\ndefault_md = sha256\n\
         policy = any\nunique_subject = no\n\
         [any]\norganizationName = supplied\ncommonName = supplied\n\
         [client]\nbasicConstraints = critical, CA:FALSE\n\
         keyUsage = critical, digitalSignature, keyEncipherment\nextendedKeyUsage = clientAuth\n",
        db = work.join("index.txt").display(),
        dir = work.display(),
        serial = work.join("serial").display(),
    );
    std::fs::write(work.join("ca.cnf"), config).unwrap_or_else(|e| panic!("ca.cnf: {e}"));
    std::fs::write(work.join("serial"), "1000\n").unwrap_or_else(|e| panic!("serial: {e}"));
    let csr = work.join("client.csr").to_string_lossy().into_owned();
    let cnf = work.join("ca.cnf").to_string_lossy().into_owned();
    let subject = format!("/O={org}/CN={cn}");
    let key = p(&format!("{name}-key.pem"));
    let cert = p(&format!("{name}.pem"));
    let steps: [Vec<&str>; 2] = [
        vec![
            "req", "-newkey", "rsa:2048", "-nodes", "-subj", &subject, "-keyout", &key, "-out",
            &csr,
        ],
        vec![
            "ca",
            "-batch",
            "-config",
            &cnf,
            "-cert",
            s(ca),
            "-keyfile",
            s(ca_key),
            "-in",
            &csr,
            "-out",
            &cert,
            "-notext",
            "-preserveDN",
            "-extensions",
            "client",
            "-startdate",
            "20200101000000Z",
            "-enddate",
            "20200102000000Z",
        ],
    ];
    for step in steps {
        let (ok, text) = run(&step);
        assert!(ok, "openssl {step:?} failed: {text}");
    }
}

/// Whether the signature of the RS256 JSON Web Token `token` verifies with the public key of
/// `cert`, judged by `openssl dgst -sha256 -verify`: `Ok` when it prints `Verified OK`.
pub fn verify_jwt_rs256(token: &str, cert: &Path) -> Result<(), String> {
    use base64::Engine;
    let (signed, signature) = token
        .trim()
        .rsplit_once('.')
        .ok_or_else(|| format!("not a JWT: {token:?}"))?;
    let signature = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(signature)
        .map_err(|e| format!("the JWT's signature is not base64url: {e}"))?;
    let dir = tempfile::tempdir().map_err(|e| format!("tempdir: {e}"))?;
    let write = |name: &str, bytes: &[u8]| {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).map(|()| path)
    };
    let (ok, public) = run(&["x509", "-in", s(cert), "-noout", "-pubkey"]);
    if !ok {
        return Err(public);
    }
    let files = (
        write("public.pem", public.as_bytes()),
        write("signed", signed.as_bytes()),
        write("signature", &signature),
    );
    let (Ok(public), Ok(signed), Ok(signature)) = files else {
        return Err("cannot write the JWT's parts".into());
    };
    let (ok, text) = run(&[
        "dgst",
        "-sha256",
        "-verify",
        s(&public),
        "-signature",
        s(&signature),
        s(&signed),
    ]);
    if ok && text.contains("Verified OK") {
        Ok(())
    } else {
        Err(text)
    }
}
