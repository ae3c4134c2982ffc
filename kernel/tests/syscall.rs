//! TRD104 decoding and encoding: exact register values.

mod common;

use common::Rng;
use kernel::syscall::{
    DecodeError, ExitCall, ReturnRegisters, Syscall, SyscallClass, SyscallReturn, YieldCall,
};
use kernel::ErrorCode;

const R: [u32; 4] = [0x1111_1111, 0x2222_2222, 0x3333_3333, 0x4444_4444];

#[test]
fn decode_yield() {
    assert_eq!(
        Syscall::decode(0, [0, 0x8030_0100, 9, 9]),
        Ok(Syscall::Yield {
            which: YieldCall::NoWait,
            param: 0x8030_0100
        })
    );
    assert_eq!(
        Syscall::decode(0, [0, 0, 0, 0]),
        Ok(Syscall::Yield {
            which: YieldCall::NoWait,
            param: 0
        })
    );
    assert_eq!(
        Syscall::decode(0, [1, 5, 6, 7]),
        Ok(Syscall::Yield {
            which: YieldCall::Wait,
            param: 5
        })
    );
    assert_eq!(
        Syscall::decode(0, [2, 0x50003, 0, 7]),
        Ok(Syscall::Yield {
            which: YieldCall::WaitFor {
                driver: 0x50003,
                subscribe: 0
            },
            param: 0x50003
        })
    );
    for bad in [3, 4, 0x100, u32::MAX] {
        assert_eq!(
            Syscall::decode(0, [bad, 0, 0, 0]),
            Err(DecodeError::InvalidYield(bad))
        );
    }
}

#[test]
fn decode_every_other_class() {
    let [a, b, c, d] = R;
    assert_eq!(
        Syscall::decode(1, R),
        Ok(Syscall::Subscribe {
            driver: a,
            subdriver: b,
            upcall_ptr: c,
            appdata: d
        })
    );
    assert_eq!(
        Syscall::decode(2, R),
        Ok(Syscall::Command {
            driver: a,
            command: b,
            arg0: c,
            arg1: d
        })
    );
    assert_eq!(
        Syscall::decode(3, R),
        Ok(Syscall::ReadWriteAllow {
            driver: a,
            allow: b,
            ptr: c,
            size: d
        })
    );
    assert_eq!(
        Syscall::decode(4, R),
        Ok(Syscall::ReadOnlyAllow {
            driver: a,
            allow: b,
            ptr: c,
            size: d
        })
    );
    assert_eq!(
        Syscall::decode(5, R),
        Ok(Syscall::Memop {
            operand: a,
            arg0: b
        })
    );
    assert_eq!(
        Syscall::decode(7, R),
        Ok(Syscall::UserspaceReadableAllow {
            driver: a,
            allow: b,
            ptr: c,
            size: d
        })
    );
}

#[test]
fn decode_exit() {
    assert_eq!(
        Syscall::decode(6, [0, 42, 9, 9]),
        Ok(Syscall::Exit {
            which: ExitCall::Terminate,
            completion_code: 42
        })
    );
    assert_eq!(
        Syscall::decode(6, [1, 7, 0, 0]),
        Ok(Syscall::Exit {
            which: ExitCall::Restart,
            completion_code: 7
        })
    );
    // Other exit numbers decode; the dispatcher answers NOSUPPORT.
    for n in [2, 3, u32::MAX] {
        assert_eq!(
            Syscall::decode(6, [n, 1, 0, 0]),
            Ok(Syscall::Exit {
                which: ExitCall::Other(n),
                completion_code: 1
            })
        );
    }
}

#[test]
fn unknown_classes_are_errors() {
    for class in 8..=u8::MAX {
        assert_eq!(
            Syscall::decode(class, R),
            Err(DecodeError::UnknownClass(class))
        );
        assert_eq!(SyscallClass::try_from(class), Err(class));
    }
}

#[test]
fn class_numbers_round_trip() {
    let expected = [
        SyscallClass::Yield,
        SyscallClass::Subscribe,
        SyscallClass::Command,
        SyscallClass::ReadWriteAllow,
        SyscallClass::ReadOnlyAllow,
        SyscallClass::Memop,
        SyscallClass::Exit,
        SyscallClass::UserspaceReadableAllow,
    ];
    for (n, class) in expected.into_iter().enumerate() {
        assert_eq!(class as u8, n as u8);
        assert_eq!(SyscallClass::try_from(n as u8), Ok(class));
        assert_eq!(Syscall::decode(n as u8, [0; 4]).unwrap().class(), class);
    }
}

