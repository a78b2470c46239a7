//! The provider's metrics, through the [`metrics`] facade, rendered in the Prometheus text
//! exposition format on a plain-HTTP listener of their own (`metrics_listen`,
//! [`listener`]; docs/DESIGN.md §7).
//!
//! Every module that wants metrics registers them once on the shared [`Registry`] and keeps the
//! handles it gets back ([`Counter`], [`Gauge`], [`Histogram`] of the `metrics` crate), which are
//! cheap to clone and to update from any thread. Metrics are write-only: no code reads a value
//! back for its own logic (whatever it needs, it keeps itself), and tests read the rendered text.
//!
//! ```
//! use mimi_ds::metrics::Registry;
//! let registry = Registry::new();
//! let commits = registry.counter("hub_commits_accepted_total", "Commits the hub accepted.").unwrap();
//! let batch = registry.histogram("mimi_store_batch_size", "Writes per durable commit.").unwrap();
//! commits.increment(1);
//! batch.record(12.0);
//! let text = registry.render().unwrap();
//! assert!(text.contains("hub_commits_accepted_total 1"));
//! assert!(text.contains("mimi_store_batch_size_count 1"));
//! ```
//!
//! **Whose recorder.** Several providers may run in one process (the tests and the simulator
//! do), so a registry does not use the process-wide recorder by default: [`Registry::new`] makes
//! a recorder of its own ([`prometheus_builder`]'s `PrometheusRecorder`), and
//! [`Registry::render`] renders it. A program embedding the provider that collects metrics its
//! own way passes its recorder instead, [`Registry::with_recorder`] (any
//! `metrics::Recorder`), or [`Registry::global`] for the one it installed with
//! `metrics::set_global_recorder`; then the provider's metrics go there, and [`Registry::render`]
//! is `None` (the program exports them itself, and `metrics_listen` is refused). Give that to
//! [`crate::app::serve_provider_with`]:
//!
//! ```no_run
//! # async fn run(config: mimi_ds::config::Config, store: mimi_ds::store::redb::RedbStore) -> Result<(), mimi_ds::app::AppError> {
//! use std::sync::Arc;
//! let recorder = Arc::new(mimi_ds::metrics::prometheus_builder().build_recorder());
//! let handle = recorder.handle(); // the embedding program renders this where it likes
//! let registry = mimi_ds::metrics::Registry::with_recorder(recorder);
//! let running = mimi_ds::app::serve_provider_with(&config, store, registry, std::future::pending()).await?;
//! # let _ = (handle, running); Ok(()) }
//! ```
//!
//! **Conventions.** Names are `[a-zA-Z_][a-zA-Z0-9_]*`; counters end in `_total`. A histogram
//! whose name ends in `_seconds` is a latency and gets [`LATENCY_BUCKETS`]; any other histogram
//! is a size or a count and gets [`SIZE_BUCKETS`] (both render as Prometheus histograms, not
//! summaries). Registering a name again with the same kind, help and labels returns the same
//! metric (so two parts of a program may share one); any other reuse of a name is an error.
//!
//! The HTTP layer ([`crate::server`]) registers [`HttpMetrics`]: requests by method, route and
//! status, latency by route, requests in flight, open connections, refused connections and
//! failed TLS handshakes.

pub mod listener;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

pub use metrics::{Counter, Gauge, Histogram, Recorder};
use metrics::{Key, KeyName, Label, Level, Metadata, SharedString};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

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
/// Refused requests by who refused (`source`) and the code they were refused with (`code`):
/// `source="hub"` with the draft's response code (`notAllowed`, `wrongEpoch`,
/// `invalidProposal`, `epochTooOld`) of a refused handshake or message, `source="http"` with the
/// status of a request answered 4xx.
pub const REFUSALS_TOTAL: &str = "mimi_refusals_total";
/// The help text of [`REFUSALS_TOTAL`].
pub const REFUSALS_HELP: &str = "Refused requests, by who refused them and the code they were refused with.";
/// The labels of [`REFUSALS_TOTAL`].
pub const REFUSALS_LABELS: &[&str] = &["source", "code"];
/// Latency buckets in seconds, 100 µs to 10 s: every histogram named `*_seconds`.
pub const LATENCY_BUCKETS: &[f64] =
    &[0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];
