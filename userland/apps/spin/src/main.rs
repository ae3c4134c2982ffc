//! Prints one line, then loops forever without making a system call. Only
//! timer preemption lets other processes run beside it; a test boots it
//! next to `heartbeat` and checks that the beats keep coming.

#![no_std]
#![no_main]

tockrt::main!(main);

fn main() {
    tockrt::println!("spin: spinning forever without system calls");
    let mut x: u32 = 1;
    loop {
        // Keep the loop from being optimised away.
        x = core::hint::black_box(x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223));
    }
}
