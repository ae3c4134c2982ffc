//! The kernel attributes of every board's kernel: builds each kernel as
//! users do, takes the raw image (`llvm-objcopy -O binary`: the kernel
//! area from its start), and checks that it ends with the attributes
//! tockloader reads (`app_layout::board::kernel_attributes_script`):
//! exactly at the end of the kernel area, which is where the app flash
//! area starts; process RAM as the linker symbols and `board.toml` give
//! it; the kernel image's start and length; the kernel's version. Then
//! asks tockloader itself (`tockloader inspect-kernel`) what it reads
//! there.
//!
//! Needs every board's Rust target, llvm-tools and tockloader (`make
//! setup`).

mod common;

use std::process::Command;

use app_image::{elf_symbol, kernel_attributes, KernelAttributes};
use app_layout::board::KERNEL_ATTRIBUTES_LEN;
use app_layout::BoardFile;
use common::{build_kernel, root, run};

/// The boards and where their kernels are built (beside qemu-runner's
/// run kernels, or the real boards' `target/boards/hw`).
const BOARDS: [(&str, &str); 4] = [
    ("qemu_rv32_virt", "run"),
    ("qemu_ast1030", "run"),
    ("opentitan_earlgrey", "run"),
    ("nrf52840dk", "hw"),
];

/// What tockloader reads at the end of the raw image, from its JSON.
fn tockloader_reads(bin: &std::path::Path) -> Result<KernelAttributes, String> {
    let out = run(Command::new("tockloader")
        .args(["inspect-kernel", "--output-format", "json"])
        .arg(bin)
        .stdin(std::process::Stdio::null()))?;
    let json = &out[out.find('{').ok_or(format!("no JSON in {out:?}"))?..];
    let end = json.rfind('}').ok_or("no JSON end")?;
    // A small reader for the few numbers we need: `"key": number`.
    let number = |key: &str| -> Option<u32> {
        let at = json[..=end].find(&format!("\"{key}\":"))? + key.len() + 3;
        let text = json[at..].trim_start();
        let digits: String = text.chars().take_while(char::is_ascii_digit).collect();
        digits.parse().ok()
    };
    let pair = |a: &str, b: &str| Some((number(a)?, number(b)?));
    let u16_of = |k: &str| number(k).map(|v| v as u16);
    Ok(KernelAttributes {
        version: number("version").unwrap_or(0) as u8,
        app_memory: pair("app_memory_start", "app_memory_len"),
        kernel_binary: pair("kernel_binary_start", "kernel_binary_len"),
        kernel_version: (|| {
            Some([
                u16_of("kernel_version_major")?,
                u16_of("kernel_version_minor")?,
                u16_of("kernel_version_patch")?,
                u16_of("kernel_version_prerelease")?,
            ])
        })(),
    })
}

fn check(board_name: &str, target_dir: &str, dir: &std::path::Path) -> Result<String, String> {
    let board = BoardFile::load(&root().join("boards").join(board_name).join("board.toml"))
        .map_err(|e| e.to_string())?;
    let built = build_kernel(board_name, target_dir, dir)?;
    let elf = std::fs::read(&built.elf).map_err(|e| e.to_string())?;
    let bin = std::fs::read(&built.bin).map_err(|e| e.to_string())?;
    let symbol = |name: &str| {
        elf_symbol(&elf, name)
            .map_err(|e| e.to_string())?
            .ok_or(format!("the kernel ELF has no symbol {name}"))
    };
    // The raw image is the whole kernel area: the attributes end it.
    if bin.len() != board.kernel.size as usize {
        return Err(format!(
            "the raw image is {:#x} bytes, the kernel area {:#x}: the attributes are not at its end",
            bin.len(),
            board.kernel.size
        ));
    }
    let attributes_start = symbol("_kernel_attributes_start")?;
    if Some(attributes_start + KERNEL_ATTRIBUTES_LEN) != board.kernel.end()
        || board.kernel.end() != Some(board.app_flash.start)
    {
        return Err(format!(
            "attributes at {attributes_start:#x}, the kernel area ends at {:#x?}, apps start at {:#x}",
            board.kernel.end(),
            board.app_flash.start
        ));
    }
    let attrs = kernel_attributes(&bin).map_err(|e| e.to_string())?;
    let (ram_start, ram_end) = (symbol("_app_ram_start")?, symbol("_app_ram_end")?);
    let want = KernelAttributes {
        version: 1,
        app_memory: Some((ram_start, ram_end - ram_start)),
        kernel_binary: Some((
            board.kernel.start,
            symbol("_kernel_image_end")? - board.kernel.start,
        )),
        kernel_version: Some([
            kernel::KERNEL_VERSION.major,
            kernel::KERNEL_VERSION.minor,
            0,
            0,
        ]),
    };
    if attrs != want {
        return Err(format!("attributes {attrs:x?}, the ELF says {want:x?}"));
    }
    if (ram_start, ram_end - ram_start) != (board.app_ram.start, board.app_ram.size) {
        return Err(format!(
            "the linker's process RAM {ram_start:#x}..{ram_end:#x} is not board.toml's {:?}",
            board.app_ram
        ));
    }
    // The image's length is everything loaded before the attributes.
    let (_, image_len) = want.kernel_binary.unwrap_or_default();
    if bin[image_len as usize..bin.len() - KERNEL_ATTRIBUTES_LEN as usize]
        .iter()
        .any(|&b| b != 0)
    {
        return Err(format!(
            "bytes between the image's end ({image_len:#x}) and the attributes are not the gap objcopy fills"
        ));
    }
    let read = tockloader_reads(&built.bin)?;
    if read != attrs {
        return Err(format!("tockloader reads {read:x?}, we wrote {attrs:x?}"));
    }
    Ok(format!(
        "process RAM {:#x}+{:#x}, kernel image {:#x}+{:#x}, version {}.{}",
        ram_start,
        ram_end - ram_start,
        board.kernel.start,
        image_len,
        kernel::KERNEL_VERSION.major,
        kernel::KERNEL_VERSION.minor
    ))
}

#[test]
fn every_kernel_ends_its_area_with_the_attributes_tockloader_reads() {
    let dir = std::env::temp_dir().join(format!("kernel-attributes-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut failures = Vec::new();
    for (board, target_dir) in BOARDS {
        match check(board, target_dir, &dir) {
            Ok(line) => println!("ok   {board}: {line}"),
            Err(e) => failures.push(format!("{board}: {e}")),
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
