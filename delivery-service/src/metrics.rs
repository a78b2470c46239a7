//! A small metrics registry rendered in the Prometheus text exposition format (version 0.0.4), served at
//! `GET /metrics` (docs/DESIGN.md §7).
//!
//! Written here rather than taken from a crate: the needs are counters, gauges and histograms, optionally
//! with labels, which fit in this file with atomics and no further dependency.
//!
//! Every module that wants metrics registers them once on the shared [`Registry`] and keeps the handle,
//! which is cheap to clone and to update from any thread:
//!
//! ```
//! use mimi_ds::metrics::{Registry, DEFAULT_SIZE_BUCKETS};
//! let registry = Registry::new();
//! let commits = registry.counter("hub_commits_accepted_total", "Commits the hub accepted.").unwrap();
//! let batch = registry.histogram("store_batch_size", "Requests per durable commit.", DEFAULT_SIZE_BUCKETS).unwrap();
//! commits.inc();
//! batch.observe(12.0);
//! assert!(registry.render().contains("hub_commits_accepted_total 1"));
//! ```
//!
//! Registering a name again with the same kind, help and labels returns the existing metric (so two parts
//! of a program may share one); any other reuse of a name is an error. The HTTP layer
//! ([`crate::server`]) registers [`HttpMetrics`]: requests by method, route and status, latency by route,
//! requests in flight, and failed TLS handshakes.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;

/// Content type of the rendered text.
pub const CONTENT_TYPE_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";
/// Path of the metrics route.
pub const METRICS_PATH: &str = "/metrics";
/// Requests refused by a quota, labelled `quota` (see `crate::hub::admission::quota`): one
/// family, registered by each part that refuses (the provider, the follower, the server's body
/// limits) under this name, help and label, so they share it.
pub const QUOTA_REFUSED_TOTAL: &str = "mimi_quota_refused_total";
/// The help text of [`QUOTA_REFUSED_TOTAL`].
pub const QUOTA_REFUSED_HELP: &str = "Requests refused by a quota, by quota.";
/// The label of [`QUOTA_REFUSED_TOTAL`].
pub const QUOTA_LABEL: &str = "quota";
/// The `quota` label of a body refused for its size (the hub's `Quota::BodyBytes`).
pub const BODY_BYTES_QUOTA: &str = "body_bytes";
/// Latency buckets in seconds, 1 ms to 10 s.
pub const DEFAULT_LATENCY_BUCKETS: &[f64] =
    &[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];
/// Buckets for sizes and counts (batch sizes, fanout widths), 1 to 10 000.
pub const DEFAULT_SIZE_BUCKETS: &[f64] =
    &[1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0, 2000.0, 5000.0, 10000.0];

/// An error registering a metric.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MetricsError {
    /// The metric or a label name is not `[a-zA-Z_][a-zA-Z0-9_]*` (or a label name is reserved).
    #[error("invalid metric or label name `{0}`")]
    InvalidName(String),
    /// The name is already registered with another kind, help or label set.
    #[error("metric `{0}` is already registered differently")]
    Conflict(String),
    /// Histogram buckets must be finite and strictly increasing, and there must be at least one.
    #[error("histogram `{0}`: buckets must be finite, strictly increasing and not empty")]
    Buckets(String),
    /// A labelled metric was used with the wrong number of label values.
    #[error("metric `{name}` has {expected} labels, {given} values given")]
    LabelCount {
        /// The metric.
        name: String,
        /// Its number of labels.
        expected: usize,
        /// The number of values given.
        given: usize,
    },
}

/// A monotonically increasing count.
#[derive(Debug, Clone, Default)]
pub struct Counter(Arc<AtomicU64>);

