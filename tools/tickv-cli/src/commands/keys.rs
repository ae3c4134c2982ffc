//! format, get, set, delete, list, gc: the commands on keys and values.

use super::*;

pub(super) fn format(st: &mut Store<'_>, window: &Window) -> Result<Outcome, CliError> {
    st.format().map_err(|e| explain(e, st, window))?;
    let s = st.stats();
    let mut human = format!("formatted {}\n", window.describe());
    human.push_str(&pairs(&stats_lines(&s, &st.kv)));
    Ok(Outcome::ok(
        human,
        json!({ "formatted": true, "store": store_json(window), "stats": stats_json(&s, &st.kv) }),
    ))
}

pub(super) fn get(
    st: &mut Store<'_>,
    window: &Window,
    key: Option<String>,
    hash: Option<String>,
    raw: bool,
    kernel: bool,
) -> Result<Outcome, CliError> {
    let key = KeyArg::resolve(key, hash, kernel)?;
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

pub(super) struct SetInput {
    pub(super) key: Option<String>,
    pub(super) value: Option<String>,
    pub(super) hash: Option<String>,
    pub(super) value_file: Option<std::path::PathBuf>,
    pub(super) hex: bool,
    pub(super) owner: Option<u64>,
    pub(super) kernel: bool,
}

pub(super) fn read_value_file(path: &Path) -> Result<Vec<u8>, CliError> {
    if path == Path::new("-") {
        let mut v = Vec::new();
        std::io::stdin()
            .read_to_end(&mut v)
            .map_err(|e| CliError::new("io", format!("standard input: {e}")))?;
        return Ok(v);
    }
    std::fs::read(path).map_err(|e| CliError::new("io", format!("{}: {e}", path.display())))
}

pub(super) fn set(
    st: &mut Store<'_>,
    window: &Window,
    input: SetInput,
) -> Result<Outcome, CliError> {
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
    let key = KeyArg::resolve(name, input.hash, input.kernel)?;
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

pub(super) fn delete(
    st: &mut Store<'_>,
    window: &Window,
    key: Option<String>,
    hash: Option<String>,
    secure: bool,
    kernel: bool,
) -> Result<Outcome, CliError> {
    let key = KeyArg::resolve(key, hash, kernel)?;
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
pub(super) struct ListEntry {
    pub(super) key: String,
    pub(super) size: usize,
    pub(super) owner: Option<u32>,
    pub(super) value: Option<String>,
    pub(super) encoding: Option<&'static str>,
    pub(super) error: Option<String>,
}

/// Every live key with its value length, in key order.
pub(super) fn live_keys(
    st: &mut Store<'_>,
    window: &Window,
) -> Result<Vec<(u64, usize)>, CliError> {
    let mut keys = Vec::new();
    st.for_each_key(|k, len| keys.push((k, len)))
        .map_err(|e| explain(e, st, window))?;
    Ok(keys)
}

pub(super) fn list(st: &mut Store<'_>, window: &Window) -> Result<Outcome, CliError> {
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

pub(super) fn gc(st: &mut Store<'_>, window: &Window, step: bool) -> Result<Outcome, CliError> {
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
