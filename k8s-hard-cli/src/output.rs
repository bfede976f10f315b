//! Where things are printed: results on stdout (human or JSON), status on stderr.

use std::borrow::Cow;
use std::cell::Cell;
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

/// `text` as it may reach a terminal: every control character shown as an escape (see
/// [`k8s_distribute::printable`]: `\x1b`, `\r`, `\u{9b}`), so that text from a node or a
/// console cannot move the cursor, clear the screen, retitle the window or forge a line.
/// Newlines stay when `keep_newlines` (text of several lines that we laid out), else they are
/// escaped too.
pub fn printable(text: &str, keep_newlines: bool) -> Cow<'_, str> {
    if !keep_newlines {
        return k8s_distribute::printable(text);
    }
    let lines: Vec<Cow<'_, str>> = text.split('\n').map(k8s_distribute::printable).collect();
    if lines.iter().all(|l| matches!(l, Cow::Borrowed(_))) {
        Cow::Borrowed(text)
    } else {
        Cow::Owned(lines.join("\n"))
    }
}

impl Ui {
    /// A status line on stderr (not with `-q`).
    pub fn status(&self, line: impl AsRef<str>) {
        if !self.quiet {
            eprintln!("{}", printable(line.as_ref(), true));
        }
    }

    /// A detail line on stderr (only with `-v`).
    pub fn detail(&self, line: impl AsRef<str>) {
        if self.verbose {
            eprintln!("{}", printable(line.as_ref(), true));
        }
    }

    /// A warning on stderr (also with `-q`: it may be why something later fails).
    pub fn warn(&self, line: impl AsRef<str>) {
        eprintln!("warning: {}", printable(line.as_ref(), true));
    }

