//! The components on the mock kernel: what they build, and the
//! configuration mistakes they report instead of panicking.

#[path = "../../../capsules/core/tests/uart_mock/mod.rs"]
mod uart_mock;

use components::console::ConsoleMemory;
use components::ComponentError;
use kernel::deferred_call::DeferredCalls;
use kernel::policy::{AllowAll, StopFaultPolicy};
use kernel::{CreateGrantError, ErrorCode};
use kernel_mock::{leak, Harness};

/// A `&'static mut` for a component's memory.
fn mem<T>(value: T) -> &'static mut T {
    Box::leak(Box::new(value))
}
use uart_mock::MockUart;

#[test]
fn console_builds_once_and_reports_its_mistakes() {
    let h = Harness::new(2, &StopFaultPolicy, &AllowAll);
    // No deferred call slot left: refused, clearly.
    let none: &'static DeferredCalls<1> = leak(DeferredCalls::new());
    let uart = MockUart::new(none); // takes the only slot
    let r = components::console::console(mem(ConsoleMemory::<64>::new()), uart, h.kernel, none);
    assert_eq!(
        r.err(),
        Some(ComponentError::DeferredCall(ErrorCode::NOMEM))
    );

    // The grant was created by the failed attempt: a second console on the
    // same kernel is refused as a duplicate, not built twice.
    let calls: &'static DeferredCalls<4> = leak(DeferredCalls::new());
    let uart = MockUart::new(calls);
    let r = components::console::console(mem(ConsoleMemory::<64>::new()), uart, h.kernel, calls);
    assert_eq!(
        r.err(),
        Some(ComponentError::Grant(CreateGrantError::Duplicate))
    );
}

#[test]
fn console_and_low_level_debug_print_kernel_lines() {
    let h = Harness::new(2, &StopFaultPolicy, &AllowAll);
    let calls: &'static DeferredCalls<4> = leak(DeferredCalls::new());
    let uart = MockUart::new(calls);
    let console =
        components::console::console(mem(ConsoleMemory::<256>::new()), uart, h.kernel, calls)
            .expect("console");
    let _lldb = components::low_level_debug::low_level_debug::<4>(mem(None), h.kernel, console);
    use core::fmt::Write;
    let _ = writeln!(console.kernel_writer(), "component line");
    for _ in 0..100 {
        if !calls.service_next() {
            break;
        }
    }
    let sent = uart.text();
    assert!(sent.contains("component line"), "{sent:?}");
}
