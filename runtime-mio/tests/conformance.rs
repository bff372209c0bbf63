//! The conformance scenarios of `distro-testkit` against this runtime's `distrod`.

use distro_testkit::cluster::Target;
use std::path::Path;

distro_testkit::conformance_suite!(Target::new(Path::new(env!("CARGO_BIN_EXE_distrod"))));
