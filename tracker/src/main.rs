//! `tracker`: see `tracker --help`.

fn main() -> std::process::ExitCode {
    tracker::allocator::restart_tuned();
    tracker::cli::main()
}
