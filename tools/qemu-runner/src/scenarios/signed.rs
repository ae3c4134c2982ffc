//! App credentials on the `secure-apps` kernel (board.toml trusts the
//! repository's test key): a signed app keeps its data, an unsigned copy
//! of the very same TBF gets no identity and cannot read or change it,
//! and the unsigned storage TLVs of libtock-c's permission tests are not
//! honoured. The development kernel, for contrast, gives the unsigned copy
//! everything its TLVs claim.

use std::path::PathBuf;
use std::time::Duration;

use super::{want, Ctx};
use crate::{app_flash, Apps};

/// Where `kv_signed` sits (its slot in userland/layout.toml).
const KV_SIGNED_AT: u32 = 0x8024_0000;

/// Reads a little-endian u16 / u32 at `at`, if there.
fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}
fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// Turns every ECDSA P-256 credential (format 6) of the TBF at the start
/// of `tbf` into reserved space (format 0): the same TBF, unsigned. The
/// header checksum does not cover footers; the SHA-256 credential (over
/// header and binary) still matches. Returns how many were removed.
pub fn strip_signatures(tbf: &mut [u8]) -> Result<usize, String> {
    let header_size = usize::from(u16_at(tbf, 2).ok_or("truncated TBF")?);
    let total = u32_at(tbf, 4).ok_or("truncated TBF")? as usize;
    // The Program TLV (type 9) holds binary_end_offset at +12 of its data.
    let mut at = 16;
    let mut binary_end = None;
    while at + 4 <= header_size {
        let kind = u16_at(tbf, at).ok_or("bad TLV")?;
        let len = usize::from(u16_at(tbf, at + 2).ok_or("bad TLV")?);
        if kind == 9 {
            binary_end = u32_at(tbf, at + 4 + 12);
        }
        at += 4 + len.next_multiple_of(4);
    }
    let mut at = binary_end.ok_or("no Program TLV")? as usize;
    let mut stripped = 0;
    while at + 8 <= total.min(tbf.len()) {
        let kind = u16_at(tbf, at).ok_or("bad footer")?;
        let len = usize::from(u16_at(tbf, at + 2).ok_or("bad footer")?);
        if kind == 128 && u32_at(tbf, at + 4) == Some(6) {
            tbf[at + 4..at + 8].copy_from_slice(&0u32.to_le_bytes());
            stripped += 1;
        }
        at += 4 + len;
    }
    Ok(stripped)
}

/// `kv_signed`'s image with its signature removed.
fn unsigned_copy(ctx: &Ctx, log: &str) -> Result<PathBuf, String> {
    let signed = ctx.image("kv_signed");
    let mut image = std::fs::read(&signed).map_err(|e| format!("{}: {e}", signed.display()))?;
    let at = (KV_SIGNED_AT - app_flash()) as usize;
    let tbf = image
        .get_mut(at..)
        .ok_or("kv_signed.bin is shorter than its slot")?;
    match strip_signatures(tbf)? {
        1 => {}
        n => return Err(format!("kv_signed.bin holds {n} signatures, want 1")),
    }
    let out = ctx.logs.join(format!("{log}.unsigned.bin"));
    std::fs::write(&out, image).map_err(|e| format!("{}: {e}", out.display()))?;
    Ok(out)
}

