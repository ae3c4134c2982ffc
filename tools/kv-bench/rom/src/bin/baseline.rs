//! The scaffolding alone: flash driver, block_on, inputs and outputs.
#![no_std]
#![no_main]

use kv_bench_rom::*;

#[no_mangle]
pub extern "C" fn _start() -> ! {
    let mut buf = [0u8; 32];
    flash_read(key(1) as usize, &mut buf);
    flash_program(key(2) as usize, &value());
    flash_erase(key(3) as usize);
    keep(block_on(async { key(4) }));
    keep(buf);
    loop {}
}
