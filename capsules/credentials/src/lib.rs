//! The board side of app credentials: a [`CredentialsChecker`] that
//! verifies what elf2tab writes into TBF footers, with the RustCrypto
//! `sha2` and `p256` crates (`no_std`, no heap).
//!
//! - A SHA-256 credential (`elf2tab --sha256`, format 3) must match the
//!   TBF's integrity region (header and binary, up to `binary_end_offset`):
//!   otherwise the TBF was changed after it was built and is refused
//!   ([`CredentialsError::HashMismatch`]).
//! - An ECDSA P-256 credential (`elf2tab --ecdsa-nist-p256-private`,
//!   format 6, `r || s`) that verifies under one of the board's trusted
//!   keys makes the app [`Trust::Signed`] by that key. A signature by any
//!   other key, or one broken by a change to the TBF, leaves the app
//!   [`Trust::Unverified`]: the two cannot be told apart, and neither
//!   proves anything. (With `--sha256` too, a change is refused outright.)
//! - Reserved space and unknown formats are ignored; malformed footers, or
//!   a credential shorter than its format, refuse the TBF
//!   ([`CredentialsError::Malformed`]).
//!
//! Keys are SEC1 points, uncompressed (65 bytes, `04 || x || y`): what
//! `openssl pkey -pubout` ends with, and what boards write into
//! `board.toml`.

#![no_std]
#![forbid(unsafe_code)]

use kernel::credentials::{format, CredentialsChecker, CredentialsError, Trust};
use kernel::tbf::{Footer, TbfHeader};
use p256::ecdsa::signature::Verifier;
use p256::ecdsa::{Signature, VerifyingKey};
use sha2::{Digest, Sha256};

/// An uncompressed SEC1 P-256 public key.
pub type PublicKey = [u8; 65];

/// Verifies credentials against a board's trusted keys (see the
/// [crate docs](crate)).
#[derive(Clone, Copy, Debug)]
pub struct TrustedKeys {
    keys: &'static [PublicKey],
}

impl TrustedKeys {
    /// A checker trusting `keys` (key `i` in a load report is `keys[i]`;
    /// at most 256 are looked at).
    pub const fn new(keys: &'static [PublicKey]) -> TrustedKeys {
        TrustedKeys { keys }
    }

    /// The index of the first trusted key under which `signature` (64
    /// bytes, `r || s`) verifies for `message`.
    fn signer(&self, message: &[u8], signature: &[u8]) -> Option<u8> {
        let signature = Signature::from_slice(signature).ok()?;
        self.keys
            .iter()
            .take(256)
            .position(|key| {
                VerifyingKey::from_sec1_bytes(key)
                    .is_ok_and(|key| key.verify(message, &signature).is_ok())
            })
            .and_then(|i| u8::try_from(i).ok())
    }
}

impl CredentialsChecker for TrustedKeys {
    fn check(&self, tbf: &[u8], header: &TbfHeader<'_>) -> Result<Trust, CredentialsError> {
        let end =
            usize::try_from(header.binary_end_offset()).map_err(|_| CredentialsError::Malformed)?;
        let integrity = tbf.get(..end).ok_or(CredentialsError::Malformed)?;
        let mut trust = Trust::Unverified;
        for footer in header.footers() {
            let Footer::Credentials { format, data } =
                footer.map_err(|_| CredentialsError::Malformed)?
            else {
                continue;
            };
            match format {
                format::SHA256 => {
                    let want = data.get(..32).ok_or(CredentialsError::Malformed)?;
                    if Sha256::digest(integrity)[..] != *want {
                        return Err(CredentialsError::HashMismatch);
                    }
                }
                format::ECDSA_P256 => {
                    let signature = data.get(..64).ok_or(CredentialsError::Malformed)?;
                    if trust == Trust::Unverified {
                        if let Some(key) = self.signer(integrity, signature) {
                            trust = Trust::Signed { key };
                        }
                    }
                }
                _ => {}
            }
        }
        Ok(trust)
    }
}
