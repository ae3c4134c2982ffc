//! `tickv`: provision, inspect and debug TicKV version-2 stores in image
//! files (raw flash dumps, QEMU pflash images), using the same engine code
//! as the kernel. See `doc/tickv-cli.md`.

mod app;
mod commands;
mod error;
mod image;
mod keys;
mod out;
mod store;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};

use error::CliError;
use image::Options;

/// Provision, inspect and check TicKV (format v2) stores in flash image files.
///
/// Every command works on an in-memory copy of the store window and writes
/// the file back only after it succeeded: on any error the file is left
/// unchanged.
#[derive(Parser, Debug)]
#[command(name = "tickv", version, max_term_width = 100)]
struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: Command,
}

/// Options accepted before or after the subcommand.
#[derive(Args, Debug)]
#[command(next_help_heading = "Global options")]
struct Global {
    /// The image file holding the store (required).
    #[arg(long, global = true, value_name = "FILE")]
    image: Option<PathBuf>,
    /// Byte offset of the store in the image [default: 0].
    #[arg(long, global = true, value_name = "N", value_parser = parse_num)]
    offset: Option<u64>,
    /// Region (erase block) size in bytes, a power of two [default: 4096].
    #[arg(long, global = true, value_name = "N", value_parser = parse_num)]
    region_size: Option<u64>,
    /// Number of regions [default: as many as fit in the file after the
    /// offset; 16 for a file created by `format --create`].
    #[arg(long, global = true, value_name = "N", value_parser = parse_num)]
    regions: Option<u64>,
    /// Program unit in bytes: 1, 2, 4, 8, 16 or 32 [default: 4].
    #[arg(long, global = true, value_name = "N", value_parser = parse_num)]
    unit: Option<u64>,
    /// format (and import-v1 --format): create the image file, filled with
    /// 0xFF, if it is missing.
    #[arg(long, global = true)]
    create: bool,
    /// A named geometry; explicit options override its values.
    #[arg(long, global = true, value_enum, value_name = "NAME")]
    preset: Option<PresetArg>,
    /// Print JSON instead of tables.
    #[arg(long, global = true)]
    json: bool,
    /// Run the command but never write the image file.
    #[arg(long, global = true)]
    dry_run: bool,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum PresetArg {
    /// QEMU virt pflash: offset 0, 16 regions of 256 KiB (4 MiB), program
    /// unit 4, in a 32 MiB image.
    Qemu,
    /// QEMU ast1030-evb SPI NOR: offset 0, 256 regions of 4 KiB (the whole
    /// 1 MiB image), program unit 4.
    #[value(name = "qemu-ast1030")]
    QemuAst1030,
    /// The nRF52840-DK's MX25R6435F: offset 0, 256 regions of 4 KiB (the
    /// store's first 1 MiB), program unit 4, in an 8 MiB dump of the part.
    #[value(name = "nrf52840dk")]
    Nrf52840dk,
}

#[derive(Subcommand, Debug)]
pub(crate) enum Command {
    /// Erase the store window and write fresh region headers (keeps erase
    /// counts).
    Format,
    /// Print a key's value.
    Get {
        /// The key, a string hashed with SipHash-2-4 like the kernel does.
        key: Option<String>,
        /// The key as a raw 64-bit number instead of KEY.
        #[arg(long, value_name = "0x...")]
        hash: Option<String>,
        /// Write the stored bytes to standard output unchanged (owner
        /// header included), with nothing else.
        #[arg(long)]
        raw: bool,
        /// KEY names one of the kernel's keys (the kernel's namespace:
        /// values the kernel itself stores, such as `kernel-boot-count`).
        #[arg(long)]
        kernel: bool,
    },
    /// Insert or overwrite a key.
    #[command(
        override_usage = "tickv set [KEY | --hash 0x...] [VALUE | --value-file F] [OPTIONS]"
    )]
    Set {
        /// The key (omit it when --hash is given).
        key: Option<String>,
        /// The value (UTF-8 text, or hex digits with --hex).
        value: Option<String>,
        /// The key as a raw 64-bit number instead of KEY.
        #[arg(long, value_name = "0x...")]
        hash: Option<String>,
        /// Read the value from this file (`-` for standard input).
        #[arg(long, value_name = "F")]
        value_file: Option<PathBuf>,
        /// VALUE is hexadecimal.
        #[arg(long)]
        hex: bool,
        /// Prepend Tock's 9-byte owner header with this write id.
        #[arg(long, value_name = "ID", value_parser = parse_num)]
        owner: Option<u64>,
        /// Prepend the owner header with the write id our boards give this
        /// app (a .tbf or .tab; see `app-id`), instead of --owner.
        #[arg(long, value_name = "APP", conflicts_with = "owner")]
        owner_app: Option<PathBuf>,
        /// KEY names one of the kernel's keys (the kernel's namespace);
        /// give the value `--owner 0` to make it the kernel's.
        #[arg(long)]
        kernel: bool,
    },
    /// Delete a key.
    Delete {
        /// The key.
        key: Option<String>,
        /// The key as a raw 64-bit number instead of KEY.
        #[arg(long, value_name = "0x...")]
        hash: Option<String>,
        /// Also compact until no old copy of the value remains in flash.
        #[arg(long)]
        secure: bool,
        /// KEY names one of the kernel's keys (the kernel's namespace:
        /// values the kernel itself stores, such as `kernel-boot-count`).
        #[arg(long)]
        kernel: bool,
    },
    /// List live keys with their size and owner.
    List,
    /// Show every record (valid or not) with its region and offset.
    Dump {
        /// Show complete values (default: a short preview; none in JSON).
        #[arg(long)]
        values: bool,
    },
    /// Check every CRC and invariant; exit status 3 if anything is damaged.
    Fsck,
    /// Capacity, live/dead/free bytes, records and per-region erase counts.
    Stat,
    /// Garbage-collect: compact until nothing is reclaimable or the oldest
    /// region holds nothing to reclaim.
    Gc {
        /// Run one compaction step only (at most one erase).
        #[arg(long)]
        step: bool,
    },
    /// Show the storage identity our boards give an app: ShortId, storage
    /// permissions and the owner id of the items it writes (needs no
    /// --image).
    #[command(name = "app-id")]
    AppId {
        /// The app: a .tbf, or a .tab (every TBF in it).
        #[arg(required = true, value_name = "APP")]
        apps: Vec<PathBuf>,
    },
    /// Copy the live keys of an upstream version-1 store into this store.
    #[command(name = "import-v1")]
    ImportV1 {
        /// The image holding the version-1 store (may be the --image file).
        v1image: PathBuf,
        /// Offset of the version-1 store in V1IMAGE [default: 0; the
        /// target's offset when V1IMAGE is the --image file].
        #[arg(long, value_name = "N", value_parser = parse_num)]
        v1_offset: Option<u64>,
        /// Region size of the version-1 store [default: the target's].
        #[arg(long, value_name = "N", value_parser = parse_num)]
        v1_region_size: Option<u64>,
        /// Number of version-1 regions [default: as many as fit in V1IMAGE;
        /// the target's count when V1IMAGE is the --image file].
        #[arg(long, value_name = "N", value_parser = parse_num)]
        v1_regions: Option<u64>,
        /// Format the target store first (required when it is not a
        /// version-2 store yet, e.g. when converting an image in place).
        #[arg(long)]
        format: bool,
    },
}

