#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| distro_core::fuzzing::grpc(data));