impl Counter {
    /// Adds one.
    pub fn inc(&self) {
        self.inc_by(1);
    }
    /// Adds `n`.
    pub fn inc_by(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }
    /// The current count.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// A value that goes up and down (integer).
#[derive(Debug, Clone, Default)]
pub struct Gauge(Arc<AtomicI64>);

impl Gauge {
    /// Sets the value.
    pub fn set(&self, v: i64) {
        self.0.store(v, Ordering::Relaxed);
    }
    /// Adds `n` (may be negative).
    pub fn add(&self, n: i64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }
    /// Adds one.
    pub fn inc(&self) {
        self.add(1);
    }
    /// Subtracts one.
    pub fn dec(&self) {
        self.add(-1);
    }
    /// The current value.
    pub fn get(&self) -> i64 {
        self.0.load(Ordering::Relaxed)
    }
    /// Adds one now and subtracts it when the guard is dropped (also when a task is cancelled).
    pub fn track(&self) -> GaugeGuard {
        self.inc();
        GaugeGuard(self.clone())
    }
}

/// Returned by [`Gauge::track`]: decrements the gauge on drop.
#[derive(Debug)]
pub struct GaugeGuard(Gauge);

impl Drop for GaugeGuard {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// A distribution of observed values over fixed buckets.
#[derive(Debug, Clone)]
pub struct Histogram(Arc<HistogramCore>);

#[derive(Debug)]
struct HistogramCore {
    /// Upper bounds, strictly increasing; `+Inf` is implicit.
    bounds: Vec<f64>,
    /// Per bucket (not cumulative), plus one for values above the last bound.
    counts: Vec<AtomicU64>,
    /// Sum of observations, as `f64` bits.
    sum_bits: AtomicU64,
    count: AtomicU64,
}

impl Histogram {
    fn new(bounds: &[f64]) -> Self {
        Histogram(Arc::new(HistogramCore {
            bounds: bounds.to_vec(),
            counts: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum_bits: AtomicU64::new(0f64.to_bits()),
            count: AtomicU64::new(0),
        }))
    }

    /// Records one observation (NaN is ignored).
    pub fn observe(&self, v: f64) {
        if v.is_nan() {
            return;
        }
        let core = &self.0;
        let i = core.bounds.partition_point(|b| *b < v);
        core.counts[i].fetch_add(1, Ordering::Relaxed);
        core.count.fetch_add(1, Ordering::Relaxed);
        let mut current = core.sum_bits.load(Ordering::Relaxed);
        loop {
            let next = (f64::from_bits(current) + v).to_bits();
            match core.sum_bits.compare_exchange_weak(current, next, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => break,
                Err(seen) => current = seen,
            }
        }
    }

    /// The number of observations.
    pub fn count(&self) -> u64 {
        self.0.count.load(Ordering::Relaxed)
    }

    /// The sum of observations.
    pub fn sum(&self) -> f64 {
        f64::from_bits(self.0.sum_bits.load(Ordering::Relaxed))
    }
}

/// A family of metrics of one kind distinguished by label values, e.g. `http_requests_total{status="200"}`.
#[derive(Debug, Clone)]
pub struct Family<M> {
    name: Arc<str>,
    labels: Arc<[String]>,
    members: Arc<Mutex<BTreeMap<Vec<String>, M>>>,
    make: fn(&[f64]) -> M,
    buckets: Arc<[f64]>,
}

impl<M: Clone> Family<M> {
    /// The metric for these label values (in the order the labels were registered), created at zero on
    /// first use.
    pub fn with_labels(&self, values: &[&str]) -> Result<M, MetricsError> {
        if values.len() != self.labels.len() {
            return Err(MetricsError::LabelCount {
                name: self.name.to_string(),
                expected: self.labels.len(),
                given: values.len(),
            });
        }
        let key: Vec<String> = values.iter().map(|v| (*v).to_owned()).collect();
        let mut members = lock(&self.members);
        Ok(members.entry(key).or_insert_with(|| (self.make)(&self.buckets)).clone())
    }
}

/// A labelled [`Counter`] family.
pub type CounterVec = Family<Counter>;
/// A labelled [`Gauge`] family.
pub type GaugeVec = Family<Gauge>;
/// A labelled [`Histogram`] family.
pub type HistogramVec = Family<Histogram>;

/// The three kinds of metric, as the registry stores them.
trait Metric: Clone + Sized {
    fn make(buckets: &[f64]) -> Self;
    fn wrap(family: Family<Self>) -> Entry;
    fn unwrap(entry: &Entry) -> Option<&Family<Self>>;
}

impl Metric for Counter {
    fn make(_: &[f64]) -> Self {
        Counter::default()
    }
    fn wrap(family: Family<Self>) -> Entry {
        Entry::Counter(family)
    }
    fn unwrap(entry: &Entry) -> Option<&Family<Self>> {
        match entry {
            Entry::Counter(f) => Some(f),
            _ => None,
        }
    }
}

impl Metric for Gauge {
    fn make(_: &[f64]) -> Self {
        Gauge::default()
    }
    fn wrap(family: Family<Self>) -> Entry {
        Entry::Gauge(family)
    }
    fn unwrap(entry: &Entry) -> Option<&Family<Self>> {
        match entry {
            Entry::Gauge(f) => Some(f),
            _ => None,
        }
    }
}

impl Metric for Histogram {
    fn make(buckets: &[f64]) -> Self {
        Histogram::new(buckets)
    }
    fn wrap(family: Family<Self>) -> Entry {
        Entry::Histogram(family)
    }
    fn unwrap(entry: &Entry) -> Option<&Family<Self>> {
        match entry {
            Entry::Histogram(f) => Some(f),
            _ => None,
        }
    }
}

#[derive(Debug, Clone)]
enum Entry {
    Counter(CounterVec),
    Gauge(GaugeVec),
    Histogram(HistogramVec),
}

impl Entry {
    fn kind(&self) -> &'static str {
        match self {
            Entry::Counter(_) => "counter",
            Entry::Gauge(_) => "gauge",
            Entry::Histogram(_) => "histogram",
        }
    }
    fn labels(&self) -> &[String] {
        match self {
            Entry::Counter(f) => &f.labels,
            Entry::Gauge(f) => &f.labels,
            Entry::Histogram(f) => &f.labels,
        }
    }
}

#[derive(Debug)]
struct Registered {
    help: String,
    entry: Entry,
}

/// The set of metrics one process exposes. Cloning shares the registry.
#[derive(Debug, Clone, Default)]
pub struct Registry {
    metrics: Arc<Mutex<BTreeMap<String, Registered>>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Metrics hold plain numbers: a panic elsewhere while holding the lock leaves them consistent.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn valid_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Registry::default()
    }

