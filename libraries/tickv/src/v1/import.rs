//! Importing a version-1 store's live keys into a version-2 store.

use super::*;

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
