//! A small Prometheus registry: request counters and latency histograms per route and status, plus named
//! counters that services bump for their own events. Rendered in the text exposition format, one
//! registry or all of a process's together ([`render_all`]), and only ever served on the operators'
//! metrics listener ([`crate::http::metrics_router`]), never on a port that phones, labs or officers
//! reach: the counters tell real uploads from fake ones.

use std::collections::BTreeMap;
use std::fmt::Write as _;
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
    out
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
}
