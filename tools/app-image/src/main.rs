//! `app-image`: the slot table and flash images of the userland apps.
//!
//! ```text
//! app-image pack [--layout L] -o OUT [--fill zero|erased] [--pad-to-end] TBF|TAB...
//! app-image check [--layout L] TBF|TAB...      check placement, print the map
//! app-image apps [--layout L]                  app names, in slot order
//! app-image images [--layout L]                "<image> <app>..." per line
//! app-image elf2tab-args [--layout L] APP      one argument per line
//! app-image linker-script [--layout L] APP     the generated linker script
//! app-image tab-name [--layout L] APP          its TBF's name in TABs, without .tbf
//! ```
//!
//! `--layout` defaults to this checkout's `userland/layout.toml`.

use std::path::PathBuf;
use std::process::ExitCode;

use app_image::{describe, pack, read_input, Fill, Options};
use app_layout::Layout;

const USAGE: &str = "usage:
  app-image pack [--layout L] -o OUT [--fill zero|erased] [--pad-to-end] TBF|TAB...
  app-image check [--layout L] TBF|TAB...
  app-image apps [--layout L]
  app-image images [--layout L]
  app-image elf2tab-args [--layout L] APP
  app-image linker-script [--layout L] APP
  app-image tab-name [--layout L] APP
  app-image arch [--layout L]
  app-image target [--layout L]
  app-image out-dir [--layout L]";

fn main() -> ExitCode {
    match run(std::env::args().skip(1).collect()) {
        Ok(out) => {
            print!("{out}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("app-image: error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Parsed command line.
struct Args {
    command: String,
    layout: PathBuf,
    output: Option<PathBuf>,
    options: Options,
    rest: Vec<String>,
}

fn parse(args: Vec<String>) -> Result<Args, String> {
    let mut it = args.into_iter();
    let command = it.next().ok_or_else(|| USAGE.to_string())?;
    let mut parsed = Args {
        command,
        layout: PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../userland/layout.toml"),
        output: None,
        options: Options::default(),
        rest: Vec::new(),
    };
    while let Some(arg) = it.next() {
        let mut value = |flag: &str| it.next().ok_or(format!("{flag} needs a value"));
        match arg.as_str() {
            "--layout" => parsed.layout = value("--layout")?.into(),
            "-o" | "--output" => parsed.output = Some(value("-o")?.into()),
            "--fill" => {
                parsed.options.fill = match value("--fill")?.as_str() {
                    "zero" => Fill::Zero,
                    "erased" => Fill::Erased,
                    other => return Err(format!("--fill zero|erased, not {other:?}")),
                }
            }
            "--pad-to-end" => parsed.options.pad_to_end = true,
            "-h" | "--help" => return Err(USAGE.to_string()),
            flag if flag.starts_with('-') => return Err(format!("unknown option {flag}\n{USAGE}")),
            _ => parsed.rest.push(arg),
        }
    }
    Ok(parsed)
}

fn run(args: Vec<String>) -> Result<String, String> {
    let args = parse(args)?;
    let layout = Layout::load(&args.layout).map_err(|e| e.to_string())?;
    let one_app = || -> Result<&app_layout::AppSlot, String> {
        match args.rest.as_slice() {
            [name] => layout
                .app(name)
                .ok_or(format!("no app `{name}` in {}", args.layout.display())),
            _ => Err(format!("give exactly one app name\n{USAGE}")),
        }
    };
    match args.command.as_str() {
        "apps" => Ok(layout
            .apps
            .iter()
            .map(|a| format!("{}\n", a.name))
            .collect()),
        "images" => Ok(layout
            .images
            .iter()
            .map(|i| format!("{} {}\n", i.name, i.apps.join(" ")))
            .collect()),
        "elf2tab-args" => Ok(one_app()?
            .elf2tab_args(&layout.board)
            .iter()
            .map(|a| format!("{a}\n"))
            .collect()),
        "linker-script" => Ok(one_app()?.linker_script(&layout.board)),
        "tab-name" => Ok(format!("{}\n", one_app()?.tab_name(&layout.board))),
        // elf2tab's architecture name and the Rust target of the apps.
        "arch" => Ok(format!("{}\n", layout.board.arch)),
        "target" => app_layout::board::app_target(&layout.board.arch)
            .map(|t| format!("{t}\n"))
            .ok_or_else(|| format!("no Rust target for architecture {}", layout.board.arch)),
        // Where build.sh puts this board's apps, under target/userland/.
        "out-dir" => Ok(format!("{}\n", app_layout::out_dir(&layout.board.name))),
        "pack" | "check" => {
            if args.rest.is_empty() {
                return Err(format!("no TBF or TAB given\n{USAGE}"));
            }
            let mut inputs = Vec::new();
            for path in &args.rest {
                let bytes = read_input(path.as_ref(), &layout.board).map_err(|e| e.to_string())?;
                inputs.push((path.clone(), bytes));
            }
            let image = pack(&layout, inputs, args.options).map_err(|e| e.to_string())?;
            if args.command == "pack" {
                let out = args.output.ok_or("pack needs -o OUT")?;
                std::fs::write(&out, &image.bytes)
                    .map_err(|e| format!("cannot write {}: {e}", out.display()))?;
                Ok(format!(
                    "{}: {} bytes at {:#010x}\n{}",
                    out.display(),
                    image.bytes.len(),
                    image.base,
                    describe(&image)
                ))
            } else {
                Ok(describe(&image))
            }
        }
        other => Err(format!("unknown command {other:?}\n{USAGE}")),
    }
}
