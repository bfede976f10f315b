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
}

/// The host keys in a console output: the lines between `-----BEGIN SSH HOST KEY KEYS-----`
/// and `-----END SSH HOST KEY KEYS-----`, as cloud-init prints them at boot, of the last
/// complete block (a reboot prints them again). Prefixes (`ec2: `, kernel timestamps) and
/// comments are dropped; key types other than ed25519, RSA and ECDSA are ignored. Empty when
/// there is no complete block.
///
/// ```
/// let console = "ec2: boot\n-----BEGIN SSH HOST KEY KEYS-----\n\
///     ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIN root@ip-172-31-0-10\n\
///     -----END SSH HOST KEY KEYS-----\n";
/// assert_eq!(
///     k8s_aws_infra::host_keys_from_console(console),
///     ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIN"]
/// );
/// ```
pub fn host_keys_from_console(output: &str) -> Vec<String> {
    let Some(end) = output.rfind(END) else {
        return Vec::new();
    };
    let Some(begin) = output[..end].rfind(BEGIN) else {
        return Vec::new();
    };
    output[begin + BEGIN.len()..end]
        .lines()
        .filter_map(|line| {
            let words: Vec<&str> = line.split_whitespace().collect();
            let at = words.iter().position(|w| KEY_TYPES.contains(w))?;
            let body = words.get(at + 1)?;
            Some(format!("{} {body}", words[at]))
        })
        .collect()
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
        })
        .collect();
    let mut pause = Duration::from_millis(100).min(ctx.timeouts.poll);
    loop {
        for entry in found.iter_mut().filter(|f| f.keys.is_empty()) {
            entry.keys = host_keys_from_console(&console_output(ctx, &entry.instance_id).await?);
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

    /// What cloud-init prints on Ubuntu (keys shortened), after its fingerprints block.
    const UBUNTU: &str = "\
[   12.3] cloud-init[845]: Cloud-init v. 24.1 running 'modules:final'
ec2: #############################################################
ec2: -----BEGIN SSH HOST KEY FINGERPRINTS-----
ec2: 256 SHA256:abc root@ip-172-31-0-10 (ECDSA)
ec2: 256 SHA256:def root@ip-172-31-0-10 (ED25519)
ec2: -----END SSH HOST KEY FINGERPRINTS-----
ec2: #############################################################
-----BEGIN SSH HOST KEY KEYS-----\r
ecdsa-sha2-nistp256 AAAAE2VjZHNh root@ip-172-31-0-10\r
ssh-ed25519 AAAAC3NzaC1lZDI1 root@ip-172-31-0-10\r
-----END SSH HOST KEY KEYS-----\r
";

    #[test]
    fn keys_come_from_the_keys_block_without_comments() {
        assert_eq!(
            host_keys_from_console(UBUNTU),
            [
                "ecdsa-sha2-nistp256 AAAAE2VjZHNh",
                "ssh-ed25519 AAAAC3NzaC1lZDI1"
            ]
        );
    }

    #[test]
    fn prefixed_lines_and_the_last_block_count() {
        let rebooted = format!(
            "{UBUNTU}\n[  3.1] cloud-init[1]: {BEGIN}\n[  3.1] cloud-init[1]: ssh-rsa AAAAB3Nza root@x\n[  3.2] cloud-init[1]: {END}\n"
        );
        assert_eq!(host_keys_from_console(&rebooted), ["ssh-rsa AAAAB3Nza"]);
    }

    #[test]
    fn no_complete_block_means_no_keys() {
        assert!(host_keys_from_console("").is_empty());
        assert!(host_keys_from_console("booting...\n").is_empty());
        // Still being printed: the end marker has not come yet.
        assert!(host_keys_from_console(&format!("{BEGIN}\nssh-ed25519 AAAA x\n")).is_empty());
        // Fingerprints only (cloud-init told not to print keys): nothing to pin.
        let fingerprints_only = UBUNTU.split(BEGIN).next().unwrap_or_default();
        assert!(host_keys_from_console(fingerprints_only).is_empty());
        // A type we do not know is skipped, not guessed.
        let dss = format!("{BEGIN}\nssh-dss AAAAB3NzaC1kc3M x\n{END}\n");
        assert!(host_keys_from_console(&dss).is_empty());
    }
}
