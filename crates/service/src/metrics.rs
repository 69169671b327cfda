//! A small Prometheus registry: request counters and latency histograms per route and status, plus named
//! counters that services bump for their own events, gauges that jobs set ([`Metrics::set`]) and
//! lock-free labeled counters for hot paths ([`Metrics::labeled`]). Rendered in the text exposition format, one
//! registry or all of a process's together ([`render_all`]), and only ever served on the operators'
//! metrics listener ([`crate::http::metrics_router`]), never on a port that phones, labs or officers
//! reach: the counters tell real uploads from fake ones.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// Upper bounds (seconds) of the latency histogram buckets.
const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

#[derive(Debug, Default, Clone)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

#[derive(Debug, Default, Clone)]
struct Inner {
    /// By route, then status: nested so a request looks its route up without allocating.
    requests: BTreeMap<String, BTreeMap<u16, Histogram>>,
    counters: BTreeMap<&'static str, (&'static str, u64)>,
    gauges: BTreeMap<&'static str, (&'static str, f64)>,
    labeled: Vec<LabeledCounter>,
}

/// A counter family with one label whose values are fixed up front (e.g. `kind` = archive, index,
/// ...), one atomic per value: bumping it takes no lock and allocates nothing, so it fits a path that
/// is benchmarked per request. Cheap to clone (shared); made by [`Metrics::labeled`].
#[derive(Debug, Clone)]
pub struct LabeledCounter {
    name: &'static str,
    help: &'static str,
    label: &'static str,
    values: &'static [&'static str],
    counts: Arc<[AtomicU64]>,
}