    fn register<M: Metric>(
        &self,
        name: &str,
        help: &str,
        labels: &[&str],
        buckets: &[f64],
    ) -> Result<Family<M>, MetricsError> {
        if !valid_name(name) {
            return Err(MetricsError::InvalidName(name.to_owned()));
        }
        for label in labels {
            if !valid_name(label) || label.starts_with("__") || *label == "le" {
                return Err(MetricsError::InvalidName((*label).to_owned()));
            }
        }
        let mut metrics = lock(&self.metrics);
        if let Some(existing) = metrics.get(name) {
            return match M::unwrap(&existing.entry) {
                Some(family)
                    if existing.help == help
                        && existing.entry.labels().iter().map(String::as_str).eq(labels.iter().copied())
                        && *family.buckets == *buckets =>
                {
                    Ok(family.clone())
                }
                _ => Err(MetricsError::Conflict(name.to_owned())),
            };
        }
        let family = Family {
            name: name.into(),
            labels: labels.iter().map(|l| (*l).to_owned()).collect(),
            members: Arc::default(),
            make: M::make,
            buckets: buckets.into(),
        };
        metrics.insert(name.to_owned(), Registered { help: help.to_owned(), entry: M::wrap(family.clone()) });
        Ok(family)
    }

    /// Registers a labelled counter family.
    pub fn counter_vec(&self, name: &str, help: &str, labels: &[&str]) -> Result<CounterVec, MetricsError> {
        self.register(name, help, labels, &[])
    }

    /// Registers a counter without labels.
    pub fn counter(&self, name: &str, help: &str) -> Result<Counter, MetricsError> {
        self.counter_vec(name, help, &[])?.with_labels(&[])
    }

    /// Registers a labelled gauge family.
    pub fn gauge_vec(&self, name: &str, help: &str, labels: &[&str]) -> Result<GaugeVec, MetricsError> {
        self.register(name, help, labels, &[])
    }

    /// Registers a gauge without labels.
    pub fn gauge(&self, name: &str, help: &str) -> Result<Gauge, MetricsError> {
        self.gauge_vec(name, help, &[])?.with_labels(&[])
    }

    /// Registers a labelled histogram family with these bucket upper bounds (`+Inf` is implicit).
    pub fn histogram_vec(
        &self,
        name: &str,
        help: &str,
        labels: &[&str],
        buckets: &[f64],
    ) -> Result<HistogramVec, MetricsError> {
        if buckets.is_empty() || buckets.iter().any(|b| !b.is_finite()) || buckets.windows(2).any(|w| w[0] >= w[1]) {
            return Err(MetricsError::Buckets(name.to_owned()));
        }
        self.register(name, help, labels, buckets)
    }