    /// The error that ends the command, with its causes and a hint, on stderr.
    pub fn error(&self, e: &anyhow::Error, hint: Option<&str>) {
        eprintln!("error: {}", printable(&e.to_string(), true));
        for cause in e.chain().skip(1) {
            eprintln!("  caused by: {}", printable(&cause.to_string(), true));
        }
        if let Some(hint) = hint {
            eprintln!("hint: {hint}");
        }
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
        // JSON escapes control characters itself; human text is laid out here, so only what
        // came from elsewhere inside it is escaped (tables escape their cells whole).
        let text = match self.output {
            Output::Json => serde_json::to_string_pretty(value)? + "\n",
            Output::Human => printable(&human(), true).into_owned(),
            Output::Wide => printable(&wide(human), true).into_owned(),
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

/// Human tables are shortened to fit this many columns (`--output wide` shows them whole).
pub const TABLE_WIDTH: usize = 100;

thread_local! {
    /// True while `--output wide` text is being built: [`table`] and [`short_id`] keep every
    /// value whole. Scoped to [`Ui::result`], so the text builders need no extra parameter.
    static WIDE: Cell<bool> = const { Cell::new(false) };
}

/// Runs `build` with tables and IDs kept whole.
fn wide(build: impl FnOnce() -> String) -> String {
    let before = WIDE.with(|w| w.replace(true));
    let text = build();
    WIDE.with(|w| w.set(before));
    text
}

fn is_wide() -> bool {
    WIDE.with(Cell::get)
}

/// An AWS ID as a human table shows it: an ARN by its last segment, which is what tells two
/// of a kind apart (`…/50dc6c495c0c9188`); other IDs (`vpc-…`, `i-…`) whole. Whole with
/// `--output wide`; `--output json` always has the full value.
pub fn short_id(id: &str) -> String {
    if is_wide() || !id.starts_with("arn:") {
        return id.to_string();
    }
    match id.rfind('/').or_else(|| id.rfind(':')) {
        Some(at) if at + 1 < id.len() => format!("…{}", &id[at..]),
        _ => id.to_string(),
    }
}

/// A name as a human table shows it: a long path (an image name filter) by its last
/// segment, `…/ubuntu-jammy-22.04-amd64-server-*`. Whole with `--output wide`.
pub fn short_name(name: &str) -> String {
    const LONG: usize = 40;
    if is_wide() || name.chars().count() <= LONG {
        return name.to_string();
    }
    match name.rsplit_once('/') {
        Some((_, last)) if !last.is_empty() => format!("…/{last}"),
        _ => name.to_string(),
    }
}

/// `cell` cut to `max` characters, the middle replaced by `…`.
fn elide(cell: &str, max: usize) -> String {
    let n = cell.chars().count();
    if n <= max || max < 3 {
        return cell.to_string();
    }
    let head = (max - 1) / 2;
    let tail = max - 1 - head;
    let start: String = cell.chars().take(head).collect();
    let end: String = cell.chars().skip(n - tail).collect();
    format!("{start}…{end}")
}

/// Column widths that fit `limit` characters in all (with `gap` between columns). The last
/// column (free text: states, errors, lists) gives way first, down to 20 characters; then the
/// widest column, never below its header or 8 characters.
fn fit_widths(mut widths: Vec<usize>, header: &[&str], gap: usize, limit: usize) -> Vec<usize> {
    let total = |w: &[usize]| w.iter().sum::<usize>() + gap * w.len().saturating_sub(1);
    let floor = |i: usize, min: usize| header[i].len().max(min);
    while total(&widths) > limit {
        let last = widths.len() - 1;
        let column = if widths[last] > floor(last, 20) {
            Some(last)
        } else {
            widths
                .iter()
                .enumerate()
                .filter(|(i, w)| **w > floor(*i, 8))
                .max_by_key(|(_, w)| **w)
                .map(|(i, _)| i)
        };
        let Some(i) = column else {
            break;
        };
        widths[i] -= 1;
    }
    widths
}

/// A plain left-aligned table with a header row, every cell whole.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    render_table(header, rows, false)
}

/// [`table`] at most [`TABLE_WIDTH`] characters wide, for reports read on a terminal
/// (`status`): cells too long for their column lose their middle to `…`. Whole with
/// `--output wide`.
pub fn fitted_table(header: &[&str], rows: &[Vec<String>]) -> String {
    render_table(header, rows, !is_wide())
}

fn render_table(header: &[&str], rows: &[Vec<String>], fit: bool) -> String {
    const GAP: &str = "   ";
    // A cell is one line: a newline from a node must not make a row of its own.
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|r| r.iter().map(|c| printable(c, false).into_owned()).collect())
        .collect();
    let rows = rows.as_slice();
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if i < widths.len() {
                widths[i] = widths[i].max(cell.chars().count());
            }
        }
    }
    if fit {
        widths = fit_widths(widths, header, GAP.len(), TABLE_WIDTH);
    }
    let line = |cells: Vec<String>| {
        let n = cells.len();
        cells
            .into_iter()
            .enumerate()
            .map(|(i, c)| {
                let c = match widths.get(i) {
                    Some(&w) => elide(&c, w),
                    None => c,
                };
                if i + 1 == n {
                    c
                } else {
                    format!("{c:<w$}", w = widths.get(i).copied().unwrap_or(0))
                }
            })
            .collect::<Vec<_>>()
            .join(GAP)
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

#[cfg(test)]
mod tests {
    use k8s_aws_infra::{CallCounts, Kind, ResourceStatus, Status};

    use super::*;
    use crate::commands::infra::status_text;

    const LB_ARN: &str = "arn:aws:elasticloadbalancing:us-east-2:123456789012:loadbalancer/net/k8s-cluster-from-ground-up/50dc6c495c0c9188";
    const TG_ARN: &str = "arn:aws:elasticloadbalancing:us-east-2:123456789012:targetgroup/k8s-cluster-from-ground-up/6d0ecf831eec9f09";
    const LISTENER_ARN: &str = "arn:aws:elasticloadbalancing:us-east-2:123456789012:listener/net/k8s-cluster-from-ground-up/50dc6c495c0c9188/f2f7dc8efc522ab2";

    /// `infra status` of the tutorial's cluster as AWS reports it, full ARNs included.
    fn realistic() -> Status {
        let cluster = "k8s-cluster-from-ground-up";
        let row = |kind, name: &str, state: &str, id: &str| ResourceStatus {
            kind,
            name: name.into(),
            id: Some(id.into()),
            state: state.into(),
            ok: true,
            up_would: None,
        };
        let mut resources = vec![
            row(Kind::Vpc, cluster, "ok", "vpc-0a1b2c3d4e5f60718"),
            row(Kind::DhcpOptions, cluster, "ok", "dopt-0a1b2c3d4e5f60718"),
            row(
                Kind::Subnet,
                "172.31.0.0/24",
                "ok",
                "subnet-0a1b2c3d4e5f60718",
            ),
            row(
                Kind::InternetGateway,
                cluster,
                "ok",
                "igw-0a1b2c3d4e5f60718",
            ),
            row(Kind::RouteTable, cluster, "ok", "rtb-0a1b2c3d4e5f60718"),
            row(Kind::SecurityGroup, cluster, "ok", "sg-0a1b2c3d4e5f60718"),
            row(Kind::LoadBalancer, cluster, "provisioning", LB_ARN),
            row(Kind::TargetGroup, cluster, "ok", TG_ARN),
            row(Kind::Listener, cluster, "ok", LISTENER_ARN),
            row(
                Kind::Image,
                "ubuntu/images/hvm-ssd/ubuntu-jammy-22.04-amd64-server-*",
                "ok",
                "ami-0a1b2c3d4e5f60718",
            ),
            row(Kind::KeyPair, cluster, "ok", "key-0a1b2c3d4e5f60718"),
        ];
        for node in [
            "master-0", "master-1", "master-2", "worker-0", "worker-1", "worker-2",
        ] {
            resources.push(row(
                Kind::Instance,
                node,
                "shutting-down",
                "i-0a1b2c3d4e5f60718",
            ));
        }
        for i in 0..3 {
            resources.push(row(
                Kind::Route,
                &format!("172.20.{i}.0/24 -> worker-{i}"),
                "ok",
                "i-0a1b2c3d4e5f60718",
            ));
        }
        resources[6].ok = false;
        resources[6].up_would = Some("wait until it is active".into());
        Status {
            region: "us-east-2".into(),
            ok: false,
            resources,
            api_endpoint: Some(format!(
                "{cluster}-50dc6c495c0c9188.elb.us-east-2.amazonaws.com"
            )),
            warnings: Vec::new(),
            calls: CallCounts::default(),
        }
    }

    #[test]
    fn infra_status_fits_100_columns_with_state_before_the_shortened_id() {
        let text = status_text(&realistic());
        for line in text.lines() {
            assert!(line.chars().count() <= TABLE_WIDTH, "{line}\n{text}");
        }
        let header = text.lines().next().unwrap();
        assert!(header.find("STATE").unwrap() < header.find("ID").unwrap());
        assert!(!text.contains("arn:"), "{text}");
        assert!(text.contains("…/50dc6c495c0c9188"), "{text}");
        assert!(text.contains("…/f2f7dc8efc522ab2"), "{text}");
        assert!(
            text.contains("…/ubuntu-jammy-22.04-amd64-server-*"),
            "{text}"
        );
        assert!(text.contains("load balancer k8s-cluster-from-ground-up: wait until it is active"));
    }

    #[test]
    fn wide_keeps_every_value_whole() {
        let text = wide(|| status_text(&realistic()));
        for arn in [LB_ARN, TG_ARN, LISTENER_ARN] {
            assert!(text.contains(arn), "{text}");
        }
        assert!(text.contains("ubuntu/images/hvm-ssd/ubuntu-jammy-22.04-amd64-server-*"));
        // Back to fitting afterwards.
        assert!(!status_text(&realistic()).contains("arn:"));
    }

    #[test]
    fn a_table_too_wide_loses_the_middle_of_its_last_column_first() {
        let long = format!("to send: {}", ["master-kubernetes-key.pem"; 8].join(", "));
        let rows = vec![vec![
            "k8s-cluster-from-ground-up-worker-0".to_string(),
            "203.0.113.200".to_string(),
            "3/9".to_string(),
            long.clone(),
        ]];
        let header = ["NODE", "ADDRESS", "FILES IN PLACE", "STATE"];
        assert!(
            table(&header, &rows).contains(&long),
            "plain tables keep every cell"
        );
        let text = fitted_table(&header, &rows);
        for line in text.lines() {
            assert!(line.chars().count() <= TABLE_WIDTH, "{line}");
        }
        let row = text.lines().nth(1).unwrap();
        assert!(
            row.starts_with("k8s-cluster-from-ground-up-worker-0   203.0.113.200"),
            "{text}"
        );
        assert!(row.contains("to send: maste") && row.contains('…'), "{row}");
        assert!(wide(|| fitted_table(&header, &rows)).contains(&long));
    }

    /// What a hostile node could print: a window title, a screen clear, colours, a carriage
    /// return over the line, a C1 CSI, a right-to-left override, and a forged second line.
    const HOSTILE: &str =
        "scp: \x1b]0;pwned\x07\x1b[2J\x1b[31mred\rdone \u{9b}1m \u{202e}txt.exe\nok: all in place";

    #[test]
    fn text_from_nodes_reaches_the_terminal_escaped() {
        assert_eq!(
            printable(HOSTILE, true),
            "scp: \\x1b]0;pwned\\x07\\x1b[2J\\x1b[31mred\\rdone \\u{9b}1m \\u{202e}txt.exe\nok: all in place"
        );
        assert_eq!(
            printable(HOSTILE, false),
            "scp: \\x1b]0;pwned\\x07\\x1b[2J\\x1b[31mred\\rdone \\u{9b}1m \\u{202e}txt.exe\\nok: all in place"
        );
        assert!(matches!(printable("plain – text", true), Cow::Borrowed(_)));
        // In a table a cell stays on its row.
        let text = table(&["NODE", "ERROR"], &[vec!["w-0".into(), HOSTILE.into()]]);
        assert_eq!(text.lines().count(), 2, "{text}");
        assert!(!text.contains('\x1b') && !text.contains('\r') && !text.contains('\u{9b}'));
        assert!(text.contains("\\x1b]0;pwned\\x07"), "{text}");
    }

    #[test]
    fn short_ids_and_elision() {
        assert_eq!(short_id("vpc-0a1b2c3d"), "vpc-0a1b2c3d");
        assert_eq!(short_id("arn:aws:iam::123456789012:root"), "…:root");
        assert_eq!(elide("abcdefghij", 5), "ab…ij");
        assert_eq!(elide("abc", 5), "abc");
        assert_eq!(
            short_name("k8s-cluster-from-ground-up"),
            "k8s-cluster-from-ground-up"
        );
    }
}
