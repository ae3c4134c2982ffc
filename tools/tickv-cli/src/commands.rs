//! The subcommands.

use std::collections::{HashMap, HashSet};
use std::io::Read;
use std::path::Path;

use serde::Serialize;
use serde_json::{json, Value};
use tickv::{Error, HeaderState, Kind, RecordInfo, Role, Stats, TicKV};

use crate::error::{CliError, EXIT_DAMAGED};
use crate::image::{Options, Window};
use crate::keys::{hex_key, split_owner, with_owner, KeyArg, Shown};
use crate::out::{pairs, Outcome, Table};
use crate::store::{self, explain, Buffers, Store};
use crate::Command;

/// Runs one command: opens the window, runs the engine on a copy of it, and
/// writes the file back only if the command succeeded and changed the
/// window (and `dry_run` is off).
pub fn run(opts: &Options, dry_run: bool, cmd: Command) -> Result<Outcome, CliError> {
    if let Command::ImportV1 {
        v1image,
        v1_offset,
        v1_region_size,
        v1_regions,
        format,
    } = &cmd
    {
        let src = V1Source {
            path: v1image,
            offset: *v1_offset,
            region_size: *v1_region_size,
            regions: *v1_regions,
        };
        return import_v1(opts, dry_run, &src, *format);
    }
    if let Command::AppId { apps } = &cmd {
        return crate::app::app_id(apps);
    }
    let window = Window::open(opts, matches!(cmd, Command::Format))?;
    let mut bufs = Buffers::new(&window.geometry);
    let mut st = store::build(&window, &mut bufs)?;
    let (mut outcome, writes) = match cmd {
        Command::Format => (format(&mut st, &window)?, true),
        Command::Get { key, hash, raw } => (get(&mut st, &window, key, hash, raw)?, false),
        Command::Set {
            key,
            value,
            hash,
            value_file,
            hex,
            owner,
            owner_app,
        } => {
            let owner = match owner_app {
                Some(app) => Some(u64::from(crate::app::write_id(&app)?)),
                None => owner,
            };
            let input = SetInput {
                key,
                value,
                hash,
                value_file,
                hex,
                owner,
            };
            (set(&mut st, &window, input)?, true)
        }
        Command::Delete { key, hash, secure } => {
            (delete(&mut st, &window, key, hash, secure)?, true)
        }
        Command::List => (list(&mut st, &window)?, false),
        Command::Dump { values } => (dump(&mut st, &window, values)?, false),
        Command::Fsck => (fsck(&mut st, &window)?, false),
        Command::Stat => (stat(&mut st, &window)?, false),
        Command::Gc { step } => (gc(&mut st, &window, step)?, true),
        Command::ImportV1 { .. } | Command::AppId { .. } => unreachable!("handled above"),
    };
    finish(&window, &st, writes, dry_run, &mut outcome)?;
    Ok(outcome)
}

/// Writes the window back after a successful writing command.
fn finish(
    window: &Window,
    st: &Store<'_>,
    writes: bool,
    dry_run: bool,
    outcome: &mut Outcome,
) -> Result<(), CliError> {
    if !writes {
        return Ok(());
    }
    let image = st.flash.sim.image();
    let changed = window.create_len.is_some() || image != window.original.as_slice();
    if dry_run {
        if changed {
            outcome
                .human
                .push_str("dry run: the image file was not written\n");
        }
        return Ok(());
    }
    window.commit(image)?;
    if window.create_len.is_some() {
        outcome.human.push_str(&format!(
            "created {} ({} bytes)\n",
            window.path.display(),
            window.create_len.unwrap_or(0)
        ));
    }
    Ok(())
}

fn mount(st: &mut Store<'_>, window: &Window) -> Result<(), CliError> {
    store::mount(st, window)
}

fn not_found(key: &KeyArg) -> CliError {
    CliError::new("not_found", format!("key {} not found", key.describe()))
}

fn store_json(window: &Window) -> Value {
    let g = &window.geometry;
    json!({
        "image": window.path.display().to_string(),
        "offset": window.offset,
        "region_size": g.region_size,
        "regions": g.region_count,
        "program_unit": g.program_unit,
        "size": g.region_size * g.region_count,
    })
}

