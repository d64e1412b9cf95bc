//! Logs and metrics: how operators see the service.
//!
//! Logs go to stdout as text or one JSON object per line (`LOG_FORMAT`), with
//! levels from `RUST_LOG` (default `info`). At info the service logs events an
//! operator acts on — a user admitted or dropped, a session started or
//! stopped, a cloud call failed — never a line per poll.
//!
//! Metrics are kept by the `metrics` crate and rendered in the Prometheus text
//! format at `GET /metrics`. The helpers below are the only places that name
//! metrics, so the names stay consistent.

use crate::cloud::error::CloudError;
use crate::cloud::protocol::Action;
use crate::config::LogFormat;
use crate::domain::ProjectId;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;
use tracing_subscriber::EnvFilter;

/// Installs the global log subscriber. Call once, at start.
/// A `RUST_LOG` that does not parse is refused rather than replaced by the
/// default: an operator who asked for debug logs should not silently get
/// info.
pub fn init_logging(format: LogFormat) -> Result<(), String> {
    let filter = match std::env::var("RUST_LOG") {
        Ok(directives) if !directives.trim().is_empty() => EnvFilter::try_new(&directives)
            .map_err(|error| format!("RUST_LOG: {directives:?} is not a log filter: {error}"))?,
        _ => EnvFilter::new("info"),
    };
    // Colours only on a terminal: `docker logs` and log shippers get plain text.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()));
    let installed = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
    };
    // A second call (tests start many servers in one process) keeps the first.
    drop(installed);
    Ok(())
}

/// The process-wide metrics recorder, installed on first use.
pub fn metrics_handle() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets(&[
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                10.0, 20.0,
            ])
            .expect("non-empty buckets")
            .build_recorder();
        let handle = recorder.handle();
        // Another recorder may already be installed (an embedding program's);
        // then ours renders nothing, which is the embedder's choice.
        let _ = metrics::set_global_recorder(recorder);
        handle
    })
}

/// How many projects get a label of their own; the rest share `_other`.
const MAX_PROJECT_LABELS: usize = 200;

/// The metrics label of a project. Project ids come from requests, so the
/// number of distinct labels is capped: a client inventing project ids must
/// not be able to grow the metrics without bound.
fn project_label(project_id: &ProjectId) -> String {
    static LABELLED: Mutex<Option<HashSet<String>>> = Mutex::new(None);
    let mut labelled = LABELLED
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let labelled = labelled.get_or_insert_with(HashSet::new);
    if labelled.contains(project_id.as_str()) {
        return project_id.to_string();
    }
    if labelled.len() < MAX_PROJECT_LABELS {
        labelled.insert(project_id.to_string());
        return project_id.to_string();
    }
    "_other".to_owned()
}

/// Drains the histograms' recorded samples into their buckets every few
/// seconds, until `stop`. The recorder keeps each sample until then (or
/// until a scrape renders them): without this, a service nobody scrapes
/// would hold every request's latency forever.
pub async fn run_metrics_upkeep(stop: tokio_util::sync::CancellationToken) {
    let mut ticks = tokio::time::interval(std::time::Duration::from_secs(5));
    loop {
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = ticks.tick() => metrics_handle().run_upkeep(),
        }
    }
}

/// One cloud call's outcome and latency.
pub fn record_cloud_call(action: Action, error: Option<&CloudError>, elapsed: Duration) {
    let outcome = error.map_or("OK", CloudError::code).to_owned();
    metrics::counter!("car_cloud_calls_total", "action" => action.name(), "outcome" => outcome)
        .increment(1);
    metrics::histogram!("car_cloud_call_duration_seconds", "action" => action.name())
        .record(elapsed.as_secs_f64());
}

/// A user admitted from a line.
pub fn record_admission(project_id: &ProjectId) {
    metrics::counter!("car_queue_admissions_total", "project" => project_label(project_id))
        .increment(1);
}

/// A user dropped from a line: `silent` (stopped polling) or `refused` (the
/// cloud refused it permanently).
pub fn record_drop(project_id: &ProjectId, reason: &'static str) {
    metrics::counter!("car_queue_drops_total", "project" => project_label(project_id), "reason" => reason)
        .increment(1);
}

/// The `car_queue_length` gauges of one admission worker.
#[derive(Debug, Default)]
pub struct LineGauges {
    /// The labels set last time, so that lines which emptied since go to 0.
    reported: HashSet<String>,
}

impl LineGauges {
    /// Sets the lengths of the non-empty lines; lines reported before and
    /// missing now are set to 0.
    pub fn record(&mut self, lines: &[(ProjectId, u64)]) {
        // Projects past the label cap share one label, so lengths are summed.
        let mut current: HashMap<String, u64> = HashMap::with_capacity(lines.len());
        for (project_id, length) in lines {
            *current.entry(project_label(project_id)).or_default() += length;
        }
        for (label, length) in &current {
            metrics::gauge!("car_queue_length", "project" => label.clone()).set(*length as f64);
        }
        for label in self
            .reported
            .iter()
            .filter(|label| !current.contains_key(*label))
        {
            metrics::gauge!("car_queue_length", "project" => label.clone()).set(0.0);
        }
        self.reported = current.into_keys().collect();
    }
}
