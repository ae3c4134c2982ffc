//! Reading stores written in upstream TicKV's version-1 format, and
//! importing them into a version-2 store.
//!
//! Version 1 is the format of the `tickv` crate up to 2.0.0 and of
//! tockloader's `tickv` commands (`doc/tickv-v1.md` describes it). This module
//! only reads it; it never writes version-1 flash.
//!
//! ## Layout, as this reader understands it
//!
//! The store is a run of equal regions (erase units). Every region holds
//! objects packed from offset 0; the first byte that reads `0xFF` where a
//! version byte is expected ends the region's objects. An object is:
//!
//! | bytes | content |
//! |---|---|
//! | 0 | version, always 1 |
//! | 1 | bit 7: VALID (cleared by a delete); bits 6..4: 0; bits 3..0: `total_len[11:8]` |
//! | 2 | `total_len[7:0]` |
//! | 3..11 | the 64-bit key hash, big-endian |
//! | 11..`total_len - 4` | the value |
//! | last 4 | CRC-32/POSIX ([`crate::crc::Crc32`]) of bytes `0..total_len - 4`, little-endian |
//!
//! `total_len` therefore lies in `15..=0xFFE` ([`MIN_OBJECT`],
//! [`MAX_OBJECT`]). A value that an app stored through Tock's
//! `kv_permissions` layer starts with a 9-byte [`Owner`] header.
//!
//! ## What this reader does differently from upstream
//!
//! Version 1 has no way to find the next object after a damaged one, so a
//! bad version byte or an impossible length ends the scan of that region
//! and is reported as [`Damage`]. Apart from that the reader is more
//! forgiving than upstream's lookups, on purpose:
//!
//! * It reads every region to its end. Upstream stops looking for a key
//!   when the key's home region has fewer than 12 bytes left after its last
//!   object, or at an empty region, so keys that overflowed into a
//!   neighbouring region can become unreadable there ("stuck" keys). They
//!   are found here.
//! * A copy that fails its CRC never hides an intact copy of the same key.
//!
//! ## Deleted objects and their CRC
//!
//! Upstream deletes an object by clearing its VALID bit in place, after the
//! CRC was computed over the header with the bit set. tockloader's
//! `invalidate` instead rewrites the CRC over the cleared header. For a
//! deleted object [`Object::crc_ok`] accepts either. A "zeroised" object
//! (upstream's `zeroise_key`) is deleted and has its value and CRC
//! overwritten with zeros.
//!
//! ## Duplicates
//!
//! A key can have more than one live copy after upstream's lookup bugs.
//! Upstream's append checks for the key only in the regions it visits
//! before it finds room, so once a region earlier in the key's probe order
//! has room again (garbage collection erased it), appending a key that is
//! stuck further along writes a second live copy. This module defines the
//! value of a key as the copy a complete version-1 lookup meets first:
//! regions in upstream's probe order from the key's home region
//! ([`home_region`], then home + 1, home − 1, home + 2, home − 2, … as far
//! as they exist; see [`ProbeOrder`]), and within a region the lowest
//! offset, counting only live objects (valid and CRC correct). Upstream's
//! append always writes a key before any older copy in that order, so the
//! winner is the newest copy, and it is the one upstream's `get_key`
//! returns whenever upstream can find the key at all. [`find`] returns it;
//! [`import`] imports it and counts the other live copies as
//! [`ImportReport::duplicates`].
//!
//! tockloader never leaves two live copies (its `append` first invalidates
//! every copy of the key), but when a home region is full it places the key
//! in home + 1, home + 2, … wrapping around, an order upstream's lookups do
//! not follow. With a single live copy the order does not matter here.
//!
//! Nothing here panics, whatever the bytes, and nothing allocates.

use crate::blocking::{Flash, Store};
use crate::crc::Crc32;
use crate::Error;

/// The version byte every version-1 object starts with.
pub const VERSION: u8 = 1;

/// The hash of upstream's "main key", the object that `initialise` writes to
/// mark a store as set up. tockloader calls it the magic init key and does
/// not know where it comes from; it is what Rust's `DefaultHasher`
/// (SipHash-1-3 with a zero key, in today's standard library) gives for
/// `b"tickv-super-key"` fed through `Hash`, as upstream's own tests compute
/// it. Not SipHash-2-4 like every other Tock key: treat it as a magic number.
pub const MAIN_KEY: u64 = 0x7BC9_F7FF_4F76_F244;

/// Bytes of an object header: version, flags and length (2), hash (8).
pub const OBJECT_HEADER: usize = 11;

/// Bytes of the CRC that ends every object.
pub const CHECKSUM: usize = 4;

/// The smallest object: a header, an empty value and the CRC.
pub const MIN_OBJECT: usize = OBJECT_HEADER + CHECKSUM;

/// The largest `total_len` upstream can write (it requires `< 0xFFF`).
pub const MAX_OBJECT: usize = 0xFFE;

/// The largest value a version-1 object can hold.
pub const MAX_VALUE: usize = MAX_OBJECT - MIN_OBJECT;

/// Bytes of Tock's owner header inside a value.
pub const OWNER_HEADER: usize = 9;

/// The VALID flag in byte 1 of an object.
pub const FLAG_VALID: u8 = 0x80;

/// Tock's 9-byte owner header found at the start of a value: version u8 (0), length u32 LE, write_id u32 LE.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Owner {
    /// Header version; always 0.
    pub version: u8,
    /// Length of the value that follows the header.
    pub length: u32,
    /// The id of the writer (an app's write id, or 0 for the kernel).
    pub write_id: u32,
}

