//! Temp files: made exclusively, remembered while they exist, never left by Ctrl-C, and swept
//! when a crash left them behind.

use std::collections::BTreeSet;
use std::fs::{self, File, OpenOptions};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, RwLock, RwLockReadGuard};

use crate::{Mode, Result, io};

/// Temp files of this process that exist now (created, not yet renamed or removed).
static LIVE: Mutex<BTreeSet<PathBuf>> = Mutex::new(BTreeSet::new());

/// Held shared by every write for the whole life of its temp files (made, written, renamed or
/// removed), and exclusively by the Ctrl-C handler until the process exits: the handler waits
/// for the writes in progress to end and no write starts after it. Removing a temp file under a
/// write in progress instead would fail that write's rename, and the run would end as an error
/// (exit 1, racing the handler's exit 130) rather than as interrupted.
static WRITES: RwLock<()> = RwLock::new(());

/// A write in progress (see [`WRITES`]): temp files are made only while one is held.
pub(crate) struct Writing {
    _hold: RwLockReadGuard<'static, ()>,
}

/// Starts a write; blocks for good once the process is being interrupted (the handler then
/// exits it). Take it once per write, around all of its temp files: not again inside one (a
/// second shared hold would wait behind a waiting handler that waits for the first).
pub(crate) fn writing() -> Writing {
    // A panic elsewhere cannot poison a shared hold; the handler's hold never ends.
    Writing {
        _hold: WRITES.read().unwrap_or_else(|e| e.into_inner()),
    }
}

fn live() -> std::sync::MutexGuard<'static, BTreeSet<PathBuf>> {
    // A panic while holding the set leaves it usable: it is only a list of paths.
    LIVE.lock().unwrap_or_else(|e| e.into_inner())
}

/// The marker between a file's name and the writer's PID in its temp files' names:
/// `.<name>.tmp-<pid>-<n>`.
const MARKER: &str = ".tmp-";

/// A temp file beside `path`, created with `O_CREAT | O_EXCL` (so never through a symlink or
/// over another file) and mode `mode`, and registered for [`remove_temp_files`]. Rename or
/// discard it before `_writing` ends.
pub(crate) fn create_beside(
    path: &Path,
    mode: Mode,
    _writing: &Writing,
) -> Result<(PathBuf, File)> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    // pid + counter: unique across processes and across threads of this one.
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let tmp = dir.join(format!(".{name}{MARKER}{}-{n}", std::process::id()));
    let file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode.bits())
        .open(&tmp)
        .map_err(io(&tmp))?;
    live().insert(tmp.clone());
    Ok((tmp, file))
}

/// Stops tracking `tmp` (renamed into place).
pub(crate) fn forget(tmp: &Path) {
    live().remove(tmp);
}

/// Removes `tmp` and stops tracking it.
pub(crate) fn discard(tmp: &Path) {
    let _ = fs::remove_file(tmp);
    forget(tmp);
}

/// Removes every temp file this process has open for writing (not yet renamed into place)
/// and returns how many it removed. [`remove_temp_files_on_interrupt`] calls it from its
/// Ctrl-C handler (where only a writer that panicked can have left one); call it yourself
/// before exiting from your own signal handling.
pub fn remove_temp_files() -> usize {
    let paths: Vec<PathBuf> = std::mem::take(&mut *live()).into_iter().collect();
    paths.iter().filter(|p| fs::remove_file(p).is_ok()).count()
}

/// Installs a handler for SIGINT, SIGTERM and SIGHUP that lets the write in progress finish
/// (one file, or one [`crate::write_files`] batch: its temp files renamed into place or
/// removed), starts no other, removes any temp file left ([`remove_temp_files`]) and exits
/// with status 130, as a shell reports Ctrl-C. An interrupted run thus ends as interrupted,
/// never as a failed write, and leaves no temp file and no half-written file.
///
/// Files already renamed into place stay; the writes are ordered so that any prefix of them
/// is a state the next run accepts. Call it once, early in `main`.
///
/// # Errors
/// [`crate::Error::Signal`] when a handler is already installed or cannot be.
pub fn remove_temp_files_on_interrupt() -> Result<()> {
    ctrlc::set_handler(|| {
        // Waits for the writes in progress; held until the exit, so none starts after them.
        let _writes = WRITES.write().unwrap_or_else(|e| e.into_inner());
        remove_temp_files();
        std::process::exit(130);
    })
    .map_err(|e| crate::Error::Signal {
        reason: e.to_string(),
    })
}

