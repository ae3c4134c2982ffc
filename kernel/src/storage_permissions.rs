//! App identity (ShortId) and the permissions an app has on stored data.
//!
//! Every value in persistent storage carries the 32-bit id of its *owner*:
//! the write id of whoever created it. Id 0 is reserved for the kernel. The
//! storage layers ask three questions of a caller's [`StoragePermissions`]:
//!
//! * [`write_id`](StoragePermissions::write_id): may it create items, and
//!   with which owner id;
//! * [`check_read_permission`](StoragePermissions::check_read_permission):
//!   may it read an item with this owner id;
//! * [`check_modify_permission`](StoragePermissions::check_modify_permission):
//!   may it overwrite or delete an item with this owner id (an overwrite
//!   keeps the stored owner id).
//!
//! **No permission set other than [`StoragePermissions::Kernel`] ever reads
//! or modifies an item owned by id 0**, whatever a TLV or a board list says,
//! and the kernel's permissions reach nothing but id 0.
//!
//! The kernel provides the mechanisms; a board picks the policies: a
//! [`ShortIdAssigner`] that gives each app its [`ShortId`], and a
//! [`StoragePermissionsPolicy`] that turns an app's TBF header and ShortId
//! into its permissions. [`TlvElseSelfOnlyPolicy`] is the default on our
//! boards: an app with a storage TLV gets exactly what the TLV says, and an
//! app without one (such as the libtock-rs KV example) can store and read
//! back its own data and nothing else.

use core::fmt;
use core::num::NonZeroU32;

use crate::tbf::{self, TbfHeader};
use crate::utilities::crc32_posix;

/// A 32-bit app identity that is either fixed (non-zero, e.g. from a TLV
/// or derived from the package name) or only unique among the running apps.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ShortId {
    /// No fixed identity: the app cannot own stored data across boots.
    LocallyUnique,
    /// A fixed, non-zero identity.
    Fixed(NonZeroU32),
}

impl ShortId {
    /// The fixed id, if any.
    pub fn id(self) -> Option<NonZeroU32> {
        match self {
            ShortId::LocallyUnique => None,
            ShortId::Fixed(id) => Some(id),
        }
    }
}

/// `0x0a1b2c3d`, or `locally-unique`.
impl fmt::Display for ShortId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ShortId::LocallyUnique => f.write_str("locally-unique"),
            ShortId::Fixed(id) => write!(f, "{:#010x}", id.get()),
        }
    }
}

impl From<Option<NonZeroU32>> for ShortId {
    fn from(id: Option<NonZeroU32>) -> ShortId {
        id.map_or(ShortId::LocallyUnique, ShortId::Fixed)
    }
}

