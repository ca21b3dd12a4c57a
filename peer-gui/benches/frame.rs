//! `make bench-frame`: frame time of the real app layout in a real
//! window (software rendering under Xvfb), with 10,000 local files and 20
//! live downloads whose progress moves every frame. Repaints continuously
//! for `BENCH_SECS` (default 5) and prints the frame interval's mean, p50,
//! p99 and max: the whole frame (snapshot copy, layout, tessellation,
//! painting, swap).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::FileKey;
use common::protocol::{FileEntry, FileName};
use eframe::egui;
use peer::engine::{DownloadState, DownloadStatus, LocalFileInfo, Snapshot, TrackerStatus};
use peer_gui::app::view::{self, TabState};

struct Bench {
    snapshot: Snapshot,
    state: TabState,
    logs: Vec<String>,
    frames: Vec<Duration>,
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

impl eframe::App for Bench {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        let now = Instant::now();
        if let Some(last) = self.last {
            self.frames.push(now - last);
        }
        self.last = Some(now);
        // Live downloads: progress moves every frame.
        for (i, d) in self.snapshot.downloads.iter_mut().enumerate() {
            d.add_verified(1 + i as u64 * 100, None);
            d.tick();
        }
        let mut selected = 0;
        let titles = vec!["Peer 1 | 127.0.0.1:5001".to_owned()];
        // The app takes a fresh engine snapshot each frame: so does this.
        let snapshot = self.snapshot.clone();
        let _ = view::layout(ui, &snapshot, &mut self.state, &self.logs, &titles, &mut selected);
        if self.start.elapsed().as_secs_f64() > self.secs {
            ui.ctx().send_viewport_cmd(egui::ViewportCommand::Close);
        } else {
            ui.ctx().request_repaint();
        }
    }
}

fn main() {
    let secs = std::env::var("BENCH_SECS").ok().and_then(|v| v.parse().ok()).unwrap_or(5.0);
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
    let snapshot = Snapshot {
        files: files.into(),
        downloads,
        tracker: TrackerStatus {
            addr: SocketAddr::from(([127, 0, 0, 100], 5000)),
            connected: true,
            last_announce: Some(std::time::SystemTime::now()),
            last_error: None,
        },
        transfers: Default::default(),
        limits: Default::default(),
    };
    let logs = (0..500).map(|i| format!("INFO  line {i} of the log panel")).collect();
    let bench = Bench {
        snapshot,
        state: TabState { results: (0..50).map(|i| entry(30_000 + i, 4096)).collect(), ..TabState::default() },
        logs,
        frames: Vec::new(),
        last: None,
        start: Instant::now(),
        secs,
    };
    let options = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default().with_inner_size([1000.0, 700.0]),
        ..Default::default()
    };
    let result = std::sync::Arc::new(parking_lot::Mutex::new(Vec::new()));
    let out = result.clone();
    struct Keep(Bench, std::sync::Arc<parking_lot::Mutex<Vec<Duration>>>);
    impl eframe::App for Keep {
        fn ui(&mut self, ui: &mut egui::Ui, frame: &mut eframe::Frame) {
            self.0.ui(ui, frame);
            *self.1.lock() = self.0.frames.clone();
        }
    }
    eframe::run_native("frame bench", options, Box::new(move |_| Ok(Box::new(Keep(bench, out)))))
        .expect("a window (is DISPLAY set?)");
    let mut frames = result.lock().clone();
    // The first frames build fonts and textures: skip a warm-up second.
    let warm = frames
        .iter()
        .scan(Duration::ZERO, |t, f| {
            *t += *f;
            Some(*t)
        })
        .position(|t| t > Duration::from_secs(1))
        .unwrap_or(0);
    frames.drain(..warm);
    frames.sort();
    let n = frames.len().max(1);
    let mean = frames.iter().sum::<Duration>() / n as u32;
    let pct = |p: f64| frames.get(((n as f64 * p) as usize).min(n - 1)).copied().unwrap_or_default();
    println!(
        "frame time, 10,000 files + 20 live downloads, software rendering: mean {:.1} ms, p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms ({} frames)",
        mean.as_secs_f64() * 1e3,
        pct(0.5).as_secs_f64() * 1e3,
        pct(0.99).as_secs_f64() * 1e3,
        frames.last().copied().unwrap_or_default().as_secs_f64() * 1e3,
        frames.len()
    );
}
