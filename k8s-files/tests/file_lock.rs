//! [`FileLock`] keeps read-modify-writes of one file from losing each other's changes. (Its
//! own test binary: the crate's unit tests remove this process's temp files on purpose.)

use k8s_files::{FileLock, Mode, write_file};

#[test]
fn threads_rewriting_one_file_under_its_lock_lose_no_line_and_leave_nothing_beside() {
    let tmp = tempfile::tempdir().unwrap();
    let shared = tmp.path().join("known_hosts");
    std::thread::scope(|s| {
        for t in 0..8 {
            let shared = &shared;
            s.spawn(move || {
                for i in 0..20 {
                    let _lock = FileLock::acquire(shared).unwrap();
                    let mut text = std::fs::read_to_string(shared).unwrap();
                    text.push_str(&format!("{t}-{i}\n"));
                    write_file(shared, text.as_bytes(), Mode::Secret).unwrap();
                }
            });
        }
    });
    let text = std::fs::read_to_string(&shared).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    lines.sort_unstable();
    let mut expected: Vec<String> = (0..8)
        .flat_map(|t| (0..20).map(move |i| format!("{t}-{i}")))
        .collect();
    expected.sort_unstable();
    assert_eq!(lines, expected);
    let names: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["known_hosts"]);
}

#[test]
fn a_missing_file_is_created_empty_and_private() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("kh");
    let lock = FileLock::acquire(&path).unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), b"");
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    drop(lock);
    assert!(
        path.exists(),
        "the file stays: it is the file, not a lock file"
    );
}
