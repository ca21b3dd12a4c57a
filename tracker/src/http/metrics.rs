//! `/metrics`: the Prometheus text format (version 0.0.4), named after
//! Prometheus' conventions: an `eirb2share_tracker_` prefix, base units
//! (seconds, bytes), `_total` on counters, and the standard `process_`
//! names for memory and start time.

use std::fmt::Write;
use std::time::UNIX_EPOCH;

use crate::handler::Shared;
use crate::stats::{Command, Rejection, resident_bytes};

pub(super) fn render(shared: &Shared) -> String {
    let stats = &shared.stats;
    let (peers, files) = {
        let cache = shared.cache.lock();
        (cache.peer_count(), cache.file_count())
    };
    let requests = stats.requests();
    let rejections = stats.rejections();
    let maintenance = stats.maintenance();
    let connections = stats.connections.load(std::sync::atomic::Ordering::Relaxed);

    let mut out = String::with_capacity(4096);
    let mut metric = |name: &str, kind: &str, help: &str, samples: &[(String, String)]| {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for (suffix_labels, value) in samples {
            let _ = writeln!(out, "{name}{suffix_labels} {value}");
        }
    };
    let one = |v: String| [(String::new(), v)];
    metric("eirb2share_tracker_connections", "gauge", "Open protocol connections.", &one(connections.to_string()));
    metric("eirb2share_tracker_peers", "gauge", "Peers known (announced and not expired).", &one(peers.to_string()));
    metric("eirb2share_tracker_files", "gauge", "Files known (distinct keys).", &one(files.to_string()));
    let by_command: Vec<_> =
        Command::ALL.iter().map(|c| (format!("{{command=\"{}\"}}", c.name()), requests.get(*c).to_string())).collect();
    metric("eirb2share_tracker_requests_total", "counter", "Requests answered, by command.", &by_command);
    let by_kind: Vec<_> = Rejection::ALL
        .iter()
        .map(|k| (format!("{{kind=\"{}\"}}", k.name()), rejections[*k as usize].count.to_string()))
        .collect();
    metric("eirb2share_tracker_rejections_total", "counter", "Requests or connections turned down, by kind.", &by_kind);
    metric(
        "eirb2share_tracker_maintenance_last_duration_seconds",
        "gauge",
        "How long the last maintenance (expiry) pass held the cache.",
        &one(maintenance.last.as_secs_f64().to_string()),
    );
    metric(
        "eirb2share_tracker_maintenance_duration_seconds",
        "summary",
        "Maintenance (expiry) passes and the time they held the cache.",
        &[("_sum".into(), maintenance.sum.as_secs_f64().to_string()), ("_count".into(), maintenance.count.to_string())],
    );
    metric(
        "eirb2share_tracker_uptime_seconds",
        "gauge",
        "Time since the tracker started.",
        &one(stats.started.elapsed().as_secs_f64().to_string()),
    );
    let start = stats.started_at.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs_f64();
    metric(
        "process_start_time_seconds",
        "gauge",
        "Start time of the process since the Unix epoch.",
        &one(start.to_string()),
    );
    if let Some(rss) = resident_bytes() {
        metric("process_resident_memory_bytes", "gauge", "Resident memory size.", &one(rss.to_string()));
    }
    out
}
