//! `moto_server`, the AWS emulator the AWS tests run against, on loopback only.
//!
//! [`Moto::start`] uses the server `scripts/test` started (`K8S_HARD_MOTO_URL`) when there is
//! one, otherwise spawns its own on a free port of 127.0.0.1 and stops it on drop
//! ([`Moto::shared`]: when the test process exits). moto keeps
//! one state per server: tests sharing a server isolate themselves with distinct cluster names.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::require_tool;

/// The region the AWS tests use.
pub const REGION: &str = "us-east-2";
/// Dummy access key ID (moto accepts anything; never real credentials).
pub const ACCESS_KEY_ID: &str = "testing";
/// Dummy secret access key.
pub const SECRET_ACCESS_KEY: &str = "testing";
/// A name filter matching one of the few Canonical images moto knows (xenial).
pub const UBUNTU_IMAGE_NAME: &str = "ubuntu/images/hvm-ssd/ubuntu-xenial-16.04-amd64-server-*";

/// A running `moto_server`.
#[derive(Debug)]
pub struct Moto {
    url: String,
    child: Option<Child>,
}

impl Moto {
    /// The shared server from `K8S_HARD_MOTO_URL`, or a new one (panics, saying how to get
    /// moto, when `moto_server` is not installed).
    pub fn start() -> Moto {
        if let Ok(url) = std::env::var("K8S_HARD_MOTO_URL")
            && !url.is_empty()
        {
            let addr = crate::loopback_addr("K8S_HARD_MOTO_URL", &url);
            wait_ready(addr, Duration::from_secs(30));
            return Moto { url, child: None };
        }
        let bin = require_tool("moto_server");
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .unwrap_or_else(|e| panic!("no free loopback port for moto_server: {e}"));
        // A shell stands guard: when our end of its stdin closes (drop, or this process exiting
        // without running destructors, as with a `static`), it kills the server.
        let script = format!(
            "'{}' -H 127.0.0.1 -p {port} >/dev/null 2>&1 & pid=$!; cat >/dev/null; kill $pid; wait $pid",
            bin.display()
        );
        let child = Command::new("sh")
            .args(["-c", &script])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start moto_server: {e}; run ./scripts/test"));
        let moto = Moto {
            url: format!("http://127.0.0.1:{port}"),
            child: Some(child),
        };
        wait_ready(
            SocketAddr::from(([127, 0, 0, 1], port)),
            Duration::from_secs(60),
        );
        moto
    }

    /// One server for the whole test binary (started on first use, stopped when the process
    /// exits).
    pub fn shared() -> &'static Moto {
        static SHARED: OnceLock<Moto> = OnceLock::new();
        SHARED.get_or_init(Moto::start)
    }

    /// The endpoint URL to give the AWS SDK.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Makes one request so that moto's slow first answer (~2 s) is paid outside measurements.
    pub fn warm_up(&self) {
        let _ = http_get(
            crate::loopback_addr("K8S_HARD_MOTO_URL", &self.url),
            "/moto-api/data.json",
        );
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        if let Some(c) = &mut self.child {
            drop(c.stdin.take());
            let _ = c.wait();
        }
    }
}

/// One AWS query-API call (`Action=…` and `params`, form-encoded) to moto at `url` for
/// `service` (`ec2` or `elasticloadbalancing`) in `region`, with the dummy credentials: the
/// answer's status and body. For tests that judge what a run left in AWS by moto's own
/// describe calls, not by our code's reading of them.
pub fn query(url: &str, region: &str, service: &str, params: &[(&str, &str)]) -> (u16, String) {
    let version = if service == "ec2" {
        "2016-11-15"
    } else {
        "2015-12-01"
    };
    let body = params
        .iter()
        .copied()
        .chain([("Version", version)])
        .map(|(k, v)| {
            use crate::aws_timing::percent_encode as enc;
            format!("{}={}", enc(k), enc(v))
        })
        .collect::<Vec<_>>()
        .join("&");
    let addr = crate::loopback_addr("moto", url);
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
        .unwrap_or_else(|e| panic!("moto at {url}: {e}"));
    s.set_read_timeout(Some(Duration::from_secs(60)))
        .expect("read timeout");
    write!(
        s,
        "POST / HTTP/1.0\r\nHost: {addr}\r\ncontent-type: application/x-www-form-urlencoded; charset=utf-8\r\n\
         authorization: AWS4-HMAC-SHA256 Credential={ACCESS_KEY_ID}/20261204/{region}/{service}/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature=00\r\n\
         x-amz-date: 20261204T000000Z\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap_or_else(|e| panic!("moto at {url}: {e}"));
    let mut out = String::new();
    s.read_to_string(&mut out)
        .unwrap_or_else(|e| panic!("moto at {url}: {e}"));
    let status = out
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("moto at {url}: no status in {out:?}"));
    let body = out
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_string();
    (status, body)
}

/// The texts of every `<tag>` element in `xml`, in order (for reading describe answers).
pub fn texts(xml: &str, tag: &str) -> Vec<String> {
    let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
    let mut found = Vec::new();
    let mut rest = xml;
    while let Some(at) = rest.find(&open) {
        let after = &rest[at + open.len()..];
        let Some(end) = after.find(&close) else { break };
        found.push(after[..end].to_string());
        rest = &after[end..];
    }
    found
}

fn http_get(addr: SocketAddr, path: &str) -> std::io::Result<String> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n")?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    Ok(out)
}

fn wait_ready(addr: SocketAddr, bound: Duration) {
    let start = Instant::now();
    loop {
        if let Ok(r) = http_get(addr, "/moto-api/")
            && r.starts_with("HTTP/1.")
            && r.contains(" 200 ")
        {
            return;
        }
        assert!(
            start.elapsed() < bound,
            "moto_server on {addr} did not answer within {bound:?}; run ./scripts/test"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}
