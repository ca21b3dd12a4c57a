//! `/`: the status page. Plain HTML with inline CSS and an inline SVG
//! chart: no script, no external asset, refreshed by the browser every
//! few seconds. Every string that comes from peers (file names above
//! all) goes through [`escape`].
//!
//! Parameters: `q` searches file names, `files` and `peers` are the
//! cursors of the two tables' pages.

use std::fmt::Write;
use std::time::{Duration, Instant, SystemTime};

use super::{Query, encode, escape};
use crate::handler::Shared;
use crate::stats::{Command, HISTORY, Rejection, resident_bytes};

/// Rows shown per table.
const ROWS: usize = 100;
/// Seconds between refreshes.
const REFRESH: u32 = 5;
/// The chart's series colours, by command (readable on light and dark).
const COLOURS: [&str; 4] = ["#3b82f6", "#22c55e", "#f59e0b", "#ec4899"];

const STYLE: &str = r#"
:root { --bg: #f6f7f9; --card: #fff; --fg: #1f2937; --muted: #6b7280; --line: #e5e7eb; --accent: #2563eb; --bad: #b91c1c; }
@media (prefers-color-scheme: dark) {
  :root { --bg: #111827; --card: #1f2937; --fg: #e5e7eb; --muted: #9ca3af; --line: #374151; --accent: #60a5fa; --bad: #f87171; }
}
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--fg); font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
header { background: var(--card); border-bottom: 1px solid var(--line); padding: 14px 24px; display: flex; align-items: baseline; gap: 16px; flex-wrap: wrap; }
header h1 { font-size: 20px; margin: 0; }
header .sub { color: var(--muted); }
main { max-width: 1200px; margin: 0 auto; padding: 16px 24px 32px; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(150px, 1fr)); gap: 12px; margin-bottom: 16px; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 10px 14px; }
.card .n { font-size: 24px; font-weight: 600; font-variant-numeric: tabular-nums; }
.card .l { color: var(--muted); font-size: 12px; text-transform: uppercase; letter-spacing: .04em; }
.grid { display: grid; grid-template-columns: minmax(0, 3fr) minmax(0, 2fr); gap: 16px; margin-bottom: 16px; }
@media (max-width: 900px) { .grid { grid-template-columns: minmax(0, 1fr); } }
section { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 12px 16px; margin-bottom: 16px; min-width: 0; }
.grid section { margin-bottom: 0; }
h2 { font-size: 15px; margin: 0 0 8px; display: flex; justify-content: space-between; align-items: baseline; gap: 8px; flex-wrap: wrap; }
h2 small { font-weight: normal; color: var(--muted); }
table { width: 100%; border-collapse: collapse; font-variant-numeric: tabular-nums; }
th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { color: var(--muted); font-weight: 600; font-size: 12px; }
td.num, th.num { text-align: right; }
td.name { overflow-wrap: anywhere; }
.nw { white-space: nowrap; }
code { font-size: 12px; color: var(--muted); }
.empty { color: var(--muted); font-style: italic; padding: 6px 0; }
.bad { color: var(--bad); font-weight: 600; }
.legend { display: flex; gap: 4px 14px; flex-wrap: wrap; font-size: 12px; color: var(--muted); margin-top: 4px; }
.legend i { display: inline-block; width: 10px; height: 10px; border-radius: 2px; margin-right: 4px; vertical-align: -1px; }
svg { width: 100%; height: auto; display: block; }
svg text { fill: var(--muted); font-size: 10px; }
svg .axis { stroke: var(--line); }
form { display: flex; gap: 6px; }
input[type=search] { padding: 4px 8px; border: 1px solid var(--line); border-radius: 6px; background: var(--bg); color: var(--fg); min-width: 200px; }
button { padding: 4px 10px; border: 1px solid var(--line); border-radius: 6px; background: var(--accent); color: #fff; cursor: pointer; }
a { color: var(--accent); }
.pager { margin-top: 8px; display: flex; gap: 12px; color: var(--muted); }
"#;

pub(super) fn render(shared: &Shared, query: Query) -> String {
    let stats = &shared.stats;
    let search = query.get("q");
    let peers_at = query.get("peers").and_then(|c| c.parse().ok()).unwrap_or(0);
    let files_at = query.get("files").and_then(|c| c.parse().ok()).unwrap_or(0);
    // One short lock per table: the rows are copied, formatting is done
    // after the guard is gone.
    let peers = shared.cache.lock().peers_page(peers_at, ROWS);
    let (files, file_count) = {
        let cache = shared.cache.lock();
        (cache.files_page(search, files_at, ROWS), cache.file_count())
    };
    let now = Instant::now();
    let requests = stats.requests();
    let rates = stats.rates(now);
    let rejections = stats.rejections();
    let connections = stats.connections.load(std::sync::atomic::Ordering::Relaxed);

    let mut h = String::with_capacity(16 * 1024 + 300 * (peers.rows.len() + files.rows.len()));
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"refresh\" content=\"{REFRESH}\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>Eirb2Share tracker</title><style>{STYLE}</style></head><body>\
         <header><h1>Eirb2Share tracker</h1><span class=\"sub\">protocol on {} &middot; up {} &middot; \
         refreshed every {REFRESH} s</span></header><main>",
        escape(&shared.config.addr.to_string()),
        human_duration(stats.started.elapsed()),
    );

    h.push_str("<div class=\"cards\">");
    let rejected: u64 = rejections.iter().map(|r| r.count).sum();
    let rss = resident_bytes().map_or_else(|| "?".to_owned(), human_bytes);
    for (n, label) in [
        (peers.total.to_string(), "peers"),
        (file_count.to_string(), "files"),
        (connections.to_string(), "connections"),
        (requests.total().to_string(), "requests"),
        (rejected.to_string(), "rejections"),
        (rss, "memory (RSS)"),
    ] {
        let _ = write!(h, "<div class=\"card\"><div class=\"n\">{n}</div><div class=\"l\">{label}</div></div>");
    }
    h.push_str("</div><div class=\"grid\">");

    // A young tracker's chart spans its life so far, in whole minutes.
    let minutes = stats.started.elapsed().as_secs().div_ceil(60).clamp(1, HISTORY.as_secs() / 60);
    let span = Duration::from_secs(minutes * 60);
    let _ = write!(
        h,
        "<section><h2>Requests per second <small>last {minutes} minute{}</small></h2>",
        if minutes == 1 { "" } else { "s" }
    );
    chart(&mut h, &rates, span);
    h.push_str("<div class=\"legend\">");
    let latest = rates.last().map(|(_, r)| *r).unwrap_or_default();
    for c in Command::ALL {
        let i = c as usize;
        let _ = write!(
            h,
            "<span><i style=\"background:{}\"></i>{} {:.1}/s &middot; {} total</span>",
            COLOURS[i],
            c.name(),
            latest[i],
            requests.get(c)
        );
    }
    h.push_str("</div></section>");

    h.push_str(
        "<section><h2>Rejections</h2><table><tr><th>kind</th><th class=\"num\">count</th><th>last from</th></tr>",
    );
    for kind in Rejection::ALL {
        let r = &rejections[kind as usize];
        let last: Vec<String> = r
            .last
            .iter()
            .rev()
            .map(|(ip, at)| {
                let ago = SystemTime::now().duration_since(*at).unwrap_or_default();
                format!(
                    "<span class=\"nw\">{} <small>({} ago)</small></span>",
                    escape(&ip.to_string()),
                    human_duration(ago)
                )
            })
            .collect();
        let count = if r.count > 0 { format!("<span class=\"bad\">{}</span>", r.count) } else { "0".into() };
        let _ = write!(
            h,
            "<tr><td>{}</td><td class=\"num\">{count}</td><td>{}</td></tr>",
            kind.describe(),
            if last.is_empty() { "&ndash;".to_owned() } else { last.join(", ") }
        );
    }
    h.push_str("</table></section></div>");

    let _ = write!(h, "<section><h2>Peers <small>{} connected</small></h2>", peers.total);
    if peers.rows.is_empty() {
        h.push_str("<div class=\"empty\">No peer has announced yet.</div>");
    } else {
        h.push_str(
            "<table><tr><th>address</th><th class=\"num\">seeded</th><th class=\"num\">leeched</th>\
             <th class=\"num\">last seen</th></tr>",
        );
        for p in &peers.rows {
            let _ = write!(
                h,
                "<tr><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{} ago</td></tr>",
                escape(&p.addr.to_string()),
                p.seeded,
                p.leeched,
                human_duration(now.saturating_duration_since(p.last_seen))
            );
        }
        h.push_str("</table>");
    }
    pager(&mut h, "peers", peers_at, peers.rows.len(), peers.total, peers.next, &keep(search));
    h.push_str("</section>");

    let _ = write!(h, "<section><h2><span>Files <small>");
    match search {
        Some(q) => {
            let at_least = if files.total >= crate::cache::MAX_MATCHES { "at least " } else { "" };
            let _ = write!(h, "{at_least}{} of {file_count} match &ldquo;{}&rdquo;", files.total, escape(q));
        }
        None => {
            let _ = write!(h, "{file_count} known");
        }
    }
    let _ = write!(
        h,
        "</small></span><form method=\"get\" action=\"/\"><input type=\"search\" name=\"q\" value=\"{}\" \
         placeholder=\"search file names\"><button type=\"submit\">Search</button></form></h2>",
        escape(search.unwrap_or_default())
    );
    if files.rows.is_empty() {
        h.push_str(if search.is_some() {
            "<div class=\"empty\">No file name matches.</div>"
        } else {
            "<div class=\"empty\">No file is known yet.</div>"
        });
    } else {
        h.push_str(
            "<table><tr><th>name</th><th class=\"num\">size</th><th>key</th><th class=\"num\">seeders</th>\
             <th class=\"num\">leechers</th></tr>",
        );
        for f in &files.rows {
            let name = if f.name.is_empty() { "<i>(not described yet)</i>".to_owned() } else { escape(&f.name) };
            let _ = write!(
                h,
                "<tr><td class=\"name\">{name}</td><td class=\"num\" title=\"{} bytes, pieces of {}\">{}</td>\
                 <td><code title=\"{}\">{}&hellip;</code></td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
                f.length,
                human_bytes(f.piece_size),
                // Only leechers know it: nobody said how long it is.
                if f.name.is_empty() { "&ndash;".to_owned() } else { human_bytes(f.length) },
                escape(&f.key),
                escape(f.key.get(..12).unwrap_or(&f.key)),
                f.seeders,
                f.leechers
            );
        }
        h.push_str("</table>");
    }
    pager(&mut h, "files", files_at, files.rows.len(), files.total, files.next, &keep(search));
    h.push_str("</section>");
    h.push_str(
        "<p class=\"sub\" style=\"color:var(--muted)\">Also: <a href=\"/metrics\">/metrics</a> (Prometheus), \
         <a href=\"/api/peers\">/api/peers</a>, <a href=\"/api/files\">/api/files</a> (JSON).</p>",
    );
    h.push_str("</main></body></html>\n");
    h
}

