//! What an EC2 instance's console shows of its SSH host keys, made by the real script
//! cloud-init runs at first boot: `write-ssh-key-fingerprints` from Debian's `cloud-init`
//! package (`scripts/test` extracts it from the package, without installing cloud-init, and
//! exports its path as `K8S_HARD_CLOUD_INIT_SCRIPT`).
//!
//! The script reads `/etc/ssh/ssh_host_*key.pub` and logs the fingerprints with `logger -s`:
//! [`host_keys_console`] runs it in a mount namespace of its own, with the host's key folder
//! over `/etc/ssh` and a syslog socket at `/dev/log` (on a private tmpfs `/dev`), so its output
//! is byte for byte what an instance prints, syslog prefixes (`<14>Dec  4 18:35:26
//! cloud-init: …`) included. [`boot_console`] wraps it the way a console holds it: CRLF line
//! ends, kernel messages around it, one inside the key block.
//!
//! ```no_run
//! let text = k8s_hard_tests::cloud_init::host_keys_console(std::path::Path::new("/tmp/host"));
//! assert!(text.contains("-----BEGIN SSH HOST KEY KEYS-----"));
//! ```

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::require_tool;

/// The environment variable naming the extracted script.
pub const SCRIPT_ENV: &str = "K8S_HARD_CLOUD_INIT_SCRIPT";

/// The script's path, or a panic saying how to get it.
pub fn script() -> PathBuf {
    let path = std::env::var_os(SCRIPT_ENV)
        .map(PathBuf::from)
        .unwrap_or_default();
    assert!(
        path.is_file(),
        "{SCRIPT_ENV} does not name cloud-init's write-ssh-key-fingerprints ({}): run ./scripts/test, which extracts it from Debian's cloud-init package",
        path.display()
    );
    path
}

/// Runs in the namespace: the keys over /etc/ssh, a fresh /dev with the few devices
/// ssh-keygen needs and a syslog socket that swallows what `logger` sends (`-s` also
/// writes each message to stderr, which the script sends to stdout, as on a console).
const IN_NAMESPACE: &str = r#"set -e
mount --bind "$KEYS" /etc/ssh
mkdir -p "$WORK/dev"
mount --bind /dev "$WORK/dev"
mount -t tmpfs -o size=1m,mode=755 tmpfs /dev
for d in null zero random urandom; do touch "/dev/$d"; mount --bind "$WORK/dev/$d" "/dev/$d"; done
python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind("/dev/log")
sys.stdout.close()
while s.recv(65536): pass
' >/dev/null &
syslog=$!
i=0; while [ ! -S /dev/log ]; do i=$((i+1)); [ $i -lt 500 ] || exit 3; sleep 0.01; done
status=0; sh "$SCRIPT" "" "ssh-dss" || status=$?
kill $syslog
exit $status
"#;

/// What cloud-init's script prints for the host keys in `key_dir` (its
/// `ssh_host_*key.pub` files), with the default blocklists (`ssh-dss` keys not shown).
/// Panics when the script fails or prints no key block.
pub fn host_keys_console(key_dir: &Path) -> String {
    let script = script();
    let work = tempfile::Builder::new()
        .prefix("k8s-hard-cloud-init.")
        .tempdir()
        .expect("temp dir");
    let out = Command::new(require_tool("unshare"))
        .args([
            "--mount",
            "--propagation",
            "private",
            "sh",
            "-c",
            IN_NAMESPACE,
        ])
        .env("KEYS", key_dir)
        .env("WORK", work.path())
        .env("SCRIPT", &script)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success() && text.contains("-----END SSH HOST KEY KEYS-----"),
        "{} over {} failed ({}): {text}{}",
        script.display(),
        key_dir.display(),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

/// A console as EC2 returns it: `earlier` (an earlier boot's output, e.g. another
/// [`host_keys_console`]), the kernel's first lines, then `keys` with a kernel message
/// printed in the middle of its key block, then cloud-init's closing line; every line ended
/// by CRLF, as a serial console writes it.
pub fn boot_console(earlier: Option<&str>, keys: &str) -> String {
    let mut lines: Vec<String> = Vec::new();
    if let Some(earlier) = earlier {
        lines.extend(earlier.lines().map(str::to_string));
        lines.push("[   61.402117] reboot: Restarting system".into());
    }
    lines.push(
        "[    0.000000] Linux version 6.8.0-1015-aws (buildd@lcy02-amd64-046) #16-Ubuntu SMP"
            .into(),
    );
    lines.push("[    0.000000] Command line: BOOT_IMAGE=/vmlinuz-6.8.0-1015-aws root=PARTUUID=9a1f console=tty1 console=ttyS0 nvme_core.io_timeout=4294967295".into());
    let mut in_keys = 0;
    for line in keys.lines() {
        lines.push(line.to_string());
        if line.starts_with("-----BEGIN SSH HOST KEY KEYS-----") {
            in_keys = 1;
        } else if in_keys == 1 {
            // After the first key: the kernel writes to the same serial line.
            lines.push(
                "[   14.772301] systemd-journald[382]: Time jumped backwards, rotating.".into(),
            );
            in_keys = 2;
        }
    }
    lines.push("[   15.031457] cloud-init[1034]: Cloud-init v. 24.4.1-0ubuntu0~24.04.1 finished at Fri, 04 Dec 2026 18:35:27 +0000. Datasource DataSourceEc2Local.  Up 15.01 seconds".into());
    lines.iter().map(|l| format!("{l}\r\n")).collect()
}