fn stats_json(s: &Stats, kv: &TicKV<'_>) -> Value {
    json!({
        "capacity_bytes": capacity(kv),
        "regions": s.regions,
        "used_regions": s.used_regions,
        "keys": s.keys,
        "live_bytes": s.live_bytes,
        "dead_bytes": s.reclaimable,
        "record_bytes": s.record_bytes,
        "free_bytes": s.free_bytes,
        "reserve_bytes": s.reserve_bytes,
        "max_value_len": s.max_value_len,
        "corrupt_records": s.corrupt_records,
        "index_used": s.index_used,
        "index_capacity": s.index_capacity,
    })
}

/// Bytes of all regions available to records.
fn capacity(kv: &TicKV<'_>) -> usize {
    let g = kv.geometry();
    g.region_count * (g.region_size - kv.header_span())
}

fn opt(n: Option<usize>) -> String {
    n.map_or_else(|| "unknown".to_string(), |n| n.to_string())
}

fn stats_lines(s: &Stats, kv: &TicKV<'_>) -> Vec<(&'static str, String)> {
    let g = kv.geometry();
    let usable = g.region_size - kv.header_span();
    vec![
        (
            "capacity",
            format!(
                "{} bytes ({} regions x {usable} usable); largest value {} bytes",
                capacity(kv),
                g.region_count,
                s.max_value_len
            ),
        ),
        ("keys", opt(s.keys)),
        ("live", format!("{} bytes", opt(s.live_bytes))),
        (
            "dead",
            format!("{} bytes (reclaimable by gc)", opt(s.reclaimable)),
        ),
        (
            "free",
            format!(
                "{} bytes writable now, {} bytes held in reserve for compaction",
                s.free_bytes, s.reserve_bytes
            ),
        ),
        (
            "regions",
            format!(
                "{} used, {} free",
                s.used_regions,
                s.regions - s.used_regions
            ),
        ),
    ]
}

fn owner_json(value: &[u8]) -> (Option<u32>, Shown) {
    match split_owner(value) {
        Some((owner, payload)) => (Some(owner), Shown::of(payload)),
        None => (None, Shown::of(value)),
    }
}

// ---------------------------------------------------------------------------
// format, get, set, delete, list, gc
// ---------------------------------------------------------------------------

fn format(st: &mut Store<'_>, window: &Window) -> Result<Outcome, CliError> {
    st.format().map_err(|e| explain(e, st, window))?;
    let s = st.stats();
    let mut human = format!("formatted {}\n", window.describe());
    human.push_str(&pairs(&stats_lines(&s, &st.kv)));
    Ok(Outcome::ok(
        human,
        json!({ "formatted": true, "store": store_json(window), "stats": stats_json(&s, &st.kv) }),
    ))
}

fn get(
    st: &mut Store<'_>,
    window: &Window,
    key: Option<String>,
    hash: Option<String>,
    raw: bool,
) -> Result<Outcome, CliError> {
    let key = KeyArg::resolve(key, hash)?;
    mount(st, window)?;
    let mut buf = vec![0u8; st.kv.max_value_len()];
    let len = st.get(key.hash, &mut buf).map_err(|e| match e {
        Error::NotFound => not_found(&key),
        e => explain(e, st, window),
    })?;
    let value = &buf[..len];
    if raw {
        let mut o = Outcome::ok(String::new(), Value::Null);
        o.raw = Some(value.to_vec());
        return Ok(o);
    }
    let (owner, shown) = owner_json(value);
    let mut lines = vec![("key", key.describe()), ("size", format!("{len} bytes"))];
    if let Some(o) = owner {
        lines.push((
            "owner",
            format!("{o:#x} (owner header; payload {} bytes)", len - 9),
        ));
    }
    lines.push(("value", shown.human()));
    Ok(Outcome::ok(
        pairs(&lines),
        json!({
            "key": hex_key(key.hash),
            "name": key.name,
            "size": len,
            "owner": owner,
            "value": shown.raw(),
            "encoding": shown.encoding(),
        }),
    ))
}

struct SetInput {
    key: Option<String>,
    value: Option<String>,
    hash: Option<String>,
    value_file: Option<std::path::PathBuf>,
    hex: bool,
    owner: Option<u64>,
}

fn read_value_file(path: &Path) -> Result<Vec<u8>, CliError> {
    if path == Path::new("-") {
        let mut v = Vec::new();
        std::io::stdin()
            .read_to_end(&mut v)
            .map_err(|e| CliError::new("io", format!("standard input: {e}")))?;
        return Ok(v);
    }
    std::fs::read(path).map_err(|e| CliError::new("io", format!("{}: {e}", path.display())))
}

