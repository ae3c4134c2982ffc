//! fsck: every CRC and invariant, each finding with its consequence.

use super::*;

/// One thing `fsck` found.
#[derive(Serialize)]
pub(super) struct Finding {
    pub(super) region: Option<usize>,
    pub(super) offset: Option<usize>,
    pub(super) key: Option<String>,
    pub(super) message: String,
}

#[derive(Default)]
pub(super) struct Findings {
    pub(super) damage: Vec<Finding>,
    pub(super) warnings: Vec<Finding>,
    pub(super) notes: Vec<String>,
}

impl Findings {
    pub(super) fn damage(
        &mut self,
        region: Option<usize>,
        offset: Option<usize>,
        key: Option<u64>,
        m: String,
    ) {
        self.damage.push(Finding {
            region,
            offset,
            key: key.map(hex_key),
            message: m,
        });
    }

    pub(super) fn warn(&mut self, region: Option<usize>, offset: Option<usize>, m: String) {
        self.warnings.push(Finding {
            region,
            offset,
            key: None,
            message: m,
        });
    }
}

pub(super) fn where_(f: &Finding) -> String {
    match (f.region, f.offset) {
        (Some(r), Some(o)) => format!("region {r} offset {o:#x}: "),
        (Some(r), None) => format!("region {r}: "),
        _ => String::new(),
    }
}

/// What the damaged record at position `at` of the walk (key `key`, kind
/// `kind`) means for its key: what the engine returns for the key now
/// (`Store::get`), and whether the damaged record is newer than the record
/// that now decides the key (its position in the walk, which is log order).
pub(super) fn consequence(
    st: &mut Store<'_>,
    window: &Window,
    sv: &Survey,
    at: usize,
    key: u64,
    kind: Kind,
    buf: &mut [u8],
) -> String {
    let k = hex_key(key);
    let last = |want: Status| {
        sv.records
            .iter()
            .rposition(|x| x.status == want && x.key() == Some(key))
    };
    match st.get(key, buf) {
        Ok(len) => match (last(Status::Live), kind) {
            (Some(j), _) if j > at => format!(
                "an obsolete copy: the current value of key {k} ({len} bytes) is intact"
            ),
            (Some(_), Kind::Value) => format!(
                "this was the newest record of key {k}: the store now returns an older value ({len} bytes)"
            ),
            (Some(_), Kind::Tombstone) => format!(
                "a damaged deletion: the deleted value of key {k} ({len} bytes) is readable again"
            ),
            (None, _) => format!("key {k} now reads as a value of {len} bytes"),
        },
        Err(Error::NotFound) => match (last(Status::Tombstone), kind) {
            (Some(j), _) if j > at => {
                format!("an obsolete copy: key {k} is deleted and unaffected")
            }
            (Some(_), Kind::Value) => format!(
                "this was the newest record of key {k}: the key now reads as deleted (an older tombstone)"
            ),
            (Some(_), Kind::Tombstone) => {
                format!("a damaged tombstone; key {k} stays deleted")
            }
            (None, Kind::Value) => format!(
                "key {k} has no valid record left: its value is lost and the key reads as not found"
            ),
            (None, Kind::Tombstone) => {
                format!("key {k} has no valid record left; it reads as not found")
            }
        },
        Err(Error::Corrupt) => format!(
            "the record holding the current value of key {k} fails its CRC: the value is lost"
        ),
        Err(e) => format!(
            "key {k} cannot be read: {}",
            explain(e, st, window).message
        ),
    }
}

/// Whether the record at `offset` of `region` (`extent` bytes) still holds
/// an erased program unit: some of it was never programmed, which on NOR
/// flash means its write was cut short (a bit flip cannot turn a whole
/// programmed unit back to all ones).
pub(super) fn interrupted(window: &Window, region: usize, offset: usize, extent: usize) -> bool {
    let g = window.geometry;
    let start = region * g.region_size + offset;
    let unit = g.program_unit.max(1);
    window
        .original
        .get(start..start + extent)
        .is_some_and(|rec| rec.chunks(unit).any(|c| c.iter().all(|&b| b == 0xFF)))
}

