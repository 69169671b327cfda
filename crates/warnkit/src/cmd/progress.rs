//! One progress report for every long command: a bar on a terminal, and when stderr is not a terminal
//! (a log file, a CI job, `systemd`), one line every few seconds saying what runs, how far it is, the
//! rate and the time left. Commands with `--json` stay silent, so their stderr holds only errors.

use std::io::{IsTerminal, Write};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How often a run whose stderr is not a terminal logs a line.
pub const LOG_EVERY: Duration = Duration::from_secs(5);

/// Progress of one long piece of work with a known number of steps. Cheap to clone; clones report to
/// the same line, so threads may share one.
#[derive(Clone)]
pub struct Progress {
    inner: Arc<Inner>,
}

enum Inner {
    Bar(ProgressBar),
    Log(Mutex<Log>),
    Hidden,
}

struct Log {
    what: String,
    unit: String,
    len: u64,
    pos: u64,
    started: Instant,
    last: Instant,
    every: Duration,
    logged: bool,
    out: Box<dyn Write + Send>,
}

impl Progress {
    /// Progress of `len` steps of `unit` (e.g. "people", "simulated hours") under the name `what`, on
    /// stderr: a bar on a terminal, else a line every [`LOG_EVERY`]; nothing when `quiet` (`--json`).
    pub fn new(what: &str, unit: &str, len: u64, quiet: bool) -> Self {
        if quiet {
            return Self::hidden();
        }
        if std::io::stderr().is_terminal() {
            let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
            let template =
                format!("{{msg}} [{{bar:40}}] {{pos}}/{{len}} {unit} ({{per_sec}}, {{eta}} left)");
            if let Ok(style) = ProgressStyle::with_template(&template) {
                bar.set_style(style.progress_chars("=> "));
            }
            bar.set_message(what.to_owned());
            return Self::wrap(Inner::Bar(bar));
        }
        Self::logging_to(what, unit, len, LOG_EVERY, Box::new(std::io::stderr()))
    }

    /// No report at all.
    pub fn hidden() -> Self {
        Self::wrap(Inner::Hidden)
    }

    /// The line-logging form, writing to `out` at most every `every`.
    fn logging_to(
        what: &str,
        unit: &str,
        len: u64,
        every: Duration,
        out: Box<dyn Write + Send>,
    ) -> Self {
        let now = Instant::now();
        Self::wrap(Inner::Log(Mutex::new(Log {
            what: what.to_owned(),
            unit: unit.to_owned(),
            len,
            pos: 0,
            started: now,
            last: now,
            every,
            logged: false,
            out,
        })))
    }

    fn wrap(inner: Inner) -> Self {
        Self {
            inner: Arc::new(inner),
        }
    }

    /// `n` more steps done.
    pub fn inc(&self, n: u64) {
        match &*self.inner {
            Inner::Bar(bar) => bar.inc(n),
            Inner::Log(log) => {
                // A poisoned lock only means another thread panicked mid-report; the numbers stay usable.
                let mut log = log.lock().unwrap_or_else(|e| e.into_inner());
                log.pos = log.pos.saturating_add(n).min(log.len);
                let now = Instant::now();
                if now.duration_since(log.last) >= log.every {
                    log.last = now;
                    log.logged = true;
                    let text = line(&log.what, &log.unit, log.pos, log.len, now - log.started);
                    // Progress is a courtesy: a closed stderr must not stop the work.
                    let _ = writeln!(log.out, "{text}");
                }
            }
            Inner::Hidden => {}
        }
    }

    /// The work is over: the bar disappears; a log that reported progress gets a last line with the
    /// total and the time taken (a short run that logged nothing stays silent).
    pub fn finish_and_clear(&self) {
        match &*self.inner {
            Inner::Bar(bar) => bar.finish_and_clear(),
            Inner::Log(log) => {
                let mut log = log.lock().unwrap_or_else(|e| e.into_inner());
                if log.logged {
                    let elapsed = log.started.elapsed();
                    let text = done_line(&log.what, &log.unit, log.pos, elapsed);
                    let _ = writeln!(log.out, "{text}");
                    log.logged = false;
                }
            }
            Inner::Hidden => {}
        }
    }
}