impl Owner {
    /// The owner header at the start of `value`, if it is well formed:
    /// version 0 and a length equal to the bytes that follow the header.
    pub fn parse(value: &[u8]) -> Option<Owner> {
        let h = value.get(..OWNER_HEADER)?;
        let version = h[0];
        let length = u32::from_le_bytes([h[1], h[2], h[3], h[4]]);
        let write_id = u32::from_le_bytes([h[5], h[6], h[7], h[8]]);
        let rest = value.len() - OWNER_HEADER;
        if version != 0 || usize::try_from(length).ok()? != rest {
            return None;
        }
        Some(Owner {
            version,
            length,
            write_id,
        })
    }

    /// The header for a payload of `length` bytes written by `write_id`.
    pub fn new(length: u32, write_id: u32) -> Owner {
        Owner {
            version: 0,
            length,
            write_id,
        }
    }

    /// The header's 9 bytes as stored.
    pub fn encode(&self) -> [u8; OWNER_HEADER] {
        let mut b = [0u8; OWNER_HEADER];
        b[0] = self.version;
        b[1..5].copy_from_slice(&self.length.to_le_bytes());
        b[5..9].copy_from_slice(&self.write_id.to_le_bytes());
        b
    }
}

/// One version-1 object, as found in an image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Object<'a> {
    /// Region index.
    pub region: usize,
    /// Offset of the object in its region.
    pub offset: usize,
    /// The key hash (stored big-endian).
    pub hash: u64,
    /// VALID flag (bit 7 of byte 1); false = deleted (invalidated).
    pub valid: bool,
    /// The 12-bit total length as stored (11 + value + 4).
    pub total_len: usize,
    /// The value bytes as stored (zeros if zeroised).
    pub value: &'a [u8],
    /// CRC-32/POSIX over header and value matches the stored little-endian
    /// CRC. For a deleted object, a CRC computed with the VALID bit still
    /// set (upstream) or cleared (tockloader) both count.
    pub crc_ok: bool,
    /// The value and the CRC are all zero (upstream's `zeroise_key`).
    pub zeroised: bool,
    /// Some when the value starts with a well-formed owner header (version 0
    /// and length == value.len() - 9); always None for a zeroised object,
    /// whose header bytes were wiped, not written.
    pub owner: Option<Owner>,
}

impl<'a> Object<'a> {
    /// Whether this is upstream's main-key object.
    pub fn is_main_key(&self) -> bool {
        self.hash == MAIN_KEY
    }

    /// The value without the owner header (the whole value when there is none).
    pub fn payload(&self) -> &'a [u8] {
        match self.owner {
            Some(_) => self.value.get(OWNER_HEADER..).unwrap_or(&[]),
            None => self.value,
        }
    }

    /// Valid, CRC correct, not the main key: what a v1 reader would return.
    pub fn is_live(&self) -> bool {
        self.valid && self.crc_ok && !self.is_main_key()
    }

    /// Offset just past the object in its region.
    pub fn end(&self) -> usize {
        self.offset + self.total_len
    }
}

/// Damage that stops the scan of one region (v1 has no way to resynchronise).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Damage {
    /// The version byte is neither 1 nor 0xFF (erased).
    BadVersion {
        /// Region index.
        region: usize,
        /// Offset of the damaged object in its region.
        offset: usize,
        /// The byte found where a version was expected.
        byte: u8,
    },
    /// A total length smaller than a minimal object, or >= 0xFFF, or zero.
    BadLength {
        /// Region index.
        region: usize,
        /// Offset of the damaged object in its region.
        offset: usize,
        /// The length as stored.
        total_len: usize,
    },
    /// The object runs past the end of its region. `total_len` is 0 when
    /// even the length field is cut off.
    Truncated {
        /// Region index.
        region: usize,
        /// Offset of the damaged object in its region.
        offset: usize,
        /// The length as stored (0 when unreadable).
        total_len: usize,
    },
}

impl Damage {
    /// The region whose scan the damage ended.
    pub fn region(&self) -> usize {
        match *self {
            Damage::BadVersion { region, .. }
            | Damage::BadLength { region, .. }
            | Damage::Truncated { region, .. } => region,
        }
    }

    /// Offset of the damage in its region.
    pub fn offset(&self) -> usize {
        match *self {
            Damage::BadVersion { offset, .. }
            | Damage::BadLength { offset, .. }
            | Damage::Truncated { offset, .. } => offset,
        }
    }
}

/// One thing found by a [`Scan`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Item<'a> {
    /// A well-formed object (it may still be deleted or fail its CRC).
    Object(Object<'a>),
    /// Damage that ended the scan of its region.
    Damage(Damage),
}

/// What lies at one offset of a region.
enum Parsed<'a> {
    /// Erased, or the end of the region: no more objects here.
    End,
    Object(Object<'a>),
    Damage(Damage),
}

/// The number of regions of an image, or 0 when the region size is 0 or
/// does not divide the image length.
fn region_count(image: &[u8], region_size: usize) -> usize {
    if region_size == 0 || !image.len().is_multiple_of(region_size) {
        0
    } else {
        image.len() / region_size
    }
}

fn region_bytes(image: &[u8], region_size: usize, region: usize) -> &[u8] {
    let start = region.saturating_mul(region_size);
    image
        .get(start..start.saturating_add(region_size))
        .unwrap_or(&[])
}

