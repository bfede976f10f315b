//! The upload protocol for one node, and the shell steps it runs there.
//!
//! 1. `check`: one command prints the sha256 and mode of every manifest file already present
//!    (and removes temp files an interrupted earlier run left behind).
//! 2. `upload`: files that are missing or differ go through one SCP sink, each under a temp
//!    name `.<name>.k8s-hard-tmp.<nonce>` in the target folder, created 0600.
//! 3. `finalize`: one command checks each temp file's sha256 against the local one; a match is
//!    given its mode and renamed over the final name (`mv`, atomic in one folder), a mismatch is
//!    removed. So the final name only ever holds a complete, verified file.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::error::Error;
use crate::session::{Ack, Session};

/// What happened to one file on one node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "status", content = "reason")]
pub enum FileStatus {
    /// Sent, verified with sha256 on the node and renamed into place.
    Sent,
    /// Already there with the same sha256 and mode: nothing sent.
    Unchanged,
    /// Already there with the same sha256; only its mode was corrected.
    ModeFixed,
    /// Not in place (the previous file, if any, is untouched); the reason says why.
    Failed(String),
    /// Check only ([`UploadOptions::check_only`](crate::UploadOptions::check_only)): an upload
    /// would send it, for the reason given.
    WouldSend(SendReason),
    /// Check only: the file is right but its mode is not; an upload would fix the mode.
    WouldFixMode,
}

/// Why a check-only upload would send a file ([`FileStatus::WouldSend`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SendReason {
    /// The node has no such file.
    Missing,
    /// The node's file is not the local one (its sha256 differs).
    Differs,
}

impl std::fmt::Display for SendReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SendReason::Missing => "missing on the node",
            SendReason::Differs => "differs from the local file",
        })
    }
}

impl FileStatus {
    /// True when the file is in place with the right content and mode after this run.
    pub fn is_in_place(&self) -> bool {
        matches!(
            self,
            FileStatus::Sent | FileStatus::Unchanged | FileStatus::ModeFixed
        )
    }
}

/// A local file read into memory, with its digest.
#[derive(Debug)]
pub(crate) struct Loaded {
    pub(crate) data: Vec<u8>,
    pub(crate) sha256: String,
}

impl Loaded {
    pub(crate) fn new(data: Vec<u8>) -> Self {
        let sha256 = hex(&Sha256::digest(&data));
        Loaded { data, sha256 }
    }
}

/// One file of one node, ready to go.
pub(crate) struct Planned<'a> {
    pub(crate) name: &'a str,
    pub(crate) mode: u32,
    pub(crate) content: &'a Loaded,
}

fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// Quotes `s` for a POSIX shell: `'…'` with embedded quotes as `'\''`.
pub(crate) fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// A temp name unique to this process and call, hidden, recognisable for clean-up.
fn temp_name(name: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(".{name}.k8s-hard-tmp.{}-{nanos:x}-{n}", std::process::id())
}

fn cd(dir: &str) -> String {
    let d = sh_quote(dir);
    format!("mkdir -p -- {d} && cd -- {d} || exit 3\n")
}

/// The `check` step: every present file's sha256 (one `sha256sum` for all), a `--` line, then
/// their modes (one `stat`). Unless `read_only`, it also creates the folder and removes temp
/// files an interrupted earlier run left behind; read-only, a missing folder means no files.
pub(crate) fn render_check(dir: &str, names: &[&str], read_only: bool) -> String {
    let quoted: Vec<String> = names.iter().map(|n| sh_quote(n)).collect();
    let stale: Vec<String> = names
        .iter()
        .map(|n| format!("{}*", sh_quote(&format!(".{n}.k8s-hard-tmp."))))
        .collect();
    let q = quoted.join(" ");
    let prelude = if read_only {
        format!(
            "cd -- {} 2>/dev/null || {{ echo --; exit 0; }}\n",
            sh_quote(dir)
        )
    } else {
        format!("{}rm -f -- {}\n", cd(dir), stale.join(" "))
    };
    format!(
        "{prelude}sha256sum -- {q} 2>/dev/null\necho --\nstat -c '%a %n' -- {q} 2>/dev/null\nexit 0\n"
    )
}

/// What the `check` step found for one file.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Present {
    Absent,
    Found { sha256: String, mode: u32 },
}

