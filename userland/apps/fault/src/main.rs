//! Prints a line, then loads a word from the kernel's RAM at 0x8000_0000,
//! which the memory protection must refuse: the process faults there. If
//! the load returns, the app says so and exits with code 1.

#![no_std]
#![no_main]

use tockrt::println;

/// Start of the kernel's RAM on the QEMU virt board.
const KERNEL_RAM: u32 = 0x8000_0000;

tockrt::main!(main);

fn main() -> u32 {
    println!("fault: loading from kernel memory at {KERNEL_RAM:#010x}; this must fault");
    let value = tockrt::probe::load_word(KERNEL_RAM);
    println!("fault: FAIL: the load returned {value:#010x} instead of faulting");
    1
}