/// Buckets for sizes and counts (batch sizes, entries behind), 1 to 10 000: every other
/// histogram.
pub const SIZE_BUCKETS: &[f64] =
    &[1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0, 2000.0, 5000.0, 10000.0];

/// How often [`Registry::keep_up`] folds the histograms' observations.
pub const UPKEEP_INTERVAL: std::time::Duration = std::time::Duration::from_secs(5);

/// Where the provider's metrics say they come from (the `metrics` crate's metadata).
static METADATA: Metadata<'static> = Metadata::new(module_path!(), Level::INFO, Some(module_path!()));

/// An error registering a metric.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MetricsError {
    /// The metric or a label name is not `[a-zA-Z_][a-zA-Z0-9_]*` (or a label name is reserved).
    #[error("invalid metric or label name `{0}`")]
    InvalidName(String),
    /// The name is already registered with another kind, help or label set.
    #[error("metric `{0}` is already registered differently")]
    Conflict(String),
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

/// The recorder metrics are registered with.
type SharedRecorder = Arc<dyn Recorder + Send + Sync>;

/// A family of metrics of one kind distinguished by label values, e.g.
/// `http_requests_total{status="200"}`.
#[derive(Clone)]
pub struct Family<M> {
    recorder: SharedRecorder,
    name: Arc<str>,
    labels: Arc<[String]>,
    kind: std::marker::PhantomData<fn() -> M>,
}

impl<M> std::fmt::Debug for Family<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Family").field("name", &self.name).field("labels", &self.labels).finish_non_exhaustive()
    }
}

impl<M: Metric> Family<M> {
    /// The metric for these label values (in the order the labels were registered), created at
    /// zero on first use.
    pub fn with_labels(&self, values: &[&str]) -> Result<M, MetricsError> {
        if values.len() != self.labels.len() {
            return Err(MetricsError::LabelCount {
                name: self.name.to_string(),
                expected: self.labels.len(),
                given: values.len(),
            });
        }
        let labels: Vec<Label> =
            self.labels.iter().zip(values).map(|(l, v)| Label::new(l.clone(), (*v).to_owned())).collect();
        let key = Key::from_parts(self.name.to_string(), labels);
        Ok(M::register(self.recorder.as_ref(), &key))
    }

    /// Creates the series of these label values at zero, so that a scrape shows it before its
    /// first change.
    pub fn show(&self, values: &[&str]) -> Result<(), MetricsError> {
        self.with_labels(values).map(drop)
    }
}

/// A labelled [`Counter`] family.
pub type CounterVec = Family<Counter>;
/// A labelled [`Gauge`] family.
pub type GaugeVec = Family<Gauge>;
/// A labelled [`Histogram`] family.
pub type HistogramVec = Family<Histogram>;

/// The three kinds of metric, as a recorder registers them.
pub trait Metric: Sized {
    /// The kind's name, for conflicts.
    const KIND: &'static str;
    /// Registers (or finds) the metric `key` with `recorder`.
    fn register(recorder: &(dyn Recorder + Send + Sync), key: &Key) -> Self;
    /// Gives `recorder` the help text of `name`.
    fn describe(recorder: &(dyn Recorder + Send + Sync), name: &str, help: &str);
}

impl Metric for Counter {
    const KIND: &'static str = "counter";
    fn register(recorder: &(dyn Recorder + Send + Sync), key: &Key) -> Self {
        recorder.register_counter(key, &METADATA)
    }
    fn describe(recorder: &(dyn Recorder + Send + Sync), name: &str, help: &str) {
        recorder.describe_counter(KeyName::from(name.to_owned()), None, SharedString::from(help.to_owned()));
    }
}

impl Metric for Gauge {
    const KIND: &'static str = "gauge";
    fn register(recorder: &(dyn Recorder + Send + Sync), key: &Key) -> Self {
        recorder.register_gauge(key, &METADATA)
    }
    fn describe(recorder: &(dyn Recorder + Send + Sync), name: &str, help: &str) {
        recorder.describe_gauge(KeyName::from(name.to_owned()), None, SharedString::from(help.to_owned()));
    }
}