/// Reads the object at `offset` of `data` (the bytes of region `region`).
/// The CRC is checked only when `check_crc` is set (otherwise `crc_ok` is
/// false), so lookups can skip it for objects of other keys.
fn parse(data: &[u8], region: usize, offset: usize, check_crc: bool) -> Parsed<'_> {
    let rest = match data.get(offset..) {
        Some(r) if !r.is_empty() => r,
        _ => return Parsed::End,
    };
    match rest[0] {
        0xFF => return Parsed::End,
        VERSION => {}
        byte => {
            return Parsed::Damage(Damage::BadVersion {
                region,
                offset,
                byte,
            })
        }
    }
    let (b1, b2) = match (rest.get(1), rest.get(2)) {
        (Some(&b1), Some(&b2)) => (b1, b2),
        _ => {
            return Parsed::Damage(Damage::Truncated {
                region,
                offset,
                total_len: 0,
            })
        }
    };
    let total_len = (usize::from(b1 & 0x0F) << 8) | usize::from(b2);
    if !(MIN_OBJECT..=MAX_OBJECT).contains(&total_len) {
        return Parsed::Damage(Damage::BadLength {
            region,
            offset,
            total_len,
        });
    }
    let obj = match rest.get(..total_len) {
        Some(o) => o,
        None => {
            return Parsed::Damage(Damage::Truncated {
                region,
                offset,
                total_len,
            })
        }
    };
    let body_len = total_len - CHECKSUM;
    let (body, crc_bytes) = obj.split_at(body_len);
    let (header, value) = body.split_at(OBJECT_HEADER);
    let mut h = [0u8; 8];
    h.copy_from_slice(&header[3..OBJECT_HEADER]);
    let hash = u64::from_be_bytes(h);
    let valid = b1 & FLAG_VALID != 0;
    let stored = u32::from_le_bytes([crc_bytes[0], crc_bytes[1], crc_bytes[2], crc_bytes[3]]);
    let zeroised = stored == 0 && value.iter().all(|&b| b == 0);
    let crc_ok = check_crc && crc_matches(header, value, valid, stored);
    let owner = if zeroised { None } else { Owner::parse(value) };
    Parsed::Object(Object {
        region,
        offset,
        hash,
        valid,
        total_len,
        value,
        crc_ok,
        zeroised,
        owner,
    })
}

/// Whether `stored` is the CRC of the object, accepting for a deleted object
/// the CRC of its header with the VALID bit set again (upstream clears the
/// bit after the CRC was written).
fn crc_matches(header: &[u8], value: &[u8], valid: bool, stored: u32) -> bool {
    let of = |header: &[u8]| {
        let mut c = Crc32::new();
        c.update(header);
        c.update(value);
        c.finish()
    };
    if of(header) == stored {
        return true;
    }
    if valid {
        return false;
    }
    let mut h = [0u8; OBJECT_HEADER];
    h.copy_from_slice(header);
    h[1] |= FLAG_VALID;
    of(&h) == stored
}

/// Iterator over every object of an image (see [`scan`]).
#[derive(Clone, Debug)]
pub struct Scan<'a> {
    image: &'a [u8],
    region_size: usize,
    /// One past the last region to scan.
    end: usize,
    region: usize,
    offset: usize,
}

impl<'a> Iterator for Scan<'a> {
    type Item = Item<'a>;

    fn next(&mut self) -> Option<Item<'a>> {
        while self.region < self.end {
            let data = region_bytes(self.image, self.region_size, self.region);
            match parse(data, self.region, self.offset, true) {
                Parsed::End => {}
                Parsed::Object(o) => {
                    self.offset = o.end();
                    return Some(Item::Object(o));
                }
                Parsed::Damage(d) => {
                    self.region += 1;
                    self.offset = 0;
                    return Some(Item::Damage(d));
                }
            }
            self.region += 1;
            self.offset = 0;
        }
        None
    }
}

/// Every object of every region, region by region from offset 0; a region ends at an erased version byte (0xFF), at the region end, or after a Damage item.
///
/// A `region_size` of 0, or one that does not divide `image.len()`, yields
/// nothing: the image cannot be a store of that geometry.
pub fn scan(image: &[u8], region_size: usize) -> Scan<'_> {
    Scan {
        image,
        region_size,
        end: region_count(image, region_size),
        region: 0,
        offset: 0,
    }
}

/// The objects of one region only, like [`scan`] restricted to `region`
/// (nothing when the region does not exist).
pub fn scan_region(image: &[u8], region_size: usize, region: usize) -> Scan<'_> {
    let count = region_count(image, region_size);
    Scan {
        image,
        region_size,
        end: if region < count { region + 1 } else { 0 },
        region,
        offset: 0,
    }
}

/// Whether the image holds a v1 store: some region starts with a valid main-key object.
///
/// "Valid" means VALID flag set and CRC correct. Upstream's `initialise`
/// writes the main key first thing after erasing every region, so it always
/// opens its home region.
pub fn is_v1_store(image: &[u8], region_size: usize) -> bool {
    (0..region_count(image, region_size)).any(|r| {
        match parse(region_bytes(image, region_size, r), r, 0, true) {
            Parsed::Object(o) => o.is_main_key() && o.valid && o.crc_ok,
            _ => false,
        }
    })
}

/// The region where upstream first looks for (and first tries to store) a
/// hash: `(hash & 0xFFFF) % regions` (0 when there are no regions).
pub fn home_region(hash: u64, regions: usize) -> usize {
    if regions == 0 {
        0
    } else {
        (hash & 0xFFFF) as usize % regions
    }
}

