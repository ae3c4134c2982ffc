//! Time: tick counters, their frequencies, and alarms.
//!
//! A timer counts [`Ticks`] at a [`Frequency`] and wraps around at the
//! width of its counter (24, 32 or 64 bits). [`Time`] reads the counter;
//! an [`Alarm`] calls its client once the counter passes a point in time.
//! Points in time are wrapping counter values, so an alarm is set as a
//! *reference* (usually a recent `now()`) plus a *delay*, which stays
//! correct across a wrap of the counter.
//!
//! [`ConvertTicks`] (implemented for every [`Time`]) and the functions
//! [`ticks_from_ms`], [`ticks_from_us`], [`ticks_to_ms`] and [`ticks_to_us`]
//! convert between ticks and wall-clock durations exactly (no intermediate
//! overflow), rounding durations into ticks up, so a delay is never shorter
//! than asked for, and ticks into durations down. Results that do not fit
//! saturate; nothing panics.

use core::fmt;

use crate::ErrorCode;

/// A counter value of a timer of `WIDTH` bits; arithmetic wraps at
/// `2^WIDTH`.
///
/// The derived ordering compares raw counter values; use
/// [`within_range`](Ticks::within_range) to order points in time.
pub trait Ticks: Clone + Copy + fmt::Debug + Eq + Ord {
    /// Width of the counter in bits.
    const WIDTH: u32;
    /// Zero.
    const ZERO: Self;
    /// The largest value, `2^WIDTH - 1`.
    const MAX: Self;

    /// `value` modulo `2^WIDTH`.
    fn from_u32(value: u32) -> Self;
    /// `value` modulo `2^WIDTH`.
    fn from_u64(value: u64) -> Self;
    /// `value`, or [`MAX`](Ticks::MAX) if it does not fit: for durations.
    fn from_u64_saturating(value: u64) -> Self;
    /// The low 32 bits of the value (all of it for counters of up to 32
    /// bits).
    fn into_u32(self) -> u32;
    /// The value.
    fn into_u64(self) -> u64;

    /// `self + other` modulo `2^WIDTH`.
    fn wrapping_add(self, other: Self) -> Self;
    /// `self - other` modulo `2^WIDTH`.
    fn wrapping_sub(self, other: Self) -> Self;

    /// Whether `self` lies in the half-open range from `start` to `end`,
    /// going forward from `start` and wrapping around. Empty when
    /// `start == end`.
    fn within_range(self, start: Self, end: Self) -> bool {
        self.wrapping_sub(start) < end.wrapping_sub(start)
    }
}

