//! `ekv` 1.0.0 over its own flash trait, one write transaction per put or
//! delete, driven by `pollster::block_on`.

use ekv::flash::{Flash, PageID};
use ekv::{Config, Database, ReadError};
use embassy_sync::blocking_mutex::raw::NoopRawMutex;
use flashsim::SimError;
use pollster::block_on;

use super::FUTURE;
use crate::device::Shared;

/// ekv's compile-time configuration as built here (its defaults, which
/// already are 4 KiB pages and up to 256 pages).
pub const EKV_TUNING: &str = "compile-time defaults: PAGE_SIZE 4096, MAX_PAGE_COUNT 256, \
ALIGN 4, MAX_KEY_SIZE 64, MAX_VALUE_SIZE 1024, SCRATCH_PAGE_COUNT 4, BRANCHING_FACTOR 2, \
MAX_CHUNK_SIZE 4096, no CRC feature; run-time random_seed = boot number";

/// The metered flash as ekv's flash.
pub struct EkvFlash {
    flash: Shared,
    pages: usize,
}

impl Flash for EkvFlash {
    type Error = SimError;
    fn page_count(&self) -> usize {
        self.pages
    }
    async fn erase(&mut self, page_id: PageID) -> Result<(), SimError> {
        self.flash.borrow_mut().erase(page_id.index())
    }
    async fn read(
        &mut self,
        page_id: PageID,
        offset: usize,
        data: &mut [u8],
    ) -> Result<(), SimError> {
        self.flash
            .borrow_mut()
            .read(page_id.index() * ekv::config::PAGE_SIZE + offset, data)
    }
    async fn write(&mut self, page_id: PageID, offset: usize, data: &[u8]) -> Result<(), SimError> {
        self.flash
            .borrow_mut()
            .program(page_id.index() * ekv::config::PAGE_SIZE + offset, data)
    }
}

type Db = Database<EkvFlash, NoopRawMutex>;

/// The database; a mount builds a new one (all RAM state is in it).
pub struct Ekv {
    flash: Shared,
    db: Box<Db>,
    boots: u32,
    /// Largest future of one operation seen (it lives on the caller's stack).
    future: usize,
}

fn text<E: std::fmt::Debug>(e: E) -> String {
    format!("{e:?}")
}

fn database(flash: &Shared, seed: u32) -> Box<Db> {
    let pages = flash.borrow().regions();
    let mut config = Config::default();
    config.random_seed = seed;
    Box::new(Database::new(
        EkvFlash {
            flash: flash.clone(),
            pages,
        },
        config,
    ))
}

impl Ekv {
    /// A database on `flash`.
    pub fn new(flash: &Shared) -> Ekv {
        assert_eq!(flash.borrow().region_size(), ekv::config::PAGE_SIZE);
        Ekv {
            flash: flash.clone(),
            db: database(flash, 1),
            boots: 1,
            future: 0,
        }
    }

    fn write(&mut self, key: u64, value: &[u8], delete: bool) -> Result<(), String> {
        let k = key.to_be_bytes();
        let db = &self.db;
        let fut = async {
            let mut tx = db.write_transaction().await;
            if delete {
                tx.delete(&k).await.map_err(text)?;
            } else {
                tx.write(&k, value).await.map_err(text)?;
            }
            tx.commit().await.map_err(text)
        };
        let size = std::mem::size_of_val(&fut);
        let r = block_on(fut);
        self.future = self.future.max(size);
        r
    }
}

impl super::Kv for Ekv {
    fn format(&mut self) -> Result<(), String> {
        block_on(self.db.format()).map_err(text)
    }
    fn remount(&mut self) -> Result<(), String> {
        self.boots += 1;
        self.db = database(&self.flash, self.boots.wrapping_mul(0x9E37_79B9));
        block_on(self.db.mount()).map_err(text)
    }
    fn set(&mut self, key: u64, value: &[u8]) -> Result<(), String> {
        self.write(key, value, false)
    }
    fn get(&mut self, key: u64, out: &mut [u8]) -> Result<Option<usize>, String> {
        let k = key.to_be_bytes();
        let db = &self.db;
        let fut = async {
            let tx = db.read_transaction().await;
            match tx.read(&k, out).await {
                Ok(n) => Ok(Some(n)),
                Err(ReadError::KeyNotFound) => Ok(None),
                Err(e) => Err(text(e)),
            }
        };
        let size = std::mem::size_of_val(&fut);
        let r = block_on(fut);
        self.future = self.future.max(size);
        r
    }
    fn delete(&mut self, key: u64) -> Result<(), String> {
        self.write(key, &[], true)
    }
    fn ram(&self) -> Vec<(&'static str, usize)> {
        vec![
            (
                "Database (all state and buffers)",
                std::mem::size_of::<Db>(),
            ),
            (FUTURE, self.future),
        ]
    }
}
