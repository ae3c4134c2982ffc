//! TBFs signed and hashed by the real elf2tab with the repository's test
//! keys (`tools/keys/`), checked by [`TrustedKeys`] alone and through the
//! kernel's loader with the secure board policy: signed by the trusted
//! key, by a wrong key, tampered after signing (with and without a
//! SHA-256 credential), unsigned, and malformed.

use std::path::PathBuf;

use app_credentials::{PublicKey, TrustedKeys};
use kernel::credentials::{CredentialsChecker, CredentialsError, Trust, UnsignedApps};
use kernel::policy::{AllowAll, StopFaultPolicy};
use kernel::storage_permissions::{ShortId, StoragePermissions, TlvElseCrc, TlvElseSelfOnlyPolicy};
use kernel::tbf::{Outcome, TbfHeader};
use kernel::{LoadEvent, LoadPolicy};
use kernel_mock::elf2tab::pack_at;
use kernel_mock::tbf::TbfBuilder;
use kernel_mock::{Harness, FLASH_START};

fn keys_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tools/keys")
}

fn public(name: &str) -> PublicKey {
    let hex = std::fs::read_to_string(keys_dir().join(format!("{name}.p256.pub.hex"))).unwrap();
    let hex = hex.trim();
    let mut key = [0; 65];
    for (i, b) in key.iter_mut().enumerate() {
        *b = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap();
    }
    key
}

fn trusted() -> &'static [PublicKey] {
    Box::leak(Box::new([public("test-apps")]))
}