/// `what: pos/len unit (pct%), rate unit/s, about T left`.
fn line(what: &str, unit: &str, pos: u64, len: u64, elapsed: Duration) -> String {
    let pct = if len == 0 {
        100.0
    } else {
        100.0 * pos as f64 / len as f64
    };
    let secs = elapsed.as_secs_f64();
    let rate = if secs > 0.0 { pos as f64 / secs } else { 0.0 };
    let left = if rate > 0.0 {
        format!(
            "about {} left",
            duration_text(len.saturating_sub(pos) as f64 / rate)
        )
    } else {
        "time left unknown".to_owned()
    };
    format!(
        "{what}: {pos}/{len} {unit} ({pct:.0}%), {} {unit}/s, {left}",
        rate_text(rate)
    )
}

/// `what: done, pos unit in T (rate unit/s)`.
fn done_line(what: &str, unit: &str, pos: u64, elapsed: Duration) -> String {
    let secs = elapsed.as_secs_f64();
    let rate = if secs > 0.0 { pos as f64 / secs } else { 0.0 };
    format!(
        "{what}: done, {pos} {unit} in {} ({} {unit}/s)",
        duration_text(secs),
        rate_text(rate)
    )
}

fn rate_text(rate: f64) -> String {
    if rate >= 100.0 {
        format!("{rate:.0}")
    } else {
        format!("{rate:.1}")
    }
}

/// Seconds as `42s`, `3m05s` or `2h07m`.
fn duration_text(secs: f64) -> String {
    let s = secs.round() as u64;
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, s % 3600 / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `Write` whose bytes the test reads back.
    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<Vec<u8>>>);

    impl Write for Sink {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Sink {
        fn lines(&self) -> Vec<String> {
            String::from_utf8(self.0.lock().unwrap().clone())
                .unwrap()
                .lines()
                .map(str::to_owned)
                .collect()
        }
    }

    #[test]
    fn a_line_says_what_how_far_the_rate_and_the_time_left() {
        assert_eq!(
            line("sim whatif", "people", 250, 1000, Duration::from_secs(5)),
            "sim whatif: 250/1000 people (25%), 50.0 people/s, about 15s left"
        );
        assert_eq!(
            line("demo", "hours", 0, 336, Duration::from_secs(5)),
            "demo: 0/336 hours (0%), 0.0 hours/s, time left unknown"
        );
        assert_eq!(
            line("capacity", "chunks", 1000, 5000, Duration::from_secs(2)),
            "capacity: 1000/5000 chunks (20%), 500 chunks/s, about 8s left"
        );
        assert_eq!(
            done_line("x", "runs", 300, Duration::from_secs(190)),
            "x: done, 300 runs in 3m10s (1.6 runs/s)"
        );
        assert_eq!(duration_text(7500.0), "2h05m");
    }

    #[test]
    fn a_log_reports_each_interval_and_a_last_line() {
        let sink = Sink::default();
        let p = Progress::logging_to("job", "steps", 4, Duration::ZERO, Box::new(sink.clone()));
        let other = p.clone();
        p.inc(1);
        other.inc(2);
        p.inc(5); // past the end: counted as the end
        p.finish_and_clear();
        let lines = sink.lines();
        assert_eq!(lines.len(), 4, "{lines:?}");
        assert!(lines[0].starts_with("job: 1/4 steps (25%), "), "{lines:?}");
        assert!(lines[1].starts_with("job: 3/4 steps (75%), "), "{lines:?}");
        assert!(lines[2].starts_with("job: 4/4 steps (100%), "), "{lines:?}");
        assert!(lines[3].starts_with("job: done, 4 steps in "), "{lines:?}");
    }

    #[test]
    fn a_short_run_logs_nothing() {
        let sink = Sink::default();
        let p = Progress::logging_to(
            "job",
            "steps",
            4,
            Duration::from_secs(3600),
            Box::new(sink.clone()),
        );
        p.inc(4);
        p.finish_and_clear();
        assert_eq!(sink.lines(), Vec::<String>::new());
    }

    #[test]
    fn quiet_reports_nothing() {
        assert!(matches!(
            &*Progress::new("job", "steps", 4, true).inner,
            Inner::Hidden
        ));
    }
}
