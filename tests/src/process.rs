//! Long-running peers (etcd, the Kubernetes components) under a guard shell: each stops when
//! the harness drops it, and also when the test process dies without running destructors (a
//! `static`, a SIGKILL), since its guard sees our end of a pipe close.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// The guard: runs the program in the background, its output appended to the log; a second
/// background job waits for the end of our pipe (fd 3: a background job's own stdin is
/// /dev/null) and then sends the program SIGTERM, as `systemctl stop` would, and SIGKILL 20 s
/// later if it is still this guard's child (an API server whose etcd died first can take
/// minutes). The guard exits with the program's status, whether it stopped by itself or was
/// stopped.
const GUARD: &str = r#"log=$1; shift
exec 3<&0
"$@" 3<&- </dev/null >>"$log" 2>&1 &
pid=$!
{
  cat <&3 >/dev/null
  kill "$pid" 2>/dev/null
  sleep 20
  [ "$(ps -o ppid= -p "$pid" 2>/dev/null | tr -d ' ')" = "$$" ] && kill -9 "$pid" 2>/dev/null
} &
exec 3<&-
wait "$pid""#;

/// How long a stopped program may take to exit (the API server drains its requests first).
const STOP_TIMEOUT: Duration = Duration::from_secs(60);

/// A running program, its output in a log file.
#[derive(Debug)]
pub struct Daemon {
    name: String,
    guard: Child,
    pipe: Option<ChildStdin>,
    log: PathBuf,
    status: Option<ExitStatus>,
}

impl Daemon {
    /// Starts `program args`, appending its stdout and stderr to `log` after a line naming
    /// the command (a restart keeps the earlier runs' output).
    pub fn spawn(name: &str, program: &Path, args: &[String], log: &Path) -> Daemon {
        let mut header = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .unwrap_or_else(|e| panic!("cannot open {}: {e}", log.display()));
        writeln!(
            header,
            "==== {name}: {} {}",
            program.display(),
            args.join(" ")
        )
        .unwrap_or_else(|e| panic!("cannot write {}: {e}", log.display()));
        let mut guard = Command::new("sh")
            .arg("-c")
            .arg(GUARD)
            .arg("guard")
            .arg(log)
            .arg(program)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name} ({}): {e}", program.display()));
        let pipe = guard.stdin.take();
        Daemon {
            name: name.to_string(),
            guard,
            pipe,
            log: log.to_path_buf(),
            status: None,
        }
    }

    /// The program's name as given to [`Daemon::spawn`].
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its exit status once it has exited (by itself or stopped), `None` while it runs.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        if self.status.is_none() {
            self.status = self
                .guard
                .try_wait()
                .unwrap_or_else(|e| panic!("cannot wait for {}: {e}", self.name));
        }
        self.status
    }

    /// Everything it wrote so far (all runs into this log).
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Where it writes.
    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// Sends SIGTERM and waits until it exited; panics, naming it, when it does not within a
    /// minute.
    pub fn stop(&mut self) {
        drop(self.pipe.take());
        let deadline = Instant::now() + STOP_TIMEOUT;
        while self.exited().is_none() {
            assert!(
                Instant::now() < deadline,
                "{} did not stop within {} s of SIGTERM",
                self.name,
                STOP_TIMEOUT.as_secs()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        drop(self.pipe.take());
        // Never panic here (this may run while unwinding): the guard stops the program even if
        // we do not wait for it.
        let deadline = Instant::now() + STOP_TIMEOUT;
        while Instant::now() < deadline {
            match self.guard.try_wait() {
                Ok(None) => std::thread::sleep(Duration::from_millis(50)),
                _ => break,
            }
        }
    }
}
