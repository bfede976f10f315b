//! The SSH host keys cloud-init prints to an instance's console at first boot, read back
//! with `GetConsoleOutput` (the account owner's authenticated API), so that the first SSH
//! connection to a new machine can be verified instead of trusted.

use std::time::{Duration, Instant};

use base64::Engine;
use serde::Serialize;

use crate::context::{Ctx, Kind, Progress};
use crate::error::{Result, aws};

const BEGIN: &str = "-----BEGIN SSH HOST KEY KEYS-----";
const END: &str = "-----END SSH HOST KEY KEYS-----";
const KEY_TYPES: &[&str] = &[
    "ssh-ed25519",
    "ssh-rsa",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
];

/// The host keys one instance printed to its console.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConsoleHostKeys {
    /// The node name (a key of [`InfraState::instances`](crate::InfraState::instances)).
    pub node: String,
    /// Its EC2 instance ID.
    pub instance_id: String,
    /// OpenSSH public key lines (`ssh-ed25519 AAAA…`), as cloud-init printed them (without
    /// their comment); empty while the console output does not show them (yet).
    pub keys: Vec<String>,
    /// Lines of the key block that were dropped: see [`ConsoleKeys::rejected`].
    pub rejected: Vec<String>,
}

/// What the key block of a console output holds ([`host_keys_from_console`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ConsoleKeys {
    /// OpenSSH public key lines (`type base64`), without their comments.
    pub keys: Vec<String>,
    /// Lines of the block that are neither a key nor console noise (a key whose data does not
    /// decode, or does not name its own type; any other text), dropped: a garbled serial line
    /// or a hostile node costs its own lines, not the others'. Escaped for display
    /// (control characters as `\u{1b}` …) and cut at 120 characters: this is the node's text.
    pub rejected: Vec<String>,
}

/// The host keys in a console output: the lines between `-----BEGIN SSH HOST KEY KEYS-----`
/// and `-----END SSH HOST KEY KEYS-----`, as cloud-init prints them at boot, of the last
/// complete block (a reboot prints them again). Prefixes (`ec2: `, syslog's `<14>Dec  4
/// 18:35:26 cloud-init: `), comments and CRLF line ends are dropped; so are kernel messages
/// (`[   14.77] …`) that the serial console interleaves, blank lines and key types other than
/// ed25519, RSA and ECDSA. A key is taken only when its base64 data decodes and starts with its
/// own type name, as every OpenSSH public key does; anything else is
/// [`ConsoleKeys::rejected`]. Empty when there is no complete block.
///
/// ```
/// let console = "ec2: boot\r\n-----BEGIN SSH HOST KEY KEYS-----\r\n\
///     ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGnNHZWf5ZmBgfYQkjJ0l3tv4Cc5ACAWhNfK5/QQvcWd root@ip-172-31-0-10\r\n\
///     [   14.772301] systemd-journald[382]: Time jumped backwards, rotating.\r\n\
///     ssh-ed25519 AAAA#garbled\r\n\
///     -----END SSH HOST KEY KEYS-----\r\n";
/// let found = k8s_aws_infra::host_keys_from_console(console);
/// assert_eq!(
///     found.keys,
///     ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGnNHZWf5ZmBgfYQkjJ0l3tv4Cc5ACAWhNfK5/QQvcWd"]
/// );
/// assert_eq!(found.rejected, ["ssh-ed25519 AAAA#garbled"]);
/// ```
pub fn host_keys_from_console(output: &str) -> ConsoleKeys {
    let mut found = ConsoleKeys::default();
    let Some(end) = output.rfind(END) else {
        return found;
    };
    let Some(begin) = output[..end].rfind(BEGIN) else {
        return found;
    };
    // Whole lines only: the rest of the BEGIN line and the prefix of the END line go.
    let block = &output[begin + BEGIN.len()..end];
    let block = block.rfind('\n').map_or("", |last| &block[..last]);
    for line in block.lines().skip(1) {
        match key_line(line) {
            Line::Key(key) => found.keys.push(key),
            Line::Noise => {}
            Line::Bad => found.rejected.push(for_display(line)),
        }
    }
    found
}

/// What one line of the key block is.
enum Line {
    Key(String),
    Noise,
    Bad,
}

/// Types cloud-init prints that are not pinned (DSA, security keys): skipped, not rejected.
const SKIPPED_TYPES: &[&str] = &[
    "ssh-dss",
    "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
];