fn set(st: &mut Store<'_>, window: &Window, input: SetInput) -> Result<Outcome, CliError> {
    // With --hash the first positional is the value.
    let (name, value_arg) = if input.hash.is_some() {
        if input.value.is_some() {
            return Err(CliError::usage(
                "with --hash, give only VALUE (or --value-file), not KEY",
            ));
        }
        (None, input.key)
    } else {
        (input.key, input.value)
    };
    let key = KeyArg::resolve(name, input.hash)?;
    let text = match (value_arg, &input.value_file) {
        (Some(_), Some(_)) => {
            return Err(CliError::usage(
                "give the value either as VALUE or as --value-file",
            ))
        }
        (None, None) => {
            return Err(CliError::usage(
                "missing value: give VALUE or --value-file F",
            ))
        }
        (Some(v), None) => v.into_bytes(),
        (None, Some(f)) => read_value_file(f)?,
    };
    let payload = if input.hex {
        let s = String::from_utf8(text)
            .map_err(|_| CliError::usage("--hex: the value is not hex text"))?;
        crate::keys::from_hex(&s).map_err(|e| CliError::usage(format!("--hex: {e}")))?
    } else {
        text
    };
    let owner = match input.owner {
        Some(o) => Some(u32::try_from(o).map_err(|_| {
            CliError::usage(format!("--owner {o}: an owner id is a 32-bit number"))
        })?),
        None => None,
    };
    let stored = match owner {
        Some(o) => with_owner(o, &payload)?,
        None => payload.clone(),
    };
    mount(st, window)?;
    let max = st.kv.max_value_len();
    if stored.len() > max {
        let what = if owner.is_some() {
            format!("{} bytes with the 9-byte owner header", stored.len())
        } else {
            format!("{} bytes", stored.len())
        };
        return Err(CliError::new(
            "too_large",
            format!("value too large: {what}; this store accepts values of at most {max} bytes"),
        ));
    }
    st.set(key.hash, &stored)
        .map_err(|e| explain(e, st, window))?;
    let mut human = format!("set {}: {} bytes", key.describe(), stored.len());
    if let Some(o) = owner {
        human.push_str(&format!(" (owner {o:#x}, payload {} bytes)", payload.len()));
    }
    human.push('\n');
    Ok(Outcome::ok(
        human,
        json!({
            "key": hex_key(key.hash),
            "name": key.name,
            "size": stored.len(),
            "owner": owner,
        }),
    ))
}

fn delete(
    st: &mut Store<'_>,
    window: &Window,
    key: Option<String>,
    hash: Option<String>,
    secure: bool,
) -> Result<Outcome, CliError> {
    let key = KeyArg::resolve(key, hash)?;
    mount(st, window)?;
    let r = if secure {
        st.secure_delete(key.hash)
    } else {
        st.delete(key.hash)
    };
    r.map_err(|e| match e {
        Error::NotFound => not_found(&key),
        e => explain(e, st, window),
    })?;
    let human = if secure {
        format!(
            "deleted {}; no byte of its old values remains in flash\n",
            key.describe()
        )
    } else {
        format!("deleted {}\n", key.describe())
    };
    Ok(Outcome::ok(
        human,
        json!({ "key": hex_key(key.hash), "name": key.name, "deleted": true, "secure": secure }),
    ))
}

#[derive(Serialize)]
struct ListEntry {
    key: String,
    size: usize,
    owner: Option<u32>,
    value: Option<String>,
    encoding: Option<&'static str>,
    error: Option<String>,
}

/// Every live key with its value length, in key order.
fn live_keys(st: &mut Store<'_>, window: &Window) -> Result<Vec<(u64, usize)>, CliError> {
    let mut keys = Vec::new();
    st.for_each_key(|k, len| keys.push((k, len)))
        .map_err(|e| explain(e, st, window))?;
    Ok(keys)
}

