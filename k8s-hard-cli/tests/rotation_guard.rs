//! Key rotation that cannot lose data, on six real sshd hosts (masters on 127.0.0.10-12):
//! `encryption-config promote` and `prune` look at every master's copy first and refuse,
//! naming the masters that lag and what they hold, unless each holds the local file as it is;
//! `--force` skips the look; `prune` asks (`--yes`) and keeps the key it removes in
//! `encryption-keys.retired.yaml` (0600). The local file is judged by `sha256sum`, the YAML by
//! PyYAML, modes by `stat`: not by our own parser.

mod common;

use std::path::{Path, PathBuf};

use common::{aescbc_keys, init_on_hosts, k8s_hard};
use k8s_hard_tests::run_tool;
use k8s_hard_tests::sshd::{SIX, SshdHosts};
use predicates::prelude::*;
use serde_json::{Value, json};

const MASTER: &str = "k8s-cluster-from-ground-up-master";

/// A cluster on the six hosts, its files made and distributed once (host keys recorded in a
/// known_hosts of its own with `--accept-new`, as for machines that are not ours).
struct Lab {
    hosts: SshdHosts,
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    known_hosts: PathBuf,
}

impl Lab {
    fn start() -> Self {
        let hosts = SshdHosts::start(&SIX);
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("lab");
        init_on_hosts(
            &dir,
            &["--api-endpoint", "k8s-api.example.com"],
            &hosts,
            |i| hosts.hosts()[i].address().to_string(),
            &[("key_algorithm: rsa-2048", "key_algorithm: ecdsa-p256")],
        );
        k8s_hard(&dir).arg("bundle").assert().success();
        let known_hosts = tmp.path().join("known_hosts");
        let lab = Lab {
            hosts,
            _tmp: tmp,
            dir,
            known_hosts,
        };
        lab.with_ssh(&["distribute", "--accept-new"])
            .assert()
            .success();
        lab
    }

    /// `k8s-hard ARGS` with the harness's key and this lab's known_hosts.
    fn with_ssh(&self, args: &[&str]) -> assert_cmd::Command {
        let mut cmd = k8s_hard(&self.dir);
        cmd.args(args)
            .arg("--identity")
            .arg(self.hosts.client_rsa_key())
            .arg("--known-hosts")
            .arg(&self.known_hosts);
        cmd
    }

    /// `encryption-config ARGS` (with SSH), stdin not a terminal.
    fn stage(&self, args: &[&str]) -> assert_cmd::Command {
        let mut all = vec!["encryption-config"];
        all.extend_from_slice(args);
        let mut cmd = self.with_ssh(&all);
        cmd.write_stdin("");
        cmd
    }

    /// `encryption-config rotate` (it changes no key that is in use: no check).
    fn rotate(&self) {
        k8s_hard(&self.dir)
            .args(["encryption-config", "rotate"])
            .assert()
            .success();
    }

    /// `distribute` with master `i` down: every other node gets the current files.
    fn distribute_without(&mut self, i: usize) {
        self.hosts.host_mut(i).stop();
        self.with_ssh(&["distribute"])
            .assert()
            .code(1)
            .stderr(predicate::str::contains(format!("{MASTER}-{i}")));
        self.hosts.host_mut(i).start();
    }

    fn config(&self) -> PathBuf {
        self.dir.join("encryption-config.yaml")
    }

    fn retired(&self) -> PathBuf {
        self.dir.join("encryption-keys.retired.yaml")
    }

    /// What master `i` holds as encryption-config.yaml, by sha256sum.
    fn on_master(&self, i: usize) -> String {
        sha256(&self.hosts.hosts()[i].home().join("encryption-config.yaml"))
    }
}

fn sha256(path: &Path) -> String {
    run_tool("sha256sum", [path]).unwrap()[..64].to_string()
}

/// The file read by PyYAML, as JSON (a timestamp, which YAML 1.1 types, as Python prints it).
fn pyyaml(path: &Path) -> Value {
    let out = run_tool(
        "python3",
        [
            "-c".as_ref(),
            "import json, sys, yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1])), default=str))".as_ref(),
            path.as_os_str(),
        ],
    )
    .unwrap_or_else(|e| panic!("PyYAML cannot read {}: {e}", path.display()));
    serde_json::from_str(&out).unwrap()
}

/// The aescbc keys of an encryption config, as PyYAML reads them: (name, secret), in order.
fn keys(path: &Path) -> Vec<(String, String)> {
    aescbc_keys(&pyyaml(path))
}

fn names(path: &Path) -> Vec<String> {
    keys(path).into_iter().map(|(n, _)| n).collect()
}

fn mode(path: &Path) -> String {
    run_tool("stat", ["-c".as_ref(), "%a".as_ref(), path.as_os_str()])
        .unwrap()
        .trim()
        .to_string()
}

fn stderr_of(out: &assert_cmd::assert::Assert) -> String {
    String::from_utf8_lossy(&out.get_output().stderr).into_owned()
}

