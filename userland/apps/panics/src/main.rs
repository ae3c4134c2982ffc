//! Prints a line, then panics. The runtime's panic handler must print
//! `panic at <file>:<line>: deliberate panic, value 42` on the console,
//! send low-level debug alert 1 (panic) and exit with code 0xFFFF_FFFF
//! (`tockrt::PANIC_EXIT_CODE`).

#![no_std]
#![no_main]

use tockrt::println;

tockrt::main!(main);

fn main() {
    println!("panics: about to panic");
    let value = core::hint::black_box(41u32) + 1;
    panic!("deliberate panic, value {value}");
}
