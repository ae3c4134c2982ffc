//! dump: every record, valid or not, region by region.

use super::*;

#[derive(Serialize)]
pub(super) struct DumpRegion {
    pub(super) region: usize,
    pub(super) role: &'static str,
    pub(super) header: &'static str,
    pub(super) erase_count: Option<u32>,
    pub(super) seq: Option<u32>,
    pub(super) end: usize,
    pub(super) stray_bytes_at: Option<usize>,
}

#[derive(Serialize)]
pub(super) struct DumpRecord {
    pub(super) region: usize,
    pub(super) offset: usize,
    pub(super) address: usize,
    pub(super) kind: &'static str,
    pub(super) key: Option<String>,
    pub(super) len: usize,
    pub(super) extent: usize,
    pub(super) crc_ok: bool,
    pub(super) status: &'static str,
    pub(super) owner: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) value: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) encoding: Option<&'static str>,
}

pub(super) fn dump(st: &mut Store<'_>, window: &Window, values: bool) -> Result<Outcome, CliError> {
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
