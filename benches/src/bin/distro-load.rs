//! `distro-load`: the load generator (see `distro_benches::load`, `distro-load --help`).

fn main() -> std::process::ExitCode {
    distro_benches::load::cli::main()
}