impl Metric for Histogram {
    const KIND: &'static str = "histogram";
    fn register(recorder: &(dyn Recorder + Send + Sync), key: &Key) -> Self {
        recorder.register_histogram(key, &METADATA)
    }
    fn describe(recorder: &(dyn Recorder + Send + Sync), name: &str, help: &str) {
        recorder.describe_histogram(KeyName::from(name.to_owned()), None, SharedString::from(help.to_owned()));
    }
}

/// What a name was registered as, to refuse registering it differently.
#[derive(Debug, PartialEq, Eq)]
struct Registered {
    kind: &'static str,
    help: String,
    labels: Vec<String>,
}

/// Adds one to a gauge now and takes it away when dropped (also when a task is cancelled):
/// [`track`].
#[derive(Debug)]
pub struct GaugeGuard(Gauge);

/// Adds one to `gauge` for as long as the returned guard lives.
pub fn track(gauge: &Gauge) -> GaugeGuard {
    gauge.increment(1.0);
    GaugeGuard(gauge.clone())
}

impl Drop for GaugeGuard {
    fn drop(&mut self) {
        self.0.decrement(1.0);
    }
}

/// The Prometheus recorder's settings of the provider: histograms named `*_seconds` get
/// [`LATENCY_BUCKETS`], every other histogram [`SIZE_BUCKETS`]. A program that builds its own
/// Prometheus recorder for the provider's metrics starts from this.
pub fn prometheus_builder() -> PrometheusBuilder {
    // Both bucket lists are constant and not empty, which is all the builder checks.
    let builder = PrometheusBuilder::new();
    let builder = match builder.set_buckets(SIZE_BUCKETS) {
        Ok(b) => b,
        Err(e) => unreachable!("constant buckets refused: {e}"),
    };
    match builder.set_buckets_for_metric(Matcher::Suffix("_seconds".to_owned()), LATENCY_BUCKETS) {
        Ok(b) => b,
        Err(e) => unreachable!("constant buckets refused: {e}"),
    }
}

/// The set of metrics one provider registers, and the recorder they go to. Cloning shares it.
#[derive(Clone)]
pub struct Registry {
    recorder: SharedRecorder,
    /// The renderer, when the recorder is this registry's own.
    prometheus: Option<PrometheusHandle>,
    registered: Arc<Mutex<BTreeMap<String, Registered>>>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names = self.registered.lock().unwrap_or_else(PoisonError::into_inner).len();
        f.debug_struct("Registry").field("own_recorder", &self.prometheus.is_some()).field("names", &names).finish()
    }
}

impl Default for Registry {
    fn default() -> Self {
        Registry::new()
    }
}

/// Forwards to the process-wide recorder installed at the time of each registration (a no-op
/// one if none is): [`Registry::global`].
#[derive(Debug, Clone, Copy)]
struct GlobalRecorder;

impl Recorder for GlobalRecorder {
    fn describe_counter(&self, key: KeyName, unit: Option<metrics::Unit>, description: SharedString) {
        metrics::with_recorder(|r| r.describe_counter(key, unit, description));
    }
    fn describe_gauge(&self, key: KeyName, unit: Option<metrics::Unit>, description: SharedString) {
        metrics::with_recorder(|r| r.describe_gauge(key, unit, description));
    }
    fn describe_histogram(&self, key: KeyName, unit: Option<metrics::Unit>, description: SharedString) {
        metrics::with_recorder(|r| r.describe_histogram(key, unit, description));
    }
    fn register_counter(&self, key: &Key, metadata: &Metadata<'_>) -> Counter {
        metrics::with_recorder(|r| r.register_counter(key, metadata))
    }
    fn register_gauge(&self, key: &Key, metadata: &Metadata<'_>) -> Gauge {
        metrics::with_recorder(|r| r.register_gauge(key, metadata))
    }
    fn register_histogram(&self, key: &Key, metadata: &Metadata<'_>) -> Histogram {
        metrics::with_recorder(|r| r.register_histogram(key, metadata))
    }
}

fn valid_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