    /// Registers a histogram without labels.
    pub fn histogram(&self, name: &str, help: &str, buckets: &[f64]) -> Result<Histogram, MetricsError> {
        self.histogram_vec(name, help, &[], buckets)?.with_labels(&[])
    }

    /// Renders every metric in the Prometheus text format, metrics sorted by name and series by label
    /// values.
    pub fn render(&self) -> String {
        let metrics = lock(&self.metrics);
        let mut out = String::new();
        for (name, registered) in metrics.iter() {
            let _ = writeln!(out, "# HELP {name} {}", escape_help(&registered.help));
            let _ = writeln!(out, "# TYPE {name} {}", registered.entry.kind());
            let labels = registered.entry.labels();
            match &registered.entry {
                Entry::Counter(family) => {
                    for (values, c) in lock(&family.members).iter() {
                        let _ = writeln!(out, "{name}{} {}", label_set(labels, values, None), c.get());
                    }
                }
                Entry::Gauge(family) => {
                    for (values, g) in lock(&family.members).iter() {
                        let _ = writeln!(out, "{name}{} {}", label_set(labels, values, None), g.get());
                    }
                }
                Entry::Histogram(family) => {
                    for (values, h) in lock(&family.members).iter() {
                        render_histogram(&mut out, name, labels, values, h);
                    }
                }
            }
        }
        out
    }
}

fn render_histogram(out: &mut String, name: &str, labels: &[String], values: &[String], h: &Histogram) {
    let core = &h.0;
    let mut cumulative = 0u64;
    for (i, bound) in core.bounds.iter().enumerate() {
        cumulative += core.counts[i].load(Ordering::Relaxed);
        let le = format_float(*bound);
        let _ = writeln!(out, "{name}_bucket{} {cumulative}", label_set(labels, values, Some(&le)));
    }
    cumulative += core.counts[core.bounds.len()].load(Ordering::Relaxed);
    let _ = writeln!(out, "{name}_bucket{} {cumulative}", label_set(labels, values, Some("+Inf")));
    let _ = writeln!(out, "{name}_sum{} {}", label_set(labels, values, None), format_float(h.sum()));
    // The count is the +Inf bucket, so the two always agree even while observations race.
    let _ = writeln!(out, "{name}_count{} {cumulative}", label_set(labels, values, None));
}

fn format_float(v: f64) -> String {
    if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.to_owned()
    } else {
        format!("{v}")
    }
}

fn label_set(labels: &[String], values: &[String], le: Option<&str>) -> String {
    if labels.is_empty() && le.is_none() {
        return String::new();
    }
    let mut parts: Vec<String> =
        labels.iter().zip(values).map(|(l, v)| format!("{l}=\"{}\"", escape_label(v))).collect();
    if let Some(le) = le {
        parts.push(format!("le=\"{le}\""));
    }
    format!("{{{}}}", parts.join(","))
}

