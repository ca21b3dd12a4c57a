//! `make bench-frame`: frame time of the real app layout in a real
//! window (software rendering under Xvfb), with 10,000 local files, 20
//! live downloads whose progress moves every frame, 50 connected peers,
//! 100 search results, 1,000 log lines and a full speed graph. Repaints
//! continuously through three views (transfers + peers, shared files +
//! speed graph, results + log), `BENCH_SECS` each (default 4), and prints
//! each view's frame interval (mean, p50, p99, max): the whole frame
//! (snapshot copy, layout, tessellation, painting, swap).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::FileKey;
use common::protocol::{FileEntry, FileName};
use eframe::egui;
use peer::engine::stats::{ConnectionInfo, Flow, Transfers};
use peer::engine::{Direction, DownloadState, DownloadStatus, LocalFileInfo, NetworkStatus, Snapshot, TrackerStatus};
use peer_gui::app::logger::LogLine;
use peer_gui::app::view::{self, Inputs, MainView, PaneView, TabState};

const VIEWS: [(MainView, PaneView, &str); 3] = [
    (MainView::Transfers, PaneView::Peers, "transfers + peers"),
    (MainView::Shared, PaneView::Speed, "shared files + speed graph"),
    (MainView::Results, PaneView::Log, "results + log"),
];

struct Bench {
    snapshot: Snapshot,
    state: TabState,
    logs: Vec<Arc<LogLine>>,
    /// Frame intervals per view.
    frames: Vec<Vec<Duration>>,
    last: Option<Instant>,
    start: Instant,
    secs: f64,
}

fn entry(i: usize, len: u64) -> FileEntry {
    FileEntry {
        name: FileName::new(&format!("file_{i:05}.dat")).expect("valid name"),
        length: len,
        piece_size: 4096,
        key: FileKey::parse(format!("{i:064x}").as_bytes()).expect("hex"),
    }
}

impl Bench {
    fn frame(&mut self, ui: &mut egui::Ui) {
        let now = Instant::now();
        let view = (self.start.elapsed().as_secs_f64() / self.secs) as usize;
        if view >= VIEWS.len() {
            ui.ctx().send_viewport_cmd(egui::ViewportCommand::Close);
            return;
        }
        if let Some(last) = self.last {
            self.frames[view].push(now - last);
        }
        self.last = Some(now);
        (self.state.prefs.main, self.state.prefs.pane) = (VIEWS[view].0, VIEWS[view].1);
        // Live downloads: progress moves every frame.
        for (i, d) in self.snapshot.downloads.iter_mut().enumerate() {
            d.add_verified(1 + i as u64 * 100, None);
            d.tick();
        }
        let titles = vec!["Peer 1 | 127.0.0.1:5001".to_owned(), "Peer 2 | 127.0.0.2:5002".to_owned()];
        // The app takes a fresh engine snapshot each frame: so does this.
        let snapshot = self.snapshot.clone();
        let inputs = Inputs {
            snapshot: &snapshot,
            logs: &self.logs,
            peer: 1,
            folder: std::path::Path::new("/home/me/Eirb2Share"),
            titles: &titles,
        };
        let mut selected = 0;
        let _ = view::layout(ui, inputs, &mut self.state, &mut selected);
        ui.ctx().request_repaint();
    }
}

fn connections() -> Vec<ConnectionInfo> {
    (0..50)
        .map(|i| {
            let flow = |rate: f64| Flow { bytes: 1 << 20, pieces: 256, rate };
            ConnectionInfo {
                peer: SocketAddr::from(([127, 0, 1, i as u8], 6000 + i)),
                direction: if i % 2 == 0 { Direction::Outgoing } else { Direction::Incoming },
                file: Some(entry(20_000 + i as usize % 20, 0).name),
                key: Some(entry(20_000 + i as usize % 20, 0).key),
                down: flow(if i % 2 == 0 { 1e6 } else { 0.0 }),
                up: flow(if i % 2 == 1 { 5e5 } else { 0.0 }),
                neighbour: None,
            }
        })
        .collect()
}

