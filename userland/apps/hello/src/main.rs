//! Prints one line and exits with code 0.

#![no_std]
#![no_main]

tockrt::main!(main);

fn main() {
    tockrt::println!("Hello from tockrt (app hello)");
}