/// Signed, unsigned copy, signed again on the secure kernel; then the
/// unsigned copy on the development kernel.
pub fn signed_apps(ctx: &Ctx) -> Result<Vec<String>, String> {
    let log = "signed-apps";
    let _ = std::fs::remove_file(ctx.logs.join(format!("{log}.log")));
    let store = ctx.fresh_store(log)?;
    let unsigned = unsigned_copy(ctx, log)?;
    let signed = Apps::Image(ctx.image("kv_signed"));
    let t = Duration::from_secs(30);
    let secure = &ctx.secure_kernel;
    let mut problems = Vec::new();
    let identity = "storage write 0x5160 read [0x5160] modify [0x5160] (signed by key 0)\n";
    let first = ctx.boot_with(log, secure, signed.clone(), &store, t)?;
    want(
        &mut problems,
        &first,
        "signed, first boot",
        &[
            identity,
            "kv_signed: no secret yet\n",
            "kv_signed: stored the secret\n",
        ],
    );
    let copy = ctx.boot_with(log, secure, Apps::Image(unsigned.clone()), &store, t)?;
    want(
        &mut problems,
        &copy,
        "unsigned copy",
        &[
            "'kv_signed' flash 0x80240000..",
            "shortid locally-unique storage none\n",
            "kv_signed: no secret yet\n",
            "kv_signed: cannot store: ",
        ],
    );
    if copy.console.contains("(signed by") || copy.console.contains("the secret is") {
        problems.push("unsigned copy: it was treated as signed or read the secret".into());
    }
    let again = ctx.boot_with(log, secure, signed, &store, t)?;
    want(
        &mut problems,
        &again,
        "signed, second boot",
        &[
            identity,
            "kv_signed: the secret is \"only for the signed app\"\n",
        ],
    );
    // The development kernel takes the unsigned TLVs on trust: the copy
    // gets the signed app's identity and its data.
    let dev = ctx.boot_with(log, &ctx.kernel, Apps::Image(unsigned), &store, t)?;
    want(
        &mut problems,
        &dev,
        "unsigned copy on the development kernel",
        &[
            "storage write 0x5160 read [0x5160] modify [0x5160]\n",
            "kv_signed: the secret is \"only for the signed app\"\n",
        ],
    );
    for (what, o) in [
        ("first", &first),
        ("copy", &copy),
        ("again", &again),
        ("dev", &dev),
    ] {
        if o.status != Some(0) {
            problems.push(format!("{what}: exit status {:?}, want 0", o.status));
        }
    }
    // On the host: the secret belongs to 0x5160 (keys are stored hashed).
    let (code, list) = ctx.tickv(log, &store, &["list"])?;
    let owned = |l: &&str| l.contains(" 0x5160 ") && l.contains("\"only for the signed app\"");
    if code != 0 || list.lines().filter(owned).count() != 1 {
        problems.push(format!(
            "tickv list: the secret is not once, owned by 0x5160: {list}"
        ));
    }
    Ok(problems)
}

/// libtock-c's `kv_no_read` under the supervisor on the secure kernel: its
/// unsigned storage TLV is not honoured (no storage at all), so its SET is
/// refused and its test fails, where the development kernel passes it
/// (`libtock-c-kv-permissions`).
pub fn libtock_c_unsigned_tlvs(ctx: &Ctx) -> Result<Vec<String>, String> {
    let log = "libtock-c-secure-permissions";
    let _ = std::fs::remove_file(ctx.logs.join(format!("{log}.log")));
    let dir = ctx
        .fixtures
        .clone()
        .ok_or("the scenario needs the libtock-c fixtures")?;
    let tabs: Vec<PathBuf> = ["unit_test_supervisor", "kv_no_read"]
        .iter()
        .map(|a| dir.join(format!("{a}.tab")))
        .collect();
    let flash = ctx.logs.join(format!("{log}.flash.bin"));
    crate::tockloader_flash_file(&ctx.secure_kernel, &tabs, &flash)?;
    let store = ctx.fresh_store(log)?;
    let o = ctx.boot_with(
        log,
        &ctx.secure_kernel,
        Apps::FlashFile(flash),
        &store,
        Duration::from_secs(20),
    )?;
    let mut problems = Vec::new();
    want(
        &mut problems,
        &o,
        "secure kernel",
        &[
            "process 1 'kv_no_read'",
            "shortid locally-unique storage none\n",
            "1.000: exists                   [\u{2713}]\n",
            "1.001: set_get_no_permissions   [FAILED]",
            "Summary 1: [1/2] Passed, [1/2] Failed, [0/2] Incomplete\n",
        ],
    );
    Ok(problems)
}
