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

mod dump;
mod fsck;
mod import;
mod keys;
mod stat;
mod survey;

use self::dump::*;
use self::fsck::*;
use self::import::*;
use self::keys::*;
use self::stat::*;
use self::survey::*;

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
        Command::Get {
            key,
            hash,
            raw,
            kernel,
        } => (get(&mut st, &window, key, hash, raw, kernel)?, false),
        Command::Set {
            key,
            value,
            hash,
            value_file,
            hex,
            owner,
            owner_app,
            kernel,
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
                kernel,
            };
            (set(&mut st, &window, input)?, true)
        }
        Command::Delete {
            key,
            hash,
            secure,
            kernel,
        } => (delete(&mut st, &window, key, hash, secure, kernel)?, true),
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