pub(super) fn fsck(st: &mut Store<'_>, window: &Window) -> Result<Outcome, CliError> {
    mount(st, window)?;
    let g = window.geometry;
    let span = st.kv.header_span();
    let mut f = Findings::default();

    // Mount may repair (roll back an interrupted compaction) in memory.
    let changed: Vec<usize> = (0..g.region_count)
        .filter(|&r| {
            let range = r * g.region_size..(r + 1) * g.region_size;
            st.flash.sim.image()[range.clone()] != window.original[range]
        })
        .collect();
    if !changed.is_empty() {
        f.notes.push(format!(
            "mounting rewrote region(s) {changed:?} in memory (rollback of an interrupted \
             compaction); fsck does not write it back, the next writing command will"
        ));
    }

    let sv = survey(st, window)?;
    let head = sv.regions.iter().position(|v| v.role == Role::Head);
    let tail = sv.order.first().copied();
    let head_seq = head.and_then(|h| header_fields(&sv.regions[h].header).1);

    // Region headers.
    let mut seqs: HashMap<u32, usize> = HashMap::new();
    for (r, v) in sv.regions.iter().enumerate() {
        if let HeaderState::Valid(h) = v.header {
            if let Some(other) = seqs.insert(h.seq, r) {
                f.damage(
                    Some(r),
                    None,
                    None,
                    format!("sequence number {} also appears in region {other}", h.seq),
                );
            }
        }
        let name = header_name(&v.header);
        match (v.role, v.header) {
            (_, HeaderState::Valid(_)) => {}
            (Role::Free, _) => f.warn(
                Some(r),
                None,
                format!(
                    "free region with a {name} header (left by an interrupted erase or foreign data); \
                     it is erased before use"
                ),
            ),
            _ if Some(r) == tail && Some(r) != head => f.warn(
                Some(r),
                None,
                format!(
                    "the tail region has a {name} header (an erase interrupted by a power cut); \
                     its valid records are still read and the next compaction finishes it"
                ),
            ),
            (role, _) => f.damage(
                Some(r),
                None,
                None,
                format!(
                    "{} region with a {name} header: its records are still read, but its age is unknown",
                    role_name(role)
                ),
            ),
        }
        if v.role == Role::Free {
            if let Some(at) = v.stray {
                // A free region with a valid header newer than the head's is
                // opened for appends without an erase.
                let clean = matches!(v.header, HeaderState::Valid(h) if Some(h.seq) > head_seq);
                let m = format!("free region holds non-erased bytes at offset {at:#x}");
                if clean {
                    f.damage(
                        Some(r),
                        Some(at),
                        None,
                        format!(
                            "{m}; it would be reused without an erase, and appends would program them twice"
                        ),
                    );
                } else {
                    f.warn(Some(r), Some(at), format!("{m}; it is erased before use"));
                }
            }
        }
    }

    // Ring order: sequence numbers must grow from the tail to the head.
    let mut last: Option<(usize, u32)> = None;
    for &r in &sv.order {
        if let HeaderState::Valid(h) = sv.regions[r].header {
            let seq = h.seq;
            if let Some((pr, ps)) = last {
                if seq <= ps {
                    f.damage(
                        Some(r),
                        None,
                        None,
                        format!(
                            "sequence number {seq} is not larger than that of the older region {pr} ({ps}): \
                             ring order and age disagree, so an older value may win"
                        ),
                    );
                }
            }
            last = Some((r, seq));
        }
    }

    // Records: every CRC failure and every damaged header the walk met.
    let checked = sv
        .records
        .iter()
        .filter(|x| x.info.header.is_some())
        .count();
    let last_of_head = head.and_then(|h| sv.records.iter().rposition(|x| x.info.region == h));
    let mut buf = vec![0u8; st.kv.max_value_len()];
    for (i, rec) in sv.records.iter().enumerate() {
        let x = &rec.info;
        let at_head_end = Some(i) == last_of_head;
        match x.header {
            Some(_) if x.crc_ok => {}
            Some(h) => {
                let kind = match h.kind {
                    Kind::Value => format!("value record ({} bytes)", h.len),
                    Kind::Tombstone => "tombstone".into(),
                };
                let cut_short = interrupted(window, x.region, x.offset, x.extent);
                let what = if cut_short && h.key == u64::MAX {
                    // The key bytes were still erased: no key is affected.
                    "its key was never programmed, so no stored value is affected".to_string()
                } else {
                    consequence(st, window, &sv, i, h.key, h.kind, &mut buf)
                };
                if cut_short {
                    // Never fully programmed: a power cut during its write.
                    // The write was never acknowledged; the engine ignores
                    // the record, as designed.
                    f.warnings.push(Finding {
                        region: Some(x.region),
                        offset: Some(x.offset),
                        key: Some(hex_key(h.key)),
                        message: format!(
                            "{kind} of key {} was never completely programmed (a write \
                             interrupted by a power cut, so never acknowledged); {what}",
                            hex_key(h.key)
                        ),
                    });
                    continue;
                }
                let torn = if at_head_end {
                    " (the last record of the head: possibly a write torn by a power cut)"
                } else {
                    ""
                };
                f.damage(
                    Some(x.region),
                    Some(x.offset),
                    Some(h.key),
                    format!(
                        "{kind} of key {} fails its CRC{torn}; {what}",
                        hex_key(h.key)
                    ),
                );
            }
            None => {
                let torn = if at_head_end && x.extent <= span {
                    " (at the end of the head: possibly a header torn by a power cut)"
                } else {
                    ""
                };
                f.damage(
                    Some(x.region),
                    Some(x.offset),
                    None,
                    format!(
                        "{} bytes do not decode as record headers{torn}; the engine skips them \
                         and any record inside is lost",
                        x.extent
                    ),
                );
            }
        }
    }
    for &r in &sv.order {
        let v = &sv.regions[r];
        if let Some(at) = v.stray {
            let why = if v.role == Role::Head {
                "the next append there would program them twice"
            } else {
                "the region cannot take appends there"
            };
            f.damage(
                Some(r),
                Some(at),
                None,
                format!(
                    "non-erased bytes after the end of the records (offset {:#x}): the engine never \
                     reads them; records stored there are lost, and {why}",
                    v.end
                ),
            );
        }
    }

    // The engine's key list must agree with the liveness the walk reports,
    // and every value must read.
    let mut readable = Vec::new();
    let mut readable_bytes = 0usize;
    for &(k, len) in &sv.keys {
        let live: Vec<&Rec> = sv
            .records
            .iter()
            .filter(|x| x.status == Status::Live && x.key() == Some(k))
            .collect();
        let agrees = match live.as_slice() {
            [one] => one.info.header.is_some_and(|h| h.len == len),
            // Liveness unknown (index capped): nothing to compare.
            [] => !sv.complete,
            _ => false,
        };
        if !agrees {
            f.damage(
                None,
                None,
                Some(k),
                format!(
                    "the engine lists key {} ({len} bytes) but the record walk does not agree",
                    hex_key(k)
                ),
            );
        }
        match st.get(k, &mut buf) {
            Ok(n) => {
                readable.push(hex_key(k));
                readable_bytes += n;
            }
            Err(e) => f.damage(
                None,
                None,
                Some(k),
                format!(
                    "key {} cannot be read: {}",
                    hex_key(k),
                    explain(e, st, window).message
                ),
            ),
        }
    }
    let listed: HashSet<u64> = sv.keys.iter().map(|&(k, _)| k).collect();
    for x in sv.records.iter().filter(|x| x.status == Status::Live) {
        let Some(k) = x.key() else { continue };
        if !listed.contains(&k) {
            f.damage(
                Some(x.info.region),
                Some(x.info.offset),
                Some(k),
                format!(
                    "the record walk finds a live value of key {} that the engine does not list",
                    hex_key(k)
                ),
            );
        }
    }

    let clean = f.damage.is_empty();
    let mut human = format!("fsck {}\n", window.describe());
    human.push_str(&format!(
        "checked {} regions ({} used), {checked} records\n",
        g.region_count,
        sv.order.len()
    ));
    for (title, list) in [("DAMAGE", &f.damage), ("WARNING", &f.warnings)] {
        for x in list {
            human.push_str(&format!("{title}: {}{}\n", where_(x), x.message));
        }
    }
    for n in &f.notes {
        human.push_str(&format!("note: {n}\n"));
    }
    human.push_str(&format!(
        "readable: {} live key{} ({readable_bytes} value bytes), each value passes its CRC\n",
        readable.len(),
        if readable.len() == 1 { "" } else { "s" }
    ));
    human.push_str(if clean {
        "result: clean\n"
    } else {
        "result: DAMAGED\n"
    });
    let mut o = Outcome::ok(
        human,
        json!({
            "clean": clean,
            "store": store_json(window),
            "regions_checked": g.region_count,
            "records_checked": checked,
            "damage": f.damage,
            "warnings": f.warnings,
            "notes": f.notes,
            "readable_keys": readable,
        }),
    );
    if !clean {
        o.code = EXIT_DAMAGED;
    }
    Ok(o)
}
