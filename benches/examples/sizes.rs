//! Prints the sizes of the core's message types (they are moved on every request).
fn main() {
    use std::mem::size_of;
    println!("Input   {}", size_of::<distro_core::Input>());
    println!("Request {}", size_of::<distro_core::Request>());
    println!("Reply   {}", size_of::<distro_core::Reply>());
    println!("Output  {}", size_of::<distro_core::Output>());
}