fn parse_num(s: &str) -> Result<u64, String> {
    keys::parse_u64(s)
}

impl Global {
    fn options(&self) -> Options {
        Options {
            image: self.image.clone(),
            offset: self.offset,
            region_size: self.region_size,
            regions: self.regions,
            unit: self.unit,
            create: self.create,
            preset: self.preset.map(|p| match p {
                PresetArg::Qemu => image::qemu(),
                PresetArg::QemuAst1030 => image::qemu_ast1030(),
                PresetArg::Nrf52840dk => image::nrf52840dk(),
            }),
        }
    }
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() {
                error::EXIT_USAGE as u8
            } else {
                0
            });
        }
    };
    let json = cli.global.json;
    if json && matches!(cli.command, Command::Get { raw: true, .. }) {
        return report(
            &CliError::usage("--raw and --json cannot be combined"),
            false,
        );
    }
    match commands::run(&cli.global.options(), cli.global.dry_run, cli.command) {
        Ok(outcome) => {
            if let Some(raw) = &outcome.raw {
                use std::io::Write;
                let mut out = std::io::stdout().lock();
                if out.write_all(raw).and_then(|()| out.flush()).is_err() {
                    return ExitCode::from(error::EXIT_ERROR as u8);
                }
            } else if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&outcome.json).expect("JSON output")
                );
            } else {
                print!("{}", outcome.human);
            }
            ExitCode::from(outcome.code as u8)
        }
        Err(e) => report(&e, json),
    }
}

fn report(e: &CliError, json: bool) -> ExitCode {
    eprintln!("tickv: error: {}", e.message);
    if json {
        let v = serde_json::json!({ "error": { "kind": e.kind, "message": e.message } });
        println!("{}", serde_json::to_string_pretty(&v).expect("JSON output"));
    }
    ExitCode::from(e.exit_code() as u8)
}
