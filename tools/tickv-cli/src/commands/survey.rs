//! The record-level view of a store that dump, stat and fsck share.
//!
//! Everything below sees the store through the engine: region headers and
//! roles from `Store::region_info`, records from the engine's record walk
//! (`Store::next_record`), values through `Store::get`. The tool does not
//! parse the on-flash format itself; the only raw look at the image is
//! whether bytes the engine reports as unused are still erased (0xFF).

use super::*;

/// What a record (or a damaged stretch) of the walk means for its key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Status {
    /// The record that holds its key's current value.
    Live,
    /// An older value; the key now has a newer value.
    Superseded,
    /// An older value; the key is now deleted.
    Deleted,
    /// A valid tombstone.
    Tombstone,
    /// The record fails its CRC.
    Corrupt,
    /// Bytes whose header does not decode, skipped by the engine.
    Damaged,
    /// A valid value whose liveness the engine could not tell (index capped).
    Unknown,
}

impl Status {
    pub(super) fn name(self) -> &'static str {
        match self {
            Status::Live => "live",
            Status::Superseded => "superseded",
            Status::Deleted => "deleted",
            Status::Tombstone => "tombstone",
            Status::Corrupt => "corrupt",
            Status::Damaged => "damaged",
            Status::Unknown => "unknown",
        }
    }
}

/// One item of the engine's record walk, with its status. Consecutive
/// damaged stretches are merged into one.
#[derive(Clone, Copy, Debug)]
pub(super) struct Rec {
    pub(super) info: RecordInfo,
    pub(super) status: Status,
}

impl Rec {
    pub(super) fn key(&self) -> Option<u64> {
        self.info.header.map(|h| h.key)
    }
}

/// One region as the engine reports it, plus where its records end.
#[derive(Clone, Copy, Debug)]
pub(super) struct RegionView {
    pub(super) header: HeaderState,
    pub(super) role: Role,
    /// Offset where the walked records end (the header span when there are
    /// none, and always for a free region).
    pub(super) end: usize,
    /// First non-erased byte after `end`: bytes no record accounts for.
    pub(super) stray: Option<usize>,
}

/// The mounted store seen record by record.
pub(super) struct Survey {
    pub(super) regions: Vec<RegionView>,
    /// Used regions, oldest (tail) first.
    pub(super) order: Vec<usize>,
    /// The engine's record walk, oldest record first.
    pub(super) records: Vec<Rec>,
    /// The live keys the engine lists, with their value lengths.
    pub(super) keys: Vec<(u64, usize)>,
    /// The engine's index holds every key, so liveness is known.
    pub(super) complete: bool,
}

/// The used regions from the oldest (tail) to the newest (head), given each
/// region's role: they follow the head's successor in ring order.
pub(super) fn ring_order(regions: &[RegionView]) -> Vec<usize> {
    let n = regions.len();
    let Some(head) = regions.iter().position(|r| r.role == Role::Head) else {
        return Vec::new();
    };
    (1..=n)
        .map(|i| (head + i) % n)
        .filter(|&r| regions[r].role != Role::Free)
        .collect()
}

pub(super) fn status_of(info: &RecordInfo, listed: &HashSet<u64>) -> Status {
    let Some(h) = info.header else {
        return Status::Damaged;
    };
    if !info.crc_ok {
        return Status::Corrupt;
    }
    match (h.kind, info.live) {
        (Kind::Tombstone, _) => Status::Tombstone,
        (Kind::Value, Some(true)) => Status::Live,
        (Kind::Value, Some(false)) if listed.contains(&h.key) => Status::Superseded,
        (Kind::Value, Some(false)) => Status::Deleted,
        (Kind::Value, None) => Status::Unknown,
    }
}

pub(super) fn survey(st: &mut Store<'_>, window: &Window) -> Result<Survey, CliError> {
    let g = window.geometry;
    let span = st.kv.header_span();
    let mut regions = Vec::with_capacity(g.region_count);
    for r in 0..g.region_count {
        let info = st.region_info(r).map_err(|e| explain(e, st, window))?;
        regions.push(RegionView {
            header: info.header,
            role: info.role,
            end: span,
            stray: None,
        });
    }
    let keys = live_keys(st, window)?;
    let listed: HashSet<u64> = keys.iter().map(|&(k, _)| k).collect();

    let mut records: Vec<Rec> = Vec::new();
    let mut cursor = None;
    while let Some((info, next)) = st.next_record(cursor).map_err(|e| explain(e, st, window))? {
        cursor = Some(next);
        let end = (info.offset + info.extent).min(g.region_size);
        let view = &mut regions[info.region];
        view.end = view.end.max(end);
        if let Some(prev) = records.last_mut() {
            let p = &mut prev.info;
            if info.header.is_none()
                && p.header.is_none()
                && p.region == info.region
                && p.offset + p.extent == info.offset
            {
                p.extent += info.extent;
                continue;
            }
        }
        records.push(Rec {
            info,
            status: status_of(&info, &listed),
        });
    }

    // Bytes the engine does not account for must still be erased: after the
    // last record of a used region, and the whole data area of a free one.
    let image = st.flash.sim.image();
    for (r, view) in regions.iter_mut().enumerate() {
        if view.role == Role::Free {
            view.end = span;
        }
        let base = r * g.region_size;
        view.stray = image[base + view.end..base + g.region_size]
            .iter()
            .position(|&x| x != 0xFF)
            .map(|p| view.end + p);
    }
    let order = ring_order(&regions);
    Ok(Survey {
        regions,
        order,
        records,
        keys,
        complete: st.stats().keys.is_some(),
    })
}

pub(super) fn role_name(r: Role) -> &'static str {
    match r {
        Role::Head => "head",
        Role::Used => "used",
        Role::Free => "free",
    }
}

pub(super) fn header_name(h: &HeaderState) -> &'static str {
    match h {
        HeaderState::Valid(_) => "valid",
        HeaderState::Blank => "blank",
        HeaderState::OtherGeometry => "other-geometry",
        HeaderState::V1 => "v1",
        HeaderState::Invalid => "invalid",
    }
}

pub(super) fn header_fields(h: &HeaderState) -> (Option<u32>, Option<u32>) {
    match h {
        HeaderState::Valid(h) => (Some(h.erase_count), Some(h.seq)),
        _ => (None, None),
    }
}

pub(super) fn dash(n: Option<u32>) -> String {
    n.map_or_else(|| "-".into(), |n| n.to_string())
}

pub(super) fn kind_name(k: Kind) -> &'static str {
    match k {
        Kind::Value => "value",
        Kind::Tombstone => "tombstone",
    }
}