/// Reads the `check` output for `names` (names have no backslash or control character, so
/// `sha256sum` prints them as they are).
pub(crate) fn parse_check(out: &str, names: &[&str]) -> Result<Vec<Present>, String> {
    let (sums, modes) = out
        .split_once("\n--\n")
        .or_else(|| out.strip_prefix("--\n").map(|m| ("", m)))
        .ok_or("no separator line in the output")?;
    let mut hashes = std::collections::HashMap::new();
    for line in sums.lines() {
        // `<64 hex>  <name>` (or ` *<name>` in binary mode)
        if let (Some(h), Some(rest)) = (line.get(..64), line.get(66..)) {
            hashes.insert(rest, h);
        }
    }
    let mut perms = std::collections::HashMap::new();
    for line in modes.lines() {
        if let Some((m, name)) = line.split_once(' ') {
            perms.insert(name, u32::from_str_radix(m, 8).unwrap_or(u32::MAX));
        }
    }
    Ok(names
        .iter()
        .map(|n| match hashes.get(n) {
            Some(h) => Present::Found {
                sha256: h.to_string(),
                mode: perms.get(n).copied().unwrap_or(u32::MAX),
            },
            None => Present::Absent,
        })
        .collect())
}

/// One action of the `finalize` step.
pub(crate) enum Finalize<'a> {
    /// Verify `temp` against `sha256`; on a match set `mode` and rename it to `name`.
    Install {
        temp: &'a str,
        name: &'a str,
        sha256: &'a str,
        mode: u32,
    },
    /// Only set the mode of `name`.
    Chmod { name: &'a str, mode: u32 },
    /// Remove `temp` (its transfer failed).
    Remove { temp: &'a str },
}

/// The `finalize` step: one line `<index> <word>` per Install/Chmod action, word one of
/// `ok`, `mismatch`, `failed`. One `sha256sum` for all temp files; the comparison is the
/// shell's own `case`, so a node costs a handful of processes, not a few per file.
pub(crate) fn render_finalize(dir: &str, actions: &[Finalize<'_>]) -> String {
    let temps: Vec<String> = actions
        .iter()
        .filter_map(|a| match a {
            Finalize::Install { temp, .. } => Some(sh_quote(temp)),
            _ => None,
        })
        .collect();
    let mut s = cd(dir);
    if !temps.is_empty() {
        let _ = write!(
            s,
            "sums=\"\n$(sha256sum -- {} 2>/dev/null)\n\"\n\
             verified() {{ case \"$sums\" in *\"\n$1  $2\n\"*) return 0;; esac; return 1; }}\n",
            temps.join(" ")
        );
    }
    for (i, a) in actions.iter().enumerate() {
        match a {
            Finalize::Install {
                temp,
                name,
                sha256,
                mode,
            } => {
                let (t, n) = (sh_quote(temp), sh_quote(name));
                let _ = writeln!(
                    s,
                    "if verified {h} {t}; then \
                     if chmod {mode:o} -- {t} && mv -f -- {t} {n}; then echo '{i} ok'; \
                     else rm -f -- {t}; echo '{i} failed'; fi; \
                     else rm -f -- {t}; echo '{i} mismatch'; fi",
                    h = sh_quote(sha256)
                );
            }
            Finalize::Chmod { name, mode } => {
                let _ = writeln!(
                    s,
                    "if chmod {mode:o} -- {n}; then echo '{i} ok'; else echo '{i} failed'; fi",
                    n = sh_quote(name)
                );
            }
            Finalize::Remove { temp } => {
                let _ = writeln!(s, "rm -f -- {}", sh_quote(temp));
            }
        }
    }
    s
}

/// Reads the `finalize` output: the word for each action index that printed one.
pub(crate) fn parse_finalize(out: &str, count: usize) -> Vec<Option<String>> {
    let mut words = vec![None; count];
    for line in out.lines() {
        let mut parts = line.split_whitespace();
        if let (Some(i), Some(w)) = (parts.next(), parts.next())
            && let Ok(i) = i.parse::<usize>()
            && let Some(slot) = words.get_mut(i)
        {
            *slot = Some(w.to_string());
        }
    }
    words
}

/// Runs check, upload and finalize for one node (only check when `check_only`); `on_file`
/// hears each file's final status. Fills the status of every file, in order. An `Err` means
/// the node failed as a whole (files not yet decided are then reported failed by the caller).
pub(crate) async fn upload_node(
    session: &Session,
    dir: &str,
    files: &[Planned<'_>],
    check_only: bool,
    statuses: &mut [Option<FileStatus>],
    on_file: &(dyn Fn(&str, &FileStatus) + Sync),
) -> Result<(), Error> {
    let names: Vec<&str> = files.iter().map(|f| f.name).collect();
    let check = session
        .exec_ok("check", &render_check(dir, &names, check_only))
        .await?;
    let present = parse_check(&check, &names).map_err(|r| session.remote_err("check", r))?;

    // Decide per file: unchanged, chmod only, or send.
    let mut to_send = Vec::new();
    let mut chmod = Vec::new();
    for (i, (f, p)) in files.iter().zip(&present).enumerate() {
        match p {
            Present::Found { sha256, mode } if *sha256 == f.content.sha256 => {
                if *mode == f.mode {
                    statuses[i] = Some(FileStatus::Unchanged);
                    on_file(f.name, &FileStatus::Unchanged);
                } else {
                    chmod.push(i);
                }
            }
            _ => to_send.push(i),
        }
    }
    if check_only {
        for &i in &to_send {
            let why = match &present[i] {
                Present::Absent => SendReason::Missing,
                Present::Found { .. } => SendReason::Differs,
            };
            let status = FileStatus::WouldSend(why);
            on_file(files[i].name, &status);
            statuses[i] = Some(status);
        }
        for &i in &chmod {
            on_file(files[i].name, &FileStatus::WouldFixMode);
            statuses[i] = Some(FileStatus::WouldFixMode);
        }
        return Ok(());
    }
    if to_send.is_empty() && chmod.is_empty() {
        return Ok(());
    }

    // Upload under temp names; remember which made it.
    let temps: Vec<String> = files.iter().map(|f| temp_name(f.name)).collect();
    let mut transferred = Vec::new();
    let mut failed_transfer = Vec::new();
    if !to_send.is_empty() {
        let upload = async {
            let mut sink = session.scp_sink(dir).await?;
            let mut fatal: Option<String> = None;
            for &i in &to_send {
                if let Some(reason) = &fatal {
                    failed_transfer.push((i, reason.clone()));
                    continue;
                }
                // Created 0600 whatever the final mode: a key is never readable in transit.
                match sink.send(&temps[i], 0o600, &files[i].content.data).await? {
                    Ack::Ok => transferred.push(i),
                    Ack::Warning(m) => failed_transfer.push((i, format!("scp: {m}"))),
                    Ack::Fatal(m) => {
                        failed_transfer.push((i, format!("scp: {m}")));
                        fatal = Some(format!("scp gave up: {m}"));
                    }
                }
            }
            sink.finish().await
        };
        let result = tokio::time::timeout(session_timeout(session), upload).await;
        match result {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                best_effort_remove(session, dir, &temps).await;
                return Err(e);
            }
            Err(_) => {
                best_effort_remove(session, dir, &temps).await;
                return Err(session.timeout_err("upload"));
            }
        }
    }

    // Verify, set modes, rename; remove the temp files of failed transfers.
    let mut actions = Vec::new();
    let mut action_file = Vec::new();
    for &i in &transferred {
        actions.push(Finalize::Install {
            temp: &temps[i],
            name: files[i].name,
            sha256: &files[i].content.sha256,
            mode: files[i].mode,
        });
        action_file.push(i);
    }
    for &i in &chmod {
        actions.push(Finalize::Chmod {
            name: files[i].name,
            mode: files[i].mode,
        });
        action_file.push(i);
    }
    for (i, _) in &failed_transfer {
        actions.push(Finalize::Remove { temp: &temps[*i] });
    }
    let out = session
        .exec_ok("finalize", &render_finalize(dir, &actions))
        .await?;
    let words = parse_finalize(&out, action_file.len());
    for (k, &i) in action_file.iter().enumerate() {
        let is_chmod = k >= transferred.len();
        let status = match (words[k].as_deref(), is_chmod) {
            (Some("ok"), false) => FileStatus::Sent,
            (Some("ok"), true) => FileStatus::ModeFixed,
            (Some("mismatch"), _) => FileStatus::Failed(
                "sha256 on the node differs from the local file: removed, not installed".into(),
            ),
            (Some("failed"), false) => {
                FileStatus::Failed("verified but chmod or rename failed: removed".into())
            }
            (Some("failed"), true) => FileStatus::Failed("chmod failed".into()),
            _ => FileStatus::Failed("no answer from the finalize step".into()),
        };
        on_file(files[i].name, &status);
        statuses[i] = Some(status);
    }
    for (i, reason) in failed_transfer {
        let status = FileStatus::Failed(reason);
        on_file(files[i].name, &status);
        statuses[i] = Some(status);
    }
    Ok(())
}

fn session_timeout(session: &Session) -> std::time::Duration {
    session.command_timeout()
}

/// After a broken upload: try to remove our temp files; the next run's check step removes
/// whatever this cannot.
async fn best_effort_remove(session: &Session, dir: &str, temps: &[String]) {
    let actions: Vec<Finalize<'_>> = temps.iter().map(|t| Finalize::Remove { temp: t }).collect();
    let _ = session
        .exec("cleanup", &render_finalize(dir, &actions))
        .await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    fn sh(dir: &std::path::Path, script: &str) -> String {
        let out = Command::new("sh")
            .arg("-c")
            .arg(script)
            .current_dir(dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    #[test]
    fn quoting_survives_the_shell() {
        let tmp = tempfile::tempdir().unwrap();
        let odd = "it's $(x) `y` \"z\"";
        assert_eq!(sh(tmp.path(), &format!("printf %s {}", sh_quote(odd))), odd);
    }

    #[test]
    fn check_reports_hash_mode_and_absence_and_cleans_stale_temps() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        std::fs::write(d.join("a.pem"), b"hello").unwrap();
        std::fs::set_permissions(d.join("a.pem"), std::fs::Permissions::from_mode(0o644)).unwrap();
        std::fs::write(d.join(".a.pem.k8s-hard-tmp.1-2-3"), b"half").unwrap();
        // Read-only first: reports the same, touches nothing.
        let read_only = sh(d, &render_check(".", &["a.pem", "b.pem"], true));
        assert!(d.join(".a.pem.k8s-hard-tmp.1-2-3").exists());
        let out = sh(d, &render_check(".", &["a.pem", "b.pem"], false));
        assert_eq!(read_only, out);
        let parsed = parse_check(&out, &["a.pem", "b.pem"]).unwrap();
        assert_eq!(
            parsed,
            [
                Present::Found {
                    sha256: Loaded::new(b"hello".to_vec()).sha256,
                    mode: 0o644
                },
                Present::Absent
            ]
        );
        assert!(!d.join(".a.pem.k8s-hard-tmp.1-2-3").exists());
        assert!(parse_check("garbage", &["a.pem"]).is_err());
        // A folder that does not exist: read-only says "no files" and creates nothing.
        let none = sh(d, &render_check("nowhere", &["a.pem"], true));
        assert_eq!(parse_check(&none, &["a.pem"]).unwrap(), [Present::Absent]);
        assert!(!d.join("nowhere").exists());
    }

    /// The rename-after-verify logic against a real shell: a temp whose content does not match
    /// is removed and the final name keeps its old content; a matching one replaces it.
    #[test]
    fn finalize_installs_only_verified_files() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        std::fs::write(d.join("good.tmp"), b"good").unwrap();
        std::fs::write(d.join("bad.tmp"), b"corrupted").unwrap();
        std::fs::write(d.join("bad.pem"), b"old").unwrap();
        std::fs::write(d.join("lost.tmp"), b"partial").unwrap();
        std::fs::write(d.join("keep.pem"), b"k").unwrap();
        let good = Loaded::new(b"good".to_vec());
        let bad = Loaded::new(b"expected".to_vec());
        let actions = [
            Finalize::Install {
                temp: "good.tmp",
                name: "good-key.pem",
                sha256: &good.sha256,
                mode: 0o600,
            },
            Finalize::Install {
                temp: "bad.tmp",
                name: "bad.pem",
                sha256: &bad.sha256,
                mode: 0o644,
            },
            Finalize::Chmod {
                name: "keep.pem",
                mode: 0o640,
            },
            Finalize::Remove { temp: "lost.tmp" },
        ];
        let out = sh(d, &render_finalize(".", &actions));
        let words = parse_finalize(&out, 3);
        assert_eq!(
            words,
            [
                Some("ok".into()),
                Some("mismatch".into()),
                Some("ok".into())
            ]
        );
        assert_eq!(std::fs::read(d.join("good-key.pem")).unwrap(), b"good");
        let mode = |p: &str| std::fs::metadata(d.join(p)).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode("good-key.pem"), 0o600);
        assert_eq!(mode("keep.pem"), 0o640);
        assert_eq!(std::fs::read(d.join("bad.pem")).unwrap(), b"old");
        for gone in ["good.tmp", "bad.tmp", "lost.tmp"] {
            assert!(!d.join(gone).exists(), "{gone}");
        }
    }

    #[test]
    fn temp_names_are_hidden_unique_and_match_the_cleanup_glob() {
        let a = temp_name("ca.pem");
        let b = temp_name("ca.pem");
        assert_ne!(a, b);
        assert!(a.starts_with(".ca.pem.k8s-hard-tmp."));
    }
}
