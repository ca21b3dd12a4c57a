//! Log lines fit for where stderr goes.
//!
//! Under systemd, stderr is a stream into the journal, which stamps each
//! line itself and reads a `<N>` prefix as its syslog priority: so there
//! the tracker writes `<3>target: message` (and `journalctl -p warning`
//! shows only warnings and errors), elsewhere env_logger's usual lines.
//! systemd says stderr is the journal through `JOURNAL_STREAM`, the
//! device and inode of that stream; a terminal started from inside a
//! service inherits the variable but not the stream, so both are checked.

use std::io::Write;

/// The syslog priority the journal gives a line of this level.
pub fn priority(level: log::Level) -> u8 {
    match level {
        log::Level::Error => 3,
        log::Level::Warn => 4,
        log::Level::Info => 6,
        log::Level::Debug | log::Level::Trace => 7,
    }
}

/// Whether `journal_stream` (`JOURNAL_STREAM`'s `device:inode`) names
/// the file whose metadata is `file`.
pub fn is_stream(journal_stream: &str, file: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    let Some((dev, ino)) = journal_stream.split_once(':') else { return false };
    let (Ok(dev), Ok(ino)) = (dev.parse::<u64>(), ino.parse::<u64>()) else { return false };
    file.dev() == dev && file.ino() == ino
}

/// Says why the tracker stops, on stderr: `tracker: message` on a
/// terminal, at error priority in the journal (so `journalctl -p err`
/// shows why the service failed).
pub fn fatal(message: std::fmt::Arguments<'_>) {
    if stderr_is_journal() {
        eprintln!("<{}>tracker: {message}", priority(log::Level::Error));
    } else {
        eprintln!("tracker: {message}");
    }
}

fn stderr_is_journal() -> bool {
    use std::os::fd::AsFd;
    let Ok(journal_stream) = std::env::var("JOURNAL_STREAM") else { return false };
    // fstat of a duplicate of stderr, as systemd documents it (no /proc).
    let stderr = std::io::stderr().as_fd().try_clone_to_owned().map(std::fs::File::from);
    stderr.and_then(|f| f.metadata()).is_ok_and(|m| is_stream(&journal_stream, &m))
}

/// Sets up `log` for the tracker binary: RUST_LOG, info by default.
pub fn init_logger() {
    let mut builder = env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info"));
    if stderr_is_journal() {
        builder.format(|buf, record| {
            writeln!(buf, "<{}>{}: {}", priority(record.level()), record.target(), record.args())
        });
    }
    builder.init();
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn the_stream_is_recognised_by_device_and_inode_only() {
        let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml");
        let m = std::fs::metadata(&file).unwrap();
        assert!(is_stream(&format!("{}:{}", m.dev(), m.ino()), &m));
        assert!(!is_stream(&format!("{}:{}", m.dev(), m.ino() + 1), &m));
        for bad in ["", "12", "a:b", "1:2:3", ":"] {
            assert!(!is_stream(bad, &m), "{bad:?}");
        }
    }

    #[test]
    fn levels_map_to_syslog_priorities() {
        let all = [log::Level::Error, log::Level::Warn, log::Level::Info, log::Level::Debug, log::Level::Trace];
        assert_eq!(all.map(priority), [3, 4, 6, 7, 7]);
    }
}
