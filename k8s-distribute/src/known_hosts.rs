//! Our own reader and writer of OpenSSH known_hosts files (sshd(8), "SSH_KNOWN_HOSTS FILE
//! FORMAT"), so that a host with a recorded key of *any* type is "changed", never "unknown".
//!
//! A line is `[@marker] patterns keytype base64 [comment]`. Patterns are comma-separated host
//! names (`host`, or `[host]:port` for ports other than 22) with `*`/`?` wildcards and `!`
//! negation, or one hashed name `|1|salt|hash` (HMAC-SHA1 of the name, keyed by the salt).
//! Blank lines, `#` comments and lines that do not parse are skipped, as OpenSSH does.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use aws_lc_rs::hmac;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use russh::keys::PublicKey;

use crate::error::{Error, Result};
use crate::host_keys::{fingerprint, parse_public_key_line};

/// Takes the known_hosts file's lock for a read-modify-write (an append of a new host, a pin),
/// waiting while another thread or process holds it: an `flock` on the file itself (see
/// [`k8s_files::FileLock`]), so nothing is left beside it for ssh to trip over. Creates the
/// file's folder (0700) and the file (0600, empty) when they are missing.
pub(crate) fn lock(path: &Path) -> std::result::Result<k8s_files::FileLock, String> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        k8s_files::create_private_dir(dir).map_err(|e| reason(&e, path))?;
    }
    k8s_files::FileLock::acquire(path).map_err(|e| reason(&e, path))
}

/// A file error as the reason of an error that already names `path`.
fn reason(e: &k8s_files::Error, path: &Path) -> String {
    match e {
        k8s_files::Error::Io { path: p, source } if p == path => source.to_string(),
        other => other.to_string(),
    }
}

/// The name a host is recorded under: `host` on port 22, `[host]:port` elsewhere (as ssh).
pub(crate) fn host_name(host: &str, port: u16) -> String {
    if port == 22 {
        host.to_string()
    } else {
        format!("[{host}]:{port}")
    }
}

/// A line's marker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Marker {
    /// `@revoked`: the key is never accepted.
    Revoked,
    /// `@cert-authority`: a CA for host certificates; not a host key, so ignored here.
    CertAuthority,
}

/// One usable line of a known_hosts file.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    /// 1-based line number.
    pub(crate) line: usize,
    pub(crate) marker: Option<Marker>,
    /// The host field as written (patterns, or one hashed name).
    pub(crate) hosts: String,
    pub(crate) key: PublicKey,
    /// Whatever follows the key, trimmed (may be empty).
    pub(crate) comment: String,
}

/// Parses one line; `None` for blank lines, comments and lines OpenSSH would skip.
fn parse_line(line: usize, text: &str) -> Option<Entry> {
    let text = text.trim_start();
    if text.is_empty() || text.starts_with('#') {
        return None;
    }
    let mut rest = text;
    let mut next_field = || {
        let s = rest.trim_start();
        let end = s.find(char::is_whitespace).unwrap_or(s.len());
        let (field, tail) = s.split_at(end);
        rest = tail;
        (!field.is_empty()).then_some(field)
    };
    let mut first = next_field()?;
    let marker = match first {
        "@revoked" => Some(Marker::Revoked),
        "@cert-authority" => Some(Marker::CertAuthority),
        m if m.starts_with('@') => return None,
        _ => None,
    };
    if marker.is_some() {
        first = next_field()?;
    }
    let hosts = first.to_string();
    let key_type = next_field()?;
    let b64 = next_field()?;
    let key = russh::keys::parse_public_key_base64(b64).ok()?;
    if key.algorithm().as_str() != key_type {
        return None;
    }
    Some(Entry {
        line,
        marker,
        hosts,
        key,
        comment: rest.trim().to_string(),
    })
}

/// Every usable line of a known_hosts file's text, in order.
pub(crate) fn parse(text: &str) -> Vec<Entry> {
    text.lines()
        .enumerate()
        .filter_map(|(i, l)| parse_line(i + 1, l))
        .collect()
}

