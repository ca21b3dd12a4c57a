//! `peer-gui`: the desktop app. `peer-gui --peer N` runs peer N of the
//! configuration; with no `--peer`, every peer of the file, one tab each.
//! With no configuration anywhere, a first-run screen asks for one.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use peer::engine::settings::{load_settings, user_config};
use peer_gui::app::launch::{Launch, Setup, existing_config, start_app};
use peer_gui::app::{Repaint, icon, logger};

/// Eirb2Share peer, with a window.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Peers' configuration file [default: install/peers/config.ini here,
    /// config.ini beside the executable, install/peers/config.ini above it,
    /// then ~/.config/eirb2share/config.ini].
    #[arg(long)]
    config: Option<PathBuf>,
    /// Run only this peer (peerN_* keys); default: every peer of the file.
    #[arg(long)]
    peer: Option<u32>,
}

fn launch(args: &Args, logs: logger::LogLines, repaint: Repaint) -> Launch {
    let Some(path) = existing_config(args.config.as_deref()) else {
        return Launch::Setup(Box::new(Setup::new(user_config(), logs, repaint)));
    };
    let config = match common::config::PeersConfig::load(&path) {
        Ok(c) => c,
        Err(e) => return Launch::Failed(e.to_string()),
    };
    let ids: Vec<u32> = args.peer.map_or_else(|| config.peers.iter().map(|p| p.id).collect(), |n| vec![n]);
    let settings: Result<Vec<_>, String> =
        ids.iter().map(|&id| load_settings(Some(&path), id).map_err(|e| e.to_string())).collect();
    match settings.and_then(|all| start_app(all, logs, repaint)) {
        Ok(app) => Launch::Running(app),
        Err(e) => Launch::Failed(e),
    }
}

fn main() -> ExitCode {
    let logs = logger::install();
    let args = Args::parse();
    let repaint = Repaint::default();
    let mut launch = launch(&args, logs, repaint);
    if let Launch::Failed(e) = &launch {
        eprintln!("peer-gui: {e}");
    }
    let title = match &launch {
        Launch::Running(app) if app.tabs.len() == 1 => format!("Eirb2Share | {}", app.tabs[0].title),
        Launch::Running(_) => "Eirb2Share peers".to_owned(),
        Launch::Setup(_) | Launch::Failed(_) => "Eirb2Share".to_owned(),
    };
    let mut viewport = eframe::egui::ViewportBuilder::default();
    if let Some(icon) = icon::window_icon() {
        viewport = viewport.with_icon(icon);
    }
    let options = eframe::NativeOptions {
        viewport: viewport
            .with_title(&title)
            .with_app_id("eirb2share")
            .with_inner_size([1000.0, 700.0])
            .with_min_inner_size([640.0, 420.0]),
        ..Default::default()
    };
    // One name for the storage (window, views, column widths), whatever
    // the title says.
    let run = eframe::run_native(
        "eirb2share",
        options,
        Box::new(move |cc| {
            launch.restore(cc.storage);
            Ok(Box::new(launch))
        }),
    );
    match run {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("peer-gui: cannot open a window: {e} (is DISPLAY set?)");
            ExitCode::from(1)
        }
    }
}