fn list(st: &mut Store<'_>, window: &Window) -> Result<Outcome, CliError> {
    mount(st, window)?;
    let keys = live_keys(st, window)?;
    let mut buf = vec![0u8; st.kv.max_value_len()];
    let mut table = Table::new(&["KEY", "SIZE>", "OWNER", "VALUE"]);
    let mut entries = Vec::new();
    for (k, size) in keys {
        match st.get(k, &mut buf) {
            Ok(len) => {
                let (owner, shown) = owner_json(&buf[..len]);
                table.row(vec![
                    hex_key(k),
                    len.to_string(),
                    owner.map_or_else(|| "-".into(), |o| format!("{o:#x}")),
                    shown.preview(48),
                ]);
                entries.push(ListEntry {
                    key: hex_key(k),
                    size: len,
                    owner,
                    value: Some(shown.raw().to_string()),
                    encoding: Some(shown.encoding()),
                    error: None,
                });
            }
            Err(e) => {
                let msg = explain(e, st, window).message;
                table.row(vec![
                    hex_key(k),
                    size.to_string(),
                    "?".into(),
                    format!("<{msg}>"),
                ]);
                entries.push(ListEntry {
                    key: hex_key(k),
                    size,
                    owner: None,
                    value: None,
                    encoding: None,
                    error: Some(msg),
                });
            }
        }
    }
    let n = entries.len();
    let mut human = table.render();
    human.push_str(&format!("{n} key{}\n", if n == 1 { "" } else { "s" }));
    Ok(Outcome::ok(human, json!({ "keys": entries })))
}

fn gc(st: &mut Store<'_>, window: &Window, step: bool) -> Result<Outcome, CliError> {
    mount(st, window)?;
    let before = st.flash.sim.counters().erases;
    let freed =
        if step { st.gc_step() } else { st.gc_full() }.map_err(|e| explain(e, st, window))?;
    let erases = st.flash.sim.counters().erases - before;
    let s = st.stats();
    let what = if step { "gc step" } else { "gc" };
    let mut human = format!(
        "{what}: reclaimed {freed} bytes ({erases} region erase{})\n",
        if erases == 1 { "" } else { "s" }
    );
    human.push_str(&pairs(&stats_lines(&s, &st.kv)));
    Ok(Outcome::ok(
        human,
        json!({ "freed_bytes": freed, "erases": erases, "step": step, "stats": stats_json(&s, &st.kv) }),
    ))
}

// ---------------------------------------------------------------------------
// dump, stat, fsck: record-level views
// ---------------------------------------------------------------------------
//
// Everything below sees the store through the engine: region headers and
// roles from `Store::region_info`, records from the engine's record walk
// (`Store::next_record`), values through `Store::get`. The tool does not
// parse the on-flash format itself; the only raw look at the image is
// whether bytes the engine reports as unused are still erased (0xFF).

/// What a record (or a damaged stretch) of the walk means for its key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Status {
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
    fn name(self) -> &'static str {
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
struct Rec {
    info: RecordInfo,
    status: Status,
}

impl Rec {
    fn key(&self) -> Option<u64> {
        self.info.header.map(|h| h.key)
    }
}

/// One region as the engine reports it, plus where its records end.
#[derive(Clone, Copy, Debug)]
struct RegionView {
    header: HeaderState,
    role: Role,
    /// Offset where the walked records end (the header span when there are
    /// none, and always for a free region).
    end: usize,
    /// First non-erased byte after `end`: bytes no record accounts for.
    stray: Option<usize>,
}

/// The mounted store seen record by record.
struct Survey {
    regions: Vec<RegionView>,
    /// Used regions, oldest (tail) first.
    order: Vec<usize>,
    /// The engine's record walk, oldest record first.
    records: Vec<Rec>,
    /// The live keys the engine lists, with their value lengths.
    keys: Vec<(u64, usize)>,
    /// The engine's index holds every key, so liveness is known.
    complete: bool,
}

/// The used regions from the oldest (tail) to the newest (head), given each
/// region's role: they follow the head's successor in ring order.
fn ring_order(regions: &[RegionView]) -> Vec<usize> {
    let n = regions.len();
    let Some(head) = regions.iter().position(|r| r.role == Role::Head) else {
        return Vec::new();
    };
    (1..=n)
        .map(|i| (head + i) % n)
        .filter(|&r| regions[r].role != Role::Free)
        .collect()
}

fn status_of(info: &RecordInfo, listed: &HashSet<u64>) -> Status {
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

fn survey(st: &mut Store<'_>, window: &Window) -> Result<Survey, CliError> {
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

fn role_name(r: Role) -> &'static str {
    match r {
        Role::Head => "head",
        Role::Used => "used",
        Role::Free => "free",
    }
}

fn header_name(h: &HeaderState) -> &'static str {
    match h {
        HeaderState::Valid(_) => "valid",
        HeaderState::Blank => "blank",
        HeaderState::OtherGeometry => "other-geometry",
        HeaderState::V1 => "v1",
        HeaderState::Invalid => "invalid",
    }
}