/// OpenSSH's `match_pattern`: `*` any run of characters, `?` any one; ASCII case-insensitive.
fn wildcard(name: &[u8], pattern: &[u8]) -> bool {
    let (mut n, mut p) = (0, 0);
    // Where to resume after the last `*`: (pattern index after it, name index it matched up to).
    let mut star: Option<(usize, usize)> = None;
    while n < name.len() {
        match pattern.get(p) {
            Some(b'*') => {
                star = Some((p + 1, n));
                p += 1;
            }
            Some(&c) if c == b'?' || c.eq_ignore_ascii_case(&name[n]) => {
                p += 1;
                n += 1;
            }
            _ => match star {
                Some((sp, sn)) => {
                    p = sp;
                    n = sn + 1;
                    star = Some((sp, sn + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

/// OpenSSH's `match_pattern_list`: a negated pattern that matches vetoes the whole list.
fn matches_patterns(name: &str, patterns: &str) -> bool {
    let mut positive = false;
    for pattern in patterns.split(',') {
        let (negated, pattern) = match pattern.strip_prefix('!') {
            Some(p) => (true, p),
            None => (false, pattern),
        };
        if wildcard(name.as_bytes(), pattern.as_bytes()) {
            if negated {
                return false;
            }
            positive = true;
        }
    }
    positive
}

/// A hashed name `|1|salt|hash`: HMAC-SHA1 of `name` keyed by the salt equals the hash.
fn matches_hashed(name: &str, hashed: &str) -> bool {
    let Some(rest) = hashed.strip_prefix("|1|") else {
        return false;
    };
    let Some((salt, hash)) = rest.split_once('|') else {
        return false;
    };
    let (Ok(salt), Ok(hash)) = (BASE64.decode(salt), BASE64.decode(hash)) else {
        return false;
    };
    let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, &salt);
    hmac::verify(&key, name.as_bytes(), &hash).is_ok()
}

impl Entry {
    /// Whether this line is about the host recorded as `name` (see [`host_name`]).
    pub(crate) fn matches(&self, name: &str) -> bool {
        let name = name.to_ascii_lowercase();
        if self.hosts.starts_with('|') {
            matches_hashed(&name, &self.hosts)
        } else {
            matches_patterns(&name, &self.hosts)
        }
    }

    fn same_key(&self, key: &PublicKey) -> bool {
        self.key.key_data() == key.key_data()
    }
}

/// What a known_hosts file says about a key offered by a host.
#[derive(Debug)]
pub(crate) enum Verdict {
    /// A line for this host lists the key.
    Known,
    /// An `@revoked` line (for any host) lists the key.
    Revoked {
        /// The first such line.
        line: usize,
    },
    /// The host has recorded keys (of any type), none of them this one.
    Changed {
        /// (line, key) of every recorded key for the host.
        recorded: Vec<(usize, PublicKey)>,
    },
    /// Nothing is recorded for the host.
    Unknown,
}

/// Decides about `key` offered by the host recorded as `name`.
pub(crate) fn decide(entries: &[Entry], name: &str, key: &PublicKey) -> Verdict {
    if let Some(e) = entries
        .iter()
        .find(|e| e.marker == Some(Marker::Revoked) && e.same_key(key))
    {
        return Verdict::Revoked { line: e.line };
    }
    let recorded: Vec<&Entry> = entries
        .iter()
        .filter(|e| e.marker.is_none() && e.matches(name))
        .collect();
    if recorded.iter().any(|e| e.same_key(key)) {
        Verdict::Known
    } else if recorded.is_empty() {
        Verdict::Unknown
    } else {
        Verdict::Changed {
            recorded: recorded
                .into_iter()
                .map(|e| (e.line, e.key.clone()))
                .collect(),
        }
    }
}

/// The file's bytes; a missing file is empty.
pub(crate) fn read(path: &Path) -> io::Result<Vec<u8>> {
    match fs::read(path) {
        Ok(bytes) => Ok(bytes),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

/// `type base64` of a key, as in a known_hosts line.
fn key_text(key: &PublicKey) -> io::Result<String> {
    let mut key = key.clone();
    key.set_comment("");
    key.to_openssh()
        .map(|s| s.trim().to_string())
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))
}

/// Appends one line `name type base64` (as `ssh -o StrictHostKeyChecking=accept-new`): one
/// `write` on an `O_APPEND` descriptor, then fsync. Call it under [`lock`], which has made the
/// file. `current` is the file's content as just read, to know whether it ends with a newline.
pub(crate) fn append(path: &Path, current: &[u8], name: &str, key: &PublicKey) -> io::Result<()> {
    let mut line = String::new();
    if current.last().is_some_and(|&b| b != b'\n') {
        line.push('\n');
    }
    line.push_str(&format!("{name} {}\n", key_text(key)?));
    let mut file = OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(line.as_bytes())?;
    file.sync_all()
}

/// Whether the known_hosts file at `path` pins `host` on `port` with exactly `marker` (a line
/// [`pin_known_hosts`] wrote with it): what a caller checks before relying on the file alone
/// when the keys' source cannot be read again (the consoles, while AWS is unreachable). A
/// missing file pins nothing.
///
/// # Errors
/// [`Error::KnownHosts`] when the file cannot be read.
///
/// # Example
/// ```
/// use k8s_distribute::{is_pinned, pin_known_hosts};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = tempfile::tempdir()?;
/// let known_hosts = dir.path().join("known_hosts");
/// let key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAINq/XvrWIN3V4KFaXF4YUsRpYfV1gqXIE8ikPLl1U6Ir";
/// let marker = "k8s-hard:console i-0abc cluster=demo";
/// assert!(!is_pinned(&known_hosts, "54.0.0.10", 22, marker)?);
/// pin_known_hosts(&known_hosts, "54.0.0.10", 22, &[key.to_string()], marker)?;
/// assert!(is_pinned(&known_hosts, "54.0.0.10", 22, marker)?);
/// assert!(!is_pinned(&known_hosts, "54.0.0.10", 22, "k8s-hard:console i-0def cluster=demo")?);
/// # Ok(()) }
/// ```
pub fn is_pinned(path: &Path, host: &str, port: u16, marker: &str) -> Result<bool> {
    let text = read(path).map_err(|e| Error::KnownHosts {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    let name = host_name(host, port);
    let marker = marker.trim();
    Ok(parse(&String::from_utf8_lossy(&text))
        .iter()
        .any(|e| e.marker.is_none() && e.hosts.eq_ignore_ascii_case(&name) && e.comment == marker))
}

/// What [`pin_known_hosts`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PinOutcome {
    /// The host had no lines with this marker: the keys were appended.
    Added,
    /// Earlier lines with this marker's tag were replaced by the new ones.
    Replaced,
    /// The file already said exactly this; it was not written.
    Unchanged,
}

/// Records `keys` (OpenSSH public key lines, `ssh-ed25519 AAAA… [comment]`) as the host keys of
/// `host` on `port` in the known_hosts file at `path`, one line each with `marker` as the
/// comment (for example `k8s-hard:console i-0abc cluster=foo`), so that later connections
/// with [`UnknownHosts::Refuse`](crate::UnknownHosts::Refuse) accept exactly these keys.
///
/// The marker's first word is its tag (`k8s-hard:console` above): lines for this host whose
/// comment starts with the same tag are earlier pins, and are replaced (in place of the first
/// of them; otherwise the new lines go at the end). Every other line stays byte-for-byte as it
/// was. The file is read and written under its lock (an `flock` on the file itself, shared with
/// every other process that pins or accepts a host through this crate, so none loses another's
/// line), and written whole by [`k8s_files::write_file`]: a temp file created exclusively in
/// the same folder, fsync, rename, fsync of the folder; its mode is 0600. Nothing is written
/// when the file already says exactly this. A missing folder is created 0700; an existing one
/// keeps its mode.
///
/// # Errors
/// - [`Error::InvalidPin`] when `host`, `keys` or `marker` cannot be written as known_hosts
///   lines (empty, whitespace in the host, a key that does not parse, a newline in the
///   marker).
/// - [`Error::PinConflict`] when a line not written by a pin with this tag records another
///   key for the host (a re-created machine, or worse): the user must remove it
///   (`ssh-keygen -R`). The file is not changed.
/// - [`Error::PinRevoked`] when one of `keys` is marked `@revoked` in the file.
/// - [`Error::KnownHosts`] when the file cannot be read or written.
///
/// # Example
/// ```
/// use k8s_distribute::{PinOutcome, pin_known_hosts};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = tempfile::tempdir()?;
/// let known_hosts = dir.path().join(".ssh/known_hosts");
/// // What cloud-init printed between "BEGIN SSH HOST KEY KEYS" and "END SSH HOST KEY KEYS".
/// let keys = vec![
///     "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAINq/XvrWIN3V4KFaXF4YUsRpYfV1gqXIE8ikPLl1U6Ir root@ip-10-0-0-10".to_string(),
/// ];
/// let marker = "k8s-hard:console i-0abc cluster=demo";
/// let outcome = pin_known_hosts(&known_hosts, "54.0.0.10", 22, &keys, marker)?;
/// assert_eq!(outcome, PinOutcome::Added);
/// assert_eq!(
///     std::fs::read_to_string(&known_hosts)?,
///     "54.0.0.10 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAINq/XvrWIN3V4KFaXF4YUsRpYfV1gqXIE8ikPLl1U6Ir k8s-hard:console i-0abc cluster=demo\n"
/// );
/// // Again: nothing to do.
/// let outcome = pin_known_hosts(&known_hosts, "54.0.0.10", 22, &keys, marker)?;
/// assert_eq!(outcome, PinOutcome::Unchanged);
/// # Ok(()) }
/// ```
pub fn pin_known_hosts(
    path: &Path,
    host: &str,
    port: u16,
    keys: &[String],
    marker: &str,
) -> Result<PinOutcome> {
    let name = host_name(host, port);
    let invalid = |reason: String| Error::InvalidPin {
        host: name.clone(),
        reason,
    };
    if host.is_empty() || host.contains(|c: char| c.is_whitespace() || c == ',') {
        return Err(invalid(
            "a host name must be non-empty, without spaces or commas".into(),
        ));
    }
    if host.starts_with(['|', '@', '#', '!']) || host.contains(['*', '?', '[', ']']) {
        return Err(invalid(
            "a host name cannot start with |, @, # or ! nor hold *, ?, [ or ]".into(),
        ));
    }
    let tag = marker.split_whitespace().next().unwrap_or_default();
    if tag.is_empty() || marker.contains(char::is_control) {
        return Err(invalid(
            "the marker must be non-empty text on one line".into(),
        ));
    }
    if keys.is_empty() {
        return Err(invalid("no keys to pin".into()));
    }
    let marker = marker.trim();
    let mut new_keys: Vec<PublicKey> = Vec::new();
    for line in keys {
        let key = parse_public_key_line(line).map_err(|r| invalid(format!("key {line:?}: {r}")))?;
        if !new_keys.iter().any(|k| k.key_data() == key.key_data()) {
            new_keys.push(key);
        }
    }
    let file_err = |e: io::Error| Error::KnownHosts {
        path: path.to_path_buf(),
        reason: e.to_string(),
    };
    // Write through a symlink (a dotfiles repository) rather than replace it.
    let target: PathBuf = match fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => fs::canonicalize(path).map_err(file_err)?,
        _ => path.to_path_buf(),
    };
    let _lock = lock(&target).map_err(|reason| Error::KnownHosts {
        path: path.to_path_buf(),
        reason,
    })?;
    let current = read(&target).map_err(file_err)?;

    let is_ours = |e: &Entry| {
        e.marker.is_none()
            && e.hosts.eq_ignore_ascii_case(&name)
            && e.comment.split_whitespace().next() == Some(tag)
    };
    let mut new_lines = String::new();
    for key in &new_keys {
        new_lines.push_str(&format!(
            "{name} {} {marker}\n",
            key_text(key).map_err(file_err)?
        ));
    }

    let mut out: Vec<u8> = Vec::with_capacity(current.len() + new_lines.len());
    let mut replaced = false;
    let mut offending = Vec::new();
    for (i, raw) in current.split_inclusive(|&b| b == b'\n').enumerate() {
        let entry = parse_line(i + 1, &String::from_utf8_lossy(raw));
        if let Some(e) = &entry {
            if e.marker == Some(Marker::Revoked)
                && let Some(k) = new_keys.iter().find(|k| e.same_key(k))
            {
                return Err(Error::PinRevoked {
                    path: path.to_path_buf(),
                    host: name,
                    fingerprint: fingerprint(k),
                    line: e.line,
                });
            }
            if is_ours(e) {
                if !replaced {
                    out.extend_from_slice(new_lines.as_bytes());
                    replaced = true;
                }
                continue;
            }
            if e.marker.is_none() && e.matches(&name) && !new_keys.iter().any(|k| e.same_key(k)) {
                offending.push(format!("{} at line {}", fingerprint(&e.key), e.line));
            }
        }
        out.extend_from_slice(raw);
    }
    if !offending.is_empty() {
        return Err(Error::PinConflict {
            path: path.to_path_buf(),
            host: name,
            offending,
        });
    }
    if !replaced {
        if out.last().is_some_and(|&b| b != b'\n') {
            out.push(b'\n');
        }
        out.extend_from_slice(new_lines.as_bytes());
    }
    if out == current {
        return Ok(PinOutcome::Unchanged);
    }
    k8s_files::write_file(&target, &out, k8s_files::Mode::Secret).map_err(|e| {
        Error::KnownHosts {
            path: path.to_path_buf(),
            reason: reason(&e, &target),
        }
    })?;
    Ok(if replaced {
        PinOutcome::Replaced
    } else {
        PinOutcome::Added
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    const ED_B64: &str = "AAAAC3NzaC1lZDI1NTE5AAAAINq/XvrWIN3V4KFaXF4YUsRpYfV1gqXIE8ikPLl1U6Ir";
    const ED: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAINq/XvrWIN3V4KFaXF4YUsRpYfV1gqXIE8ikPLl1U6Ir";
    const ED_FP: &str = "SHA256:rZydqOV8AV7nrJa1o0VRy7mmFmxpm3quOkUmhzo3tYo";
    const ED2: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDc866T9utlTpO0M5d5pCUISLx20KlQH01J3kod2D7bK";
    const ED2_FP: &str = "SHA256:s4DHd1Z1vm5S5gBwxwM/vUs2rWTRUYx+vziLrbLm5hk";
    const RSA: &str = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC+NpQh0MXsXy5ebd5QnHY1g4nEgwAjQykD+EJyVsiPp92v2v+hg3ifXmrOcbSt2Cz1H1Fq9jAs3msPvF4w0N5JWDd2kfR4V4AtWw9og/16kndmXX+0ggzsVYC9Cnw19Mr6SOcUzzimjqejZ+rKcoQiNSzvfsQKbebeHcPjeUFU0yT/08b13NRkz7RSRX6naDWNgIXx5VqeKVlAeSuH0auSdR94JbEGdve/NUUODsM+z6DZUUR0lwXr1GjPqNUKEXLvICco28fxD35BZUx8+seGzaHmUUJrCJa/q2b20KqmsfwSCNO4uZZXKKvgKEkwgVWxQCOF0nics2sIEWG5xMlz";
    const RSA_FP: &str = "SHA256:mXBdrNxJxXXourFzMMojcsPKhswTIC5U8ZXLVr7RsOI";

    fn key(line: &str) -> PublicKey {
        parse_public_key_line(line).unwrap()
    }

    /// The decision as a short string, with line numbers: `known`, `revoked 3`,
    /// `changed 1,4`, `unknown`.
    fn verdict(text: &str, host: &str, port: u16, offered: &str) -> String {
        match decide(&parse(text), &host_name(host, port), &key(offered)) {
            Verdict::Known => "known".into(),
            Verdict::Revoked { line } => format!("revoked {line}"),
            Verdict::Changed { recorded } => format!(
                "changed {}",
                recorded
                    .iter()
                    .map(|(l, _)| l.to_string())
                    .collect::<Vec<_>>()
                    .join(",")
            ),
            Verdict::Unknown => "unknown".into(),
        }
    }

    #[test]
    fn fingerprints_are_the_ones_ssh_keygen_prints() {
        assert_eq!(fingerprint(&key(ED)), ED_FP);
        assert_eq!(fingerprint(&key(ED2)), ED2_FP);
        assert_eq!(fingerprint(&key(RSA)), RSA_FP);
    }

    #[test]
    fn plain_names_and_bracketed_ports() {
        let text = format!("10.0.0.1 {ED}\n[10.0.0.1]:2200 {ED2}\n");
        assert_eq!(verdict(&text, "10.0.0.1", 22, ED), "known");
        assert_eq!(verdict(&text, "10.0.0.1", 2200, ED2), "known");
        // Port 22 and port 2200 are different hosts.
        assert_eq!(verdict(&text, "10.0.0.1", 22, ED2), "changed 1");
        assert_eq!(verdict(&text, "10.0.0.1", 2200, ED), "changed 2");
        assert_eq!(verdict(&text, "10.0.0.1", 2201, ED), "unknown");
        assert_eq!(verdict(&text, "10.0.0.10", 22, ED), "unknown");
        assert_eq!(host_name("h", 22), "h");
        assert_eq!(host_name("h", 2200), "[h]:2200");
    }

    /// The bug this module exists for: a recorded RSA key and an offered ed25519 key (or the
    /// other way round) is a changed key, not an unknown host.
    #[test]
    fn a_recorded_key_of_another_type_means_changed() {
        let text = format!("[10.0.0.1]:2200 {RSA}\n");
        assert_eq!(verdict(&text, "10.0.0.1", 2200, ED), "changed 1");
        let Verdict::Changed { recorded } = decide(&parse(&text), "[10.0.0.1]:2200", &key(ED))
        else {
            panic!("not changed");
        };
        assert_eq!(fingerprint(&recorded[0].1), RSA_FP);
        let text = format!("h {ED}\nh {ED2}\n");
        assert_eq!(verdict(&text, "h", 22, RSA), "changed 1,2");
        assert_eq!(verdict(&text, "h", 22, ED2), "known");
    }

    #[test]
    #[ignore = "needs ssh-keygen: run scripts/test"]
    fn hashed_entries_written_by_ssh_keygen_match() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("known_hosts");
        let plain = format!("node.example,10.0.0.1 {ED}\n[10.0.0.2]:2222 {ED2} keep-me\n");
        fs::write(&path, &plain).unwrap();
        let out = std::process::Command::new(k8s_hard_tests::require_tool("ssh-keygen"))
            .args(["-q", "-H", "-f"])
            .arg(&path)
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        let hashed = fs::read_to_string(&path).unwrap();
        assert!(
            !hashed.contains("10.0.0") && !hashed.contains("node.example"),
            "{hashed}"
        );
        let entries = parse(&hashed);
        // ssh-keygen -H writes one line per name.
        assert_eq!(entries.len(), 3, "{hashed}");
        assert!(entries.iter().all(|e| e.hosts.starts_with("|1|")));
        assert_eq!(verdict(&hashed, "node.example", 22, ED), "known");
        assert_eq!(verdict(&hashed, "NODE.example", 22, ED), "known");
        assert_eq!(verdict(&hashed, "10.0.0.1", 22, ED), "known");
        assert_eq!(verdict(&hashed, "10.0.0.1", 22, ED2), "changed 2");
        assert_eq!(verdict(&hashed, "10.0.0.2", 2222, ED2), "known");
        assert_eq!(verdict(&hashed, "10.0.0.2", 22, ED2), "unknown");
        assert_eq!(verdict(&hashed, "10.0.0.3", 22, ED), "unknown");
        // A hash with a wrong salt or garbage does not match.
        assert!(!matches_hashed("10.0.0.1", "|1|AAAA|AAAA"));
        assert!(!matches_hashed("10.0.0.1", "|1|not base64|x"));
        assert!(!matches_hashed("10.0.0.1", "|2|x|y"));
    }

    #[test]
    fn wildcards_and_negation_as_openssh() {
        let text = format!("*.example.com,!bad.example.com {ED}\n10.0.0.? {ED2}\n");
        assert_eq!(verdict(&text, "a.example.com", 22, ED), "known");
        assert_eq!(verdict(&text, "a.b.example.com", 22, ED), "known");
        assert_eq!(verdict(&text, "A.Example.COM", 22, ED), "known");
        assert_eq!(verdict(&text, "bad.example.com", 22, ED), "unknown");
        assert_eq!(verdict(&text, "example.com", 22, ED), "unknown");
        assert_eq!(verdict(&text, "10.0.0.5", 22, ED2), "known");
        assert_eq!(verdict(&text, "10.0.0.5", 22, ED), "changed 2");
        assert_eq!(verdict(&text, "10.0.0.15", 22, ED2), "unknown");
        assert_eq!(verdict(&text, "10.0.0.5", 2222, ED2), "unknown");
        // A negation alone matches nothing; `[host]:port` names match patterns literally.
        let text = format!("!10.0.0.1 {ED}\n[10.0.0.*]:2222 {ED2}\n");
        assert_eq!(verdict(&text, "10.0.0.2", 22, ED), "unknown");
        assert_eq!(verdict(&text, "10.0.0.9", 2222, ED2), "known");
        for (name, pattern, expected) in [
            ("abc", "a*c", true),
            ("ac", "a*c", true),
            ("abbbc", "a*b*c", true),
            ("abd", "a*c", false),
            ("", "*", true),
            ("", "?", false),
            ("abc", "*", true),
            ("abc", "ab", false),
            ("ab", "abc", false),
            ("aXbYc", "a?b?c", true),
        ] {
            assert_eq!(
                wildcard(name.as_bytes(), pattern.as_bytes()),
                expected,
                "{name} {pattern}"
            );
        }
    }

    #[test]
    fn a_revoked_key_is_refused_even_if_also_listed() {
        let text = format!("h {ED}\n@revoked other.host {ED}\n");
        assert_eq!(verdict(&text, "h", 22, ED), "revoked 2");
        assert_eq!(verdict(&text, "other.host", 22, ED), "revoked 2");
        assert_eq!(verdict(&text, "h", 22, ED2), "changed 1");
        // A @cert-authority line is not a host key of the host.
        let text = format!("@cert-authority h {ED2}\n");
        assert_eq!(verdict(&text, "h", 22, ED2), "unknown");
        assert_eq!(verdict(&text, "h", 22, ED), "unknown");
        let text = format!("@cert-authority h {ED2}\nh {ED}\n");
        assert_eq!(verdict(&text, "h", 22, ED2), "changed 2");
    }

    #[test]
    fn malformed_lines_are_skipped_and_comments_kept() {
        let text = format!(
            "# a comment\n\
             \n\
             \x20  \t\n\
             lonely-host\n\
             h ssh-ed25519\n\
             h ssh-ed25519 not-base64!!\n\
             h ssh-rsa {ED_B64}\n\
             @bogus h {ED}\n\
             @revoked\n\
             h 1024 35 1234567\n\
             \x20 h {ED}   my  comment here  \r\n\
             @revoked * {ED2}\n\
             [10.0.0.1]:2200 {ED2}"
        );
        let entries = parse(&text);
        let summary: Vec<(usize, Option<Marker>, &str, &str)> = entries
            .iter()
            .map(|e| (e.line, e.marker, e.hosts.as_str(), e.comment.as_str()))
            .collect();
        assert_eq!(
            summary,
            vec![
                (11, None, "h", "my  comment here"),
                (12, Some(Marker::Revoked), "*", ""),
                (13, None, "[10.0.0.1]:2200", ""),
            ]
        );
        assert_eq!(fingerprint(&entries[0].key), ED_FP);
        assert_eq!(verdict(&text, "h", 22, ED), "known");
        assert_eq!(verdict(&text, "h", 22, RSA), "changed 11");
    }

    const MARK: &str = "k8s-hard:console i-0abc cluster=foo";

    fn pin(path: &Path, host: &str, port: u16, keys: &[&str], marker: &str) -> Result<PinOutcome> {
        let keys: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
        pin_known_hosts(path, host, port, &keys, marker)
    }

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn pin_adds_once_and_keeps_every_other_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("known_hosts");
        // Odd spacing, a comment, a hashed line, a foreign line with the same key, and no
        // newline at the end: all kept byte-for-byte.
        let before = format!(
            "# mine\n\
             other.host   {ED2}  keep  me \n\
             |1|9xmMzvC4hFJX5J0WVxNfBIXwGGM=|QSC1CDGNOf3bz+DtKRBX2qU+5zY= {RSA}\n\
             10.0.0.1 {ED} user's own line"
        );
        fs::write(&path, &before).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        let ed_with_comment = format!("{ED} root@ip-10-0-0-1");
        assert_eq!(
            pin(&path, "10.0.0.1", 22, &[&ed_with_comment, RSA], MARK).unwrap(),
            PinOutcome::Added
        );
        let after = fs::read_to_string(&path).unwrap();
        assert_eq!(
            after,
            format!(
                "{before}\n\
                 10.0.0.1 {ED} k8s-hard:console i-0abc cluster=foo\n\
                 10.0.0.1 {RSA} k8s-hard:console i-0abc cluster=foo\n"
            )
        );
        assert_eq!(mode(&path), 0o600);
        // Idempotent: same call, same file, not rewritten.
        let inode = std::os::unix::fs::MetadataExt::ino(&fs::metadata(&path).unwrap());
        assert_eq!(
            pin(&path, "10.0.0.1", 22, &[ED, RSA], MARK).unwrap(),
            PinOutcome::Unchanged
        );
        assert_eq!(fs::read_to_string(&path).unwrap(), after);
        assert_eq!(
            std::os::unix::fs::MetadataExt::ino(&fs::metadata(&path).unwrap()),
            inode
        );
        // No temp file left behind.
        let names: Vec<String> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, vec!["known_hosts".to_string()]);
    }

    #[test]
    fn pin_replaces_its_own_older_lines_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kh");
        fs::write(&path, format!("a {ED2}\n")).unwrap();
        assert_eq!(
            pin(&path, "10.0.0.1", 2222, &[ED, RSA], MARK).unwrap(),
            PinOutcome::Added
        );
        fs::write(
            &path,
            fs::read_to_string(&path).unwrap() + &format!("z {ED}\n"),
        )
        .unwrap();
        // The instance was re-created: new id, new key; the older pins go, in place.
        assert_eq!(
            pin(
                &path,
                "10.0.0.1",
                2222,
                &[ED2],
                "k8s-hard:console i-0def cluster=foo"
            )
            .unwrap(),
            PinOutcome::Replaced
        );
        assert_eq!(
            fs::read_to_string(&path).unwrap(),
            format!(
                "a {ED2}\n\
                 [10.0.0.1]:2222 {ED2} k8s-hard:console i-0def cluster=foo\n\
                 z {ED}\n"
            )
        );
        // Another port of the same address is another host: untouched.
        assert_eq!(
            pin(&path, "10.0.0.1", 22, &[ED], MARK).unwrap(),
            PinOutcome::Added
        );
        assert_eq!(
            fs::read_to_string(&path).unwrap(),
            format!(
                "a {ED2}\n\
                 [10.0.0.1]:2222 {ED2} k8s-hard:console i-0def cluster=foo\n\
                 z {ED}\n\
                 10.0.0.1 {ED} k8s-hard:console i-0abc cluster=foo\n"
            )
        );
    }

    #[test]
    fn pin_refuses_a_foreign_key_for_the_host_and_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kh");
        // What `ssh -o StrictHostKeyChecking=accept-new` wrote, and another tool's pin.
        let before = format!("[10.0.0.1]:2222 {RSA}\n10.0.0.1 {ED2} other-tool:pin\n");
        fs::write(&path, &before).unwrap();
        match pin(&path, "10.0.0.1", 2222, &[ED], MARK) {
            Err(e @ Error::PinConflict { .. }) => {
                let Error::PinConflict {
                    host, offending, ..
                } = &e
                else {
                    unreachable!()
                };
                assert_eq!(host, "[10.0.0.1]:2222");
                assert_eq!(offending, &vec![format!("{RSA_FP} at line 1")]);
                assert!(
                    e.to_string()
                        .contains("ssh-keygen -R '[10.0.0.1]:2222' -f "),
                    "{e}"
                );
            }
            other => panic!("expected PinConflict, got {other:?}"),
        }
        match pin(&path, "10.0.0.1", 22, &[ED], MARK) {
            Err(Error::PinConflict { offending, .. }) => {
                assert_eq!(offending, vec![format!("{ED2_FP} at line 2")]);
            }
            other => panic!("expected PinConflict, got {other:?}"),
        }
        // A wildcard line is a recorded key too.
        let wild = format!("10.0.0.* {ED2}\n");
        fs::write(&path, &wild).unwrap();
        assert!(matches!(
            pin(&path, "10.0.0.7", 22, &[ED], MARK),
            Err(Error::PinConflict { .. })
        ));
        assert_eq!(fs::read_to_string(&path).unwrap(), wild);
        fs::write(&path, &before).unwrap();
        // The same key recorded by someone else is no conflict.
        assert_eq!(
            pin(&path, "10.0.0.1", 2222, &[RSA], MARK).unwrap(),
            PinOutcome::Added
        );
        assert_eq!(
            fs::read_to_string(&path).unwrap(),
            format!("{before}[10.0.0.1]:2222 {RSA} k8s-hard:console i-0abc cluster=foo\n")
        );
    }

    #[test]
    fn pin_refuses_a_revoked_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kh");
        let before = format!("# x\n@revoked * {ED}\n");
        fs::write(&path, &before).unwrap();
        match pin(&path, "10.0.0.1", 22, &[RSA, ED], MARK) {
            Err(Error::PinRevoked {
                host,
                fingerprint,
                line,
                ..
            }) => {
                assert_eq!(host, "10.0.0.1");
                assert_eq!(fingerprint, ED_FP);
                assert_eq!(line, 2);
            }
            other => panic!("expected PinRevoked, got {other:?}"),
        }
        assert_eq!(fs::read_to_string(&path).unwrap(), before);
    }

    #[test]
    fn pin_creates_the_file_and_folder_private() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("new/.ssh/known_hosts");
        assert_eq!(
            pin(&path, "node-1", 22, &[ED], "k8s-hard:console").unwrap(),
            PinOutcome::Added
        );
        assert_eq!(
            fs::read_to_string(&path).unwrap(),
            format!("node-1 {ED} k8s-hard:console\n")
        );
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(path.parent().unwrap()), 0o700);
    }

    #[test]
    fn pin_writes_through_a_symlink() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real_known_hosts");
        fs::write(&real, format!("a {ED2}\n")).unwrap();
        let link = dir.path().join("known_hosts");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        assert_eq!(pin(&link, "b", 22, &[ED], MARK).unwrap(), PinOutcome::Added);
        assert!(
            fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert_eq!(
            fs::read_to_string(&real).unwrap(),
            format!("a {ED2}\nb {ED} {MARK}\n")
        );
    }

    #[test]
    fn pin_rejects_what_it_cannot_write() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kh");
        for (host, keys, marker) in [
            ("", vec![ED], MARK),
            ("a b", vec![ED], MARK),
            ("a,b", vec![ED], MARK),
            ("*.example", vec![ED], MARK),
            ("|1|x", vec![ED], MARK),
            ("h", vec![], MARK),
            ("h", vec!["ssh-ed25519 not-base64!!"], MARK),
            ("h", vec![ED], ""),
            ("h", vec![ED], "  "),
            ("h", vec![ED], "k8s-hard\nh ssh-ed25519 x"),
        ] {
            assert!(
                matches!(
                    pin(&path, host, 22, &keys, marker),
                    Err(Error::InvalidPin { .. })
                ),
                "{host:?} {keys:?} {marker:?}"
            );
        }
        assert!(!path.exists());
    }

    #[test]
    fn append_adds_one_line_even_after_a_missing_newline() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/kh");
        let lock = lock(&path).unwrap();
        append(&path, b"", "[h]:2200", &key(ED)).unwrap();
        drop(lock);
        assert_eq!(
            fs::read_to_string(&path).unwrap(),
            format!("[h]:2200 {ED}\n")
        );
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(path.parent().unwrap()), 0o700);
        fs::write(&path, "x y").unwrap();
        append(&path, b"x y", "h", &key(RSA)).unwrap();
        assert_eq!(
            fs::read_to_string(&path).unwrap(),
            format!("x y\nh {RSA}\n")
        );
    }
}