impl LabeledCounter {
    /// Adds one to the sample whose label value is `values[index]`; an index out of range is ignored
    /// (a caller's bug must not take a request down).
    #[inline]
    pub fn inc(&self, index: usize) {
        if let Some(c) = self.counts.get(index) {
            c.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The current value of the sample whose label value is `value` (0 if it is not one of the values).
    pub fn get(&self, value: &str) -> u64 {
        self.values
            .iter()
            .position(|v| *v == value)
            .map_or(0, |i| self.counts[i].load(Ordering::Relaxed))
    }
}

/// The metrics of one service; cheap to clone (shared).
#[derive(Debug, Clone)]
pub struct Metrics {
    service: &'static str,
    inner: Arc<Mutex<Inner>>,
}

impl Metrics {
    /// An empty registry for `service` (used as the `service` label).
    pub fn new(service: &'static str) -> Self {
        Self {
            service,
            inner: Arc::default(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding this lock cannot leave the maps inconsistent (single inserts and adds), so
        // a poisoned lock is still safe to use.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records one finished request on `route` (the route template, never the raw path).
    pub fn observe_request(&self, route: &str, status: u16, elapsed: Duration) {
        let secs = elapsed.as_secs_f64();
        let mut inner = self.lock();
        if !inner.requests.contains_key(route) {
            inner.requests.insert(route.to_owned(), BTreeMap::new());
        }
        let h = inner
            .requests
            .get_mut(route)
            .expect("inserted above")
            .entry(status)
            .or_default();
        h.count += 1;
        h.sum += secs;
        for (i, bound) in BUCKETS.iter().enumerate() {
            if secs <= *bound {
                h.counts[i] += 1;
            }
        }
    }

    /// Adds `n` to the counter `name` (must be a valid metric name ending in `_total`).
    pub fn add(&self, name: &'static str, help: &'static str, n: u64) {
        self.lock().counters.entry(name).or_insert((help, 0)).1 += n;
    }

    /// The current value of counter `name` (0 if never touched).
    pub fn counter(&self, name: &str) -> u64 {
        self.lock().counters.get(name).map_or(0, |c| c.1)
    }

    /// Sets the gauge `name` (a valid metric name, not ending in `_total`) to `value`; rendered with
    /// `# TYPE <name> gauge` and the `service` label.
    pub fn set(&self, name: &'static str, help: &'static str, value: f64) {
        self.lock().gauges.insert(name, (help, value));
    }

    /// The current value of gauge `name` (None if never set).
    pub fn gauge(&self, name: &str) -> Option<f64> {
        self.lock().gauges.get(name).map(|g| g.1)
    }

    /// Registers (or returns the already registered) counter family `name` with one label `label`
    /// taking the fixed `values`; every value is rendered from the start, at 0 until bumped. The
    /// returned handle is what a hot path keeps and bumps by index into `values`.
    pub fn labeled(
        &self,
        name: &'static str,
        help: &'static str,
        label: &'static str,
        values: &'static [&'static str],
    ) -> LabeledCounter {
        let mut inner = self.lock();
        if let Some(c) = inner.labeled.iter().find(|c| c.name == name) {
            return c.clone();
        }
        let c = LabeledCounter {
            name,
            help,
            label,
            values,
            counts: values.iter().map(|_| AtomicU64::new(0)).collect(),
        };
        inner.labeled.push(c.clone());
        c
    }

    /// Renders this registry in the Prometheus text format (version 0.0.4).
    pub fn render(&self) -> String {
        render_all(std::slice::from_ref(self))
    }
}

/// Renders several registries as one exposition in the Prometheus text format (version 0.0.4): each
/// metric family once, with the samples of every registry told apart by their `service` label. This
/// is what the operators' metrics listener serves for all the services of a process.
pub fn render_all(registries: &[Metrics]) -> String {
    // Copies, so that no two locks are held at once; a registry passed twice is rendered once.
    let mut snapshots: Vec<(&str, Inner)> = Vec::new();
    for (i, m) in registries.iter().enumerate() {
        if !registries[..i]
            .iter()
            .any(|seen| Arc::ptr_eq(&seen.inner, &m.inner))
        {
            snapshots.push((m.service, m.lock().clone()));
        }
    }
    let requests = || {
        snapshots.iter().flat_map(|(svc, inner)| {
            inner
                .requests
                .iter()
                .flat_map(move |(r, by)| by.iter().map(move |(s, h)| (*svc, r, s, h)))
        })
    };
    let mut out = String::new();
    // Writing to a String cannot fail, hence the ignored results.
    let _ = writeln!(
        out,
        "# HELP http_requests_total Finished HTTP requests.\n# TYPE http_requests_total counter"
    );
    for (svc, route, status, h) in requests() {
        let _ = writeln!(
            out,
            "http_requests_total{{service=\"{svc}\",route=\"{}\",status=\"{status}\"}} {}",
            escape(route),
            h.count
        );
    }
    let _ = writeln!(
        out,
        "# HELP http_request_duration_seconds Request latency.\n# TYPE http_request_duration_seconds histogram"
    );
    for (svc, route, status, h) in requests() {
        let labels = format!(
            "service=\"{svc}\",route=\"{}\",status=\"{status}\"",
            escape(route)
        );
        for (bound, count) in BUCKETS.iter().zip(h.counts) {
            let _ = writeln!(
                out,
                "http_request_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {count}"
            );
        }
        let _ = writeln!(
            out,
            "http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}",
            h.count
        );
        let _ = writeln!(
            out,
            "http_request_duration_seconds_sum{{{labels}}} {}",
            h.sum
        );
        let _ = writeln!(
            out,
            "http_request_duration_seconds_count{{{labels}}} {}",
            h.count
        );
    }
    // Counter families by name: help text, then one (service, value) sample per registry that has it.
    type Family<'a> = (&'a str, Vec<(&'a str, u64)>);
    let mut counters: BTreeMap<&str, Family<'_>> = BTreeMap::new();
    for (svc, inner) in &snapshots {
        for (name, (help, value)) in &inner.counters {
            counters
                .entry(name)
                .or_insert((help, Vec::new()))
                .1
                .push((svc, *value));
        }
    }
    for (name, (help, samples)) in counters {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
        for (svc, value) in samples {
            let _ = writeln!(out, "{name}{{service=\"{svc}\"}} {value}");
        }
    }
    // Labeled counter families likewise, each sample carrying the service and its own label.
    type LabeledFamily<'a> = (&'a str, Vec<(&'a str, &'a LabeledCounter)>);
    let mut labeled: BTreeMap<&str, LabeledFamily<'_>> = BTreeMap::new();
    for (svc, inner) in &snapshots {
        for c in &inner.labeled {
            labeled
                .entry(c.name)
                .or_insert((c.help, Vec::new()))
                .1
                .push((svc, c));
        }
    }
    for (name, (help, samples)) in labeled {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
        for (svc, c) in samples {
            for (value, count) in c.values.iter().zip(c.counts.iter()) {
                let _ = writeln!(
                    out,
                    "{name}{{service=\"{svc}\",{}=\"{}\"}} {}",
                    c.label,
                    escape(value),
                    count.load(Ordering::Relaxed)
                );
            }
        }
    }
    type GaugeFamily<'a> = (&'a str, Vec<(&'a str, f64)>);
    let mut gauges: BTreeMap<&str, GaugeFamily<'_>> = BTreeMap::new();
    for (svc, inner) in &snapshots {
        for (name, (help, value)) in &inner.gauges {
            gauges
                .entry(name)
                .or_insert((help, Vec::new()))
                .1
                .push((svc, *value));
        }
    }
    for (name, (help, samples)) in gauges {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
        for (svc, value) in samples {
            let _ = writeln!(out, "{name}{{service=\"{svc}\"}} {}", gauge_value(value));
        }
    }
    out
}

/// A gauge's value as the text format spells it: `NaN` and `+Inf`/`-Inf` rather than Rust's `inf`.
fn gauge_value(v: f64) -> String {
    if v.is_nan() {
        "NaN".to_owned()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.to_owned()
    } else {
        v.to_string()
    }
}

fn escape(label: &str) -> String {
    label
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_prometheus_text() {
        let m = Metrics::new("svc");
        m.observe_request("/a", 200, Duration::from_millis(3));
        m.observe_request("/a", 200, Duration::from_millis(30));
        m.add("things_total", "Things.", 2);
        let text = m.render();
        assert!(text.contains("http_requests_total{service=\"svc\",route=\"/a\",status=\"200\"} 2"));
        assert!(text.contains("le=\"0.005\"} 1"));
        assert!(text.contains("le=\"+Inf\"} 2"));
        assert!(text.contains("things_total{service=\"svc\"} 2"));
        assert_eq!(m.counter("things_total"), 2);
    }

    #[test]
    fn several_registries_render_each_family_once() {
        let a = Metrics::new("a");
        let b = Metrics::new("b");
        a.observe_request("/x", 200, Duration::from_millis(1));
        b.observe_request("/y", 404, Duration::from_millis(1));
        a.add("shared_total", "Shared.", 1);
        b.add("shared_total", "Shared.", 2);
        b.add("only_b_total", "Only b.", 3);
        // The same registry twice (a clone shares it) is rendered once.
        let text = render_all(&[a.clone(), b, a]);
        for family in [
            "http_requests_total",
            "http_request_duration_seconds",
            "shared_total",
            "only_b_total",
        ] {
            let types = text
                .lines()
                .filter(|l| l.starts_with(&format!("# TYPE {family} ")))
                .count();
            assert_eq!(types, 1, "{family}: {text}");
        }
        assert!(text.contains("http_requests_total{service=\"a\",route=\"/x\",status=\"200\"} 1"));
        assert!(text.contains("http_requests_total{service=\"b\",route=\"/y\",status=\"404\"} 1"));
        assert!(text.contains("shared_total{service=\"a\"} 1\nshared_total{service=\"b\"} 2\n"));
        assert!(text.contains("only_b_total{service=\"b\"} 3"));
        assert_eq!(text.matches("shared_total{").count(), 2, "{text}");
    }

    #[test]
    fn gauges_render_typed_with_the_service_label() {
        let a = Metrics::new("a");
        let b = Metrics::new("b");
        a.set("last_run_seconds", "Duration of the last run.", 1.5);
        a.set("last_run_seconds", "Duration of the last run.", 2.25);
        b.set("last_run_seconds", "Duration of the last run.", 7.0);
        a.set("stamp_seconds", "A timestamp.", 1_780_000_000.0);
        b.set("broken", "Not a number.", f64::NAN);
        let text = render_all(&[a.clone(), b]);
        assert_eq!(
            text.matches("# TYPE last_run_seconds gauge\n").count(),
            1,
            "{text}"
        );
        assert!(text.contains(
            "# HELP last_run_seconds Duration of the last run.\n# TYPE last_run_seconds gauge\n\
             last_run_seconds{service=\"a\"} 2.25\nlast_run_seconds{service=\"b\"} 7\n"
        ));
        // Large values must not turn into exponent notation that loses seconds.
        assert!(
            text.contains("stamp_seconds{service=\"a\"} 1780000000\n"),
            "{text}"
        );
        assert!(text.contains("broken{service=\"b\"} NaN\n"), "{text}");
        assert_eq!(a.gauge("last_run_seconds"), Some(2.25));
        assert_eq!(a.gauge("never_set"), None);
    }

    #[test]
    fn labeled_counters_render_every_value_and_share_one_family() {
        const KINDS: &[&str] = &["archive", "index"];
        let a = Metrics::new("a");
        let c = a.labeled("files_total", "Files served.", "kind", KINDS);
        c.inc(0);
        c.inc(0);
        c.inc(7); // out of range: ignored
                  // Registering again hands back the same counters.
        a.labeled("files_total", "Files served.", "kind", KINDS)
            .inc(1);
        let b = Metrics::new("b");
        b.labeled("files_total", "Files served.", "kind", KINDS)
            .inc(1);
        let text = render_all(&[a, b]);
        assert_eq!(
            text.matches("# TYPE files_total counter\n").count(),
            1,
            "{text}"
        );
        assert!(
            text.contains(
                "files_total{service=\"a\",kind=\"archive\"} 2\n\
             files_total{service=\"a\",kind=\"index\"} 1\n\
             files_total{service=\"b\",kind=\"archive\"} 0\n\
             files_total{service=\"b\",kind=\"index\"} 1\n"
            ),
            "{text}"
        );
        assert_eq!(c.get("archive"), 2);
        assert_eq!(c.get("index"), 1);
        assert_eq!(c.get("other"), 0);
    }
}