fn header_fields(h: &HeaderState) -> (Option<u32>, Option<u32>) {
    match h {
        HeaderState::Valid(h) => (Some(h.erase_count), Some(h.seq)),
        _ => (None, None),
    }
}

fn dash(n: Option<u32>) -> String {
    n.map_or_else(|| "-".into(), |n| n.to_string())
}

fn kind_name(k: Kind) -> &'static str {
    match k {
        Kind::Value => "value",
        Kind::Tombstone => "tombstone",
    }
}

#[derive(Serialize)]
struct DumpRegion {
    region: usize,
    role: &'static str,
    header: &'static str,
    erase_count: Option<u32>,
    seq: Option<u32>,
    end: usize,
    stray_bytes_at: Option<usize>,
}

#[derive(Serialize)]
struct DumpRecord {
    region: usize,
    offset: usize,
    address: usize,
    kind: &'static str,
    key: Option<String>,
    len: usize,
    extent: usize,
    crc_ok: bool,
    status: &'static str,
    owner: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    value: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    encoding: Option<&'static str>,
}

fn dump(st: &mut Store<'_>, window: &Window, values: bool) -> Result<Outcome, CliError> {
    mount(st, window)?;
    let g = window.geometry;
    let sv = survey(st, window)?;

    let mut regions = Table::new(&[
        "REGION>", "ROLE", "HEADER", "ERASES>", "SEQ>", "END>", "NOTE",
    ]);
    let mut region_rows = Vec::new();
    for (r, v) in sv.regions.iter().enumerate() {
        let (erases, seq) = header_fields(&v.header);
        let note = match (v.stray, v.role) {
            (Some(at), Role::Free) => format!("non-erased bytes at {at:#x} in a free region"),
            (Some(at), _) => format!("non-erased bytes at {at:#x} after the records"),
            (None, _) => String::new(),
        };
        regions.row(vec![
            r.to_string(),
            role_name(v.role).into(),
            header_name(&v.header).into(),
            dash(erases),
            dash(seq),
            format!("{:#x}", v.end),
            note,
        ]);
        region_rows.push(DumpRegion {
            region: r,
            role: role_name(v.role),
            header: header_name(&v.header),
            erase_count: erases,
            seq,
            end: v.end,
            stray_bytes_at: v.stray,
        });
    }

    let mut records = Table::new(&[
        "REGION>", "OFFSET>", "EXTENT>", "KIND", "KEY", "LEN>", "STATUS", "OWNER", "VALUE",
    ]);
    let mut record_rows = Vec::new();
    let mut buf = vec![0u8; st.kv.max_value_len()];
    for rec in &sv.records {
        let x = &rec.info;
        let address = x.region * g.region_size + x.offset;
        let Some(h) = x.header else {
            records.row(vec![
                x.region.to_string(),
                format!("{:#x}", x.offset),
                x.extent.to_string(),
                "undecodable".into(),
                "-".into(),
                "-".into(),
                rec.status.name().into(),
                "-".into(),
                String::new(),
            ]);
            record_rows.push(DumpRecord {
                region: x.region,
                offset: x.offset,
                address,
                kind: "undecodable",
                key: None,
                len: 0,
                extent: x.extent,
                crc_ok: false,
                status: rec.status.name(),
                owner: None,
                value: None,
                encoding: None,
            });
            continue;
        };
        // Only the current value can be read (through the engine's get);
        // older values and damaged records are shown without their bytes.
        let value = if rec.status == Status::Live {
            Some(st.get(h.key, &mut buf).map(|n| buf[..n].to_vec()))
        } else {
            None
        };
        let (owner_cell, owner, cell, shown) = match (h.kind, value) {
            (Kind::Tombstone, _) => ("-".to_string(), None, String::new(), None),
            (Kind::Value, None) => ("?".to_string(), None, String::new(), None),
            (Kind::Value, Some(Err(e))) => (
                "?".to_string(),
                None,
                format!("<{}>", explain(e, st, window).message),
                None,
            ),
            (Kind::Value, Some(Ok(bytes))) => {
                let (owner, shown) = owner_json(&bytes);
                let cell = if values {
                    shown.human()
                } else {
                    shown.preview(32)
                };
                (
                    owner.map_or_else(|| "-".into(), |o| format!("{o:#x}")),
                    owner,
                    cell,
                    Some(shown),
                )
            }
        };
        records.row(vec![
            x.region.to_string(),
            format!("{:#x}", x.offset),
            x.extent.to_string(),
            kind_name(h.kind).into(),
            hex_key(h.key),
            h.len.to_string(),
            rec.status.name().into(),
            owner_cell,
            cell,
        ]);
        let shown = shown.filter(|_| values);
        record_rows.push(DumpRecord {
            region: x.region,
            offset: x.offset,
            address,
            kind: kind_name(h.kind),
            key: Some(hex_key(h.key)),
            len: h.len,
            extent: x.extent,
            crc_ok: x.crc_ok,
            status: rec.status.name(),
            owner,
            value: shown.as_ref().map(|s| s.raw().to_string()),
            encoding: shown.as_ref().map(|s| s.encoding()),
        });
    }
    let mut human = format!("store: {}\n\n", window.describe());
    human.push_str(&regions.render());
    human.push('\n');
    if records.is_empty() {
        human.push_str("no records\n");
    } else {
        human.push_str(&records.render());
    }
    Ok(Outcome::ok(
        human,
        json!({ "store": store_json(window), "regions": region_rows, "records": record_rows }),
    ))
}

