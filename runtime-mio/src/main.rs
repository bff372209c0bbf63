//! `distrod`: a Nacos-compatible ephemeral registry member on the mio runtime.

use std::io::IsTerminal;
use std::process::ExitCode;
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    let config = match distro_host::ServerConfig::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("distrod: {e}");
            return ExitCode::from(2);
        }
    };
    if config.shards.is_some_and(|n| n > 1) || !config.cpus.is_empty() {
        eprintln!(
            "distrod: runs one member on one thread; --shards and --cpus are for distrod-glommio"
        );
        return ExitCode::from(2);
    }
    let filter = match EnvFilter::try_new(&config.log) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("distrod: invalid log filter `{}`: {e}", config.log);
            return ExitCode::from(2);
        }
    };
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    match distro_mio::run(config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("distrod: {e}");
            ExitCode::from(1)
        }
    }
}
