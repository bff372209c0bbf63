//! `distrod`: a Nacos-compatible ephemeral registry member on the mio runtime.

use std::process::ExitCode;

fn main() -> ExitCode {
    let config = match distro_host::config::start("distrod") {
        Ok(c) => c,
        Err(code) => return code,
    };
    if config.shards.is_some_and(|n| n > 1) || !config.cpus.is_empty() {
        eprintln!(
            "distrod: runs one member on one thread; --shards and --cpus are for distrod-glommio"
        );
        return ExitCode::from(2);
    }
    match distro_mio::run(config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("distrod: {e}");
            ExitCode::from(1)
        }
    }
}