/// Decides an app's [`ShortId`] from its TBF header; a board policy.
pub trait ShortIdAssigner {
    /// The ShortId for the app with this header.
    fn assign(&self, header: &TbfHeader<'_>) -> ShortId;
}

/// ShortId from the TBF ShortId TLV (type 10); locally unique without one
/// (or when it holds 0).
#[derive(Clone, Copy, Debug, Default)]
pub struct TlvShortId;

impl ShortIdAssigner for TlvShortId {
    fn assign(&self, header: &TbfHeader<'_>) -> ShortId {
        header.short_id().into()
    }
}

/// ShortId = [`crc32_posix`] of the package name. Locally unique when the
/// app has no name, an empty name, or a name whose CRC is 0.
#[derive(Clone, Copy, Debug, Default)]
pub struct PackageNameCrc;

impl ShortIdAssigner for PackageNameCrc {
    fn assign(&self, header: &TbfHeader<'_>) -> ShortId {
        header
            .package_name()
            .filter(|name| !name.is_empty())
            .and_then(|name| NonZeroU32::new(crc32_posix(name.as_bytes())))
            .into()
    }
}

/// The ShortId TLV when the header has a non-zero one, else
/// [`PackageNameCrc`].
#[derive(Clone, Copy, Debug, Default)]
pub struct TlvElseCrc;

impl ShortIdAssigner for TlvElseCrc {
    fn assign(&self, header: &TbfHeader<'_>) -> ShortId {
        match TlvShortId.assign(header) {
            ShortId::LocallyUnique => PackageNameCrc.assign(header),
            fixed => fixed,
        }
    }
}

/// A list of owner ids: borrowed from a TBF storage TLV (TBFs live in flash,
/// hence `'static`) or provided by the board.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdList {
    /// Ids from a storage permissions TLV.
    Tlv(tbf::Ids<'static>),
    /// Ids listed by the board.
    Board(&'static [u32]),
}

impl IdList {
    /// The empty list.
    pub const EMPTY: IdList = IdList::Board(&[]);

    /// Whether `id` is in the list.
    pub fn contains(&self, id: u32) -> bool {
        match self {
            IdList::Tlv(ids) => ids.contains(id),
            IdList::Board(ids) => ids.contains(&id),
        }
    }
}

/// What a storage user (an app, or the kernel) may do with stored items;
/// see the [module docs](self).
///
/// A few dozen bytes: storage layers keep a reference to it (an app's lives
/// in its process, see [`Process::storage_permissions`](crate::process::Process::storage_permissions)) for the duration of a
/// split-phase operation, since the checks happen once the stored owner id
/// has been read; copying it through every layer cost a `memcpy` each.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoragePermissions {
    /// No access at all.
    Null,
    /// Writes items owned by this id, and reads and modifies exactly the
    /// items with this owner id.
    SelfOnly(NonZeroU32),
    /// An explicit set of permissions.
    Listed {
        /// Owner id of created items; `None`: may not create items.
        write_id: Option<NonZeroU32>,
        /// Owner ids whose items may be read.
        read: IdList,
        /// Owner ids whose items may be modified (overwritten or deleted).
        modify: IdList,
        /// Items owned by `write_id` are readable even if not in `read`.
        read_self: bool,
        /// Items owned by `write_id` are modifiable even if not in `modify`.
        modify_self: bool,
    },
    /// The kernel's own storage: writes, reads and modifies items owned by
    /// id 0 only, and no app data.
    Kernel,
}

impl StoragePermissions {
    /// [`StoragePermissions::Kernel`] for the life of the program: what
    /// kernel users hand to the KV stack, which keeps a reference
    /// ([`KVPermissions`](crate::hil::kv::KVPermissions)).
    pub const KERNEL: &'static StoragePermissions = &StoragePermissions::Kernel;

    /// [`StoragePermissions::Null`] for the life of the program.
    pub const NULL: &'static StoragePermissions = &StoragePermissions::Null;

    /// No access at all.
    pub const fn null() -> Self {
        StoragePermissions::Null
    }

    /// Full access to the items owned by `id`, and to nothing else.
    pub const fn self_only(id: NonZeroU32) -> Self {
        StoragePermissions::SelfOnly(id)
    }

    /// The kernel's permissions: items owned by id 0 only.
    pub const fn kernel() -> Self {
        StoragePermissions::Kernel
    }

    /// A board-defined set: `write_id` for created items (`None`: no
    /// writes), the owner ids that may be read and modified, and whether
    /// items owned by `write_id` are implicitly readable / modifiable.
    pub const fn listed(
        write_id: Option<NonZeroU32>,
        read: &'static [u32],
        modify: &'static [u32],
        read_self: bool,
        modify_self: bool,
    ) -> Self {
        StoragePermissions::Listed {
            write_id,
            read: IdList::Board(read),
            modify: IdList::Board(modify),
            read_self,
            modify_self,
        }
    }

    /// The permissions a TBF storage permissions TLV (type 7) describes.
    ///
    /// The app may create items iff the TLV's write id is non-zero, and
    /// they are owned by that write id. It may read and modify the owner
    /// ids the TLV lists, and nothing else: as in upstream Tock, its own
    /// write id is *not* implicitly readable or modifiable, so an app that
    /// should see its own data lists its write id (elf2tab
    /// `--write_id 5 --read_ids 5 --access_ids 5`).
    ///
    /// Upstream Tock stores the app's fixed ShortId as the owner instead of
    /// the TLV's write id (and requires a fixed ShortId). We use the write
    /// id: it is the id that elf2tab and tockloader (`--write-id`) put into
    /// images, so items provisioned from the host and items the app writes
    /// agree on their owner.
    pub fn from_tlv(tlv: tbf::StoragePermissions<'static>) -> Self {
        StoragePermissions::Listed {
            write_id: tlv.write_id(),
            read: IdList::Tlv(tlv.read_ids()),
            modify: IdList::Tlv(tlv.modify_ids()),
            read_self: false,
            modify_self: false,
        }
    }

