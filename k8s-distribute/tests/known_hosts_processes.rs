//! Several processes pinning host keys into one known_hosts file at once lose no line.
//!
//! A plain `main` (no test harness): run without arguments it is the test, which starts copies
//! of itself as the writers (`K8S_HARD_PIN_WRITER` set) and judges the file they leave.

use std::path::{Path, PathBuf};
use std::process::Command;

const KEY: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAINq/XvrWIN3V4KFaXF4YUsRpYfV1gqXIE8ikPLl1U6Ir";
const WRITERS: usize = 6;
const PINS: usize = 25;
const ROLE: &str = "K8S_HARD_PIN_WRITER";

fn main() {
    match std::env::var(ROLE) {
        Ok(role) => writer(&role),
        Err(_) => {
            many_processes_pinning_at_once_lose_no_line();
            println!("test many_processes_pinning_at_once_lose_no_line ... ok");
        }
    }
}

/// One writer: waits for the start file, then pins its hosts one by one.
fn writer(role: &str) {
    let (index, dir) = role.split_once(':').expect("INDEX:DIR");
    let dir = PathBuf::from(dir);
    while !dir.join("go").exists() {
        std::thread::yield_now();
    }
    let known_hosts = dir.join("ssh/known_hosts");
    for j in 0..PINS {
        let marker = format!("k8s-hard:console i-{index}-{j} cluster=c");
        k8s_distribute::pin_known_hosts(
            &known_hosts,
            &format!("10.{index}.0.{j}"),
            22,
            &[KEY.to_string()],
            &marker,
        )
        .unwrap_or_else(|e| panic!("writer {index}, pin {j}: {e}"));
    }
}

fn many_processes_pinning_at_once_lose_no_line() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let me = std::env::current_exe().expect("this test's binary");
    let children: Vec<_> = (0..WRITERS)
        .map(|i| {
            Command::new(&me)
                .env(ROLE, format!("{i}:{}", tmp.path().display()))
                .spawn()
                .expect("start a writer")
        })
        .collect();
    std::fs::write(tmp.path().join("go"), "").expect("start file");
    for mut child in children {
        assert!(child.wait().expect("wait for a writer").success());
    }
    let known_hosts = tmp.path().join("ssh/known_hosts");
    let text = std::fs::read_to_string(&known_hosts).expect("known_hosts");
    let mut lines: Vec<&str> = text.lines().collect();
    lines.sort_unstable();
    let mut expected: Vec<String> = (0..WRITERS)
        .flat_map(|i| {
            (0..PINS)
                .map(move |j| format!("10.{i}.0.{j} {KEY} k8s-hard:console i-{i}-{j} cluster=c"))
        })
        .collect();
    expected.sort_unstable();
    let lost: Vec<&String> = expected
        .iter()
        .filter(|l| !lines.contains(&l.as_str()))
        .collect();
    assert!(
        lost.is_empty(),
        "{} of {} pins lost, the first: {:?}",
        lost.len(),
        expected.len(),
        lost[0]
    );
    assert_eq!(lines, expected, "every pin once, nothing else");
    // Nothing beside the file that ssh (or a user) would find: no lock file, no temp file.
    assert_eq!(names(&tmp.path().join("ssh")), ["known_hosts"]);
}

fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("list the folder")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}
