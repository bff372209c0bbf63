//! `distrod-glommio`: a Nacos-compatible ephemeral registry, one member per pinned io_uring
//! executor.

use std::process::ExitCode;

fn main() -> ExitCode {
    let config = match distro_host::config::start("distrod-glommio") {
        Ok(c) => c,
        Err(code) => return code,
    };
    if let Err(e) = distro_glommio::run(config) {
        eprintln!("distrod-glommio: {e}");
        return ExitCode::from(1);
    }
    ExitCode::SUCCESS
}
