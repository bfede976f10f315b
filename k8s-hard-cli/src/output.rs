//! Where things are printed: results on stdout (human or JSON), status on stderr.

use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

use crate::cli::Output;

/// How the command talks to its user.
#[derive(Debug, Clone, Copy)]
pub struct Ui {
    pub output: Output,
    pub verbose: bool,
    pub quiet: bool,
}

impl Ui {
    /// A status line on stderr (not with `-q`).
    pub fn status(&self, line: impl AsRef<str>) {
        if !self.quiet {
            eprintln!("{}", line.as_ref());
        }
    }

    /// A detail line on stderr (only with `-v`).
    pub fn detail(&self, line: impl AsRef<str>) {
        if self.verbose {
            eprintln!("{}", line.as_ref());
        }
    }

    /// A warning on stderr (also with `-q`: it may be why something later fails).
    pub fn warn(&self, line: impl AsRef<str>) {
        eprintln!("warning: {}", line.as_ref());
    }

    /// True when progress is drawn: stderr is a terminal and not `-q`.
    fn interactive(&self) -> bool {
        !self.quiet && std::io::stderr().is_terminal()
    }

    /// A bar counting towards `total` on a terminal; nothing otherwise (the per-item lines
    /// say the same in a log).
    pub fn counter(&self, what: &str, total: usize) -> Counter {
        if !self.interactive() {
            return Counter(None);
        }
        let bar = ProgressBar::new(total as u64);
        if let Ok(style) = ProgressStyle::with_template("[{bar:30}] {pos}/{len} {msg} {elapsed}") {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_message(what.to_string());
        bar.enable_steady_tick(Duration::from_millis(200));
        Counter(Some(bar))
    }

    /// A spinner on stderr while `work` runs, only when stderr is a terminal.
    pub fn spin<T>(&self, message: &str, work: impl FnOnce() -> T) -> T {
        if !self.interactive() {
            return work();
        }
        let bar = ProgressBar::new_spinner();
        if let Ok(style) = ProgressStyle::with_template("{spinner} {msg} {elapsed}") {
            bar.set_style(style);
        }
        bar.set_message(message.to_string());
        bar.enable_steady_tick(Duration::from_millis(100));
        let out = work();
        bar.finish_and_clear();
        out
    }

    /// Prints the result: JSON of `value`, or the human text `human` builds.
    pub fn result<T: Serialize>(
        &self,
        value: &T,
        human: impl FnOnce() -> String,
    ) -> anyhow::Result<()> {
        let text = match self.output {
            Output::Json => serde_json::to_string_pretty(value)? + "\n",
            Output::Human => human(),
        };
        let mut out = std::io::stdout().lock();
        match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
            // A reader that stopped early (`| head`) is not an error of ours.
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
            other => Ok(other?),
        }
    }
}

/// See [`Ui::counter`].
pub struct Counter(Option<ProgressBar>);

impl Counter {
    /// One more done.
    pub fn tick_one(&self) {
        if let Some(bar) = &self.0 {
            bar.inc(1);
        }
    }

    /// `done` so far.
    pub fn set(&self, done: usize) {
        if let Some(bar) = &self.0 {
            bar.set_position(done as u64);
        }
    }

    /// True when a bar is on screen (so per-item lines would only clutter it).
    pub fn is_drawn(&self) -> bool {
        self.0.is_some()
    }

    /// Removes the bar.
    pub fn finish(&self) {
        if let Some(bar) = &self.0 {
            bar.finish_and_clear();
        }
    }
}

/// "n of m ready" waits reported by a library, one at a time: a bar on a terminal, else a
/// line each time the count changes.
pub struct Waits {
    ui: Ui,
    current: Mutex<Option<(String, usize, Counter)>>,
}

impl Waits {
    pub fn new(ui: Ui) -> Self {
        Waits {
            ui,
            current: Mutex::new(None),
        }
    }

    /// `ready` of `total` of `what` after `elapsed_secs`.
    pub fn update(&self, what: &str, ready: usize, total: usize, elapsed_secs: u64) {
        let Ok(mut current) = self.current.lock() else {
            return;
        };
        if current.as_ref().is_none_or(|(w, ..)| w != what) {
            if let Some((.., old)) = current.take() {
                old.finish();
            }
            *current = Some((what.to_string(), usize::MAX, self.ui.counter(what, total)));
        }
        let Some((_, last, bar)) = current.as_mut() else {
            return;
        };
        bar.set(ready);
        if *last != ready && !self.ui.interactive() {
            self.ui.status(format!(
                "waiting  {what}: {ready}/{total} ready ({elapsed_secs} s)"
            ));
        }
        *last = ready;
        if ready >= total {
            bar.finish();
            *current = None;
        }
    }
}

/// A plain left-aligned table with a header row.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if i < widths.len() {
                widths[i] = widths[i].max(cell.chars().count());
            }
        }
    }
    let line = |cells: Vec<String>| {
        let n = cells.len();
        cells
            .into_iter()
            .enumerate()
            .map(|(i, c)| {
                if i + 1 == n {
                    c
                } else {
                    format!("{c:<w$}", w = widths[i])
                }
            })
            .collect::<Vec<_>>()
            .join("   ")
            .trim_end()
            .to_string()
            + "\n"
    };
    let mut out = line(header.iter().map(|h| h.to_string()).collect());
    for row in rows {
        out.push_str(&line(row.clone()));
    }
    out
}