/// How a test TBF is made.
#[derive(Clone, Copy, Debug)]
enum Made {
    /// Signed with this key of `tools/keys/`.
    Signed(&'static str),
    /// Signed with this key and SHA-256 hashed.
    SignedAndHashed(&'static str),
    /// Only SHA-256 hashed.
    Hashed,
    /// No credentials.
    Plain,
}

/// A TBF of the tiny app named `name`, linked at `at`, with a storage TLV
/// (write 0x51, read 0x51) and ShortId TLV 0x51, made as `made` says.
fn tbf(name: &str, at: u32, made: Made) -> Vec<u8> {
    let key = |k: &str| {
        keys_dir()
            .join(format!("{k}.p256.p8"))
            .display()
            .to_string()
    };
    let mut args: Vec<String> = [
        "--kernel-major",
        "2",
        "--kernel-minor",
        "0",
        "--minimum-footer-size",
        "256",
        "--write_id",
        "81",
        "--read_ids",
        "81",
        "--access_ids",
        "81",
        "--short-id",
        "81",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    match made {
        Made::Signed(k) => args.extend(["--ecdsa-nist-p256-private".into(), key(k)]),
        Made::SignedAndHashed(k) => args.extend([
            "--ecdsa-nist-p256-private".into(),
            key(k),
            "--sha256".into(),
        ]),
        Made::Hashed => args.push("--sha256".into()),
        Made::Plain => {}
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    pack_at(name, at, &args).unwrap()
}

fn check(keys: &'static [PublicKey], tbf: &[u8]) -> Result<Trust, CredentialsError> {
    let header = TbfHeader::parse(tbf).unwrap();
    TrustedKeys::new(keys).check(tbf, &header)
}

/// Flips one bit of the app binary (after the header: the header checksum
/// stays valid, as an attacker would keep it).
fn tamper(tbf: &mut [u8]) {
    let header = TbfHeader::parse(tbf).unwrap();
    let at = header.binary_end_offset() as usize - 8;
    tbf[at] ^= 0x01;
}

#[test]
fn verdicts_on_tbfs_made_by_elf2tab() {
    let at = 0x8010_0000;
    let signed = tbf("app", at, Made::Signed("test-apps"));
    assert_eq!(check(trusted(), &signed), Ok(Trust::Signed { key: 0 }));
    // The key's place in the board's list is reported.
    let two: &'static [PublicKey] = Box::leak(Box::new([public("wrong"), public("test-apps")]));
    assert_eq!(check(two, &signed), Ok(Trust::Signed { key: 1 }));
    // Trusting nothing, or only another key: unverified.
    assert_eq!(check(&[], &signed), Ok(Trust::Unverified));
    let wrong = tbf("app", at, Made::Signed("wrong"));
    assert_eq!(check(trusted(), &wrong), Ok(Trust::Unverified));
    // Tampered after signing: the signature no longer verifies.
    let mut tampered = signed.clone();
    tamper(&mut tampered);
    assert_eq!(check(trusted(), &tampered), Ok(Trust::Unverified));
    // With a SHA-256 credential too, tampering refuses the TBF.
    let mut hashed_signed = tbf("app", at, Made::SignedAndHashed("test-apps"));
    assert_eq!(
        check(trusted(), &hashed_signed),
        Ok(Trust::Signed { key: 0 })
    );
    tamper(&mut hashed_signed);
    assert_eq!(
        check(trusted(), &hashed_signed),
        Err(CredentialsError::HashMismatch)
    );
    // Unsigned: hashed only, or nothing at all.
    let hashed = tbf("app", at, Made::Hashed);
    assert_eq!(check(trusted(), &hashed), Ok(Trust::Unverified));
    let plain = tbf("app", at, Made::Plain);
    assert_eq!(check(trusted(), &plain), Ok(Trust::Unverified));
    // A signature footer whose bytes are garbage (not a valid scalar
    // pair): unverified, no panic.
    let mut garbage = signed.clone();
    let header = TbfHeader::parse(&signed).unwrap();
    let footer = header.binary_end_offset() as usize + 8;
    garbage[footer..footer + 64].fill(0xFF);
    assert_eq!(check(trusted(), &garbage), Ok(Trust::Unverified));
    // A credential footer cut short (its length says 4 bytes of data):
    // malformed.
    let mut short = signed.clone();
    short[footer - 6..footer - 4].copy_from_slice(&8u16.to_le_bytes());
    assert_eq!(check(trusted(), &short), Err(CredentialsError::Malformed));
}

/// The load events but the padding between the TBFs.
fn not_padding(events: &[LoadEvent<'static>]) -> Vec<LoadEvent<'static>> {
    events
        .iter()
        .filter(|e| {
            !matches!(
                e,
                LoadEvent::Skipped {
                    outcome: Outcome::Padding,
                    ..
                }
            )
        })
        .copied()
        .collect()
}

#[test]
fn the_secure_policy_gives_identities_to_signed_apps_only() {
    // Four TBFs, 4 KiB apart (padding TBFs between them, as tockloader
    // writes), each linked where it lands: signed, an unsigned copy with
    // the same name and TLVs, one signed by a wrong key, and one tampered
    // after signing and hashing.
    let mut flash: Vec<Vec<u8>> = Vec::new();
    for (name, made, tampered) in [
        ("owner", Made::Signed("test-apps"), false),
        ("owner", Made::Plain, false),
        ("stranger", Made::Signed("wrong"), false),
        ("forged", Made::SignedAndHashed("test-apps"), true),
    ] {
        let at = FLASH_START + 0x1000 * flash.len() as u32;
        let mut t = tbf(name, at, made);
        if tampered {
            tamper(&mut t);
        }
        let pad = 0x1000 - t.len();
        t.extend(TbfBuilder::padding(pad as u32).build());
        flash.push(t);
    }
    let addresses: Vec<u32> = (0..4).map(|k| FLASH_START + 0x1000 * k).collect();
    let mut h = Harness::new(4, &StopFaultPolicy, &AllowAll);
    let checker = TrustedKeys::new(trusted());
    let policy = LoadPolicy {
        credentials: &checker,
        unsigned: UnsignedApps::NoIdentity,
        short_id: &TlvElseCrc,
        storage: &TlvElseSelfOnlyPolicy,
    };
    let n = h.load_with(&flash, 0x8000, 0x10000, &policy);
    assert_eq!(n, 3, "{:?}", h.load_log);
    let ev = &not_padding(&h.load_events);
    let id = |e: &LoadEvent<'static>| match *e {
        LoadEvent::Loaded {
            name,
            short_id,
            storage,
            trust,
            ..
        } => Some((name, short_id, storage.to_string(), trust)),
        _ => None,
    };
    let tlv = || "write 0x51 read [0x51] modify [0x51]".to_string();
    let fixed = ShortId::Fixed(81.try_into().unwrap());
    assert_eq!(
        id(&ev[0]),
        Some(("owner", fixed, tlv(), Trust::Signed { key: 0 }))
    );
    // The unsigned copy runs, with no identity and no storage at all.
    let nothing = || StoragePermissions::null().to_string();
    assert_eq!(
        id(&ev[1]),
        Some((
            "owner",
            ShortId::LocallyUnique,
            nothing(),
            Trust::Unverified
        ))
    );
    assert_eq!(
        id(&ev[2]),
        Some((
            "stranger",
            ShortId::LocallyUnique,
            nothing(),
            Trust::Unverified
        ))
    );
    assert_eq!(
        ev[3],
        LoadEvent::BadCredentials {
            address: addresses[3],
            name: "forged",
            error: CredentialsError::HashMismatch,
        }
    );
    assert_eq!(
        ev[3].to_string(),
        format!(
            "TBF at {:#010x} ('forged') refused: its SHA-256 credential does not match (changed after it was built)",
            addresses[3]
        )
    );
    assert!(
        ev[0].to_string().ends_with("(signed by key 0)"),
        "{}",
        ev[0]
    );
    // The development policy takes the same TLVs on trust, signed or not:
    // the unsigned copy would get the owner's identity, so only the
    // duplicate-ShortId rule keeps it out.
    let mut h = Harness::new(4, &StopFaultPolicy, &AllowAll);
    let dev = LoadPolicy::trusting(&TlvElseCrc, &TlvElseSelfOnlyPolicy);
    assert_eq!(h.load_with(&flash[..2], 0x8000, 0x10000, &dev), 1);
    let ev = &not_padding(&h.load_events);
    assert_eq!(id(&ev[0]), Some(("owner", fixed, tlv(), Trust::Unverified)));
    assert!(
        matches!(ev[1], LoadEvent::DuplicateShortId { holder: 0, .. }),
        "{:?}",
        ev[1]
    );
}