/// The regions in upstream's probe order for one hash: the home region,
/// then home + 1, home − 1, home + 2, home − 2, … skipping numbers outside
/// `0..regions` (there is no wrap-around). Every region appears once.
#[derive(Clone, Debug)]
pub struct ProbeOrder {
    home: usize,
    regions: usize,
    /// Distance of the next candidate from home.
    dist: usize,
    /// Whether the next candidate is below home (home − dist).
    below: bool,
}

impl ProbeOrder {
    /// The probe order of `hash` in a store of `regions` regions.
    pub fn new(hash: u64, regions: usize) -> ProbeOrder {
        ProbeOrder {
            home: home_region(hash, regions),
            regions,
            dist: 0,
            below: false,
        }
    }
}

impl Iterator for ProbeOrder {
    type Item = usize;

    fn next(&mut self) -> Option<usize> {
        loop {
            // Past both ends: done.
            if self.dist > self.home && self.home + self.dist >= self.regions {
                return None;
            }
            let candidate = if self.below {
                self.home.checked_sub(self.dist)
            } else {
                Some(self.home + self.dist)
            };
            // Advance: 0 -> +1 -> -1 -> +2 -> -2 ...
            if self.dist == 0 || self.below {
                self.dist += 1;
                self.below = false;
            } else {
                self.below = true;
            }
            match candidate {
                Some(r) if r < self.regions => return Some(r),
                _ => continue,
            }
        }
    }
}

/// The live copy of `hash` that wins (see the module documentation on
/// duplicates): the first live object of that hash in upstream's probe
/// order, lowest offset first within a region. Unlike upstream's lookup it
/// reads every region in full and skips copies that fail their CRC. Returns
/// `None` for the main key, which is never live.
pub fn find(image: &[u8], region_size: usize, hash: u64) -> Option<Object<'_>> {
    for r in ProbeOrder::new(hash, region_count(image, region_size)) {
        let data = region_bytes(image, region_size, r);
        let mut offset = 0;
        while let Parsed::Object(o) = parse(data, r, offset, false) {
            offset = o.end();
            if o.hash == hash && o.valid {
                // Only now pay for the CRC.
                if let Parsed::Object(checked) = parse(data, r, o.offset, true) {
                    if checked.is_live() {
                        return Some(checked);
                    }
                }
            }
        }
    }
    None
}

/// Writes a valid version-1 object for `hash` and `value` into the start of
/// `out` and returns its length, or `None` when the value is longer than
/// [`MAX_VALUE`] or `out` is too short. Meant for tests and tools that make
/// version-1 images.
pub fn encode_object(hash: u64, value: &[u8], out: &mut [u8]) -> Option<usize> {
    if value.len() > MAX_VALUE {
        return None;
    }
    let total = MIN_OBJECT + value.len();
    let obj = out.get_mut(..total)?;
    obj[0] = VERSION;
    obj[1] = FLAG_VALID | (total >> 8) as u8;
    obj[2] = total as u8;
    obj[3..OBJECT_HEADER].copy_from_slice(&hash.to_be_bytes());
    obj[OBJECT_HEADER..total - CHECKSUM].copy_from_slice(value);
    let crc = Crc32::of(&obj[..total - CHECKSUM]);
    obj[total - CHECKSUM..].copy_from_slice(&crc.to_le_bytes());
    Some(total)
}

/// What [`import`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ImportReport {
    /// Keys written to the version-2 store (one per winning live object).
    pub imported: usize,
    /// Deleted objects (VALID cleared, zeroised ones included), skipped.
    pub deleted: usize,
    /// Valid objects whose CRC fails, skipped.
    pub corrupt: usize,
    /// Regions whose scan ended at [`Damage`]; objects after the damage are
    /// not seen.
    pub damaged_regions: usize,
    /// Live objects skipped because another live copy of the same hash wins
    /// (see the module documentation).
    pub duplicates: usize,
}

