//! Memory given back to the system once peers leave.
//!
//! glibc's allocator keeps what the tracker frees unless told otherwise:
//! each time a large block (a table that grew) is freed, it raises its
//! threshold for serving blocks from its heap and for returning the
//! heap's free top to the system, up to 32 and 64 MiB. After a million
//! files came and went, the tracker kept 17 MiB more than before they
//! came, freed but resident. Fixing both thresholds at 128 KiB turns that
//! off: large blocks are mapped on their own and unmapped when freed.
//!
//! The thresholds are read once, when the process starts, from
//! `GLIBC_TUNABLES`, and the workspace allows no unsafe code (which
//! `mallopt` would need): so the tracker starts itself again, in the
//! same process (`exec` keeps its id, for systemd too), with them set.
//! Someone who set `GLIBC_TUNABLES` keeps theirs.

/// What the tracker sets: see the module's documentation.
pub const TUNABLES: &str = "glibc.malloc.mmap_threshold=131072:glibc.malloc.trim_threshold=131072";

/// Replaces the process with itself started with [`TUNABLES`], unless
/// `GLIBC_TUNABLES` is set already (then returns at once). Returns only
/// if that is so, or if it could not: the tracker then runs as it is,
/// after saying so on stderr (logging is not set up yet).
pub fn restart_tuned() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        use std::os::unix::process::CommandExt;

        if std::env::var_os("GLIBC_TUNABLES").is_some() {
            return;
        }
        let error = match std::env::current_exe() {
            Ok(exe) => {
                std::process::Command::new(exe).args(std::env::args_os().skip(1)).env("GLIBC_TUNABLES", TUNABLES).exec()
            }
            Err(e) => e,
        };
        eprintln!(
            "tracker: running without GLIBC_TUNABLES={TUNABLES} (cannot start again with it: {error}); memory freed when peers leave may stay resident"
        );
    }
}
