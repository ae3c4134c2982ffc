//! Error codes shared by the kernel, its drivers and userspace.
//!
//! The numbers are part of the userspace ABI (TRD104): they are what a
//! process finds in `r1` of a failure return and in the status argument of an
//! upcall. `0` is not an error code; it stands for success wherever a status
//! is reported as a single number (see [`status_code`]).

use core::fmt;

/// Why an operation failed, with the ABI numbering of TRD104.
///
/// The discriminants are the numbers userspace sees, so `code as u32` gives
/// the value to put in a register and [`ErrorCode::try_from`] goes back.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum ErrorCode {
    /// Generic failure that fits none of the more specific codes.
    FAIL = 1,
    /// The resource is busy with another operation; try again later.
    BUSY = 2,
    /// The requested state is already in effect.
    ALREADY = 3,
    /// The component is powered down.
    OFF = 4,
    /// Reservation required before use.
    RESERVE = 5,
    /// An argument is invalid.
    INVAL = 6,
    /// A size or length is wrong (too large, too small, mismatched).
    SIZE = 7,
    /// The operation was cancelled by a call.
    CANCEL = 8,
    /// Memory could not be allocated.
    NOMEM = 9,
    /// The operation, driver function or number is not supported.
    NOSUPPORT = 10,
    /// The device (or driver) does not exist.
    NODEVICE = 11,
    /// The device is not physically installed.
    UNINSTALLED = 12,
    /// A packet transmission was not acknowledged.
    NOACK = 13,
}

impl ErrorCode {
    /// Every error code, in ascending numeric order.
    pub const ALL: [ErrorCode; 13] = [
        ErrorCode::FAIL,
        ErrorCode::BUSY,
        ErrorCode::ALREADY,
        ErrorCode::OFF,
        ErrorCode::RESERVE,
        ErrorCode::INVAL,
        ErrorCode::SIZE,
        ErrorCode::CANCEL,
        ErrorCode::NOMEM,
        ErrorCode::NOSUPPORT,
        ErrorCode::NODEVICE,
        ErrorCode::UNINSTALLED,
        ErrorCode::NOACK,
    ];

    /// The upper-case name of the code, as used in the ABI documents.
    pub const fn name(self) -> &'static str {
        match self {
            ErrorCode::FAIL => "FAIL",
            ErrorCode::BUSY => "BUSY",
            ErrorCode::ALREADY => "ALREADY",
            ErrorCode::OFF => "OFF",
            ErrorCode::RESERVE => "RESERVE",
            ErrorCode::INVAL => "INVAL",
            ErrorCode::SIZE => "SIZE",
            ErrorCode::CANCEL => "CANCEL",
            ErrorCode::NOMEM => "NOMEM",
            ErrorCode::NOSUPPORT => "NOSUPPORT",
            ErrorCode::NODEVICE => "NODEVICE",
            ErrorCode::UNINSTALLED => "UNINSTALLED",
            ErrorCode::NOACK => "NOACK",
        }
    }
}

impl From<ErrorCode> for u32 {
    fn from(code: ErrorCode) -> u32 {
        code as u32
    }
}

impl TryFrom<u32> for ErrorCode {
    /// The number that is not an error code (0, or above 13).
    type Error = u32;

    fn try_from(number: u32) -> Result<ErrorCode, u32> {
        // `ALL` is ordered by number starting at 1, so the number minus one
        // is the index; 0 wraps to a huge index and is rejected by `get`.
        let index = number.wrapping_sub(1) as usize;
        ErrorCode::ALL.get(index).copied().ok_or(number)
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Converts a result into the status number used in upcalls: `Ok(())` is 0
/// and `Err(e)` is `e`'s number.
pub const fn status_code(result: Result<(), ErrorCode>) -> u32 {
    match result {
        Ok(()) => 0,
        Err(e) => e as u32,
    }
}

/// The inverse of [`status_code`]: 0 is `Ok(())`, an error number is
/// `Err(code)`, and any other number is `None`.
pub fn status_from_code(code: u32) -> Option<Result<(), ErrorCode>> {
    match code {
        0 => Some(Ok(())),
        n => ErrorCode::try_from(n).ok().map(Err),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_match_the_abi() {
        let expected = [
            (ErrorCode::FAIL, 1),
            (ErrorCode::BUSY, 2),
            (ErrorCode::ALREADY, 3),
            (ErrorCode::OFF, 4),
            (ErrorCode::RESERVE, 5),
            (ErrorCode::INVAL, 6),
            (ErrorCode::SIZE, 7),
            (ErrorCode::CANCEL, 8),
            (ErrorCode::NOMEM, 9),
            (ErrorCode::NOSUPPORT, 10),
            (ErrorCode::NODEVICE, 11),
            (ErrorCode::UNINSTALLED, 12),
            (ErrorCode::NOACK, 13),
        ];
        assert_eq!(expected.len(), ErrorCode::ALL.len());
        for (i, (code, number)) in expected.into_iter().enumerate() {
            assert_eq!(code as u32, number);
            assert_eq!(u32::from(code), number);
            assert_eq!(ErrorCode::ALL[i], code);
            assert_eq!(ErrorCode::try_from(number), Ok(code));
        }
    }

    #[test]
    fn non_codes_are_rejected() {
        for n in [0, 14, 15, 100, u32::MAX] {
            assert_eq!(ErrorCode::try_from(n), Err(n));
        }
    }

    #[test]
    fn status_convention() {
        assert_eq!(status_code(Ok(())), 0);
        for code in ErrorCode::ALL {
            assert_eq!(status_code(Err(code)), code as u32);
            assert_eq!(status_from_code(code as u32), Some(Err(code)));
        }
        assert_eq!(status_from_code(0), Some(Ok(())));
        assert_eq!(status_from_code(14), None);
    }
}
