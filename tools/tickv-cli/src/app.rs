//! `tickv app-id`: the storage identity our boards give an app, read from
//! its TBF (or every TBF in its TAB), so values can be provisioned for it
//! on the host (`tickv set KEY VALUE --owner-app APP.tab`).
//!
//! The identity comes from the kernel's own policy code, the pair every
//! board of this repository uses (`boards/qemu_rv32_virt/src/main.rs`):
//! the ShortId is the TBF's ShortId TLV, else the CRC-32 of the package
//! name ([`TlvElseCrc`]); storage permissions are the TBF's storage TLV,
//! else self-only under the ShortId ([`TlvElseSelfOnlyPolicy`]). Items the
//! app creates are owned by its write id.

use std::path::Path;

use kernel::storage_permissions::{
    ShortId, ShortIdAssigner, StoragePermissions, StoragePermissionsPolicy, TlvElseCrc,
    TlvElseSelfOnlyPolicy,
};
use kernel::tbf::TbfHeader;
use serde_json::{json, Value};

use crate::error::CliError;
use crate::out::Outcome;

/// The identity of one TBF.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppIdentity {
    /// Where it came from: the file, and the TBF's name inside a TAB.
    pub source: String,
    /// The package name ("" if none).
    pub name: String,
    /// Whether the TBF carries a non-zero ShortId TLV.
    pub short_id_tlv: bool,
    /// The ShortId the board assigns.
    pub short_id: ShortId,
    /// Whether the TBF carries a storage permissions TLV.
    pub storage_tlv: bool,
    /// Its storage permissions, as the kernel prints them.
    pub storage: String,
    /// The owner id of items it creates (`None`: it may not create any).
    pub write_id: Option<u32>,
}

/// The identities of the TBFs in `path` (a `.tbf`, or every TBF of a
/// `.tab`). Fails with a clear message on anything that is not a valid
/// TBF header.
pub fn identities(path: &Path) -> Result<Vec<AppIdentity>, CliError> {
    let bytes = std::fs::read(path)
        .map_err(|e| CliError::new("io", format!("cannot read {}: {e}", path.display())))?;
    let shown = path.display().to_string();
    let tbfs = if path.extension().is_some_and(|e| e == "tab") {
        let entries = app_image::tab_tbfs(&bytes)
            .map_err(|e| CliError::new("bad_app", format!("{shown}: {e}")))?;
        if entries.is_empty() {
            return Err(CliError::new(
                "bad_app",
                format!("{shown}: the TAB holds no TBF"),
            ));
        }
        entries
            .into_iter()
            .map(|(name, tbf)| (format!("{shown}:{name}"), tbf))
            .collect()
    } else {
        vec![(shown, bytes)]
    };
    tbfs.into_iter()
        .map(|(source, tbf)| identity(source, tbf))
        .collect()
}

fn identity(source: String, tbf: Vec<u8>) -> Result<AppIdentity, CliError> {
    // The kernel's policies take headers that live as long as the flash
    // they sit in; a command-line run is short, so the bytes may leak.
    let tbf: &'static [u8] = Box::leak(tbf.into_boxed_slice());
    let header = TbfHeader::parse(tbf)
        .map_err(|e| CliError::new("bad_app", format!("{source}: not a valid TBF header: {e}")))?;
    let short_id = TlvElseCrc.assign(&header);
    let storage: StoragePermissions = TlvElseSelfOnlyPolicy.permissions(&header, short_id);
    Ok(AppIdentity {
        source,
        name: header.package_name().unwrap_or("").to_string(),
        short_id_tlv: header.short_id().is_some(),
        short_id,
        storage_tlv: header.storage_permissions().is_some(),
        storage: storage.to_string(),
        write_id: storage.write_id(),
    })
}

/// The write id of the app in `path`: what `set --owner-app` stores as
/// the owner. All TBFs of a TAB must agree.
pub fn write_id(path: &Path) -> Result<u32, CliError> {
    let ids = identities(path)?;
    let first = &ids[0];
    if let Some(other) = ids.iter().find(|i| i.write_id != first.write_id) {
        return Err(CliError::new(
            "bad_app",
            format!(
                "{} and {} give different write ids",
                first.source, other.source
            ),
        ));
    }
    first.write_id.ok_or_else(|| {
        CliError::new(
            "no_write_id",
            format!(
                "app '{}' may not create items (storage {}): it has no owner id to store under",
                first.name, first.storage
            ),
        )
    })
}

/// `tickv app-id FILE...`.
pub fn app_id(paths: &[std::path::PathBuf]) -> Result<Outcome, CliError> {
    if paths.is_empty() {
        return Err(CliError::usage("give at least one .tbf or .tab file"));
    }
    let mut human = String::new();
    let mut all = Vec::new();
    for path in paths {
        for id in identities(path)? {
            human.push_str(&describe(&id));
            all.push(to_json(&id));
        }
    }
    Ok(Outcome::ok(human, json!({ "apps": all })))
}

fn describe(id: &AppIdentity) -> String {
    let short_from = if id.short_id_tlv {
        "from its ShortId TLV"
    } else {
        "CRC-32 of the package name"
    };
    let storage_from = if id.storage_tlv {
        "from its storage permissions TLV"
    } else {
        "no storage TLV: self-only under the ShortId"
    };
    let owner = match id.write_id {
        Some(w) => format!("{w:#010x} ({w}): tickv set KEY VALUE --owner {w:#x}"),
        None => "none: the app may not create items".to_string(),
    };
    format!(
        "{}\n  package name  {}\n  shortid       {} ({short_from})\n  storage       {} ({storage_from})\n  owner id      {owner}\n",
        id.source, id.name, id.short_id, id.storage
    )
}

fn to_json(id: &AppIdentity) -> Value {
    json!({
        "source": id.source,
        "name": id.name,
        "short_id": id.short_id.id().map(|n| n.get()),
        "short_id_tlv": id.short_id_tlv,
        "storage": id.storage,
        "storage_tlv": id.storage_tlv,
        "write_id": id.write_id,
    })
}
