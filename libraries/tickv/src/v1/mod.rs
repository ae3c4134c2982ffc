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

mod import;

pub use import::{import, ImportReport};

#[cfg(test)]
mod tests;
