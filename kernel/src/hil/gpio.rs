//! General-purpose I/O pins, as the LED and button drivers use them.
//!
//! Levels are the electrical ones (`true` = high); whether high means
//! "on" or "pressed" is the board's wiring, given to the capsules as an
//! [`ActivationMode`].

/// How a pin's level maps to "active" (LED lit, button pressed).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ActivationMode {
    /// High is active.
    ActiveHigh,
    /// Low is active (an LED to the supply, a button to ground with a
    /// pull-up).
    ActiveLow,
}

impl ActivationMode {
    /// Whether the electrical `level` means active.
    pub fn is_active(self, level: bool) -> bool {
        match self {
            ActivationMode::ActiveHigh => level,
            ActivationMode::ActiveLow => !level,
        }
    }

    /// The level that makes the pin `active`.
    pub fn level(self, active: bool) -> bool {
        self.is_active(active)
    }
}

/// A pin driven by the chip.
pub trait Output {
    /// Drives the pin high.
    fn set(&self);
    /// Drives the pin low.
    fn clear(&self);
    /// Inverts the driven level; answers the new level.
    fn toggle(&self) -> bool;
    /// The level the pin is driven to.
    fn is_set(&self) -> bool;
}

/// A pin read by the chip.
pub trait Input {
    /// The level on the pin.
    fn read(&self) -> bool;
}

/// Told when an input pin changes level.
pub trait Client {
    /// The pin registered with `identifier` changed level (read it for
    /// the new one). Changes may be merged: a client sees the level, not
    /// every edge.
    fn fired(&self, identifier: usize);
}

/// An input pin that reports its changes.
pub trait InterruptPin<'a>: Input {
    /// Sets the client, told with `identifier`.
    fn set_client(&self, client: &'a dyn Client, identifier: usize);
    /// Reports changes of level from now on.
    fn enable_interrupts(&self);
    /// Stops reporting.
    fn disable_interrupts(&self);
}

#[cfg(test)]
mod tests {
    use super::ActivationMode;

    #[test]
    fn activation_modes() {
        assert!(ActivationMode::ActiveHigh.is_active(true));
        assert!(!ActivationMode::ActiveLow.is_active(true));
        assert!(ActivationMode::ActiveLow.is_active(false));
        assert!(!ActivationMode::ActiveLow.level(true));
        assert!(ActivationMode::ActiveHigh.level(true));
    }
}