/// The query string part that keeps the search while paging.
fn keep(search: Option<&str>) -> String {
    search.map_or_else(String::new, |q| format!("&amp;q={}", encode(q)))
}

/// "n rows shown of N", with links to the first and the next page. (A
/// cursor is where the cache resumes, not a row's position.)
fn pager(h: &mut String, key: &str, at: u64, shown: usize, total: usize, next: Option<u64>, extra: &str) {
    if at == 0 && next.is_none() {
        return;
    }
    let _ = write!(h, "<div class=\"pager\"><span>{shown} shown of {total}</span>");
    if at > 0 {
        let _ = write!(h, "<a href=\"/?{key}=0{extra}\">&laquo; first</a>");
    }
    if let Some(next) = next {
        let _ = write!(h, "<a href=\"/?{key}={next}{extra}\">next &raquo;</a>");
    }
    h.push_str("</div>");
}

/// Requests per second by command as lines over the last `span`.
fn chart(h: &mut String, rates: &[(Duration, [f64; 4])], span: Duration) {
    const W: f64 = 600.0;
    const H: f64 = 150.0;
    const LEFT: f64 = 44.0;
    const BOTTOM: f64 = 130.0;
    const TOP: f64 = 8.0;
    let rates: Vec<_> = rates.iter().filter(|(ago, _)| *ago <= span).collect();
    let span = span.as_secs_f64();
    let max = rates.iter().flat_map(|(_, r)| r.iter().copied()).fold(0.0, f64::max);
    let top = nice_ceiling(max);
    let x = |ago: Duration| LEFT + (W - LEFT - 6.0) * (1.0 - (ago.as_secs_f64() / span).min(1.0));
    let y = |v: f64| BOTTOM - (BOTTOM - TOP) * (v / top);
    let _ = write!(h, "<svg viewBox=\"0 0 {W} {H}\" role=\"img\" aria-label=\"requests per second by command\">");
    for frac in [0.0, 0.5, 1.0] {
        let v = top * frac;
        let _ = write!(
            h,
            "<line class=\"axis\" x1=\"{LEFT}\" x2=\"{}\" y1=\"{y:.1}\" y2=\"{y:.1}\"/>\
             <text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            W - 6.0,
            LEFT - 6.0,
            y(v) + 3.0,
            short_number(v),
            y = y(v)
        );
    }
    for ago in [span, span / 2.0, 0.0] {
        let xm = x(Duration::from_secs_f64(ago));
        let label = match ago {
            0.0 => "now".to_owned(),
            a if a >= 60.0 && a % 60.0 == 0.0 => format!("-{} min", a / 60.0),
            a => format!("-{a:.0} s"),
        };
        let anchor = if ago == 0.0 {
            "end"
        } else if ago == span {
            "start"
        } else {
            "middle"
        };
        let _ = write!(h, "<text x=\"{xm:.1}\" y=\"{}\" text-anchor=\"{anchor}\">{label}</text>", H - 4.0);
    }
    for (i, colour) in COLOURS.iter().enumerate() {
        let points: Vec<String> = rates.iter().map(|(ago, r)| format!("{:.1},{:.1}", x(*ago), y(r[i]))).collect();
        if points.len() > 1 {
            let _ = write!(
                h,
                "<polyline fill=\"none\" stroke=\"{colour}\" stroke-width=\"2\" points=\"{}\"/>",
                points.join(" ")
            );
        }
        if let Some(last) = points.last() {
            let (cx, cy) = last.split_once(',').unwrap_or_default();
            let _ = write!(h, "<circle cx=\"{cx}\" cy=\"{cy}\" r=\"3\" fill=\"{colour}\"/>");
        }
    }
    h.push_str("</svg>");
}