#[test]
#[ignore = "needs sshd (root), ssh-keygen and PyYAML: run scripts/test"]
fn promote_before_every_master_has_the_rotate_stage_is_refused_and_force_overrides() {
    let mut lab = Lab::start();
    let before_rotation = lab.on_master(0);
    lab.rotate();
    let rotated = sha256(&lab.config());
    assert_eq!(names(&lab.config()), ["key1", "key2"]);

    // Not distributed yet: every master still has key1 alone.
    let out = lab.stage(&["promote"]).assert().code(1);
    let err = stderr_of(&out);
    assert!(
        err.contains("refusing to promote: 3 of 3 masters do not hold"),
        "{err}"
    );
    for i in 0..3 {
        assert!(
            err.contains(&format!("{MASTER}-{i}: another file: one key (key1)")),
            "{err}"
        );
    }
    assert!(
        err.contains("k8s-hard distribute") && err.contains("--force"),
        "{err}"
    );
    assert_eq!(sha256(&lab.config()), rotated);

    // Master 1 missed the distribution: only it is named.
    lab.distribute_without(1);
    assert_eq!(lab.on_master(0), rotated);
    assert_eq!(lab.on_master(1), before_rotation);
    let out = lab.stage(&["promote"]).assert().code(1);
    let err = stderr_of(&out);
    assert!(err.contains("1 of 3 masters do not hold"), "{err}");
    assert!(
        err.contains(&format!("{MASTER}-1: another file: one key (key1)")),
        "{err}"
    );
    assert!(
        !err.contains(&format!("{MASTER}-0:")) && !err.contains(&format!("{MASTER}-2:")),
        "{err}"
    );
    assert_eq!(sha256(&lab.config()), rotated);

    // Master 1 down: it cannot be checked, so it is not taken as ready.
    lab.hosts.host_mut(1).stop();
    let out = lab.stage(&["promote"]).assert().code(1);
    let err = stderr_of(&out);
    assert!(err.contains(&format!("{MASTER}-1: unreachable")), "{err}");
    assert_eq!(sha256(&lab.config()), rotated);

    // --force: promoted without looking (master 1 is still down).
    lab.stage(&["promote", "--force"])
        .assert()
        .success()
        .stderr(predicate::str::contains("--force: the masters' copies"));
    assert_eq!(names(&lab.config()), ["key2", "key1"]);
    assert_ne!(sha256(&lab.config()), rotated);
}

#[test]
#[ignore = "needs sshd (root), ssh-keygen and PyYAML: run scripts/test"]
fn prune_right_after_promote_is_refused_and_prune_keeps_the_key_it_removes() {
    let mut lab = Lab::start();
    let original = keys(&lab.config());
    assert_eq!(original.len(), 1);
    lab.rotate();
    lab.with_ssh(&["distribute"]).assert().success();
    // Every master holds the rotated file: promote goes ahead.
    lab.stage(&["promote"])
        .assert()
        .success()
        .stderr(predicate::str::contains("every master (3) holds"));
    let promoted = sha256(&lab.config());

    // Right after promote, before distributing: every master still holds the rotate stage.
    let out = lab.stage(&["prune", "--yes"]).assert().code(1);
    let err = stderr_of(&out);
    assert!(err.contains("refusing to prune: 3 of 3 masters"), "{err}");
    for i in 0..3 {
        assert!(
            err.contains(&format!(
                "{MASTER}-{i}: another file: rotated: key2 added second, key1 still writes"
            )),
            "{err}"
        );
    }
    assert_eq!(sha256(&lab.config()), promoted);
    assert!(!lab.retired().exists());

    // One master missed the promoted file: still refused, naming it alone.
    lab.distribute_without(2);
    let out = lab.stage(&["prune", "--yes"]).assert().code(1);
    let err = stderr_of(&out);
    assert!(err.contains("1 of 3 masters do not hold"), "{err}");
    assert!(
        err.contains(&format!(
            "{MASTER}-2: another file: rotated: key2 added second, key1 still writes"
        )),
        "{err}"
    );
    assert_eq!(sha256(&lab.config()), promoted);
    assert!(!lab.retired().exists());

    // Every master holds it: prune asks, and with no terminal to ask, wants --yes.
    lab.with_ssh(&["distribute"]).assert().success();
    for i in 0..3 {
        assert_eq!(lab.on_master(i), promoted);
    }
    lab.stage(&["prune"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("pass --yes"));
    assert_eq!(sha256(&lab.config()), promoted);
    assert!(!lab.retired().exists());

    // The re-encrypt step is named before the prune happens.
    let out = lab.stage(&["prune", "--yes"]).assert().success();
    let err = stderr_of(&out);
    let reencrypt = err
        .find("kubectl get secrets -A -o json | kubectl replace -f -")
        .unwrap_or_else(|| panic!("no re-encrypt command in: {err}"));
    let removed = err.find("removed key1").unwrap();
    assert!(reencrypt < removed, "{err}");

    assert_eq!(names(&lab.config()), ["key2"]);
    assert_eq!(mode(&lab.retired()), "600");
    let retired = pyyaml(&lab.retired());
    let entries = retired.as_array().unwrap();
    assert_eq!(entries.len(), 1, "{retired}");
    assert_eq!(entries[0]["name"], "key1");
    assert_eq!(entries[0]["secret"], json!(original[0].1));
    assert_eq!(entries[0]["replaced_by"], "key2");
    let when = entries[0]["retired"].as_str().unwrap();
    assert!(when.ends_with("+00:00"), "a UTC time: {when}");
    // The secret as it appears in the file, byte for byte.
    let text = std::fs::read_to_string(lab.retired()).unwrap();
    assert!(
        text.contains(&format!("secret: {}\n", original[0].1)),
        "{text}"
    );
}
