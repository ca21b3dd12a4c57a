//! `tracker`: see `tracker --help`.

fn main() -> std::process::ExitCode {
    tracker::cli::main()
}