/// Whether `name` is one of our temp files, and the PID that made it.
fn temp_owner(name: &str) -> Option<u32> {
    let rest = name.strip_prefix('.')?;
    let at = rest.rfind(MARKER)?;
    let (pid, n) = rest[at + MARKER.len()..].split_once('-')?;
    n.parse::<u64>().ok()?;
    pid.parse().ok()
}

/// Removes the temp files that writers which no longer run left in `dir` (not recursive),
/// e.g. after a SIGKILL or a power loss, and returns their paths. A missing folder has none.
///
/// A temp file is left alone when its writer is this process or may still be alive (it is
/// judged through `/proc`; without `/proc` nothing is removed). Meant to run under a
/// [`crate::DirLock`], so that no live writer is at work in the folder anyway.
///
/// # Errors
/// [`crate::Error::Io`] when the folder cannot be listed or a stale file removed.
pub fn sweep_temp_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io(dir)(e)),
    };
    if !Path::new("/proc/self").exists() {
        return Ok(Vec::new());
    }
    let me = std::process::id();
    let mut removed = Vec::new();
    for entry in entries {
        let entry = entry.map_err(io(dir))?;
        let name = entry.file_name();
        let Some(pid) = temp_owner(&name.to_string_lossy()) else {
            continue;
        };
        if pid == me || Path::new("/proc").join(pid.to_string()).exists() {
            continue;
        }
        let path = entry.path();
        if entry.file_type().map_err(io(&path))?.is_file() {
            fs::remove_file(&path).map_err(io(&path))?;
            removed.push(path);
        }
    }
    removed.sort();
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temp_names_carry_the_writer() {
        assert_eq!(temp_owner(".ca-key.pem.tmp-123-4"), Some(123));
        assert_eq!(temp_owner(".a.tmp-b.tmp-77-0"), Some(77));
        assert_eq!(temp_owner("ca-key.pem.tmp-123-4"), None);
        assert_eq!(temp_owner(".ca.pem"), None);
        assert_eq!(temp_owner(".x.tmp-12-"), None);
        assert_eq!(temp_owner(".x.tmp-ab-1"), None);
    }

    #[test]
    fn sweep_removes_dead_writers_temps_only() {
        let tmp = tempfile::tempdir().unwrap();
        let dead = tmp.path().join(".ca-key.pem.tmp-999999999-0");
        let mine = tmp
            .path()
            .join(format!(".ca.pem.tmp-{}-0", std::process::id()));
        let other = tmp.path().join("ca.pem");
        for p in [&dead, &mine, &other] {
            fs::write(p, "x").unwrap();
        }
        assert_eq!(sweep_temp_files(tmp.path()).unwrap(), vec![dead.clone()]);
        assert!(!dead.exists() && mine.exists() && other.exists());
        assert!(
            sweep_temp_files(&tmp.path().join("missing"))
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn registered_temps_are_removed_on_request() {
        let tmp = tempfile::tempdir().unwrap();
        let writing = writing();
        let (path, _file) =
            create_beside(&tmp.path().join("k.pem"), Mode::Secret, &writing).unwrap();
        assert!(path.exists());
        assert!(remove_temp_files() >= 1);
        assert!(!path.exists());
    }

    #[test]
    fn an_interrupt_cannot_take_a_temp_file_from_a_write_in_progress() {
        let tmp = tempfile::tempdir().unwrap();
        let writing = writing();
        let (path, _file) =
            create_beside(&tmp.path().join("k.pem"), Mode::Secret, &writing).unwrap();
        // The Ctrl-C handler's first step: it waits for this write to rename or drop its file.
        assert!(WRITES.try_write().is_err());
        assert!(path.exists());
        discard(&path);
    }

    #[test]
    fn a_planted_symlink_is_not_followed() {
        let tmp = tempfile::tempdir().unwrap();
        let victim = tmp.path().join("victim");
        fs::write(&victim, "keep").unwrap();
        // Whatever name the next temp gets, O_EXCL refuses an existing entry: plant a link at
        // the names this process is about to use; the write fails or misses them, and the
        // link's target is never written either way.
        let target = tmp.path().join("k.pem");
        for n in 0..256 {
            let link = tmp
                .path()
                .join(format!(".k.pem{MARKER}{}-{n}", std::process::id()));
            let _ = std::os::unix::fs::symlink(&victim, link);
        }
        let _ = crate::write_file(&target, b"secret", Mode::Secret);
        assert_eq!(fs::read_to_string(&victim).unwrap(), "keep");
    }
}
