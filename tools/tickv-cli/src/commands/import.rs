//! import-v1: copy the live keys of an upstream version-1 store.

use super::*;

pub(super) struct V1Source<'a> {
    pub(super) path: &'a Path,
    pub(super) offset: Option<u64>,
    pub(super) region_size: Option<u64>,
    pub(super) regions: Option<u64>,
}

/// Reads the version-1 store's bytes. Defaults: the target's offset,
/// region size and region count when V1IMAGE is the target's file;
/// otherwise offset 0, the target's region size, and as many whole regions
/// as the file holds after the offset.
pub(super) fn read_v1(
    src: &V1Source<'_>,
    target: &Window,
) -> Result<(Vec<u8>, usize, bool), CliError> {
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
pub(super) fn v1_damage(d: &tickv::v1::Damage) -> String {
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

pub(super) fn import_v1(
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
