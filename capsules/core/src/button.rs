//! The button syscall driver, number 3: the board's buttons, by index,
//! with an upcall when one an app listens to is pressed or released.
//!
//! # Interface summary (upstream's numbering)
//!
//! | | number | arguments | answer |
//! |---|---|---|---|
//! | command | 0 | | Success u32: the number of buttons |
//! | command | 1 | `button` | report its changes to this app: Success, `INVAL` for no such button |
//! | command | 2 | `button` | stop reporting them |
//! | command | 3 | `button` | Success u32: 1 if pressed, 0 if not |
//! | other | | | `NOSUPPORT` |
//! | subscribe | 0 | | changed: `(button, pressed, 0)` |
//!
//! Each app's set of buttons (a bit mask) lives in its grant; commands 1
//! and 2 answer `NOMEM` if it cannot be allocated. A button's pin reports
//! changes while at least one app listens to it. The board says for each
//! pin whether pressed reads high or low ([`ActivationMode`]).

use kernel::grant::{AllowCounts, Grant};
use kernel::hil::gpio::{ActivationMode, Client, InterruptPin};
use kernel::process::ProcessId;
use kernel::syscall_driver::{CommandReturn, SyscallDriver};
use kernel::ErrorCode;

/// The driver number.
pub const DRIVER_NUM: u32 = 3;

/// The upcall and allow slots of the driver's grant: one upcall.
pub const ALLOW_COUNTS: AllowCounts = AllowCounts {
    upcalls: 1,
    read_only: 0,
    read_write: 0,
    userspace_readable: 0,
};

/// The most buttons a board may give (one bit each in an app's mask).
pub const MAX_BUTTONS: usize = 32;

/// Command numbers.
pub mod command {
    /// The number of buttons.
    pub const COUNT: u32 = 0;
    /// Report a button's changes.
    pub const ENABLE: u32 = 1;
    /// Stop reporting them.
    pub const DISABLE: u32 = 2;
    /// Read a button.
    pub const READ: u32 = 3;
}

/// An app's grant: the buttons it listens to, one bit each.
pub type Listening = [u32; 1];

/// The button driver over pins of type `P`.
pub struct ButtonDriver<'a, P: InterruptPin<'a>> {
    buttons: &'a [(P, ActivationMode)],
    apps: Grant<Listening>,
}

impl<'a, P: InterruptPin<'a>> ButtonDriver<'a, P> {
    /// The driver over `buttons` (at most [`MAX_BUTTONS`]; more are
    /// ignored). Make it the client of every pin with
    /// [`register`](Self::register).
    pub fn new(buttons: &'a [(P, ActivationMode)], apps: Grant<Listening>) -> Self {
        let n = buttons.len().min(MAX_BUTTONS);
        ButtonDriver {
            buttons: &buttons[..n],
            apps,
        }
    }

    /// Makes the driver the client of its pins (identifier = index).
    pub fn register(&'a self) {
        for (i, (pin, _)) in self.buttons.iter().enumerate() {
            pin.set_client(self, i);
        }
    }

    /// Whether button `i` is pressed (`None`: no such button).
    pub fn is_pressed(&self, i: usize) -> Option<bool> {
        self.buttons
            .get(i)
            .map(|(pin, mode)| mode.is_active(pin.read()))
    }

    /// Enables the pin's reports while any app listens to button `i`.
    fn update_pin(&self, i: usize) {
        let bit = 1u32 << i;
        let mut wanted = false;
        self.apps.each(|_, mask, _| wanted |= mask[0] & bit != 0);
        if let Some((pin, _)) = self.buttons.get(i) {
            if wanted {
                pin.enable_interrupts();
            } else {
                pin.disable_interrupts();
            }
        }
    }

    fn listen(&self, pid: ProcessId, i: usize, on: bool) -> CommandReturn {
        let bit = 1u32 << i;
        let r = self.apps.enter(pid, |mask, _| {
            if on {
                mask[0] |= bit;
            } else {
                mask[0] &= !bit;
            }
        });
        match r {
            Ok(()) => {
                self.update_pin(i);
                CommandReturn::success()
            }
            Err(e) => CommandReturn::failure(e.into()),
        }
    }
}

impl<'a, P: InterruptPin<'a>> Client for ButtonDriver<'a, P> {
    fn fired(&self, i: usize) {
        let Some(pressed) = self.is_pressed(i) else {
            return;
        };
        let bit = 1u32 << i;
        self.apps.each(|_, mask, kd| {
            if mask[0] & bit != 0 {
                let _ = kd.schedule_upcall(0, [i as u32, u32::from(pressed), 0]);
            }
        });
    }
}

impl<'a, P: InterruptPin<'a>> SyscallDriver for ButtonDriver<'a, P> {
    fn command(&self, command: u32, button: u32, _: u32, pid: ProcessId) -> CommandReturn {
        if command == command::COUNT {
            return CommandReturn::success_u32(self.buttons.len() as u32);
        }
        if !matches!(command, command::ENABLE | command::DISABLE | command::READ) {
            return CommandReturn::failure(ErrorCode::NOSUPPORT);
        }
        let i = button as usize;
        let Some(pressed) = self.is_pressed(i) else {
            return CommandReturn::failure(ErrorCode::INVAL);
        };
        match command {
            command::READ => CommandReturn::success_u32(u32::from(pressed)),
            command::ENABLE => self.listen(pid, i, true),
            _ => self.listen(pid, i, false),
        }
    }
}