/// Writes every live object of a v1 image into a (formatted or mounted) v2 store, value bytes verbatim (owner header included, so owners survive).
///
/// * Each hash is written once, with the value of its winning copy
///   ([`find`]); other live copies count as duplicates. The main key is
///   skipped and counted nowhere. Deleted and corrupt objects are skipped
///   and counted. Keys already in the store are overwritten.
/// * The image need not hold a main key ([`is_v1_store`]): whatever objects
///   it has are imported.
/// * Before writing anything, every value is checked against the store's
///   [`crate::TicKV::max_value_len`]; a longer one fails the import with
///   [`Error::TooLarge`] and the store is unchanged. Any error of a write
///   (for example [`Error::NoSpace`], or [`Error::NotMounted`]) ends the
///   import; the keys written so far stay, and running the import again is
///   safe (it rewrites the same values).
/// * A `region_size` of 0 or one that does not divide the image length is
///   [`Error::Invalid`].
///
/// Finding the winner of each copy re-reads the regions before it in its
/// probe order, so the time grows with the square of the object count in
/// the worst case (CRCs are computed only for objects of the same hash).
pub fn import<F: Flash>(
    image: &[u8],
    region_size: usize,
    store: &mut Store<'_, '_, F>,
) -> Result<ImportReport, Error> {
    if region_size == 0 || !image.len().is_multiple_of(region_size) {
        return Err(Error::Invalid);
    }
    let max = store.kv.max_value_len();
    let winners = || {
        scan(image, region_size).filter_map(move |item| match item {
            Item::Object(o) if o.is_live() => Some(o),
            _ => None,
        })
    };
    let is_winner = |o: &Object| {
        find(image, region_size, o.hash)
            .is_some_and(|w| w.region == o.region && w.offset == o.offset)
    };
    if winners().any(|o| o.value.len() > max && is_winner(&o)) {
        return Err(Error::TooLarge);
    }
    let mut report = ImportReport::default();
    for item in scan(image, region_size) {
        let o = match item {
            Item::Damage(_) => {
                report.damaged_regions += 1;
                continue;
            }
            Item::Object(o) => o,
        };
        if o.is_main_key() {
            continue;
        }
        if !o.valid {
            report.deleted += 1;
        } else if !o.crc_ok {
            report.corrupt += 1;
        } else if is_winner(&o) {
            store.set(o.hash, o.value)?;
            report.imported += 1;
        } else {
            report.duplicates += 1;
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;
    use crate::blocking::Flash;
    use crate::{FlashFault, Geometry, TicKV};
    use std::vec;
    use std::vec::Vec;

    /// "mykey" = "hello" with owner write id 0x1234 (doc/tickv-v1.md).
    const MYKEY: [u8; 29] = [
        0x01, 0x80, 0x1d, 0x21, 0x9e, 0x0c, 0x95, 0x28, 0xeb, 0x43, 0x92, 0x00, 0x05, 0x00, 0x00,
        0x00, 0x34, 0x12, 0x00, 0x00, 0x68, 0x65, 0x6c, 0x6c, 0x6f, 0x91, 0x51, 0xa9, 0xf6,
    ];
    /// The main-key object.
    const MAIN: [u8; 15] = [
        0x01, 0x80, 0x0f, 0x7b, 0xc9, 0xf7, 0xff, 0x4f, 0x76, 0xf2, 0x44, 0xbb, 0x32, 0x74, 0x1d,
    ];
    const MYKEY_HASH: u64 = 0x219e_0c95_28eb_4392;

    use flashsim::Rng;

    /// 3 regions of 4096, as tockloader lays out the test vectors: "mykey"
    /// in region 0, the main key in region 1.
    fn vector_image() -> Vec<u8> {
        let mut img = vec![0xFF; 3 * 4096];
        img[..29].copy_from_slice(&MYKEY);
        img[4096..4096 + 15].copy_from_slice(&MAIN);
        img
    }

    fn objects(image: &[u8], region_size: usize) -> Vec<Object<'_>> {
        scan(image, region_size)
            .filter_map(|i| match i {
                Item::Object(o) => Some(o),
                Item::Damage(_) => None,
            })
            .collect()
    }

    fn damages(image: &[u8], region_size: usize) -> Vec<Damage> {
        scan(image, region_size)
            .filter_map(|i| match i {
                Item::Damage(d) => Some(d),
                Item::Object(_) => None,
            })
            .collect()
    }

    #[test]
    fn reads_the_spec_test_vectors() {
        let img = vector_image();
        let objs = objects(&img, 4096);
        assert_eq!(objs.len(), 2);
        let o = objs[0];
        assert_eq!((o.region, o.offset), (0, 0));
        assert_eq!(o.hash, MYKEY_HASH);
        assert!(o.valid && o.crc_ok && !o.zeroised && o.is_live());
        assert_eq!(o.total_len, 29);
        assert_eq!(o.value.len(), 14);
        assert_eq!(
            o.owner,
            Some(Owner {
                version: 0,
                length: 5,
                write_id: 0x1234
            })
        );
        assert_eq!(o.payload(), b"hello");
        let m = objs[1];
        assert_eq!((m.region, m.offset, m.total_len), (1, 0, 15));
        assert!(m.is_main_key() && m.valid && m.crc_ok && !m.is_live());
        assert_eq!(m.value, b"");
        assert_eq!(m.owner, None);
        assert!(is_v1_store(&img, 4096));
        assert_eq!(home_region(MYKEY_HASH, 3), 0);
        assert_eq!(home_region(MAIN_KEY, 3), 1);
        assert_eq!(find(&img, 4096, MYKEY_HASH), Some(o));
        assert_eq!(find(&img, 4096, MAIN_KEY), None);
    }

    #[test]
    fn encodes_the_spec_test_vectors() {
        let mut out = [0u8; 64];
        let mut value = Vec::from(Owner::new(5, 0x1234).encode());
        value.extend_from_slice(b"hello");
        assert_eq!(encode_object(MYKEY_HASH, &value, &mut out), Some(29));
        assert_eq!(out[..29], MYKEY);
        assert_eq!(encode_object(MAIN_KEY, b"", &mut out), Some(15));
        assert_eq!(out[..15], MAIN);
        assert_eq!(encode_object(1, &[0; MAX_VALUE + 1], &mut [0; 4096]), None);
        assert_eq!(encode_object(1, b"abc", &mut [0; 17]), None);
        assert_eq!(
            encode_object(1, &[7; MAX_VALUE], &mut [0; 4096]),
            Some(MAX_OBJECT)
        );
    }

    #[test]
    fn probe_order_alternates_and_stays_in_range() {
        let order = |home: u64, n: usize| ProbeOrder::new(home, n).collect::<Vec<_>>();
        assert_eq!(order(0, 1), [0]);
        assert_eq!(order(0, 4), [0, 1, 2, 3]);
        assert_eq!(order(3, 4), [3, 2, 1, 0]);
        assert_eq!(order(2, 5), [2, 3, 1, 4, 0]);
        assert_eq!(order(1, 5), [1, 2, 0, 3, 4]);
        assert_eq!(order(5, 8), [5, 6, 4, 7, 3, 2, 1, 0]);
        // The home region comes from the low 16 bits.
        assert_eq!(order(0x1_0000 + 7, 8), [7, 6, 5, 4, 3, 2, 1, 0]);
        assert_eq!(order(9, 0), Vec::<usize>::new());
        for n in 1..20 {
            for h in 0..n as u64 {
                let mut v = order(h, n);
                assert_eq!(v[0], h as usize);
                v.sort_unstable();
                assert_eq!(v, (0..n).collect::<Vec<_>>());
            }
        }
    }

    #[test]
    fn deleted_objects_by_upstream_and_by_tockloader() {
        // Upstream clears the VALID bit and keeps the CRC.
        let mut img = vector_image();
        img[1] &= !FLAG_VALID;
        let o = objects(&img, 4096)[0];
        assert!(!o.valid && o.crc_ok && !o.is_live() && !o.zeroised);
        assert_eq!(o.owner.map(|w| w.write_id), Some(0x1234));
        assert_eq!(find(&img, 4096, MYKEY_HASH), None);
        // tockloader recomputes the CRC over the cleared header.
        let crc = Crc32::of(&img[..25]);
        img[25..29].copy_from_slice(&crc.to_le_bytes());
        let o = objects(&img, 4096)[0];
        assert!(!o.valid && o.crc_ok);
        // A valid object is checked against its header as stored only.
        img[1] |= FLAG_VALID;
        let o = objects(&img, 4096)[0];
        assert!(o.valid && !o.crc_ok && !o.is_live());
    }

    #[test]
    fn zeroised_objects() {
        let mut img = vector_image();
        img[1] &= !FLAG_VALID;
        img[11..29].fill(0);
        let objs = objects(&img, 4096);
        let o = objs[0];
        assert!(!o.valid && o.zeroised && !o.crc_ok && !o.is_live());
        assert_eq!(o.owner, None);
        assert_eq!(o.value, &[0u8; 14][..]);
        assert_eq!(o.payload(), o.value);
        // The scan continues after it.
        assert_eq!(objs.len(), 2);
        // A zeroised main key.
        let mut img = vector_image();
        img[4097] &= !FLAG_VALID;
        img[4096 + 11..4096 + 15].fill(0);
        let m = objects(&img, 4096)[1];
        assert!(m.zeroised && !m.valid);
        assert!(!is_v1_store(&img, 4096));
    }

    #[test]
    fn damaged_lengths_stop_the_region() {
        for (len, expect_bad) in [(0usize, true), (14, true), (0xFFF, true), (15, false)] {
            let mut img = vector_image();
            // A second object in region 0, then a damaged length.
            img[29..29 + 15].copy_from_slice(&MAIN);
            img[30] = 0x80 | (len >> 8) as u8;
            img[31] = len as u8;
            let items: Vec<Item> = scan(&img, 4096).collect();
            if expect_bad {
                assert_eq!(
                    items[1],
                    Item::Damage(Damage::BadLength {
                        region: 0,
                        offset: 29,
                        total_len: len
                    })
                );
                // Region 1 is still read.
                assert!(matches!(items[2], Item::Object(o) if o.region == 1));
                assert_eq!(items.len(), 3);
            } else {
                assert!(matches!(items[1], Item::Object(o) if o.offset == 29 && o.crc_ok));
            }
        }
        let mut img = vector_image();
        img[29] = 0x02;
        assert_eq!(
            damages(&img, 4096),
            [Damage::BadVersion {
                region: 0,
                offset: 29,
                byte: 2
            }]
        );
        // Damage at offset 0 of a region hides the whole region.
        let mut img = vector_image();
        img[0] = 0;
        assert_eq!(objects(&img, 4096).len(), 1);
        assert!(is_v1_store(&img, 4096));
        img[4096] = 0x11;
        assert!(!is_v1_store(&img, 4096));
        assert_eq!(damages(&img, 4096).len(), 2);
        assert_eq!(damages(&img, 4096)[1].region(), 1);
        assert_eq!(damages(&img, 4096)[1].offset(), 0);
    }

    #[test]
    fn truncation_at_the_region_end() {
        let rs = 64;
        let mut img = vec![0xFF; 2 * rs];
        // An object ending exactly at the region end is fine.
        let n = encode_object(5, &[1; 64 - 15], &mut img[..]).unwrap();
        assert_eq!(n, 64);
        assert_eq!(objects(&img, rs).len(), 1);
        // One that would end 1..=3 bytes past it (what upstream's off-by-
        // three room check could attempt) is truncated.
        let mut obj = [0u8; 80];
        let n = encode_object(5, &[1; 30], &mut obj).unwrap();
        for cut in 1..=3 {
            let mut img = vec![0xFF; 2 * rs];
            let at = rs - n + cut;
            img[at..rs].copy_from_slice(&obj[..n - cut]);
            // One object before it, so that the scan gets there.
            encode_object(9, &vec![3; at - 15], &mut img[..at]).unwrap();
            let d = damages(&img, rs);
            assert_eq!(
                d,
                [Damage::Truncated {
                    region: 0,
                    offset: at,
                    total_len: n
                }]
            );
        }
        // Header cut after the version byte or after the first length byte.
        for tail in 1..=2 {
            let mut img = vec![0xFF; 2 * rs];
            img[rs - tail] = VERSION;
            if tail == 2 {
                img[rs - 1] = 0x80;
            }
            let at = rs - tail;
            // Fill the region before with one object so the scan gets there.
            encode_object(9, &vec![3; at - 15], &mut img[..at]).unwrap();
            assert_eq!(
                damages(&img, rs),
                [Damage::Truncated {
                    region: 0,
                    offset: at,
                    total_len: 0
                }]
            );
        }
    }

    #[test]
    fn geometry_that_does_not_fit_yields_nothing() {
        let img = vector_image();
        assert_eq!(scan(&img, 0).count(), 0);
        assert_eq!(scan(&img, 5000).count(), 0);
        assert_eq!(scan(&[], 4096).count(), 0);
        assert!(!is_v1_store(&img, 0));
        assert!(!is_v1_store(&img, 5000));
        assert_eq!(find(&img, 0, MYKEY_HASH), None);
        // Another divisor still parses, region by region.
        assert_eq!(scan(&img, 1024).count(), 2);
        assert_eq!(scan_region(&img, 4096, 1).count(), 1);
        assert_eq!(scan_region(&img, 4096, 3).count(), 0);
    }

    #[test]
    fn non_owner_values() {
        let mut img = vec![0xFF; 256];
        // Too short, wrong version, wrong length.
        let n1 = encode_object(10, &[0; 8], &mut img).unwrap();
        let n2 = encode_object(11, &[1, 0, 0, 0, 0, 0, 0, 0, 0], &mut img[n1..]).unwrap();
        let n3 = encode_object(12, &[0, 2, 0, 0, 0, 9, 9, 9, 9, 1], &mut img[n1 + n2..]).unwrap();
        encode_object(
            13,
            &[0, 1, 0, 0, 0, 9, 9, 9, 9, 1],
            &mut img[n1 + n2 + n3..],
        )
        .unwrap();
        let objs = objects(&img, 256);
        assert_eq!(objs.len(), 4);
        assert_eq!(objs[0].owner, None);
        assert_eq!(objs[1].owner, None);
        assert_eq!(objs[2].owner, None);
        assert_eq!(objs[2].payload(), objs[2].value);
        assert_eq!(objs[3].owner, Some(Owner::new(1, 0x0909_0909)));
        assert_eq!(objs[3].payload(), &[1]);
    }

    /// Appends an object of `hash` at the end of `region`'s objects.
    fn put(img: &mut [u8], rs: usize, region: usize, hash: u64, value: &[u8]) -> usize {
        let base = region * rs;
        let end = objects(img, rs)
            .iter()
            .filter(|o| o.region == region)
            .map(|o| o.end())
            .max()
            .unwrap_or(0);
        encode_object(hash, value, &mut img[base + end..base + rs]).unwrap();
        end
    }

    #[test]
    fn duplicates_resolve_in_probe_order() {
        let rs = 256;
        let mut img = vec![0xFF; 4 * rs];
        let h = 0x1_0002; // home region 2 of 4; order 2, 3, 1, 0
        put(&mut img, rs, 0, h, b"in 0");
        put(&mut img, rs, 1, h, b"in 1");
        put(&mut img, rs, 3, h, b"in 3");
        assert_eq!(find(&img, rs, h).unwrap().value, b"in 3");
        let off = put(&mut img, rs, 2, h, b"home");
        put(&mut img, rs, 2, h, b"home, later");
        assert_eq!(find(&img, rs, h).unwrap().value, b"home");
        // Deleting the home copy makes region 3 win; corrupting it, region 1.
        img[2 * rs + off + 1] &= !FLAG_VALID;
        assert_eq!(find(&img, rs, h).unwrap().value, b"home, later");
        let later = off + 15 + 4;
        img[2 * rs + later + 1] &= !FLAG_VALID;
        assert_eq!(find(&img, rs, h).unwrap().value, b"in 3");
        img[3 * rs + 12] ^= 1;
        assert_eq!(find(&img, rs, h).unwrap().value, b"in 1");
    }

    /// A RAM flash for the import tests (programming only clears bits).
    struct Ram {
        bytes: Vec<u8>,
        region: usize,
    }

    impl Flash for Ram {
        fn read(&mut self, addr: usize, buf: &mut [u8]) -> Result<(), FlashFault> {
            let src = self.bytes.get(addr..addr + buf.len()).ok_or(FlashFault)?;
            buf.copy_from_slice(src);
            Ok(())
        }
        fn program(&mut self, addr: usize, data: &[u8]) -> Result<(), FlashFault> {
            let dst = self
                .bytes
                .get_mut(addr..addr + data.len())
                .ok_or(FlashFault)?;
            for (d, s) in dst.iter_mut().zip(data) {
                *d &= *s;
            }
            Ok(())
        }
        fn erase(&mut self, region: usize) -> Result<(), FlashFault> {
            let r = self.region;
            self.bytes
                .get_mut(region * r..(region + 1) * r)
                .ok_or(FlashFault)?
                .fill(0xFF);
            Ok(())
        }
    }

    fn with_v2_store<T>(
        region_size: usize,
        regions: usize,
        f: impl FnOnce(&mut Store<'_, '_, Ram>) -> T,
    ) -> T {
        let g = Geometry {
            region_size,
            region_count: regions,
            program_unit: 4,
        };
        let mut index = vec![crate::IndexEntry::default(); 64];
        let mut scratch = vec![0u8; 256];
        let kv = TicKV::new(g, &mut index).unwrap();
        let ram = Ram {
            bytes: vec![0xFF; region_size * regions],
            region: region_size,
        };
        let mut store = Store::new(kv, ram, &mut scratch);
        store.format().unwrap();
        f(&mut store)
    }

    fn get(store: &mut Store<'_, '_, Ram>, key: u64) -> Option<Vec<u8>> {
        let mut buf = vec![0u8; 4096];
        match store.get(key, &mut buf) {
            Ok(n) => Some(buf[..n].to_vec()),
            Err(Error::NotFound) => None,
            Err(e) => panic!("get: {e:?}"),
        }
    }

    #[test]
    fn import_counts_every_kind_of_object() {
        let rs = 256;
        let mut img = vec![0xFF; 4 * rs];
        put(&mut img, rs, 0, MAIN_KEY, b"");
        let dup = 0x1_0002;
        put(&mut img, rs, 2, dup, b"new");
        put(&mut img, rs, 3, dup, b"old");
        put(&mut img, rs, 1, 0x21, b"plain");
        let del = put(&mut img, rs, 1, 0x31, b"deleted");
        img[rs + del + 1] &= !FLAG_VALID;
        let bad = put(&mut img, rs, 1, 0x41, b"corrupt");
        img[rs + bad + 12] ^= 0x40;
        put(&mut img, rs, 3, 0x51, b"last");
        let z = put(&mut img, rs, 3, 0x61, b"zeroised");
        img[3 * rs + z + 1] &= !FLAG_VALID;
        img[3 * rs + z + 11..3 * rs + z + 15 + 8].fill(0);
        // Damage after one object of region 0 hides what follows.
        let after = put(&mut img, rs, 0, 0x71, b"fine");
        img[after + 19] = 0x33;
        img[after + 20..after + 40].fill(0x44);
        with_v2_store(1024, 4, |store| {
            let report = import(&img, rs, store).unwrap();
            assert_eq!(
                report,
                ImportReport {
                    imported: 4,
                    deleted: 2,
                    corrupt: 1,
                    damaged_regions: 1,
                    duplicates: 1,
                }
            );
            assert_eq!(get(store, dup).as_deref(), Some(&b"new"[..]));
            assert_eq!(get(store, 0x21).as_deref(), Some(&b"plain"[..]));
            assert_eq!(get(store, 0x51).as_deref(), Some(&b"last"[..]));
            assert_eq!(get(store, 0x71).as_deref(), Some(&b"fine"[..]));
            for k in [0x31, 0x41, 0x61, MAIN_KEY] {
                assert_eq!(get(store, k), None);
            }
            // Importing again changes nothing visible.
            assert_eq!(import(&img, rs, store).unwrap(), report);
            assert_eq!(import(&img, 100, store), Err(Error::Invalid));
            assert_eq!(import(&img, 0, store), Err(Error::Invalid));
        });
    }

    #[test]
    fn import_refuses_values_the_store_cannot_hold_before_writing() {
        let rs = 4096;
        let mut img = vec![0xFF; 2 * rs];
        put(&mut img, rs, 0, 0x10, b"small");
        put(&mut img, rs, 1, 0x11, &[5; 1000]);
        with_v2_store(256, 8, |store| {
            let max = store.kv.max_value_len();
            assert!(max < 1000);
            assert_eq!(import(&img, rs, store), Err(Error::TooLarge));
            assert_eq!(get(store, 0x10), None);
        });
    }

    #[test]
    fn import_of_an_empty_image() {
        with_v2_store(1024, 4, |store| {
            assert_eq!(import(&[], 4096, store), Ok(ImportReport::default()));
            let blank = vec![0xFF; 8192];
            assert_eq!(import(&blank, 4096, store), Ok(ImportReport::default()));
        });
    }

    #[test]
    fn random_images_never_panic() {
        let mut rng = Rng::new(0x5EED_1234_ABCD_0001);
        let mut seen_objects = 0usize;
        let mut seen_damage = 0usize;
        for round in 0..3000 {
            let rs = [16usize, 64, 100, 256][rng.index(4)];
            let regions = 1 + rng.index(4);
            let mut img = vec![0xFF; rs * regions];
            match round % 3 {
                // Pure noise.
                0 => img.iter_mut().for_each(|b| *b = rng.next() as u8),
                // Plausible objects with random damage.
                _ => {
                    for r in 0..regions {
                        let mut at = 0;
                        while at + 15 <= rs && rng.index(8) != 0 {
                            let len = rng.index(40);
                            let value: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
                            let hash = if rng.index(4) == 0 {
                                MAIN_KEY
                            } else {
                                rng.next() % 8
                            };
                            let region = &mut img[r * rs..(r + 1) * rs];
                            match encode_object(hash, &value, &mut region[at..]) {
                                Some(n) => at += n,
                                None => break,
                            }
                        }
                    }
                    for _ in 0..rng.index(4) {
                        let i = rng.index(img.len());
                        img[i] = rng.next() as u8;
                    }
                }
            }
            let size = if rng.index(10) == 0 {
                rng.index(300)
            } else {
                rs
            };
            for item in scan(&img, size) {
                match item {
                    Item::Object(o) => {
                        seen_objects += 1;
                        assert!(o.end() <= size);
                        assert_eq!(o.value.len() + MIN_OBJECT, o.total_len);
                        let _ = (o.payload(), o.is_live());
                    }
                    Item::Damage(_) => seen_damage += 1,
                }
            }
            let _ = is_v1_store(&img, size);
            for h in 0..8 {
                if let Some(o) = find(&img, size, h) {
                    assert!(o.is_live() && o.hash == h);
                }
            }
            if round % 50 == 0 {
                with_v2_store(1024, 4, |store| {
                    let _ = import(&img, size, store);
                });
            }
        }
        assert!(seen_objects > 1000 && seen_damage > 1000);
    }
}
