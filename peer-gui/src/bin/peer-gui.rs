//! `peer-gui`: the desktop app. `peer-gui --peer N` runs peer N of the
//! configuration; with no `--peer`, every peer of the file, one tab each.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use peer::app::{App, Repaint, Tab, logger};
use peer::engine::Engine;
use peer::headless::{find_config, load_settings};

/// Eirb2Share peer, with a window.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Peers' configuration file [default: install/peers/config.ini, looked
    /// for in the current folder, then beside the executable's project].
    #[arg(long)]
    config: Option<PathBuf>,
    /// Run only this peer (peerN_* keys); default: every peer of the file.
    #[arg(long)]
    peer: Option<u32>,
}

fn main() -> ExitCode {
    let logs = logger::install();
    let args = Args::parse();
    let ids: Vec<u32> = match args.peer {
        Some(n) => vec![n],
        None => match find_config(args.config.as_deref())
            .and_then(|p| common::config::PeersConfig::load(&p).map_err(|e| e.to_string()))
        {
            Ok(c) => c.peers.iter().map(|p| p.id).collect(),
            Err(e) => return fail(&e),
        },
    };
    let repaint = Repaint::default();
    let mut tabs = Vec::new();
    for id in ids {
        let settings = match load_settings(args.config.as_deref(), id) {
            Ok(s) => s,
            Err(e) => return fail(&e),
        };
        let listener = match std::net::TcpListener::bind(settings.listen) {
            Ok(l) => l,
            Err(e) => {
                return fail(&format!("peer {id}: cannot listen on {}: {e} (is it already running?)", settings.listen));
            }
        };
        match Engine::with_listener(settings, listener, repaint.notifier()) {
            Ok(engine) => tabs.push(Tab::new(engine)),
            Err(e) => return fail(&format!("peer {id}: {e}")),
        }
    }
    let title = if tabs.len() == 1 { format!("Eirb2Share | {}", tabs[0].title) } else { "Eirb2Share peers".into() };
    let options = eframe::NativeOptions {
        viewport: eframe::egui::ViewportBuilder::default().with_title(&title).with_inner_size([1000.0, 700.0]),
        ..Default::default()
    };
    let app = App::new(tabs, logs, repaint);
    match eframe::run_native(&title, options, Box::new(move |_cc| Ok(Box::new(app)))) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&format!("cannot open a window: {e} (is DISPLAY set?)")),
    }
}

fn fail(message: &str) -> ExitCode {
    eprintln!("peer-gui: {message}");
    ExitCode::from(1)
}