impl Registry {
    /// A registry with a Prometheus recorder of its own ([`prometheus_builder`]), which
    /// [`Registry::render`] renders.
    pub fn new() -> Self {
        let recorder = prometheus_builder().build_recorder();
        let prometheus = Some(recorder.handle());
        Registry { recorder: Arc::new(recorder), prometheus, registered: Arc::default() }
    }

    /// A registry whose metrics go to `recorder`, the embedding program's (module docs);
    /// [`Registry::render`] is `None`.
    pub fn with_recorder(recorder: Arc<dyn Recorder + Send + Sync>) -> Self {
        Registry { recorder, prometheus: None, registered: Arc::default() }
    }

    /// A registry whose metrics go to the process-wide recorder (`metrics::set_global_recorder`),
    /// as it is when each metric is registered: install it first. [`Registry::render`] is `None`.
    pub fn global() -> Self {
        Registry::with_recorder(Arc::new(GlobalRecorder))
    }

    fn register<M: Metric>(&self, name: &str, help: &str, labels: &[&str]) -> Result<Family<M>, MetricsError> {
        if !valid_name(name) {
            return Err(MetricsError::InvalidName(name.to_owned()));
        }
        for label in labels {
            if !valid_name(label) || label.starts_with("__") || *label == "le" || *label == "quantile" {
                return Err(MetricsError::InvalidName((*label).to_owned()));
            }
        }
        let wanted = Registered {
            kind: M::KIND,
            help: help.to_owned(),
            labels: labels.iter().map(|l| (*l).to_owned()).collect(),
        };
        {
            // Only inserts happen under this lock: a poisoned one is used as it is.
            let mut registered = self.registered.lock().unwrap_or_else(PoisonError::into_inner);
            match registered.get(name) {
                Some(existing) if *existing != wanted => return Err(MetricsError::Conflict(name.to_owned())),
                Some(_) => {}
                None => {
                    M::describe(self.recorder.as_ref(), name, help);
                    registered.insert(name.to_owned(), wanted);
                }
            }
        }
        Ok(Family {
            recorder: self.recorder.clone(),
            name: name.into(),
            labels: labels.iter().map(|l| (*l).to_owned()).collect(),
            kind: std::marker::PhantomData,
        })
    }

    /// Registers a labelled counter family.
    pub fn counter_vec(&self, name: &str, help: &str, labels: &[&str]) -> Result<CounterVec, MetricsError> {
        self.register(name, help, labels)
    }

    /// Registers a counter without labels.
    pub fn counter(&self, name: &str, help: &str) -> Result<Counter, MetricsError> {
        self.counter_vec(name, help, &[])?.with_labels(&[])
    }

    /// Registers a labelled gauge family.
    pub fn gauge_vec(&self, name: &str, help: &str, labels: &[&str]) -> Result<GaugeVec, MetricsError> {
        self.register(name, help, labels)
    }

    /// Registers a gauge without labels.
    pub fn gauge(&self, name: &str, help: &str) -> Result<Gauge, MetricsError> {
        self.gauge_vec(name, help, &[])?.with_labels(&[])
    }

    /// Registers a labelled histogram family (buckets by name, module docs).
    pub fn histogram_vec(&self, name: &str, help: &str, labels: &[&str]) -> Result<HistogramVec, MetricsError> {
        self.register(name, help, labels)
    }

    /// Registers a histogram without labels.
    pub fn histogram(&self, name: &str, help: &str) -> Result<Histogram, MetricsError> {
        self.histogram_vec(name, help, &[])?.with_labels(&[])
    }

    /// The family of [`REFUSALS_TOTAL`].
    pub fn refusals(&self) -> Result<CounterVec, MetricsError> {
        self.counter_vec(REFUSALS_TOTAL, REFUSALS_HELP, REFUSALS_LABELS)
    }

    /// Whether [`Registry::render`] renders (the recorder is this registry's own).
    pub fn renders(&self) -> bool {
        self.prometheus.is_some()
    }

    /// Every metric in the Prometheus text format, if the recorder is this registry's own
    /// ([`Registry::new`]); `None` for an embedding program's recorder.
    pub fn render(&self) -> Option<String> {
        self.prometheus.as_ref().map(PrometheusHandle::render)
    }