/// Defines a ticks type over the raw integer `$raw` with `$bits` bits.
macro_rules! ticks_type {
    ($(#[$attr:meta])* $name:ident, $raw:ty, $bits:literal) => {
        $(#[$attr])*
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name($raw);

        impl $name {
            const MASK: $raw = <$raw>::MAX >> (<$raw>::BITS - $bits);

            #[doc = concat!("`value` modulo 2^", $bits, ".")]
            pub const fn new(value: $raw) -> Self {
                $name(value & Self::MASK)
            }

            /// The counter value.
            pub const fn get(self) -> $raw {
                self.0
            }
        }

        impl Ticks for $name {
            const WIDTH: u32 = $bits;
            const ZERO: Self = $name(0);
            const MAX: Self = $name(Self::MASK);

            fn from_u32(value: u32) -> Self {
                Self::new(<$raw>::from(value))
            }

            fn from_u64(value: u64) -> Self {
                let masked = value & u64::from(Self::MASK);
                <$raw>::try_from(masked).map_or(Self::MAX, $name)
            }

            fn from_u64_saturating(value: u64) -> Self {
                <$raw>::try_from(value).map_or(Self::MAX, |v| $name(v.min(Self::MASK)))
            }

            fn into_u32(self) -> u32 {
                let low = u64::from(self.0) & u64::from(u32::MAX);
                u32::try_from(low).unwrap_or(u32::MAX)
            }

            fn into_u64(self) -> u64 {
                u64::from(self.0)
            }

            fn wrapping_add(self, other: Self) -> Self {
                Self::new(self.0.wrapping_add(other.0))
            }

            fn wrapping_sub(self, other: Self) -> Self {
                Self::new(self.0.wrapping_sub(other.0))
            }
        }
    };
}

ticks_type!(
    /// Ticks of a 24-bit counter (for example the nRF52 RTC).
    Ticks24,
    u32,
    24
);
ticks_type!(
    /// Ticks of a 32-bit counter.
    Ticks32,
    u32,
    32
);
ticks_type!(
    /// Ticks of a 64-bit counter (for example the RISC-V `mtime`).
    Ticks64,
    u64,
    64
);

impl From<u32> for Ticks32 {
    fn from(value: u32) -> Self {
        Ticks32(value)
    }
}

impl From<u32> for Ticks64 {
    fn from(value: u32) -> Self {
        Ticks64(value.into())
    }
}

impl From<u64> for Ticks64 {
    fn from(value: u64) -> Self {
        Ticks64(value)
    }
}

/// The frequency of a timer, in Hz.
pub trait Frequency {
    /// Ticks per second.
    fn frequency() -> u32;
}

/// 1 kHz.
#[derive(Clone, Copy, Debug, Default)]
pub struct Freq1KHz;

impl Frequency for Freq1KHz {
    fn frequency() -> u32 {
        1_000
    }
}

/// 32.768 kHz, the usual low-power crystal.
#[derive(Clone, Copy, Debug, Default)]
pub struct Freq32KHz;

impl Frequency for Freq32KHz {
    fn frequency() -> u32 {
        32_768
    }
}

/// 1 MHz (the AST1030's timers on their external clock).
#[derive(Clone, Copy, Debug, Default)]
pub struct Freq1MHz;

impl Frequency for Freq1MHz {
    fn frequency() -> u32 {
        1_000_000
    }
}

/// 10 MHz (the QEMU `virt` machine's `mtime`).
#[derive(Clone, Copy, Debug, Default)]
pub struct Freq10MHz;

impl Frequency for Freq10MHz {
    fn frequency() -> u32 {
        10_000_000
    }
}

/// A free-running counter.
pub trait Time {
    /// The counting frequency.
    type Frequency: Frequency;
    /// The counter width.
    type Ticks: Ticks;

    /// The current counter value.
    fn now(&self) -> Self::Ticks;
}

/// Receives alarm callbacks.
pub trait AlarmClient {
    /// The alarm time has passed. The alarm is disarmed; the client may set
    /// it again from here.
    fn alarm(&self);
}

/// A one-shot alarm on a [`Time`] counter.
///
/// Each [`set_alarm`](Alarm::set_alarm) leads to exactly one
/// [`AlarmClient::alarm`] callback, unless the alarm is set again (which
/// replaces it) or disarmed first. The callback never runs inside
/// `set_alarm`.
pub trait Alarm<'a>: Time {
    /// Sets the client that receives the alarm callbacks.
    fn set_alarm_client(&self, client: &'a dyn AlarmClient);

    /// Arms the alarm for `reference + dt` (wrapping).
    ///
    /// If that time has already passed (`now()` is not within
    /// `reference..reference + dt`), the alarm fires as soon as possible.
    /// A `dt` below [`minimum_dt`](Alarm::minimum_dt) is raised to it, so
    /// the hardware cannot miss the compare value.
    fn set_alarm(&self, reference: Self::Ticks, dt: Self::Ticks);

    /// The time the alarm is (or was last) set for.
    fn get_alarm(&self) -> Self::Ticks;

    /// Disarms the alarm. After `Ok(())` no callback follows until the next
    /// `set_alarm`; `FAIL` if the hardware could not be stopped.
    fn disarm(&self) -> Result<(), ErrorCode>;

    /// Whether the alarm is armed and has not fired yet.
    fn is_armed(&self) -> bool;

    /// The smallest delay the hardware can reliably honour.
    fn minimum_dt(&self) -> Self::Ticks;
}

/// `value * mul / div`, exactly, without overflowing: rounded up or down,
/// saturating at `u64::MAX`. A `div` of 0 counts as 1.
fn scale(value: u64, mul: u32, div: u32, round_up: bool) -> u64 {
    let (mul, div) = (u64::from(mul), u64::from(div.max(1)));
    // value = q * div + r, so value * mul / div = q * mul + r * mul / div,
    // where r * mul < 2^64 because r < div <= 2^32 and mul < 2^32.
    let (q, r) = (value / div, value % div);
    let part = r * mul;
    let up = u64::from(round_up && part % div != 0);
    q.saturating_mul(mul)
        .saturating_add(part / div)
        .saturating_add(up)
}

/// The number of ticks at `F` that lasts at least `ms` milliseconds,
/// saturating at `T::MAX`.
pub fn ticks_from_ms<F: Frequency, T: Ticks>(ms: u64) -> T {
    T::from_u64_saturating(scale(ms, F::frequency(), 1_000, true))
}

/// The number of ticks at `F` that lasts at least `us` microseconds,
/// saturating at `T::MAX`.
pub fn ticks_from_us<F: Frequency, T: Ticks>(us: u64) -> T {
    T::from_u64_saturating(scale(us, F::frequency(), 1_000_000, true))
}

/// Whole milliseconds in `ticks` at `F` (rounded down).
pub fn ticks_to_ms<F: Frequency, T: Ticks>(ticks: T) -> u64 {
    scale(ticks.into_u64(), 1_000, F::frequency(), false)
}

/// Whole microseconds in `ticks` at `F` (rounded down, saturating).
pub fn ticks_to_us<F: Frequency, T: Ticks>(ticks: T) -> u64 {
    scale(ticks.into_u64(), 1_000_000, F::frequency(), false)
}

/// Duration conversions in the units of a [`Time`]; see the
/// [module docs](self).
pub trait ConvertTicks<T: Ticks> {
    /// [`ticks_from_ms`] at this counter's frequency.
    fn ticks_from_ms(&self, ms: u64) -> T;
    /// [`ticks_from_us`] at this counter's frequency.
    fn ticks_from_us(&self, us: u64) -> T;
    /// [`ticks_to_ms`] at this counter's frequency.
    fn ticks_to_ms(&self, ticks: T) -> u64;
    /// [`ticks_to_us`] at this counter's frequency.
    fn ticks_to_us(&self, ticks: T) -> u64;
}

impl<C: Time + ?Sized> ConvertTicks<C::Ticks> for C {
    fn ticks_from_ms(&self, ms: u64) -> C::Ticks {
        ticks_from_ms::<C::Frequency, _>(ms)
    }

    fn ticks_from_us(&self, us: u64) -> C::Ticks {
        ticks_from_us::<C::Frequency, _>(us)
    }

    fn ticks_to_ms(&self, ticks: C::Ticks) -> u64 {
        ticks_to_ms::<C::Frequency, _>(ticks)
    }

    fn ticks_to_us(&self, ticks: C::Ticks) -> u64 {
        ticks_to_us::<C::Frequency, _>(ticks)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widths_and_limits() {
        assert_eq!(
            (Ticks24::WIDTH, Ticks32::WIDTH, Ticks64::WIDTH),
            (24, 32, 64)
        );
        assert_eq!(Ticks24::MAX.get(), 0xFF_FFFF);
        assert_eq!(Ticks32::MAX.get(), u32::MAX);
        assert_eq!(Ticks64::MAX.get(), u64::MAX);
        assert_eq!(Ticks24::new(0x1234_5678).get(), 0x34_5678);
        assert_eq!(Ticks24::ZERO, Ticks24::default());
    }

    #[test]
    fn wrapping_arithmetic() {
        fn check<T: Ticks>() {
            let one = T::from_u32(1);
            assert_eq!(T::MAX.wrapping_add(one), T::ZERO);
            assert_eq!(T::ZERO.wrapping_sub(one), T::MAX);
            assert_eq!(T::MAX.wrapping_add(T::MAX), T::MAX.wrapping_sub(one));
            let a = T::from_u32(1000);
            assert_eq!(a.wrapping_sub(T::MAX).into_u64(), 1001);
        }
        check::<Ticks24>();
        check::<Ticks32>();
        check::<Ticks64>();
    }

    #[test]
    fn conversions() {
        assert_eq!(Ticks24::from_u32(0x0100_0005).into_u32(), 5);
        assert_eq!(Ticks24::from_u64(0x1_0000_0007).into_u64(), 7);
        assert_eq!(Ticks32::from_u64(0x1_0000_0007).into_u32(), 7);
        assert_eq!(Ticks64::from_u64(u64::MAX).into_u64(), u64::MAX);
        assert_eq!(Ticks64::from(0x1_2345_6789_u64).into_u32(), 0x2345_6789);
        assert_eq!(Ticks32::from(9).into_u64(), 9);
        assert_eq!(Ticks64::from(9u32).into_u64(), 9);

        assert_eq!(Ticks24::from_u64_saturating(0x100_0000), Ticks24::MAX);
        assert_eq!(Ticks24::from_u64_saturating(0xFF_FFFE).get(), 0xFF_FFFE);
        assert_eq!(Ticks32::from_u64_saturating(1 << 32), Ticks32::MAX);
        assert_eq!(Ticks32::from_u64_saturating(12).get(), 12);
        assert_eq!(Ticks64::from_u64_saturating(u64::MAX), Ticks64::MAX);
    }

    #[test]
    fn within_range_wraps() {
        let t = Ticks24::from_u32;
        let (start, end) = (Ticks24::MAX.wrapping_sub(t(5)), t(5));
        assert!(Ticks24::MAX.within_range(start, end));
        assert!(start.within_range(start, end));
        assert!(t(0).within_range(start, end));
        assert!(t(4).within_range(start, end));
        assert!(!t(5).within_range(start, end));
        assert!(!start.wrapping_sub(t(1)).within_range(start, end));
        assert!(!t(3).within_range(t(3), t(3)));
        assert!(t(3).within_range(t(1), t(10)));
        assert!(!t(10).within_range(t(1), t(10)));
    }

    #[test]
    fn durations_to_ticks_round_up_and_saturate() {
        assert_eq!(ticks_from_ms::<Freq32KHz, Ticks32>(1000).get(), 32_768);
        assert_eq!(ticks_from_ms::<Freq32KHz, Ticks32>(1).get(), 33); // 32.768
        assert_eq!(ticks_from_ms::<Freq1KHz, Ticks32>(0).get(), 0);
        assert_eq!(ticks_from_us::<Freq32KHz, Ticks32>(1).get(), 1); // 0.03
        assert_eq!(ticks_from_us::<Freq10MHz, Ticks64>(3).get(), 30);
        assert_eq!(ticks_from_ms::<Freq10MHz, Ticks64>(u64::MAX), Ticks64::MAX);
        assert_eq!(ticks_from_ms::<Freq10MHz, Ticks24>(1677).get(), 16_770_000);
        assert_eq!(ticks_from_ms::<Freq10MHz, Ticks24>(1678), Ticks24::MAX);
        assert_eq!(ticks_from_ms::<Freq10MHz, Ticks32>(429_497), Ticks32::MAX);
        assert_eq!(
            ticks_from_ms::<Freq10MHz, Ticks32>(429_496).get(),
            4_294_960_000
        );
    }

    #[test]
    fn ticks_to_durations_round_down_and_saturate() {
        assert_eq!(ticks_to_ms::<Freq32KHz, _>(Ticks32::from(32_768)), 1000);
        assert_eq!(ticks_to_ms::<Freq32KHz, _>(Ticks32::from(32)), 0);
        assert_eq!(ticks_to_us::<Freq32KHz, _>(Ticks32::from(33)), 1007);
        assert_eq!(ticks_to_ms::<Freq1KHz, _>(Ticks64::MAX), u64::MAX);
        assert_eq!(ticks_to_us::<Freq32KHz, _>(Ticks64::MAX), u64::MAX);
        assert_eq!(ticks_to_ms::<Freq10MHz, _>(Ticks64::MAX), u64::MAX / 10_000);
        assert_eq!(
            ticks_to_ms::<Freq32KHz, _>(Ticks32::MAX),
            u64::from(u32::MAX) * 1000 / 32_768
        );
    }

    #[test]
    fn round_trips_never_shorten() {
        for ms in [0u64, 1, 7, 999, 1000, 65_535, 3_600_000] {
            let t: Ticks64 = ticks_from_ms::<Freq32KHz, _>(ms);
            assert_eq!(ticks_to_ms::<Freq32KHz, _>(t), ms);
            let t: Ticks64 = ticks_from_ms::<Freq10MHz, _>(ms);
            assert_eq!(ticks_to_ms::<Freq10MHz, _>(t), ms);
        }
    }

    #[test]
    fn a_zero_frequency_does_not_panic() {
        struct Broken;
        impl Frequency for Broken {
            fn frequency() -> u32 {
                0
            }
        }
        assert_eq!(ticks_to_ms::<Broken, _>(Ticks32::from(5)), 5000);
        assert_eq!(ticks_from_ms::<Broken, Ticks32>(5).get(), 0);
    }

    #[test]
    fn convert_ticks_on_a_time() {
        struct Clock;
        impl Time for Clock {
            type Frequency = Freq1KHz;
            type Ticks = Ticks32;
            fn now(&self) -> Ticks32 {
                Ticks32::from(0)
            }
        }
        assert_eq!(Clock.ticks_from_ms(250).get(), 250);
        assert_eq!(Clock.ticks_from_us(1).get(), 1);
        assert_eq!(Clock.ticks_to_ms(Ticks32::from(250)), 250);
        assert_eq!(Clock.ticks_to_us(Ticks32::from(2)), 2000);
    }
}