#[derive(Serialize, Default, Clone, Copy)]
struct RegionUsage {
    records: usize,
    used_bytes: usize,
    live_bytes: usize,
    free_bytes: usize,
}

fn region_usage(sv: &Survey, g: &tickv::Geometry, span: usize, r: usize) -> RegionUsage {
    let v = &sv.regions[r];
    if v.role == Role::Free {
        return RegionUsage {
            free_bytes: g.region_size - span,
            ..Default::default()
        };
    }
    let here = || {
        sv.records
            .iter()
            .filter(move |x| x.info.region == r && x.info.header.is_some())
    };
    RegionUsage {
        records: here().count(),
        used_bytes: v.end - span,
        live_bytes: here()
            .filter(|x| x.status == Status::Live)
            .map(|x| x.info.extent)
            .sum(),
        free_bytes: if v.role == Role::Head {
            g.region_size - v.end
        } else {
            0
        },
    }
}

fn stat(st: &mut Store<'_>, window: &Window) -> Result<Outcome, CliError> {
    mount(st, window)?;
    let g = window.geometry;
    let span = st.kv.header_span();
    let s = st.stats();
    let sv = survey(st, window)?;

    let n = |want: Status| sv.records.iter().filter(|x| x.status == want).count();
    let total = sv
        .records
        .iter()
        .filter(|x| x.info.header.is_some())
        .count();

    let mut lines = vec![("store", window.describe())];
    lines.extend(stats_lines(&s, &st.kv));
    let unknown = match n(Status::Unknown) {
        0 => String::new(),
        u => format!(", {u} of unknown liveness"),
    };
    lines.push((
        "records",
        format!(
            "{total} ({} live, {} superseded, {} deleted, {} tombstones, {} corrupt, {} undecodable spans{unknown})",
            n(Status::Live),
            n(Status::Superseded),
            n(Status::Deleted),
            n(Status::Tombstone),
            n(Status::Corrupt),
            n(Status::Damaged),
        ),
    ));
    let mut table = Table::new(&[
        "REGION>", "ROLE", "HEADER", "ERASES>", "SEQ>", "RECORDS>", "USED>", "LIVE>", "FREE>",
    ]);
    let mut rows = Vec::new();
    for (r, v) in sv.regions.iter().enumerate() {
        let (erases, seq) = header_fields(&v.header);
        let u = region_usage(&sv, &g, span, r);
        table.row(vec![
            r.to_string(),
            role_name(v.role).into(),
            header_name(&v.header).into(),
            dash(erases),
            dash(seq),
            u.records.to_string(),
            u.used_bytes.to_string(),
            u.live_bytes.to_string(),
            u.free_bytes.to_string(),
        ]);
        rows.push(json!({
            "region": r,
            "role": role_name(v.role),
            "header": header_name(&v.header),
            "erase_count": erases,
            "seq": seq,
            "records": u.records,
            "used_bytes": u.used_bytes,
            "live_bytes": u.live_bytes,
            "free_bytes": u.free_bytes,
        }));
    }
    let mut human = pairs(&lines);
    human.push('\n');
    human.push_str(&table.render());
    Ok(Outcome::ok(
        human,
        json!({
            "store": store_json(window),
            "stats": stats_json(&s, &st.kv),
            "records": {
                "total": total,
                "live": n(Status::Live),
                "superseded": n(Status::Superseded),
                "deleted": n(Status::Deleted),
                "tombstones": n(Status::Tombstone),
                "corrupt": n(Status::Corrupt),
                "undecodable": n(Status::Damaged),
                "unknown": n(Status::Unknown),
            },
            "regions": rows,
        }),
    ))
}