fn key_line(line: &str) -> Line {
    let words: Vec<&str> = line.split_whitespace().collect();
    if let Some(at) = words.iter().position(|w| KEY_TYPES.contains(w)) {
        return match words.get(at + 1) {
            Some(body) if names_its_type(body, words[at]) => {
                Line::Key(format!("{} {body}", words[at]))
            }
            _ => Line::Bad,
        };
    }
    // The kernel's `[   14.772301] …` and syslog's `<14>Dec  4 …` share the serial line.
    let log = line.trim_start().starts_with('[') || is_syslog(line.trim_start());
    if words.is_empty() || log || words.iter().any(|w| SKIPPED_TYPES.contains(w)) {
        Line::Noise
    } else {
        Line::Bad
    }
}

/// Whether `line` starts with a syslog priority, `<14>`.
fn is_syslog(line: &str) -> bool {
    line.strip_prefix('<')
        .and_then(|rest| rest.split_once('>'))
        .is_some_and(|(n, _)| {
            !n.is_empty() && n.len() <= 3 && n.bytes().all(|b| b.is_ascii_digit())
        })
}

/// Whether `body` is base64 whose first field (a u32 length, then that many bytes) is `ty`.
fn names_its_type(body: &str, ty: &str) -> bool {
    let Ok(blob) = base64::engine::general_purpose::STANDARD.decode(body) else {
        return false;
    };
    let Some((len, rest)) = blob.split_first_chunk::<4>() else {
        return false;
    };
    let len = u32::from_be_bytes(*len) as usize;
    rest.get(..len) == Some(ty.as_bytes()) && rest.len() > len
}

/// A node's text made safe to show: control characters escaped, at most 120 characters.
fn for_display(line: &str) -> String {
    let escaped: String = line.trim_end().escape_debug().collect();
    match escaped.char_indices().nth(120) {
        Some((cut, _)) => format!("{}…", &escaped[..cut]),
        None => escaped,
    }
}

/// The console output of instance `id`, decoded; empty when AWS has none yet. The latest
/// output where the instance type offers it (Nitro), else the buffered one AWS posts shortly
/// after boot (Xen types such as the tutorial's t2.micro).
async fn console_output(ctx: &Ctx<'_>, id: &str) -> Result<String> {
    let names = [(Kind::Instance, id)];
    let get = |latest: bool| {
        ctx.follow_up(&names, move || async move {
            ctx.ec2
                .get_console_output()
                .instance_id(id)
                .set_latest(latest.then_some(true))
                .send()
                .await
                .map_err(aws(format!("{} {id}", Kind::Instance), "GetConsoleOutput"))
        })
    };
    let out = match get(true).await {
        Err(e)
            if e.aws_code().is_some_and(|c| {
                c.starts_with("Unsupported") || c.starts_with("InvalidParameter")
            }) =>
        {
            get(false).await?
        }
        r => r?,
    };
    let text = out
        .output()
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    Ok(text)
}

