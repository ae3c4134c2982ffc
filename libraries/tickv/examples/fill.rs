//! Writes a store image holding N live records, for measuring what a
//! store of that size costs a board (doc/qemu.md, "Stores of many
//! records"):
//!
//! ```text
//! cargo run --release -p tickv@0.1.0 --example fill -- N IMAGE [REGION_SIZE REGIONS UNIT]
//! ```
//!
//! The geometry defaults to the QEMU virt board's store (16 regions of
//! 256 KiB, program unit 4, in a 32 MiB pflash image). Each record is a
//! 16-byte value behind the 9-byte owner header of app id 0x1234, under a
//! spread of 64-bit keys.

use flashsim::{Geometry as SimGeometry, SimFlash};
use tickv::blocking::{Flash, Store};
use tickv::{FlashFault, Geometry, IndexEntry, TicKV};

struct Image(SimFlash);

impl Flash for Image {
    fn read(&mut self, addr: usize, buf: &mut [u8]) -> Result<(), FlashFault> {
        self.0.read(addr, buf).map_err(|_| FlashFault)
    }
    fn program(&mut self, addr: usize, data: &[u8]) -> Result<(), FlashFault> {
        self.0.program(addr, data).map_err(|_| FlashFault)
    }
    fn erase(&mut self, region: usize) -> Result<(), FlashFault> {
        self.0.erase(region).map_err(|_| FlashFault)
    }
}

/// An engine error as a message.
fn debug(e: tickv::Error) -> String {
    format!("{e:?}")
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: fill N IMAGE [REGION_SIZE REGIONS UNIT]";
    let (Some(n), Some(path)) = (args.first(), args.get(1)) else {
        return Err(usage.into());
    };
    let n: u64 = n.parse()?;
    let number = |i: usize, default: usize| -> Result<usize, Box<dyn std::error::Error>> {
        Ok(args
            .get(i)
            .map(|s| s.parse())
            .transpose()?
            .unwrap_or(default))
    };
    let geometry = Geometry {
        region_size: number(2, 0x4_0000)?,
        region_count: number(3, 16)?,
        program_unit: number(4, 4)?,
    };
    let sim = SimFlash::new(SimGeometry {
        region_size: geometry.region_size,
        region_count: geometry.region_count,
        program_unit: geometry.program_unit,
        erase_value: 0xFF,
    });
    // An index for every key, so that filling is quick.
    let mut index = vec![IndexEntry::default(); n as usize];
    let mut scratch = vec![0u8; 512];
    let kv = TicKV::new(geometry, &mut index).map_err(debug)?;
    let mut store = Store::new(kv, Image(sim), &mut scratch);
    store.format().map_err(debug)?;
    for i in 0..n {
        let mut value = [0u8; 9 + 16];
        value[1..5].copy_from_slice(&16u32.to_le_bytes());
        value[5..9].copy_from_slice(&0x1234u32.to_le_bytes());
        value[9..17].copy_from_slice(&i.to_le_bytes());
        value[17..].copy_from_slice(&i.to_be_bytes());
        store
            .set(0x9E37_79B9_7F4A_7C15u64.wrapping_mul(i + 1), &value)
            .map_err(debug)?;
    }
    let (_, Image(sim), _) = store.into_parts();
    let mut bytes = sim.image().to_vec();
    // The QEMU virt board's pflash unit is 32 MiB whatever the store uses.
    if geometry.region_size * geometry.region_count == 0x40_0000 {
        bytes.resize(0x200_0000, 0xFF);
    }
    std::fs::write(path, bytes)?;
    println!("{path}: {n} records");
    Ok(())
}
