//! A TBF builder for tests: makes valid (and deliberately broken) Tock
//! Binary Format objects byte by byte.

use kernel::tbf::tlv;

/// XOR of the header words, skipping the checksum word (index 3).
pub fn checksum(header: &[u8]) -> u32 {
    header
        .chunks(4)
        .enumerate()
        .filter(|(i, _)| *i != 3)
        .fold(0, |acc, (_, w)| {
            let mut word = [0u8; 4];
            word[..w.len()].copy_from_slice(w);
            acc ^ u32::from_le_bytes(word)
        })
}

/// Recomputes the checksum of the TBF in `bytes` after an edit.
pub fn fix_checksum(bytes: &mut [u8]) {
    let header_size = usize::from(u16::from_le_bytes([bytes[2], bytes[3]])).min(bytes.len());
    let sum = checksum(&bytes[..header_size]);
    bytes[12..16].copy_from_slice(&sum.to_le_bytes());
}

/// Little-endian bytes of `words`.
pub fn u32s(words: &[u32]) -> Vec<u8> {
    words.iter().flat_map(|w| w.to_le_bytes()).collect()
}

/// The Program TLV placeholder: its binary_end_offset is filled in by
/// `build` unless `binary_end` overrides it.
#[derive(Clone, Copy)]
struct Program {
    init_fn_offset: u32,
    protected_trailer_size: u32,
    minimum_ram_size: u32,
    app_version: u32,
    binary_end: Option<u32>,
}

/// Builds TBF objects byte by byte.
#[derive(Clone)]
pub struct TbfBuilder {
    version: u16,
    flags: u32,
    /// TLVs in order; `None` marks where the Program TLV goes.
    tlvs: Vec<Option<(u16, Vec<u8>)>>,
    program: Option<Program>,
    binary: Vec<u8>,
    footers: Vec<u8>,
    pad_to: Option<usize>,
    total_size: Option<u32>,
    header_size: Option<u16>,
    corrupt_checksum: bool,
}

impl Default for TbfBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl TbfBuilder {
    /// An enabled TBF with no TLVs and no binary.
    pub fn new() -> Self {
        TbfBuilder {
            version: 2,
            flags: 1,
            tlvs: Vec::new(),
            program: None,
            binary: Vec::new(),
            footers: Vec::new(),
            pad_to: None,
            total_size: None,
            header_size: None,
            corrupt_checksum: false,
        }
    }

    /// A loadable app: Program TLV (init 0x10, trailer 0x20, RAM 4096,
    /// version 7), a name, kernel version 2.0 and a 0x80-byte binary.
    pub fn app(name: &str) -> Self {
        TbfBuilder::new()
            .program(0x10, 0x20, 4096, 7)
            .name(name)
            .kernel_version(2, 0)
            .binary(0x80)
    }

    /// A padding object of `total` bytes.
    pub fn padding(total: u32) -> Self {
        TbfBuilder::new().flags(0).pad_to(total as usize)
    }

    /// Sets the header version (2 is valid; anything else ends a walk).
    pub fn version(mut self, v: u16) -> Self {
        self.version = v;
        self
    }

    /// Sets the flags word (bit 0 enabled, bit 1 sticky).
    pub fn flags(mut self, f: u32) -> Self {
        self.flags = f;
        self
    }

    /// Appends a raw TLV.
    pub fn tlv(mut self, kind: u16, data: &[u8]) -> Self {
        self.tlvs.push(Some((kind, data.to_vec())));
        self
    }

    /// Appends a legacy Main TLV.
    pub fn main(self, init: u32, trailer: u32, ram: u32) -> Self {
        self.tlv(tlv::MAIN, &u32s(&[init, trailer, ram]))
    }

    /// Adds the Program TLV (binary_end_offset is filled in by `build`).
    pub fn program(mut self, init: u32, trailer: u32, ram: u32, version: u32) -> Self {
        self.program = Some(Program {
            init_fn_offset: init,
            protected_trailer_size: trailer,
            minimum_ram_size: ram,
            app_version: version,
            binary_end: None,
        });
        self.tlvs.push(None);
        self
    }

    /// Overrides the Program TLV's binary_end_offset.
    pub fn binary_end(mut self, end: u32) -> Self {
        if let Some(p) = self.program.as_mut() {
            p.binary_end = Some(end);
        }
        self
    }

    /// Appends a package name TLV.
    pub fn name(self, name: &str) -> Self {
        self.tlv(tlv::PACKAGE_NAME, name.as_bytes())
    }

    /// Appends a kernel version TLV.
    pub fn kernel_version(self, major: u16, minor: u16) -> Self {
        let mut d = major.to_le_bytes().to_vec();
        d.extend(minor.to_le_bytes());
        self.tlv(tlv::KERNEL_VERSION, &d)
    }

    /// Appends a fixed addresses TLV (RAM, flash).
    pub fn fixed(self, ram: u32, flash: u32) -> Self {
        self.tlv(tlv::FIXED_ADDRESSES, &u32s(&[ram, flash]))
    }