/// One thing `fsck` found.
#[derive(Serialize)]
struct Finding {
    region: Option<usize>,
    offset: Option<usize>,
    key: Option<String>,
    message: String,
}

#[derive(Default)]
struct Findings {
    damage: Vec<Finding>,
    warnings: Vec<Finding>,
    notes: Vec<String>,
}

impl Findings {
    fn damage(
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

    fn warn(&mut self, region: Option<usize>, offset: Option<usize>, m: String) {
        self.warnings.push(Finding {
            region,
            offset,
            key: None,
            message: m,
        });
    }
}

fn where_(f: &Finding) -> String {
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
fn consequence(
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
fn interrupted(window: &Window, region: usize, offset: usize, extent: usize) -> bool {
    let g = window.geometry;
    let start = region * g.region_size + offset;
    let unit = g.program_unit.max(1);
    window
        .original
        .get(start..start + extent)
        .is_some_and(|rec| rec.chunks(unit).any(|c| c.iter().all(|&b| b == 0xFF)))
}

fn fsck(st: &mut Store<'_>, window: &Window) -> Result<Outcome, CliError> {
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

// ---------------------------------------------------------------------------
// import-v1
// ---------------------------------------------------------------------------

struct V1Source<'a> {
    path: &'a Path,
    offset: Option<u64>,
    region_size: Option<u64>,
    regions: Option<u64>,
}

/// Reads the version-1 store's bytes. Defaults: the target's offset,
/// region size and region count when V1IMAGE is the target's file;
/// otherwise offset 0, the target's region size, and as many whole regions
/// as the file holds after the offset.
fn read_v1(src: &V1Source<'_>, target: &Window) -> Result<(Vec<u8>, usize, bool), CliError> {
    let same_file = match (src.path.canonicalize(), target.path.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    };
    let len = std::fs::metadata(src.path)
        .map_err(|e| CliError::new("io", format!("{}: {e}", src.path.display())))?
        .len();
    let tg = &target.geometry;
    let offset = src
        .offset
        .unwrap_or(if same_file { target.offset } else { 0 });
    let region_size = src.region_size.unwrap_or(tg.region_size as u64);
    if region_size == 0 {
        return Err(CliError::new("geometry", "--v1-region-size must not be 0"));
    }
    if offset >= len {
        return Err(CliError::new(
            "geometry",
            format!(
                "{}: the version-1 offset {offset:#x} is at or beyond the end of the file ({len} bytes)",
                src.path.display()
            ),
        ));
    }
    let regions = src.regions.unwrap_or(if same_file {
        tg.region_count as u64
    } else {
        (len - offset) / region_size
    });
    let size = regions
        .checked_mul(region_size)
        .filter(|&s| s > 0 && s < 1 << 32);
    let Some(size) = size else {
        return Err(CliError::new(
            "geometry",
            format!(
                "{}: no whole version-1 region of {region_size:#x} bytes after offset {offset:#x}",
                src.path.display()
            ),
        ));
    };
    if offset + size > len {
        return Err(CliError::new(
            "geometry",
            format!(
                "{}: the file is {len} bytes, but {regions} version-1 regions of {region_size:#x} bytes \
                 at offset {offset:#x} need {} bytes",
                src.path.display(),
                offset + size
            ),
        ));
    }
    let read = || -> std::io::Result<Vec<u8>> {
        use std::io::{Seek, SeekFrom};
        let mut f = std::fs::File::open(src.path)?;
        f.seek(SeekFrom::Start(offset))?;
        let mut buf = vec![0u8; size as usize];
        f.read_exact(&mut buf)?;
        Ok(buf)
    };
    let bytes = read().map_err(|e| CliError::new("io", format!("{}: {e}", src.path.display())))?;
    Ok((bytes, region_size as usize, same_file))
}

/// Describes damage that ended the scan of a version-1 region.
fn v1_damage(d: &tickv::v1::Damage) -> String {
    use tickv::v1::Damage;
    let rest = "the rest of the region is not read";
    match *d {
        Damage::BadVersion { byte, .. } => {
            format!("version byte {byte:#04x} where an object should start; {rest}")
        }
        Damage::BadLength { total_len, .. } => {
            format!("impossible object length {total_len}; {rest}")
        }
        Damage::Truncated { total_len, .. } => {
            format!("an object of {total_len} bytes runs past the region end; {rest}")
        }
    }
}

fn import_v1(
    opts: &Options,
    dry_run: bool,
    src: &V1Source<'_>,
    format_first: bool,
) -> Result<Outcome, CliError> {
    let window = Window::open(opts, format_first)?;
    let (v1, v1_region, same_file) = read_v1(src, &window)?;
    let v1_regions = v1.len() / v1_region;

    let mut objects = 0usize;
    let mut damage = Vec::new();
    for item in tickv::v1::scan(&v1, v1_region) {
        match item {
            tickv::v1::Item::Object(_) => objects += 1,
            tickv::v1::Item::Damage(d) => damage.push(d),
        }
    }
    let has_main_key = tickv::v1::is_v1_store(&v1, v1_region);
    if objects == 0 {
        return Err(CliError::new(
            "not_v1",
            format!(
                "{}: no TicKV version-1 objects found ({v1_regions} regions of {v1_region:#x} bytes); \
                 check --v1-offset, --v1-region-size and --v1-regions",
                src.path.display()
            ),
        ));
    }

    let mut bufs = Buffers::new(&window.geometry);
    let mut st = store::build(&window, &mut bufs)?;
    if format_first {
        st.format().map_err(|e| explain(e, &st, &window))?;
    } else {
        st.mount().map_err(|e| match e {
            Error::V1Store | Error::NotFormatted => {
                let what = if e == Error::V1Store {
                    "holds a version-1 store"
                } else {
                    "is not a formatted version-2 store"
                };
                let in_place = if same_file {
                    " (converting in place: the version-1 data is read before anything is written)"
                } else {
                    ""
                };
                CliError::new(
                    if e == Error::V1Store { "v1_store" } else { "not_formatted" },
                    format!(
                        "the target {} {what}; add --format to format it before importing{in_place}",
                        window.describe()
                    ),
                )
            }
            e => explain(e, &st, &window),
        })?;
    }
    let report = tickv::v1::import(&v1, v1_region, &mut st).map_err(|e| match e {
        Error::TooLarge => CliError::new(
            "too_large",
            format!(
                "a version-1 value is longer than the {} bytes this store accepts; nothing was imported",
                st.kv.max_value_len()
            ),
        ),
        Error::NoSpace => CliError::new(
            "no_space",
            "store full: the version-1 keys do not fit in this store; nothing was written",
        ),
        e => explain(e, &st, &window),
    })?;

    let mut lines = vec![
        (
            "source",
            format!(
                "{} ({v1_regions} version-1 regions of {v1_region} bytes{})",
                src.path.display(),
                if has_main_key { "" } else { ", no main key" }
            ),
        ),
        ("target", window.describe()),
        ("imported", format!("{} keys", report.imported)),
        ("deleted", format!("{} objects skipped", report.deleted)),
        (
            "corrupt",
            format!("{} objects skipped (CRC mismatch)", report.corrupt),
        ),
        (
            "duplicates",
            format!("{} older live copies skipped", report.duplicates),
        ),
        (
            "damaged",
            format!(
                "{} regions (objects after the damage were not seen)",
                report.damaged_regions
            ),
        ),
    ];
    if format_first {
        lines.push(("formatted", "the target was formatted first".into()));
    }
    let mut human = pairs(&lines);
    for d in &damage {
        human.push_str(&format!(
            "damage: version-1 region {} offset {:#x}: {}\n",
            d.region(),
            d.offset(),
            v1_damage(d)
        ));
    }
    let damage_json: Vec<Value> = damage
        .iter()
        .map(|d| json!({ "region": d.region(), "offset": d.offset(), "what": v1_damage(d) }))
        .collect();
    let mut outcome = Outcome::ok(
        human,
        json!({
            "source": {
                "image": src.path.display().to_string(),
                "region_size": v1_region,
                "regions": v1_regions,
                "main_key": has_main_key,
            },
            "store": store_json(&window),
            "formatted": format_first,
            "imported": report.imported,
            "deleted": report.deleted,
            "corrupt": report.corrupt,
            "duplicates": report.duplicates,
            "damaged_regions": report.damaged_regions,
            "damage": damage_json,
        }),
    );
    finish(&window, &st, true, dry_run, &mut outcome)?;
    Ok(outcome)
}
