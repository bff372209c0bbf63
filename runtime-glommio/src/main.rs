//! `distrod-glommio`: a Nacos-compatible ephemeral registry, one member per pinned io_uring
//! executor.

use std::io::IsTerminal;
use std::process::ExitCode;
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    let config = match distro_host::ServerConfig::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("distrod-glommio: {e}");
            return ExitCode::from(2);
        }
    };
    let filter = match EnvFilter::try_new(&config.log) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("distrod-glommio: invalid log filter `{}`: {e}", config.log);
            return ExitCode::from(2);
        }
    };
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    match distro_glommio::run(config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("distrod-glommio: {e}");
            ExitCode::from(1)
        }
    }
}