    /// Whether items owned by `stored_owner` may be read.
    pub fn check_read_permission(&self, stored_owner: u32) -> bool {
        match *self {
            StoragePermissions::Kernel => stored_owner == 0,
            _ if stored_owner == 0 => false,
            StoragePermissions::Null => false,
            StoragePermissions::SelfOnly(id) => stored_owner == id.get(),
            StoragePermissions::Listed {
                write_id,
                read,
                read_self,
                ..
            } => read.contains(stored_owner) || (read_self && owns(write_id, stored_owner)),
        }
    }

    /// Whether items owned by `stored_owner` may be modified (overwritten,
    /// keeping that owner id, or deleted).
    pub fn check_modify_permission(&self, stored_owner: u32) -> bool {
        match *self {
            StoragePermissions::Kernel => stored_owner == 0,
            _ if stored_owner == 0 => false,
            StoragePermissions::Null => false,
            StoragePermissions::SelfOnly(id) => stored_owner == id.get(),
            StoragePermissions::Listed {
                write_id,
                modify,
                modify_self,
                ..
            } => modify.contains(stored_owner) || (modify_self && owns(write_id, stored_owner)),
        }
    }

    /// The owner id to store with newly created items, or `None` if this
    /// user may not create items. The kernel writes id 0.
    pub fn write_id(&self) -> Option<u32> {
        match *self {
            StoragePermissions::Null => None,
            StoragePermissions::SelfOnly(id) => Some(id.get()),
            StoragePermissions::Listed { write_id, .. } => write_id.map(NonZeroU32::get),
            StoragePermissions::Kernel => Some(0),
        }
    }
}

/// What a storage user may do, in one line: `none`, `self-only
/// 0x0a1b2c3d`, `kernel`, or `write 0x65 read [0x65 0x66] modify [0x65]`
/// (`write none` when it may not create items; `+self` after a list when
/// items owned by the write id are implicitly included).
impl fmt::Display for StoragePermissions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            StoragePermissions::Null => f.write_str("none"),
            StoragePermissions::SelfOnly(id) => write!(f, "self-only {:#010x}", id.get()),
            StoragePermissions::Kernel => f.write_str("kernel"),
            StoragePermissions::Listed {
                write_id,
                read,
                modify,
                read_self,
                modify_self,
            } => {
                match write_id {
                    Some(id) => write!(f, "write {:#x}", id.get())?,
                    None => f.write_str("write none")?,
                }
                f.write_str(" read ")?;
                write_ids(f, read, read_self)?;
                f.write_str(" modify ")?;
                write_ids(f, modify, modify_self)
            }
        }
    }
}

/// `[0x1 0x2]`, then `+self` if `with_self`.
fn write_ids(f: &mut fmt::Formatter<'_>, ids: IdList, with_self: bool) -> fmt::Result {
    f.write_str("[")?;
    let mut each = |i: usize, id: u32| {
        if i > 0 {
            f.write_str(" ")?;
        }
        write!(f, "{id:#x}")
    };
    match ids {
        IdList::Tlv(list) => list.enumerate().try_for_each(|(i, id)| each(i, id))?,
        IdList::Board(list) => list
            .iter()
            .enumerate()
            .try_for_each(|(i, &id)| each(i, id))?,
    }
    f.write_str("]")?;
    if with_self {
        f.write_str("+self")?;
    }
    Ok(())
}

/// Whether `write_id` is set and equal to `owner`.
fn owns(write_id: Option<NonZeroU32>, owner: u32) -> bool {
    write_id.is_some_and(|id| id.get() == owner)
}