/// Reads the host keys of `nodes` from their consoles, polling those that show none yet
/// (growing pauses up to five times [`Timeouts::poll`](crate::Timeouts::poll)) until all do
/// or `bound` passes; returns what it found.
pub(crate) async fn host_keys(
    ctx: &Ctx<'_>,
    nodes: &[(String, String)],
    bound: Duration,
) -> Result<Vec<ConsoleHostKeys>> {
    let what = "host keys in the console output";
    let start = Instant::now();
    let mut found: Vec<ConsoleHostKeys> = nodes
        .iter()
        .map(|(node, id)| ConsoleHostKeys {
            node: node.clone(),
            instance_id: id.clone(),
            keys: Vec::new(),
            rejected: Vec::new(),
        })
        .collect();
    let mut pause = Duration::from_millis(100).min(ctx.timeouts.poll);
    loop {
        for entry in found.iter_mut().filter(|f| f.keys.is_empty()) {
            let console = host_keys_from_console(&console_output(ctx, &entry.instance_id).await?);
            entry.keys = console.keys;
            entry.rejected = console.rejected;
        }
        let ready = found.iter().filter(|f| !f.keys.is_empty()).count();
        ctx.emit(Progress::Waiting {
            what: what.to_string(),
            ready,
            total: found.len(),
            elapsed_secs: start.elapsed().as_secs(),
        });
        if ready == found.len() || start.elapsed() >= bound {
            return Ok(found);
        }
        tokio::time::sleep(pause.min(bound.saturating_sub(start.elapsed()))).await;
        pause = pause.mul_f64(1.5).min(ctx.timeouts.poll * 5);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ED25519: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGnNHZWf5ZmBgfYQkjJ0l3tv4Cc5ACAWhNfK5/QQvcWd";
    const ECDSA: &str = "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBDXVK0pjneiyDUB2ba6nMdTTvNmvj5E702YURHuM3LY3HaBfvoYRtgeFL1Q4iWzX3PZXSN34y6gGmtPPyYOW7dU=";

    /// What cloud-init 22.4's write-ssh-key-fingerprints prints (syslog-prefixed
    /// fingerprints, then the keys), as a serial console holds it: CRLF line ends.
    fn ubuntu() -> String {
        format!(
            "[   12.3] cloud-init[845]: Cloud-init v. 24.1 running 'modules:final'\r\n\
             <14>Dec  4 18:35:26 cloud-init: #############################################################\r\n\
             <14>Dec  4 18:35:26 cloud-init: -----BEGIN SSH HOST KEY FINGERPRINTS-----\r\n\
             <14>Dec  4 18:35:27 cloud-init: 256 SHA256:cqgvwgPB+VD48M2/yiOz3tMRT4CXULlwvBOdO6AKFN4 root@vm (ECDSA)\r\n\
             <14>Dec  4 18:35:27 cloud-init: -----END SSH HOST KEY FINGERPRINTS-----\r\n\
             {BEGIN}\r\n{ECDSA} root@ip-172-31-0-10\r\n{ED25519} root@ip-172-31-0-10\r\n{END}\r\n"
        )
    }

    #[test]
    fn keys_come_from_the_keys_block_without_comments() {
        let found = host_keys_from_console(&ubuntu());
        assert_eq!(found.keys, [ECDSA, ED25519]);
        assert!(found.rejected.is_empty(), "{found:?}");
    }

    #[test]
    fn prefixed_lines_and_the_last_block_count() {
        let rebooted = format!(
            "{}\n[  3.1] cloud-init[1]: {BEGIN}\nec2: {ED25519} root@x\n[  3.2] cloud-init[1]: {END}\n",
            ubuntu()
        );
        let found = host_keys_from_console(&rebooted);
        assert_eq!(found.keys, [ED25519]);
        assert!(found.rejected.is_empty(), "{found:?}");
    }

    #[test]
    fn kernel_lines_are_noise_and_garbled_keys_are_rejected_alone() {
        let console = format!(
            "{BEGIN}\r\n{ECDSA} a\r\n[   14.772301] systemd-journald[382]: Time jumped backwards\r\n\
             ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGnNH#\x1b[31m\r\n\
             ssh-rsa AAAAC3NzaC1lZDI1NTE5AAAAIGnNHZWf5ZmBgfYQkjJ0l3tv4Cc5ACAWhNfK5/QQvcWd\r\n\
             ssh-dss AAAAB3NzaC1kc3M x\r\n\
             garbage\u{7}\r\n\r\n{ED25519}\r\n{END}\r\n"
        );
        let found = host_keys_from_console(&console);
        assert_eq!(found.keys, [ECDSA, ED25519]);
        assert_eq!(
            found.rejected,
            [
                "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGnNH#\\u{1b}[31m",
                // An ed25519 key's data under another type's name.
                "ssh-rsa AAAAC3NzaC1lZDI1NTE5AAAAIGnNHZWf5ZmBgfYQkjJ0l3tv4Cc5ACAWhNfK5/QQvcWd",
                "garbage\\u{7}",
            ]
        );
        let long = format!("{BEGIN}\n{}\n{END}\n", "x".repeat(500));
        assert_eq!(
            host_keys_from_console(&long).rejected,
            [format!("{}…", "x".repeat(120))]
        );
    }

    #[test]
    fn no_complete_block_means_no_keys() {
        assert_eq!(host_keys_from_console(""), ConsoleKeys::default());
        assert_eq!(
            host_keys_from_console("booting...\n"),
            ConsoleKeys::default()
        );
        // Still being printed: the end marker has not come yet.
        let printing = format!("{BEGIN}\n{ED25519} x\n");
        assert_eq!(host_keys_from_console(&printing), ConsoleKeys::default());
        // Fingerprints only (cloud-init told not to print keys): nothing to pin.
        let console = ubuntu();
        let fingerprints_only = console.split(BEGIN).next().unwrap_or_default();
        assert_eq!(
            host_keys_from_console(fingerprints_only),
            ConsoleKeys::default()
        );
        // A type we do not pin is skipped, not guessed, and not an error.
        let dss = format!("{BEGIN}\nssh-dss AAAAB3NzaC1kc3M x\n{END}\n");
        assert_eq!(host_keys_from_console(&dss), ConsoleKeys::default());
    }
}