/// Each variant writes r0 and exactly the registers it uses (the
/// upstream convention libtock-rs relies on); the others are left alone.
#[test]
fn encode_every_variant() {
    use ErrorCode::*;
    let cases: [(SyscallReturn, &[u32]); 15] = [
        (SyscallReturn::Failure(NODEVICE), &[0, 11]),
        (SyscallReturn::FailureU32(SIZE, 0xAB), &[1, 7, 0xAB]),
        (SyscallReturn::FailureU32U32(INVAL, 5, 6), &[2, 6, 5, 6]),
        (
            SyscallReturn::FailureU64(BUSY, 0x1234_5678_9ABC_DEF0),
            &[3, 2, 0x9ABC_DEF0, 0x1234_5678],
        ),
        (SyscallReturn::Success, &[128]),
        (SyscallReturn::SuccessU32(0xFFFF_FFFF), &[129, 0xFFFF_FFFF]),
        (SyscallReturn::SuccessU32U32(1, 2), &[130, 1, 2]),
        (
            SyscallReturn::SuccessU64(0x0000_0001_0000_0002),
            &[131, 2, 1],
        ),
        (SyscallReturn::SuccessU32U32U32(7, 8, 9), &[132, 7, 8, 9]),
        (
            SyscallReturn::SuccessU32U64(3, 0xAAAA_BBBB_CCCC_DDDD),
            &[133, 3, 0xCCCC_DDDD, 0xAAAA_BBBB],
        ),
        (
            SyscallReturn::allow_success(0x8030_0000, 64),
            &[130, 0x8030_0000, 64],
        ),
        (SyscallReturn::allow_success(0, 0), &[130, 0, 0]),
        (
            SyscallReturn::allow_failure(INVAL, 0x8000_0000, 16),
            &[2, 6, 0x8000_0000, 16],
        ),
        (
            SyscallReturn::subscribe_success(0x8010_0401, 99),
            &[130, 0x8010_0401, 99],
        ),
        (
            SyscallReturn::subscribe_failure(NOSUPPORT, 0x8010_0401, 99),
            &[2, 10, 0x8010_0401, 99],
        ),
    ];
    for (ret, regs) in cases {
        assert_eq!(ret.encode().as_slice(), regs, "{ret:?}");
        assert_eq!(ret.is_success(), regs[0] >= 128, "{ret:?}");
        // Applied to the registers a call passed in, the unused ones stay.
        let passed = [0xA0A0, 0xA1A1, 0xA2A2, 0xA3A3];
        let mut seen = passed;
        ret.encode().apply_to(&mut seen);
        assert_eq!(seen[..regs.len()], *regs, "{ret:?}");
        assert_eq!(seen[regs.len()..], passed[regs.len()..], "{ret:?}");
    }
}

#[test]
fn yield_wait_for_writes_three_registers() {
    let ret = ReturnRegisters::yield_wait_for([5, 6, 7]);
    assert_eq!(ret.as_slice(), [5, 6, 7]);
    let mut regs = [2, 1, 0, 0xA3A3];
    ret.apply_to(&mut regs);
    assert_eq!(regs, [5, 6, 7, 0xA3A3]);
}

#[test]
fn allow_and_subscribe_only_produce_130_or_2() {
    let mut rng = Rng::new(104);
    for _ in 0..10_000 {
        let a = rng.next() as u32;
        let b = rng.next() as u32;
        let e = ErrorCode::ALL[rng.index(ErrorCode::ALL.len())];
        for ret in [
            SyscallReturn::allow_success(a, b),
            SyscallReturn::subscribe_success(a, b),
        ] {
            assert_eq!(ret.encode().as_slice(), [130, a, b]);
        }
        for ret in [
            SyscallReturn::allow_failure(e, a, b),
            SyscallReturn::subscribe_failure(e, a, b),
        ] {
            assert_eq!(ret.encode().as_slice(), [2, e as u32, a, b]);
        }
    }
}

#[test]
fn command_results_convert() {
    assert_eq!(SyscallReturn::from(Ok(())), SyscallReturn::Success);
    assert_eq!(
        SyscallReturn::from(Err(ErrorCode::NOMEM)),
        SyscallReturn::Failure(ErrorCode::NOMEM)
    );
    assert_eq!(
        SyscallReturn::from(Err(ErrorCode::NOMEM))
            .encode()
            .as_slice(),
        [0, 9]
    );
}

#[test]
fn error_code_display() {
    assert_eq!(ErrorCode::NOSUPPORT.to_string(), "NOSUPPORT");
    assert_eq!(format!("{}", ErrorCode::FAIL), "FAIL");
}