/// Decides an app's storage permissions; a board policy.
pub trait StoragePermissionsPolicy {
    /// The permissions of the app with this header and ShortId.
    fn permissions(&self, header: &TbfHeader<'static>, short_id: ShortId) -> StoragePermissions;
}

/// Every app gets [`StoragePermissions::Null`].
#[derive(Clone, Copy, Debug, Default)]
pub struct NullPolicy;

impl StoragePermissionsPolicy for NullPolicy {
    fn permissions(&self, _: &TbfHeader<'static>, _: ShortId) -> StoragePermissions {
        StoragePermissions::Null
    }
}

/// [`StoragePermissions::SelfOnly`] with the app's ShortId when it is fixed;
/// [`StoragePermissions::Null`] for a locally unique one.
#[derive(Clone, Copy, Debug, Default)]
pub struct SelfOnlyPolicy;

impl StoragePermissionsPolicy for SelfOnlyPolicy {
    fn permissions(&self, _: &TbfHeader<'static>, short_id: ShortId) -> StoragePermissions {
        short_id
            .id()
            .map_or(StoragePermissions::Null, StoragePermissions::SelfOnly)
    }
}

/// The storage permissions TLV ([`StoragePermissions::from_tlv`]) when the
/// header has one, else [`StoragePermissions::Null`]. The ShortId plays no
/// part.
#[derive(Clone, Copy, Debug, Default)]
pub struct TlvPolicy;

impl StoragePermissionsPolicy for TlvPolicy {
    fn permissions(&self, header: &TbfHeader<'static>, _: ShortId) -> StoragePermissions {
        header
            .storage_permissions()
            .map_or(StoragePermissions::Null, StoragePermissions::from_tlv)
    }
}

/// The storage permissions TLV when the header has one, else
/// [`SelfOnlyPolicy`]: the default on our boards.
#[derive(Clone, Copy, Debug, Default)]
pub struct TlvElseSelfOnlyPolicy;

impl StoragePermissionsPolicy for TlvElseSelfOnlyPolicy {
    fn permissions(&self, header: &TbfHeader<'static>, short_id: ShortId) -> StoragePermissions {
        match header.storage_permissions() {
            Some(tlv) => StoragePermissions::from_tlv(tlv),
            None => SelfOnlyPolicy.permissions(header, short_id),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEVEN: NonZeroU32 = NonZeroU32::new(7).unwrap();
    /// Owner ids worth probing: the reserved 0, small ids, the extremes.
    const PROBES: [u32; 6] = [0, 1, 7, 8, 0x8000_0000, u32::MAX];

    fn readable(p: &StoragePermissions) -> [bool; 6] {
        PROBES.map(|id| p.check_read_permission(id))
    }

    fn modifiable(p: &StoragePermissions) -> [bool; 6] {
        PROBES.map(|id| p.check_modify_permission(id))
    }

    #[test]
    fn short_id() {
        assert_eq!(ShortId::LocallyUnique.id(), None);
        assert_eq!(ShortId::Fixed(SEVEN).id(), Some(SEVEN));
        assert_eq!(ShortId::from(None), ShortId::LocallyUnique);
        assert_eq!(ShortId::from(Some(SEVEN)), ShortId::Fixed(SEVEN));
    }

    #[test]
    fn null_allows_nothing() {
        let p = StoragePermissions::null();
        assert_eq!(readable(&p), [false; 6]);
        assert_eq!(modifiable(&p), [false; 6]);
        assert_eq!(p.write_id(), None);
    }

    #[test]
    fn self_only_reaches_exactly_its_id() {
        let p = StoragePermissions::self_only(SEVEN);
        let only_seven = [false, false, true, false, false, false];
        assert_eq!(readable(&p), only_seven);
        assert_eq!(modifiable(&p), only_seven);
        assert_eq!(p.write_id(), Some(7));
    }

    #[test]
    fn kernel_reaches_only_id_0() {
        let p = StoragePermissions::kernel();
        let only_zero = [true, false, false, false, false, false];
        assert_eq!(readable(&p), only_zero);
        assert_eq!(modifiable(&p), only_zero);
        assert_eq!(p.write_id(), Some(0));
    }

    #[test]
    fn listed_never_reaches_id_0() {
        let p = StoragePermissions::listed(Some(SEVEN), &[0, 1, u32::MAX], &[0, 8], false, false);
        assert_eq!(readable(&p), [false, true, false, false, false, true]);
        assert_eq!(modifiable(&p), [false, false, false, true, false, false]);
        assert_eq!(p.write_id(), Some(7));
    }

    #[test]
    fn listed_self_flags() {
        let lists = |read_self, modify_self| {
            StoragePermissions::listed(Some(SEVEN), &[1], &[8], read_self, modify_self)
        };
        let p = lists(true, false);
        assert_eq!(readable(&p), [false, true, true, false, false, false]);
        assert_eq!(modifiable(&p), [false, false, false, true, false, false]);
        let p = lists(false, true);
        assert_eq!(readable(&p), [false, true, false, false, false, false]);
        assert_eq!(modifiable(&p), [false, false, true, true, false, false]);

        // Without a write id there is no "self".
        let p = StoragePermissions::listed(None, &[], &[], true, true);
        assert_eq!(readable(&p), [false; 6]);
        assert_eq!(modifiable(&p), [false; 6]);
        assert_eq!(p.write_id(), None);
    }

    #[test]
    fn id_lists() {
        assert!(!IdList::EMPTY.contains(0));
        assert!(IdList::Board(&[3, 4]).contains(4));
        assert!(!IdList::Board(&[3, 4]).contains(5));
    }
}