    /// Folds the histograms' recent observations into their buckets (rendering does it too),
    /// so that observations do not pile up between scrapes or without any. Nothing to do for an
    /// embedding program's recorder.
    pub fn run_upkeep(&self) {
        if let Some(handle) = &self.prometheus {
            handle.run_upkeep();
        }
    }

    /// Runs [`Registry::run_upkeep`] every [`UPKEEP_INTERVAL`], until the task is aborted
    /// (the provider runs it beside its server).
    pub async fn keep_up(self) {
        let mut every = tokio::time::interval(UPKEEP_INTERVAL);
        loop {
            every.tick().await;
            self.run_upkeep();
        }
    }
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
    /// `mimi_refusals_total{source="http", code}`: requests answered 4xx, by status.
    pub refusals: CounterVec,
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
            refusals: registry.refusals()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The rendered line of `series` (name with labels as rendered), if any.
    fn line<'a>(text: &'a str, series: &str) -> Option<&'a str> {
        text.lines().find(|l| l.split_once(' ').is_some_and(|(s, _)| s == series))
    }

    #[test]
    fn renders_prometheus_text_with_histograms_by_name() {
        let r = Registry::new();
        let c = r.counter_vec("req_total", "Requests.", &["code"]).unwrap();
        c.with_labels(&["200"]).unwrap().increment(3);
        c.with_labels(&["a\"b"]).unwrap().increment(1);
        let lat = r.histogram("lat_seconds", "Latency.").unwrap();
        lat.record(0.05);
        lat.record(0.5);
        lat.record(50.0);
        r.histogram("batch_size", "Sizes.").unwrap().record(3.0);
        r.gauge("g", "A gauge.").unwrap().set(-2.0);
        let text = r.render().unwrap();
        assert!(text.contains("# HELP req_total Requests.\n# TYPE req_total counter\n"), "{text}");
        assert_eq!(line(&text, "req_total{code=\"200\"}"), Some("req_total{code=\"200\"} 3"), "{text}");
        assert_eq!(line(&text, "req_total{code=\"a\\\"b\"}"), Some("req_total{code=\"a\\\"b\"} 1"), "{text}");
        assert_eq!(line(&text, "g"), Some("g -2"), "{text}");
        // Latencies get the latency buckets, anything else the size buckets: histograms both.
        assert!(text.contains("# TYPE lat_seconds histogram"), "{text}");
        assert_eq!(line(&text, "lat_seconds_bucket{le=\"0.1\"}"), Some("lat_seconds_bucket{le=\"0.1\"} 1"), "{text}");
        assert_eq!(line(&text, "lat_seconds_bucket{le=\"10\"}"), Some("lat_seconds_bucket{le=\"10\"} 2"), "{text}");
        assert_eq!(line(&text, "lat_seconds_count"), Some("lat_seconds_count 3"), "{text}");
        assert!(text.contains("# TYPE batch_size histogram"), "{text}");
        assert_eq!(line(&text, "batch_size_bucket{le=\"5\"}"), Some("batch_size_bucket{le=\"5\"} 1"), "{text}");
        assert!(line(&text, "batch_size_bucket{le=\"0.0001\"}").is_none(), "{text}");
    }

    #[test]
    fn two_registries_do_not_share_metrics() {
        let (a, b) = (Registry::new(), Registry::new());
        a.counter("x_total", "X.").unwrap().increment(5);
        b.counter("x_total", "X.").unwrap().increment(1);
        assert_eq!(line(&a.render().unwrap(), "x_total"), Some("x_total 5"));
        assert_eq!(line(&b.render().unwrap(), "x_total"), Some("x_total 1"));
    }

    #[test]
    fn registration_rules() {
        let r = Registry::new();
        let a = r.counter("x_total", "X.").unwrap();
        let b = r.counter("x_total", "X.").unwrap();
        a.increment(1);
        b.increment(1);
        assert_eq!(line(&r.render().unwrap(), "x_total"), Some("x_total 2"), "same registration shares the metric");
        assert_eq!(r.gauge("x_total", "X.").unwrap_err(), MetricsError::Conflict("x_total".into()));
        assert_eq!(r.counter("x_total", "Other help.").unwrap_err(), MetricsError::Conflict("x_total".into()));
        assert!(matches!(r.counter("1bad", ""), Err(MetricsError::InvalidName(_))));
        assert!(matches!(r.counter_vec("ok", "", &["le"]), Err(MetricsError::InvalidName(_))));
        let v = r.counter_vec("v_total", "", &["a", "b"]).unwrap();
        assert!(matches!(v.with_labels(&["x"]), Err(MetricsError::LabelCount { .. })));
    }

    #[test]
    fn a_gauge_guard_gives_back_what_it_took() {
        let r = Registry::new();
        let g = r.gauge("open", "Open.").unwrap();
        let guard = track(&g);
        let _other = track(&g);
        assert_eq!(line(&r.render().unwrap(), "open"), Some("open 2"));
        drop(guard);
        assert_eq!(line(&r.render().unwrap(), "open"), Some("open 1"));
    }

    /// A recorder of an embedding program's own: keeps each counter and gauge it is asked for
    /// by key, with the help texts it was given.
    #[derive(Default)]
    struct Collecting {
        counters: Mutex<BTreeMap<String, Arc<std::sync::atomic::AtomicU64>>>,
        gauges: Mutex<BTreeMap<String, Arc<std::sync::atomic::AtomicU64>>>,
        help: Mutex<BTreeMap<String, String>>,
    }

    fn key_text(key: &Key) -> String {
        let labels: Vec<String> = key.labels().map(|l| format!("{}={}", l.key(), l.value())).collect();
        format!("{}{{{}}}", key.name(), labels.join(","))
    }

    impl Recorder for Collecting {
        fn describe_counter(&self, key: KeyName, _: Option<metrics::Unit>, description: SharedString) {
            self.help.lock().unwrap().insert(key.as_str().to_owned(), description.to_string());
        }
        fn describe_gauge(&self, key: KeyName, _: Option<metrics::Unit>, description: SharedString) {
            self.help.lock().unwrap().insert(key.as_str().to_owned(), description.to_string());
        }
        fn describe_histogram(&self, _: KeyName, _: Option<metrics::Unit>, _: SharedString) {}
        fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
            Counter::from_arc(self.counters.lock().unwrap().entry(key_text(key)).or_default().clone())
        }
        fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
            Gauge::from_arc(self.gauges.lock().unwrap().entry(key_text(key)).or_default().clone())
        }
        fn register_histogram(&self, _: &Key, _: &Metadata<'_>) -> Histogram {
            Histogram::noop()
        }
    }

    /// The embedding case: metrics registered on a registry given the program's own recorder go
    /// to that recorder, and the registry renders nothing itself.
    #[test]
    fn an_embedding_programs_recorder_receives_the_metrics() {
        use std::sync::atomic::Ordering;
        let recorder = Arc::new(Collecting::default());
        let registry = Registry::with_recorder(recorder.clone());
        let http = HttpMetrics::register(&registry).unwrap();
        http.connections_open.set(3.0);
        http.refusals.with_labels(&["http", "404"]).unwrap().increment(2);
        assert!(registry.render().is_none());
        let gauges = recorder.gauges.lock().unwrap();
        assert_eq!(f64::from_bits(gauges["http_connections_open{}"].load(Ordering::Relaxed)), 3.0);
        let counters = recorder.counters.lock().unwrap();
        assert_eq!(counters["mimi_refusals_total{source=http,code=404}"].load(Ordering::Relaxed), 2);
        assert_eq!(recorder.help.lock().unwrap()["http_connections_open"], "Open client connections (after TLS).");
    }

    /// The process-wide recorder, installed by the embedding program (the only test of this
    /// crate's unit tests that installs one), receives what a [`Registry::global`] registers.
    #[test]
    fn the_global_registry_registers_on_the_installed_recorder() {
        use std::sync::atomic::Ordering;
        let recorder: &'static Collecting = Box::leak(Box::default());
        metrics::set_global_recorder(recorder).expect("no global recorder yet");
        let registry = Registry::global();
        registry.counter("embedded_total", "Counted.").unwrap().increment(4);
        assert!(registry.render().is_none());
        assert_eq!(recorder.counters.lock().unwrap()["embedded_total{}"].load(Ordering::Relaxed), 4);
    }
}
