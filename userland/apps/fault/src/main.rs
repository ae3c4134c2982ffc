//! Prints a line, then loads a word from inside the kernel (an address
//! the board description gives: `tockrt::board_u32!("TOCK_KERNEL_RAM")`),
//! which the memory protection must refuse: the process faults there. If
//! the load returns, the app says so and exits with code 1.

#![no_std]
#![no_main]

use tockrt::println;

/// An address inside the kernel, never the process's.
const KERNEL_RAM: u32 = tockrt::board_u32!("TOCK_KERNEL_RAM");

tockrt::main!(main);

fn main() -> u32 {
    println!("fault: loading from kernel memory at {KERNEL_RAM:#010x}; this must fault");
    let value = tockrt::probe::load_word(KERNEL_RAM);
    println!("fault: FAIL: the load returned {value:#010x} instead of faulting");
    1
}
