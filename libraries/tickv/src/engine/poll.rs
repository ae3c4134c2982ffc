//! The poll protocol: how `drive` and the machines exchange requests
//! and outcomes, and the three request helpers every machine uses.

use super::*;

/// The channel between `drive` and the machines: the outcome of the last
/// request going in; the next request, or the error that ends the
/// operation, coming out. Keeping both here (not in `Poll`) keeps every `Poll`
/// small, so stopping a machine and its parents moves no data.
pub(super) struct Channel {
    pub(super) outcome: Option<Result<(), FlashFault>>,
    /// The pending request, as `drive` hands it to the caller.
    pub(super) req: Step,
    pub(super) err: Option<Error>,
}

impl Channel {
    /// Ends the operation with `e`.
    pub(super) fn fail<T>(&mut self, e: Error) -> Poll<T> {
        self.err = Some(e);
        Poll::Stop
    }
}

pub(super) enum Poll<T> {
    /// Stopped: a request is pending (`Channel::req`) or the operation failed
    /// (`Channel::err` is set).
    Stop,
    Ready(T),
}

#[cfg(feature = "lazy")]
impl<T> Poll<T> {
    pub(super) fn map<U>(self, f: impl FnOnce(T) -> U) -> Poll<U> {
        match self {
            Poll::Stop => Poll::Stop,
            Poll::Ready(v) => Poll::Ready(f(v)),
        }
    }
}

/// Issues one request, or consumes its outcome on the next poll. Kept out
/// of line (with `read` and `program`): the machines call it from some
/// twenty places.
#[inline(never)]
pub(super) fn request(wait: &mut bool, ev: &mut Channel, req: Step, what: FlashOp) -> Poll<()> {
    if !*wait {
        *wait = true;
        ev.req = req;
        return Poll::Stop;
    }
    *wait = false;
    match ev.outcome.take() {
        Some(Ok(())) => Poll::Ready(()),
        Some(Err(FlashFault)) => ev.fail(Error::Flash(what)),
        None => ev.fail(Error::Protocol),
    }
}

#[inline(never)]
pub(super) fn read(wait: &mut bool, ev: &mut Channel, addr: u32, len: u32) -> Poll<()> {
    let (addr, len) = (addr as usize, len as usize);
    request(wait, ev, Step::Read { addr, len }, FlashOp::Read)
}

#[inline(never)]
pub(super) fn program(wait: &mut bool, ev: &mut Channel, addr: u32, len: u32) -> Poll<()> {
    let (addr, len) = (addr as usize, len as usize);
    request(wait, ev, Step::Program { addr, len }, FlashOp::Program)
}

/// Reads the start of region `r` (its header and first record slot) and
/// returns whether the first record slot is blank (no record yet). Shared by
/// mount's passes and `Open`.
#[inline(never)]
pub(super) fn read_start(
    wait: &mut bool,
    ev: &mut Channel,
    c: &Core,
    io: &Io,
    r: u32,
) -> Poll<bool> {
    tri!(read(wait, ev, c.addr(r, 0), c.g.span + REC_HDR));
    let span = c.g.span as usize;
    Poll::Ready(
        io.scratch
            .get(span..span + REC_HDR as usize)
            .is_some_and(blank),
    )
}