    /// Appends a writeable flash regions TLV of (offset, size) pairs.
    pub fn regions(self, regions: &[(u32, u32)]) -> Self {
        let words: Vec<u32> = regions.iter().flat_map(|&(o, s)| [o, s]).collect();
        self.tlv(tlv::WRITEABLE_FLASH_REGIONS, &u32s(&words))
    }

    /// Permissions TLV from (driver, offset, mask) records.
    pub fn permissions(self, records: &[(u32, u32, u64)]) -> Self {
        let mut d = (records.len() as u16).to_le_bytes().to_vec();
        for &(driver, offset, mask) in records {
            d.extend(driver.to_le_bytes());
            d.extend(offset.to_le_bytes());
            d.extend(mask.to_le_bytes());
        }
        self.tlv(tlv::PERMISSIONS, &d)
    }

    /// Appends a storage permissions TLV.
    pub fn storage(self, write_id: u32, read: &[u32], modify: &[u32]) -> Self {
        self.tlv(
            tlv::STORAGE_PERMISSIONS,
            &storage_tlv(write_id, read, modify),
        )
    }

    /// Appends a ShortId TLV.
    pub fn short_id(self, id: u32) -> Self {
        self.tlv(tlv::SHORT_ID, &id.to_le_bytes())
    }

    /// Appends `len` bytes of binary (a recognisable pattern).
    pub fn binary(mut self, len: usize) -> Self {
        self.binary
            .extend((0..len).map(|i| (i as u8).wrapping_mul(7)));
        self
    }

    /// Appends a raw footer.
    pub fn footer(mut self, kind: u16, data: &[u8]) -> Self {
        self.footers.extend(kind.to_le_bytes());
        self.footers.extend((data.len() as u16).to_le_bytes());
        self.footers.extend(data);
        self
    }

    /// Appends a credentials footer.
    pub fn credentials(self, format: u32, data: &[u8]) -> Self {
        let mut d = format.to_le_bytes().to_vec();
        d.extend(data);
        self.footer(128, &d)
    }

    /// Appends raw bytes after the footers.
    pub fn raw_footer_bytes(mut self, bytes: &[u8]) -> Self {
        self.footers.extend(bytes);
        self
    }

    /// Pads the object with zeros to `total` bytes.
    pub fn pad_to(mut self, total: usize) -> Self {
        self.pad_to = Some(total);
        self
    }

    /// Writes this total_size instead of the real length.
    pub fn total_size(mut self, total: u32) -> Self {
        self.total_size = Some(total);
        self
    }

    /// Writes this header_size instead of the real one.
    pub fn header_size(mut self, size: u16) -> Self {
        self.header_size = Some(size);
        self
    }

    /// Writes a wrong checksum.
    pub fn corrupt_checksum(mut self) -> Self {
        self.corrupt_checksum = true;
        self
    }

    fn tlv_bytes(&self, header_size: usize) -> Vec<u8> {
        let mut out = Vec::new();
        for entry in &self.tlvs {
            let (kind, data) = match entry {
                Some((k, d)) => (*k, d.clone()),
                None => {
                    let p = self.program.unwrap();
                    let end = p
                        .binary_end
                        .unwrap_or((header_size + self.binary.len()) as u32);
                    let d = u32s(&[
                        p.init_fn_offset,
                        p.protected_trailer_size,
                        p.minimum_ram_size,
                        end,
                        p.app_version,
                    ]);
                    (tlv::PROGRAM, d)
                }
            };
            out.extend(kind.to_le_bytes());
            out.extend((data.len() as u16).to_le_bytes());
            out.extend(&data);
            while out.len() % 4 != 0 {
                out.push(0);
            }
        }
        out
    }

    /// The TBF's bytes.
    pub fn build(&self) -> Vec<u8> {
        let real_header = 16 + self.tlv_bytes(0).len();
        let tlvs = self.tlv_bytes(real_header);
        let header_size = self.header_size.unwrap_or(real_header as u16);
        let mut out = Vec::new();
        out.extend(self.version.to_le_bytes());
        out.extend(header_size.to_le_bytes());
        out.extend([0; 4]); // total_size, below
        out.extend(self.flags.to_le_bytes());
        out.extend([0; 4]); // checksum, below
        out.extend(tlvs);
        out.extend(&self.binary);
        out.extend(&self.footers);
        if let Some(total) = self.pad_to {
            if out.len() < total {
                out.resize(total, 0);
            }
        }
        let total = self.total_size.unwrap_or(out.len() as u32);
        out[4..8].copy_from_slice(&total.to_le_bytes());
        let sum_len = usize::from(header_size).min(out.len());
        let mut sum = checksum(&out[..sum_len]);
        if self.corrupt_checksum {
            sum ^= 0x0100_0000;
        }
        out[12..16].copy_from_slice(&sum.to_le_bytes());
        out
    }
}

/// The data of a storage permissions TLV.
pub fn storage_tlv(write_id: u32, read: &[u32], modify: &[u32]) -> Vec<u8> {
    let mut d = write_id.to_le_bytes().to_vec();
    d.extend((read.len() as u16).to_le_bytes());
    d.extend(u32s(read));
    d.extend((modify.len() as u16).to_le_bytes());
    d.extend(u32s(modify));
    d
}
