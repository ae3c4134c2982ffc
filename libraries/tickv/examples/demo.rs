//! The storage engine on a persistent store image: every run counts itself,
//! updates a few keys and prints what the store holds. Run it twice to see
//! the data persist (`make run`).

use std::path::Path;

use flashsim::{Geometry as SimGeometry, SimFlash};
use tickv::blocking::{Flash, Store};
use tickv::{Error, FlashFault, Geometry, IndexEntry, TicKV};

struct File(SimFlash);

impl Flash for File {
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

const BOOTS: u64 = 0xB007;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let geometry = Geometry {
        region_size: 4096,
        region_count: 16,
        program_unit: 4,
    };
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/demo-store.img");
    let sim_geometry = SimGeometry {
        region_size: geometry.region_size,
        region_count: geometry.region_count,
        program_unit: geometry.program_unit,
        erase_value: 0xFF,
    };
    let flash = File(SimFlash::open_file(&path, 0, sim_geometry, true)?);
    let mut index = [IndexEntry::default(); 64];
    let mut scratch = [0u8; 256];
    let mut store = Store::new(
        TicKV::new(geometry, &mut index).map_err(debug)?,
        flash,
        &mut scratch,
    );

    match store.mount() {
        Ok(()) => println!("mounted target/demo-store.img"),
        Err(Error::NotFormatted) => {
            store.format().map_err(debug)?;
            println!("formatted a new store in target/demo-store.img");
        }
        Err(e) => return Err(debug(e)),
    }

    let mut buf = [0u8; 64];
    let boots = match store.get(BOOTS, &mut buf) {
        Ok(8) => u64::from_le_bytes(buf[..8].try_into()?) + 1,
        _ => 1,
    };
    store.set(BOOTS, &boots.to_le_bytes()).map_err(debug)?;
    store
        .set(boots % 5, format!("written by run {boots}").as_bytes())
        .map_err(debug)?;

    println!("run number {boots}; live keys:");
    let mut keys = Vec::new();
    store
        .for_each_key(|k, len| keys.push((k, len)))
        .map_err(debug)?;
    for (k, len) in keys {
        let n = store.get(k, &mut buf).map_err(debug)?;
        let text = match k {
            BOOTS => format!("boot counter = {boots}"),
            _ => String::from_utf8_lossy(&buf[..n.min(buf.len())]).into_owned(),
        };
        println!("  {k:#018x} ({len:>2} bytes): {text}");
    }
    let st = store.stats();
    println!(
        "live {} B, reclaimable {} B, free {} B, {} of {} regions in use",
        st.live_bytes.unwrap_or(0),
        st.reclaimable.unwrap_or(0),
        st.free_bytes,
        st.used_regions,
        st.regions
    );
    Ok(())
}

fn debug(e: Error) -> Box<dyn std::error::Error> {
    format!("store error: {e:?}").into()
}
