//! `peer`: see `peer --help`.

fn main() -> std::process::ExitCode {
    peer::headless::main()
}