fn report(name: &str, mut frames: Vec<Duration>) {
    // The first frames of a view build fonts, textures and layouts: skip
    // its first half second.
    let warm = frames
        .iter()
        .scan(Duration::ZERO, |t, f| {
            *t += *f;
            Some(*t)
        })
        .position(|t| t > Duration::from_millis(500))
        .unwrap_or(0);
    frames.drain(..warm);
    frames.sort();
    let n = frames.len().max(1);
    let mean = frames.iter().sum::<Duration>() / n as u32;
    let pct = |p: f64| frames.get(((n as f64 * p) as usize).min(n - 1)).copied().unwrap_or_default();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "frame time, {name}: mean {:.1} ms, p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms ({} frames)",
        ms(mean),
        ms(pct(0.5)),
        ms(pct(0.99)),
        ms(frames.last().copied().unwrap_or_default()),
        frames.len()
    );
}

fn main() {
    let secs = std::env::var("BENCH_SECS").ok().and_then(|v| v.parse().ok()).unwrap_or(4.0);
    let files: Vec<LocalFileInfo> =
        (0..10_000).map(|i| LocalFileInfo { entry: entry(i, 1000 + i as u64), partial: i % 50 == 0 }).collect();
    let downloads = (0..20)
        .map(|i| {
            let mut d = DownloadStatus::new(i as u64, entry(20_000 + i, 1 << 30));
            d.state = DownloadState::Downloading;
            d.peers = 1 + i % 5;
            d
        })
        .collect();
    let transfers = Transfers { connections: connections(), down_rate: 2.5e7, up_rate: 1.25e7, ..Default::default() };
    let snapshot = Snapshot {
        files: files.into(),
        downloads,
        network: NetworkStatus::Tracker(TrackerStatus {
            addr: SocketAddr::from(([127, 0, 0, 100], 5000)),
            connected: true,
            last_announce: Some(std::time::SystemTime::now()),
            last_error: None,
        }),
        transfers: Arc::new(transfers),
        limits: Default::default(),
    };
    let logs = (0..1000)
        .map(|i| {
            Arc::new(LogLine {
                time: "12:00:00".into(),
                level: log::Level::Info,
                peer: Some(1),
                ours: true,
                text: format!("line {i} of the log panel"),
            })
        })
        .collect();
    let mut state = TabState { results: (0..100).map(|i| entry(30_000 + i, 4096)).collect(), ..TabState::default() };
    state.selected = Some(3);
    let t0 = Instant::now() - Duration::from_secs(700);
    for s in 0..700 {
        state.speeds.sample(t0 + Duration::from_secs(s), (s % 60) as f64 * 1e6, (s % 30) as f64 * 1e5);
    }
    let bench =
        Bench { snapshot, state, logs, frames: vec![Vec::new(); VIEWS.len()], last: None, start: Instant::now(), secs };
    let options = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default().with_inner_size([1000.0, 700.0]),
        ..Default::default()
    };
    let result = Arc::new(parking_lot::Mutex::new(Vec::new()));
    let out = result.clone();
    struct Keep(Bench, Arc<parking_lot::Mutex<Vec<Vec<Duration>>>>);
    impl eframe::App for Keep {
        fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
            self.0.frame(ui);
            *self.1.lock() = self.0.frames.clone();
        }
    }
    eframe::run_native("frame bench", options, Box::new(move |_| Ok(Box::new(Keep(bench, out)))))
        .expect("a window (is DISPLAY set?)");
    let frames = result.lock().clone();
    println!("10,000 shared files, 20 live downloads, 50 connected peers, software rendering, 1000x700:");
    for ((_, _, name), frames) in VIEWS.iter().zip(frames) {
        report(name, frames);
    }
}
