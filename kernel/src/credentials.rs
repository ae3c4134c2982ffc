//! App credentials: what a board's checker says about a TBF's credential
//! footers, and how the loader uses the verdict.
//!
//! elf2tab writes credentials as footers after the app binary (type 128,
//! a format word, then the data): `--sha256` a SHA-256 digest (format 3),
//! `--ecdsa-nist-p256-private KEY` an ECDSA P-256 signature over SHA-256,
//! `r || s`, 64 bytes (format 6), both computed over the TBF from its
//! first byte up to the end of the binary (`binary_end_offset`: the header
//! with all its TLVs, and the binary). Unused footer space is a
//! "reserved" credential (format 0).
//!
//! The kernel core does no cryptography itself: a board hands
//! [`Kernel::load_processes`](crate::Kernel::load_processes) a
//! [`CredentialsChecker`] (the RustCrypto-based one is in
//! `capsules/credentials`) and an [`UnsignedApps`] rule in its
//! [`LoadPolicy`](crate::LoadPolicy).

use core::fmt;

use crate::tbf::TbfHeader;

/// Credential format numbers (elf2tab's).
pub mod format {
    /// Reserved space.
    pub const RESERVED: u32 = 0;
    /// SHA-256 digest of the integrity region.
    pub const SHA256: u32 = 3;
    /// ECDSA P-256 signature (SHA-256, `r || s`) of the integrity region.
    pub const ECDSA_P256: u32 = 6;
}

/// What the checker established about a TBF.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trust {
    /// No credential vouches for the app's origin: no signature, or none
    /// by a key the board trusts (a wrong key and a signature broken by
    /// tampering look the same).
    Unverified,
    /// Signed by the board's trusted key number `key`.
    Signed {
        /// Index into the board's list of trusted keys.
        key: u8,
    },
}

/// `unsigned` or `signed by key N`.
impl fmt::Display for Trust {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Trust::Unverified => f.write_str("unsigned"),
            Trust::Signed { key } => write!(f, "signed by key {key}"),
        }
    }
}

/// Why a TBF's credentials refuse it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CredentialsError {
    /// A SHA-256 credential does not match the TBF: it was changed after
    /// it was built.
    HashMismatch,
    /// The credential footers are malformed (run past the TBF, or a
    /// credential shorter than its format needs).
    Malformed,
}

impl fmt::Display for CredentialsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CredentialsError::HashMismatch => {
                "its SHA-256 credential does not match (changed after it was built)"
            }
            CredentialsError::Malformed => "malformed credential footers",
        })
    }
}

/// Checks a TBF's credentials; a board policy.
pub trait CredentialsChecker {
    /// The verdict on the TBF `tbf` (all of it, footers included) whose
    /// header is `header`.
    fn check(&self, tbf: &[u8], header: &TbfHeader<'_>) -> Result<Trust, CredentialsError>;
}

/// Checks nothing: every app is [`Trust::Unverified`] (for boards that
/// trust header TLVs anyway, upstream Tock's development default).
#[derive(Clone, Copy, Debug, Default)]
pub struct NoCredentials;

impl CredentialsChecker for NoCredentials {
    fn check(&self, _: &[u8], _: &TbfHeader<'_>) -> Result<Trust, CredentialsError> {
        Ok(Trust::Unverified)
    }
}

/// What an app without a trusted signature gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnsignedApps {
    /// The same as a signed app: the board's ShortId and storage policies
    /// read its header TLVs and package name as they are (upstream's
    /// development default; any app can claim any identity, so only for
    /// boards whose apps are all trusted).
    TrustHeaders,
    /// A locally unique ShortId and no storage permissions at all: nothing
    /// an unsigned app puts in its TBF can give it another app's identity
    /// or stored data.
    NoIdentity,
}
