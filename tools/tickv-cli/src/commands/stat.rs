//! stat: capacity, live, dead and free bytes, per-region use and wear.

use super::*;

#[derive(Serialize, Default, Clone, Copy)]
pub(super) struct RegionUsage {
    pub(super) records: usize,
    pub(super) used_bytes: usize,
    pub(super) live_bytes: usize,
    pub(super) free_bytes: usize,
}

pub(super) fn region_usage(sv: &Survey, g: &tickv::Geometry, span: usize, r: usize) -> RegionUsage {
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

pub(super) fn stat(st: &mut Store<'_>, window: &Window) -> Result<Outcome, CliError> {
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