fn escape_label(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

fn escape_help(v: &str) -> String {
    v.replace('\\', "\\\\").replace('\n', "\\n")
}

/// The HTTP server's own metrics, registered by [`HttpMetrics::register`].
#[derive(Debug, Clone)]
pub struct HttpMetrics {
    /// `http_requests_total{method, route, status}`: `route` is the router's matched path template
    /// (e.g. `/v1/update/{roomId}`) or `unmatched`, never the raw path, so room IDs do not become labels.
    pub requests: CounterVec,
    /// `http_request_duration_seconds{route}`: time to the response head.
    pub duration: HistogramVec,
    /// `http_requests_in_flight`.
    pub in_flight: Gauge,
    /// `tls_handshake_failures_total`: handshakes that failed or timed out (untrusted client
    /// certificates land here).
    pub tls_handshake_failures: Counter,
    /// `http_connections_open`.
    pub connections_open: Gauge,
    /// `http_connections_refused_total`: connections closed at once because `max_connections` were
    /// open.
    pub connections_refused: Counter,
    /// `mimi_quota_refused_total{quota="body_bytes"}`: request bodies larger than their route
    /// allows (413).
    pub body_refused: Counter,
}

impl HttpMetrics {
    /// Registers (or finds) the HTTP metrics in `registry`.
    pub fn register(registry: &Registry) -> Result<HttpMetrics, MetricsError> {
        Ok(HttpMetrics {
            requests: registry.counter_vec(
                "http_requests_total",
                "HTTP requests answered, by method, matched route and status.",
                &["method", "route", "status"],
            )?,
            duration: registry.histogram_vec(
                "http_request_duration_seconds",
                "Time from request to response head, by matched route.",
                &["route"],
                DEFAULT_LATENCY_BUCKETS,
            )?,
            in_flight: registry.gauge("http_requests_in_flight", "HTTP requests being handled.")?,
            tls_handshake_failures: registry
                .counter("tls_handshake_failures_total", "TLS handshakes that failed or timed out.")?,
            connections_open: registry.gauge("http_connections_open", "Open client connections (after TLS).")?,
            connections_refused: registry.counter(
                "http_connections_refused_total",
                "Connections closed at once because max_connections were open.",
            )?,
            body_refused: registry
                .counter_vec(QUOTA_REFUSED_TOTAL, QUOTA_REFUSED_HELP, &[QUOTA_LABEL])?
                .with_labels(&[BODY_BYTES_QUOTA])?,
        })
    }
}

/// A router with `GET /metrics` rendering `registry`.
pub fn router(registry: Registry) -> Router {
    Router::new().route(
        METRICS_PATH,
        get(move || {
            let registry = registry.clone();
            async move { ([(CONTENT_TYPE, CONTENT_TYPE_TEXT)], registry.render()).into_response() }
        }),
    )
}

impl Registry {
    /// The value of a counter series, if registered and created (`values` in label order).
    pub fn counter_value(&self, name: &str, values: &[&str]) -> Option<u64> {
        let metrics = lock(&self.metrics);
        let Entry::Counter(family) = &metrics.get(name)?.entry else { return None };
        let key: Vec<String> = values.iter().map(|v| (*v).to_owned()).collect();
        let members = lock(&family.members);
        members.get(&key).map(Counter::get)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_prometheus_text() {
        let r = Registry::new();
        let c = r.counter_vec("req_total", "Requests.", &["code"]).unwrap();
        c.with_labels(&["200"]).unwrap().inc_by(3);
        c.with_labels(&["a\"b"]).unwrap().inc();
        let h = r.histogram("lat_seconds", "Latency.", &[0.1, 1.0]).unwrap();
        h.observe(0.05);
        h.observe(0.5);
        h.observe(5.0);
        r.gauge("g", "A gauge.\nTwo lines.").unwrap().set(-2);
        let text = r.render();
        let expected = "# HELP g A gauge.\\nTwo lines.\n# TYPE g gauge\ng -2\n\
            # HELP lat_seconds Latency.\n# TYPE lat_seconds histogram\n\
            lat_seconds_bucket{le=\"0.1\"} 1\nlat_seconds_bucket{le=\"1\"} 2\nlat_seconds_bucket{le=\"+Inf\"} 3\n\
            lat_seconds_sum 5.55\nlat_seconds_count 3\n\
            # HELP req_total Requests.\n# TYPE req_total counter\n\
            req_total{code=\"200\"} 3\nreq_total{code=\"a\\\"b\"} 1\n";
        assert_eq!(text, expected);
        assert_eq!(r.counter_value("req_total", &["200"]), Some(3));
    }

    #[test]
    fn registration_rules() {
        let r = Registry::new();
        let a = r.counter("x_total", "X.").unwrap();
        let b = r.counter("x_total", "X.").unwrap();
        a.inc();
        assert_eq!(b.get(), 1, "same registration shares the metric");
        assert_eq!(r.gauge("x_total", "X.").unwrap_err(), MetricsError::Conflict("x_total".into()));
        assert_eq!(r.counter("x_total", "Other help.").unwrap_err(), MetricsError::Conflict("x_total".into()));
        assert!(matches!(r.counter("1bad", ""), Err(MetricsError::InvalidName(_))));
        assert!(matches!(r.counter_vec("ok", "", &["le"]), Err(MetricsError::InvalidName(_))));
        assert!(matches!(r.histogram("h", "", &[1.0, 1.0]), Err(MetricsError::Buckets(_))));
        let v = r.counter_vec("v_total", "", &["a", "b"]).unwrap();
        assert!(matches!(v.with_labels(&["x"]), Err(MetricsError::LabelCount { .. })));
    }
}