/// 1, 2, 2.5 or 5 times a power of ten, at least `v` (and at least 1).
fn nice_ceiling(v: f64) -> f64 {
    let mut step = 1.0;
    loop {
        for m in [1.0, 2.0, 2.5, 5.0] {
            if step * m >= v {
                return step * m;
            }
        }
        step *= 10.0;
    }
}

fn short_number(v: f64) -> String {
    if v >= 1e6 {
        format!("{:.0}M", v / 1e6)
    } else if v >= 1e3 {
        format!("{:.0}k", v / 1e3)
    } else {
        format!("{v:.0}")
    }
}

fn human_duration(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..60 => format!("{s} s"),
        60..3600 => format!("{} min {} s", s / 60, s % 60),
        3600..86400 => format!("{} h {} min", s / 3600, s % 3600 / 60),
        _ => format!("{} d {} h", s / 86400, s % 86400 / 3600),
    }
}

fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 { format!("{n} B") } else { format!("{v:.1} {}", UNITS[unit]) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_durations_read_well() {
        assert_eq!(human_bytes(1023), "1023 B");
        assert_eq!(human_bytes(1 << 20), "1.0 MiB");
        assert_eq!(human_duration(Duration::from_secs(3725)), "1 h 2 min");
        assert_eq!(nice_ceiling(0.0), 1.0);
        assert_eq!(nice_ceiling(37.0), 50.0);
        assert_eq!(nice_ceiling(230.0), 250.0);
    }
}
