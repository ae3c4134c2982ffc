//! The QEMU test runner: boots a QEMU board (`qemu_rv32_virt` by default,
//! or `qemu_ast1030`: whatever `boards/<board>/board.toml` describes, its
//! `[qemu]` table saying how QEMU runs it) with our kernel and an app
//! image, captures the console, and judges it.
//!
//! * [`select_board`] picks the board once, before anything reads
//!   [`board`].
//! * [`Boot`] describes one QEMU run (kernel, app image or flash file,
//!   pflash store, timeout) and [`Boot::run`] performs it, killing QEMU at
//!   the timeout, and returns the console text and exit status.
//! * [`Expect`] is what a test wants to see: lines in order, texts that
//!   must not appear, counts, and the exit status.
//! * [`flash_file_from_elf`] lays the kernel ELF out as the start of a
//!   tockloader flash file (file offset 0 = address `0x8000_0000`), so
//!   `tockloader install --board qemu_rv32_virt --flash-file` can add apps
//!   at offset `0x10_0000` and QEMU can boot the result.
//! * [`suite`] is the list of tests `qemu-runner test` runs.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub mod scenarios;
pub mod suite;

static BOARD_NAME: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// Selects the board the runner works on (`boards/<name>/`); call it once,
/// before anything reads [`board`]. Without a call the board is
/// [`app_layout::DEFAULT_BOARD`].
pub fn select_board(name: &str) -> Result<(), String> {
    let path = repo_root().join("boards").join(name).join("board.toml");
    if !path.is_file() {
        return Err(format!("no board {name:?} ({} is missing)", path.display()));
    }
    BOARD_NAME
        .set(name.to_string())
        .map_err(|_| "the board is already selected".to_string())
}

/// The selected board's name.
pub fn board_name() -> &'static str {
    BOARD_NAME.get_or_init(|| app_layout::DEFAULT_BOARD.to_string())
}

/// The board's description (`boards/<board>/board.toml`): memory map,
/// store and how QEMU runs it, read once. A missing or invalid file stops
/// the runner with the reason.
pub fn board() -> &'static app_layout::BoardFile {
    static BOARD: std::sync::OnceLock<app_layout::BoardFile> = std::sync::OnceLock::new();
    BOARD.get_or_init(|| {
        let path = repo_root()
            .join("boards")
            .join(board_name())
            .join("board.toml");
        let board =
            app_layout::BoardFile::load(&path).unwrap_or_else(|e| panic!("qemu-runner: {e}"));
        if board.qemu.is_none() {
            panic!("qemu-runner: {} has no [qemu] table", path.display());
        }
        board
    })
}

/// How QEMU runs the board.
pub fn qemu() -> &'static app_layout::board::Qemu {
    board()
        .qemu
        .as_ref()
        .expect("board() checks the [qemu] table")
}

/// The board's userland slot table: `userland/layout.toml` for the
/// default board, `userland/layout-<board>.toml` for the others; `None`
/// if the board has none.
pub fn layout() -> Option<&'static app_layout::Layout> {
    static LAYOUT: std::sync::OnceLock<Option<app_layout::Layout>> = std::sync::OnceLock::new();
    LAYOUT
        .get_or_init(|| {
            let name = board_name();
            let file = if name == app_layout::DEFAULT_BOARD {
                "layout.toml".to_string()
            } else {
                format!("layout-{name}.toml")
            };
            let path = repo_root().join("userland").join(file);
            path.is_file().then(|| {
                app_layout::Layout::load(&path).unwrap_or_else(|e| panic!("qemu-runner: {e}"))
            })
        })
        .as_ref()
}

/// Where `userland/build.sh` puts the board's apps and images.
pub fn userland_dir(root: &Path) -> PathBuf {
    root.join("target/userland")
        .join(app_layout::out_dir(board_name()))
}

/// `target/userland/tabs`: one TAB per app for every board at once, with a
/// TBF for each architecture the app is built for (`userland/build.sh`);
/// tockloader installs the board's.
pub fn tabs_dir(root: &Path) -> PathBuf {
    root.join("target/userland/tabs")
}

/// Checks that `tab` (from [`tabs_dir`]) carries exactly one TBF per slot
/// table (`userland/layout*.toml`) that has `app`, named after its
/// architecture and slot (`<arch>.<TBF start>.<RAM start>.tbf`: two
/// Cortex-M4 boards give two `cortex-m4.*` TBFs, which tockloader tells
/// apart by their RAM): the promise that one TAB installs on every board.
pub fn check_tab_architectures(tab: &Path, app: &str) -> Result<(), String> {
    let userland = repo_root().join("userland");
    let mut expected = Vec::new();
    let entries =
        std::fs::read_dir(&userland).map_err(|e| format!("{}: {e}", userland.display()))?;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !(name.starts_with("layout") && name.ends_with(".toml")) {
            continue;
        }
        let layout = app_layout::Layout::load(&entry.path()).map_err(|e| e.to_string())?;
        if let Some(slot) = layout.app(app) {
            expected.push(format!("{}.tbf", slot.tab_name(&layout.board)));
        }
    }
    let bytes = std::fs::read(tab).map_err(|e| format!("{}: {e}", tab.display()))?;
    tab_holds_exactly(&bytes, expected)
        .map_err(|e| format!("{}: {e} (the boards that build {app})", tab.display()))
}

/// Whether the TBFs of the TAB `bytes` are exactly `expected` (file
/// names, any order).
fn tab_holds_exactly(bytes: &[u8], mut expected: Vec<String>) -> Result<(), String> {
    let mut found: Vec<String> = app_image::tab_tbfs(bytes)
        .map_err(|e| e.to_string())?
        .into_iter()
        .map(|(name, _)| name)
        .collect();
    expected.sort();
    found.sort();
    if found == expected {
        Ok(())
    } else {
        Err(format!("holds {found:?}, needs {expected:?}"))
    }
}

/// The prefix of every line the kernel prints itself: `<board>: `.
pub fn kernel_prefix() -> &'static str {
    static PREFIX: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    PREFIX.get_or_init(|| format!("{}: ", board().name))
}

/// `<board>: <text>`: a line of the kernel's own.
pub fn kernel_line(text: &str) -> String {
    format!("{}{text}", kernel_prefix())
}

/// The address apps probe inside the kernel (what the `fault` app loads
/// from: `tools/app-layout`'s `TOCK_KERNEL_RAM`).
pub fn kernel_probe_address() -> u32 {
    board()
        .kernel
        .start
        .saturating_add(app_layout::KERNEL_PROBE_OFFSET)
}

/// Where the kernel (and a tockloader flash file) starts: the virt
/// machine's RAM base.
pub fn ram_base() -> u32 {
    board().kernel.start
}

/// Start of the app flash area.
pub fn app_flash() -> u32 {
    board().app_flash.start
}

/// Whether QEMU gives the board a store (`[qemu] store_drive`); without
/// one, tests that need storage are not part of its suite.
pub fn has_store() -> bool {
    qemu().store_drive.is_some()
}

/// Size of a store image (QEMU requires exactly this size: 32 MiB of
/// pflash on `virt`, the 1 MiB SPI NOR on `ast1030-evb`).
pub fn pflash_size() -> usize {
    board()
        .store
        .map_or(0, |s| usize::try_from(s.image_size).unwrap_or(usize::MAX))
}

/// How the apps reach QEMU.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Apps {
    /// No apps.
    None,
    /// An app flash image loaded at [`app_flash`] (`-device loader`).
    Image(PathBuf),
    /// A tockloader flash file holding kernel and apps, booted as the
    /// kernel image (it starts at [`ram_base`]).
    FlashFile(PathBuf),
}

/// One QEMU run.
#[derive(Clone, Debug)]
pub struct Boot {
    /// The kernel ELF (ignored when the apps come as a flash file).
    pub kernel: PathBuf,
    /// The apps.
    pub apps: Apps,
    /// The store image (the board's `[qemu] store_drive`: pflash unit 1 on
    /// `virt`, the SPI NOR on `ast1030-evb`), if any.
    pub pflash: Option<PathBuf>,
    /// Kill QEMU after this long.
    pub timeout: Duration,
    /// More QEMU arguments (e.g. `-icount shift=0`).
    pub extra: Vec<String>,
    /// Console input: each `(after, send)` writes `send` to QEMU's serial
    /// input once `after` has appeared on the console (after the previous
    /// pair's text), in order.
    pub input: Vec<(String, String)>,
    /// Stop QEMU (as at the timeout, but at once) a moment after this text
    /// has appeared this many times: for apps that never end.
    pub stop_after: Option<(String, usize)>,
    /// At the timeout, stop the VM through QMP on this socket before the
    /// SIGKILL (a power cut on a board whose QEMU writes the store
    /// asynchronously: `[qemu] store_writes_async`).
    pub stop_first: Option<PathBuf>,
}

/// How long QEMU keeps running after [`Boot::stop_after`]'s text, so that
/// whatever would follow it is seen too.
pub const STOP_GRACE: Duration = Duration::from_millis(300);

/// What a run produced.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// Everything QEMU wrote to the console (stdout and stderr).
    pub console: String,
    /// The exit status, or `None` if QEMU was killed (at the timeout or on
    /// [`Boot::stop_after`]).
    pub status: Option<i32>,
    /// Whether it was stopped on [`Boot::stop_after`]'s text.
    pub stopped: bool,
    /// How long it ran.
    pub elapsed: Duration,
}

impl Boot {
    /// The QEMU command line.
    pub fn command(&self) -> Command {
        self.command_with(false)
    }

    /// The QEMU command line for a person at the terminal: the console
    /// and QEMU's monitor share it (Ctrl-A X quits, Ctrl-A C the monitor).
    pub fn interactive_command(&self) -> Command {
        self.command_with(true)
    }

    fn command_with(&self, interactive: bool) -> Command {
        let q = qemu();
        let mut c = Command::new(&q.binary);
        c.args(&q.machine);
        c.arg("-nographic");
        if !interactive {
            c.args(["-monitor", "none", "-serial", "stdio"]);
        }
        match &self.apps {
            Apps::FlashFile(f) if q.flash_file_loader => {
                // The kernel as an ELF, the flash file's app area (what
                // tockloader wrote there, see `tockloader_flash_file`)
                // with the generic loader.
                c.arg("-kernel").arg(&self.kernel);
                c.arg("-device").arg(format!(
                    "loader,file={},addr={:#x},force-raw=on",
                    flash_file_apps(f).display(),
                    app_flash()
                ));
            }
            Apps::FlashFile(f) => {
                c.arg("-kernel").arg(f);
            }
            Apps::Image(img) => {
                c.arg("-kernel").arg(&self.kernel);
                c.arg("-device").arg(format!(
                    "loader,file={},addr={:#x},force-raw=on",
                    img.display(),
                    app_flash()
                ));
            }
            Apps::None => {
                c.arg("-kernel").arg(&self.kernel);
            }
        }
        if let (Some(p), Some(drive)) = (&self.pflash, &q.store_drive) {
            c.arg("-drive").arg(format!("{drive},file={}", p.display()));
        }
        if let Some(socket) = &self.stop_first {
            c.arg("-qmp")
                .arg(format!("unix:{},server=on,wait=off", socket.display()));
        }
        c.args(&self.extra);
        c
    }

    /// Boots QEMU and waits for it to exit, for the timeout, or for the
    /// stop text; feeds the console input on the way.
    pub fn run(&self) -> std::io::Result<Outcome> {
        let start = Instant::now();
        if let Some(socket) = &self.stop_first {
            // A socket left by an earlier, killed QEMU would refuse
            // connections until this one replaces it.
            let _ = std::fs::remove_file(socket);
        }
        let mut child = self
            .command()
            .stdin(if self.input.is_empty() {
                Stdio::null()
            } else {
                Stdio::piped()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        let mut stdin = child.stdin.take();
        let mut stdout = child.stdout.take().expect("piped stdout");
        let mut stderr = child.stderr.take().expect("piped stderr");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let out = {
            let seen = Arc::clone(&seen);
            std::thread::spawn(move || {
                let mut chunk = [0u8; 4096];
                while let Ok(n) = stdout.read(&mut chunk) {
                    if n == 0 {
                        break;
                    }
                    if let Ok(mut s) = seen.lock() {
                        s.extend_from_slice(&chunk[..n]);
                    }
                }
            })
        };
        let err = std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = stderr.read_to_end(&mut buf);
            buf
        });
        let console_now = || {
            seen.lock()
                .map(|s| String::from_utf8_lossy(&s).into_owned())
                .unwrap_or_default()
        };
        let mut next_input = 0;
        let mut input_from = 0;
        let mut stop_at: Option<Instant> = None;
        let mut stopped = false;
        let status = loop {
            if let Some(s) = child.try_wait()? {
                break Some(s);
            }
            let killed_at = |when: Instant| Instant::now() >= when;
            if start.elapsed() >= self.timeout || stop_at.is_some_and(killed_at) {
                stopped = stop_at.is_some();
                if let Some(socket) = &self.stop_first {
                    // The cut: the VM stops at once; QEMU drains its block
                    // I/O before it answers.
                    if let Err(e) = qmp_stop(socket) {
                        let _ = child.kill();
                        let _ = child.wait();
                        return Err(std::io::Error::other(format!(
                            "QMP stop on {}: {e}",
                            socket.display()
                        )));
                    }
                }
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            if next_input < self.input.len() || (stop_at.is_none() && self.stop_after.is_some()) {
                let text = console_now();
                if let Some((after, send)) = self.input.get(next_input) {
                    if let Some(i) = text.get(input_from..).and_then(|t| t.find(after.as_str())) {
                        input_from += i + after.len();
                        next_input += 1;
                        if let Some(w) = stdin.as_mut() {
                            let _ = w.write_all(send.as_bytes()).and_then(|()| w.flush());
                        }
                    }
                }
                if stop_at.is_none()
                    && self
                        .stop_after
                        .as_ref()
                        .is_some_and(|(t, n)| text.matches(t.as_str()).count() >= *n)
                {
                    stop_at = Some(Instant::now() + STOP_GRACE);
                }
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        drop(stdin);
        let _ = out.join();
        let mut console = console_now();
        console.push_str(&String::from_utf8_lossy(&err.join().unwrap_or_default()));
        Ok(Outcome {
            console,
            status: status.as_ref().and_then(ExitStatus::code),
            stopped,
            elapsed: start.elapsed(),
        })
    }
}

/// Stops the VM through the QMP socket at `path` and waits for QEMU's
/// answer (it drains block I/O first).
pub fn qmp_stop(path: &Path) -> std::io::Result<()> {
    use std::io::{BufRead, BufReader, Write};
    // A QEMU cut right after its start may not listen yet: wait for it.
    let mut tries = 0;
    let stream = loop {
        match std::os::unix::net::UnixStream::connect(path) {
            Ok(s) => break s,
            Err(e) if tries < 500 => {
                tries += 1;
                let _ = e;
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) => return Err(e),
        }
    };
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut writer = stream;
    let mut line = String::new();
    // The greeting, then one answer per command.
    reader.read_line(&mut line)?;
    for command in ["qmp_capabilities", "stop"] {
        writeln!(writer, "{{\"execute\": \"{command}\"}}")?;
        loop {
            line.clear();
            if reader.read_line(&mut line)? == 0 {
                return Err(std::io::Error::other("QMP closed"));
            }
            if line.contains("\"return\"") {
                break;
            }
            if line.contains("\"error\"") {
                return Err(std::io::Error::other(line.trim().to_string()));
            }
        }
    }
    Ok(())
}

/// What a test expects of a run.
#[derive(Clone, Debug, Default)]
pub struct Expect {
    /// Texts that must appear, each after the previous one.
    pub in_order: Vec<String>,
    /// Texts that must appear exactly this many times.
    pub counts: Vec<(String, usize)>,
    /// Texts that must not appear at all.
    pub absent: Vec<String>,
    /// The exit status QEMU must end with (the kernel's test-exit verdict);
    /// `None` means the run is expected to be killed at the timeout.
    pub status: Option<i32>,
    /// If set, the console lines that are not the kernel's own (see
    /// [`app_lines`]) must be exactly these, in this order: the whole
    /// output of the apps, nothing missing and nothing extra.
    pub app_lines: Option<Vec<String>>,
    /// Test apps whose summary must appear exactly once as
    /// `<app>: <n> checks of <n>, 0 failed`: every check the app declares
    /// (the number is written once, in the app) ran, and none failed.
    pub summaries: Vec<String>,
    /// Blocks of app lines (see [`app_lines`]) that must each appear
    /// exactly once as consecutive lines, in any order relative to each
    /// other (for apps whose turns interleave differently from run to run).
    pub blocks: Vec<Vec<String>>,
    /// App lines that [`Expect::app_lines`] leaves out (lines starting
    /// with one of these), for output whose length varies from run to run.
    pub ignore_app_lines: Vec<String>,
    /// Console input for the run (see [`Boot::input`]).
    pub input: Vec<(String, String)>,
    /// The run never ends by itself: it is stopped once this text has
    /// appeared this many times (see [`Boot::stop_after`]), and must be.
    pub stop_after: Option<(String, usize)>,
}

/// The problem with test app `app`'s summary line in `console`, if any.
pub fn summary_problem(console: &str, app: &str) -> Option<String> {
    let prefix = format!("{app}: ");
    let lines: Vec<&str> = console
        .lines()
        .filter(|l| l.starts_with(&prefix) && l.contains(" checks of "))
        .collect();
    let [line] = lines.as_slice() else {
        return Some(format!(
            "{} summary lines of {app} (`{app}: <n> checks of <n>, 0 failed`), want 1",
            lines.len()
        ));
    };
    let parsed = line
        .strip_prefix(&prefix)
        .and_then(|rest| rest.split_once(" checks of "))
        .and_then(|(ran, rest)| {
            let (declared, failed) = rest.split_once(", ")?;
            let failed = failed.strip_suffix(" failed")?;
            Some((
                ran.parse::<u32>().ok()?,
                declared.parse::<u32>().ok()?,
                failed.parse::<u32>().ok()?,
            ))
        });
    match parsed {
        Some((ran, declared, 0)) if ran == declared && ran > 0 => None,
        _ => Some(format!(
            "{line:?}: want all declared checks run and 0 failed"
        )),
    }
}

/// The console lines that are not the kernel's own report (lines starting
/// with [`kernel_prefix`]): what the apps printed, plus anything else
/// (such as fault reports) that does not belong to a clean run.
///
/// The console sends each kernel message whole, in the order output was
/// produced, so a message queued between two writes of an app falls
/// inside that app's line (`Got value len: <kernel line>18`): kernel
/// messages are taken out wherever they start, then the rest is split into
/// lines.
pub fn app_lines(console: &str) -> Vec<String> {
    let prefix = kernel_prefix();
    let mut apps = String::new();
    let mut rest = console;
    while let Some(i) = rest.find(prefix) {
        apps.push_str(&rest[..i]);
        rest = match rest[i..].find('\n') {
            Some(end) => &rest[i + end + 1..],
            None => "",
        };
    }
    apps.push_str(rest);
    apps.lines()
        .map(|l| l.trim_end_matches('\r').to_string())
        .collect()
}

pub use app_layout::fixtures_dir;

impl Expect {
    /// Every way `outcome` misses the expectation (empty: passed).
    pub fn check(&self, outcome: &Outcome) -> Vec<String> {
        let mut problems = Vec::new();
        let text = outcome.console.as_str();
        let mut at = 0;
        for want in &self.in_order {
            match text[at..].find(want.as_str()) {
                Some(i) => at += i + want.len(),
                None if text.contains(want.as_str()) => {
                    problems.push(format!("{want:?} appears, but not after the previous line"))
                }
                None => problems.push(format!("missing {want:?}")),
            }
        }
        for (want, n) in &self.counts {
            let got = text.matches(want.as_str()).count();
            if got != *n {
                problems.push(format!("{want:?} appears {got} times, want {n}"));
            }
        }
        for bad in &self.absent {
            if text.contains(bad.as_str()) {
                problems.push(format!("unexpected {bad:?}"));
            }
        }
        for app in &self.summaries {
            problems.extend(summary_problem(text, app));
        }
        let lines: Vec<String> = app_lines(text)
            .into_iter()
            .filter(|l| {
                !self
                    .ignore_app_lines
                    .iter()
                    .any(|p| l.starts_with(p.as_str()))
            })
            .collect();
        for block in &self.blocks {
            let found = lines
                .windows(block.len().max(1))
                .filter(|w| w.iter().zip(block).all(|(a, b)| a == b))
                .count();
            if found != 1 {
                problems.push(format!(
                    "the block {block:?} appears {found} times as consecutive app lines, want 1"
                ));
            }
        }
        if let Some((stop, n)) = &self.stop_after {
            if !outcome.stopped {
                problems.push(format!("the run was not stopped on {stop:?} (x{n})"));
            }
        }
        if let Some(want) = &self.app_lines {
            let got = lines;
            if got != *want {
                problems.push(format!("the apps printed {got:?}, want exactly {want:?}"));
            }
        }
        if outcome.status != self.status {
            let killed = if outcome.stopped {
                "stopped on its stop text"
            } else {
                "killed at the timeout"
            };
            let show = |s: Option<i32>, killed: &str| {
                s.map_or(killed.to_string(), |c| format!("exit status {c}"))
            };
            problems.push(format!(
                "{}, want {}",
                show(outcome.status, killed),
                show(self.status, "killed")
            ));
        }
        problems
    }
}

/// Errors of [`flash_file_from_elf`].
#[derive(Debug, PartialEq, Eq)]
pub enum ElfError {
    /// Not a 32-bit little-endian ELF file, or truncated.
    Malformed(&'static str),
    /// A loadable segment lies outside `[ram_base(), ram_base() + limit)`.
    OutOfRange {
        /// The segment's physical address.
        addr: u32,
        /// Its size in the file.
        size: u32,
    },
}

impl std::fmt::Display for ElfError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ElfError::Malformed(why) => write!(f, "not a usable ELF file: {why}"),
            ElfError::OutOfRange { addr, size } => write!(
                f,
                "segment at {addr:#010x} ({size} bytes) lies outside the kernel area"
            ),
        }
    }
}

fn u16_at(b: &[u8], at: usize) -> Result<u16, ElfError> {
    b.get(at..at + 2)
        .map(|s| u16::from_le_bytes([s[0], s[1]]))
        .ok_or(ElfError::Malformed("truncated"))
}

fn u32_at(b: &[u8], at: usize) -> Result<u32, ElfError> {
    b.get(at..at + 4)
        .map(|s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
        .ok_or(ElfError::Malformed("truncated"))
}

/// Lays out the loadable segments of a 32-bit kernel ELF at their physical
/// addresses relative to [`ram_base`] in a buffer of `len` bytes (filled
/// with `0xFF` elsewhere): the start of a tockloader flash file for the
/// `qemu_rv32_virt` board. Segments must end below `ram_base() + limit`.
pub fn flash_file_from_elf(elf: &[u8], len: usize, limit: u32) -> Result<Vec<u8>, ElfError> {
    if elf.get(..4) != Some(b"\x7fELF") {
        return Err(ElfError::Malformed("no ELF magic"));
    }
    if elf.get(4) != Some(&1) || elf.get(5) != Some(&1) {
        return Err(ElfError::Malformed("not ELF32 little-endian"));
    }
    let phoff = u32_at(elf, 28)? as usize;
    let phentsize = usize::from(u16_at(elf, 42)?);
    let phnum = usize::from(u16_at(elf, 44)?);
    if phentsize < 32 {
        return Err(ElfError::Malformed("program header entries too small"));
    }
    let mut out = vec![0xFF; len];
    for i in 0..phnum {
        let ph = phoff + i * phentsize;
        const PT_LOAD: u32 = 1;
        if u32_at(elf, ph)? != PT_LOAD {
            continue;
        }
        let offset = u32_at(elf, ph + 4)? as usize;
        let paddr = u32_at(elf, ph + 12)?;
        let filesz = u32_at(elf, ph + 16)?;
        if filesz == 0 {
            continue;
        }
        let rel = paddr.checked_sub(ram_base());
        let end = rel.and_then(|r| r.checked_add(filesz));
        let (Some(rel), Some(end)) = (rel, end) else {
            return Err(ElfError::OutOfRange {
                addr: paddr,
                size: filesz,
            });
        };
        if end > limit || end as usize > len {
            return Err(ElfError::OutOfRange {
                addr: paddr,
                size: filesz,
            });
        }
        let data = elf
            .get(offset..offset + filesz as usize)
            .ok_or(ElfError::Malformed("segment beyond the end of the file"))?;
        out[rel as usize..end as usize].copy_from_slice(data);
    }
    Ok(out)
}

/// Builds a tockloader flash file at `out`: the kernel ELF laid out from
/// offset 0 (address [`ram_base`]), then the TABs installed by `tockloader
/// install --flash-file` as a user would (with `--board <tockloader
/// board>` where tockloader knows the board, else with the board's
/// `--arch`; always with the board's `--app-address`). Booted as QEMU's
/// `-kernel` (or, on a `flash_file_loader` board, the kernel ELF plus the
/// file's app area), it runs the kernel with those apps.
pub fn tockloader_flash_file(kernel: &Path, tabs: &[PathBuf], out: &Path) -> Result<(), String> {
    write_kernel_flash_file(kernel, out)?;
    tockloader_install(out, tabs)
}

/// Writes `out`: a flash file holding only the kernel ELF's image, from
/// the start of the board's RAM up to its app area (what a user flashes
/// before installing apps).
pub fn write_kernel_flash_file(kernel: &Path, out: &Path) -> Result<(), String> {
    let elf = std::fs::read(kernel).map_err(|e| format!("{}: {e}", kernel.display()))?;
    let limit = app_flash() - ram_base();
    let image = flash_file_from_elf(&elf, limit as usize, limit)
        .map_err(|e| format!("{}: {e}", kernel.display()))?;
    std::fs::write(out, image).map_err(|e| format!("{}: {e}", out.display()))
}

/// Installs `tabs` with `tockloader install --flash-file out` (the board's
/// tockloader board, or its architecture and app address) after the apps
/// already there.
pub fn tockloader_install(out: &Path, tabs: &[PathBuf]) -> Result<(), String> {
    let mut c = Command::new("tockloader");
    c.arg("install");
    match &qemu().tockloader_board {
        Some(b) => {
            c.args(["--board", b]);
        }
        None => {
            c.args(["--arch", &board().arch]);
        }
    }
    // tockloader's opentitan_earlgrey preset knows the flash file's base
    // but not where apps go (it would look at 0x30000): always say it.
    c.arg("--app-address").arg(format!("{:#x}", app_flash()));
    c.arg("--flash-file")
        .arg(out)
        .args(tabs)
        .stdin(Stdio::null());
    let done = c
        .output()
        .map_err(|e| format!("cannot run tockloader: {e}"))?;
    if done.status.success() {
        if qemu().flash_file_loader {
            split_flash_file(out)?;
        }
        Ok(())
    } else {
        Err(format!(
            "{c:?} failed ({}): {}{}",
            done.status,
            String::from_utf8_lossy(&done.stdout),
            String::from_utf8_lossy(&done.stderr)
        ))
    }
}

/// Where [`split_flash_file`] puts the app area of flash file `f`.
pub fn flash_file_apps(f: &Path) -> PathBuf {
    f.with_extension("apps.bin")
}

/// Writes the app area of the flash file `f` (from [`app_flash`], up to
/// its last byte that is not `0xFF`) to [`flash_file_apps`]: QEMU's
/// generic loader takes files no larger than the machine's RAM (128 KiB
/// on `-M opentitan`), which a whole flash file is not.
pub fn split_flash_file(f: &Path) -> Result<(), String> {
    let image = std::fs::read(f).map_err(|e| format!("{}: {e}", f.display()))?;
    let start = (app_flash() - ram_base()) as usize;
    let apps = image.get(start..).unwrap_or_default();
    let end = apps.iter().rposition(|&b| b != 0xFF).map_or(0, |i| i + 1);
    let end = end.next_multiple_of(4).min(apps.len());
    let out = flash_file_apps(f);
    std::fs::write(&out, &apps[..end]).map_err(|e| format!("{}: {e}", out.display()))
}

/// Wraps a bare TBF into a TAB for this board (`metadata.toml` plus
/// `<arch>.tbf`, e.g. `rv32imac.tbf`), so tockloader can install an app that was given as a
/// `.tbf`. The name and kernel version come from the TBF's header; a file
/// that is not a valid TBF is refused.
pub fn tab_from_tbf(tbf: &[u8]) -> Result<Vec<u8>, String> {
    let header = kernel::tbf::TbfHeader::parse(tbf).map_err(|e| format!("not a valid TBF: {e}"))?;
    let name = header
        .package_name()
        .filter(|n| !n.is_empty())
        .ok_or("the TBF has no package name (tockloader needs one)")?;
    let version = header
        .kernel_version()
        .ok_or("the TBF has no kernel version TLV (the kernel would refuse it)")?;
    let metadata = format!(
        "tab-version = 1\nname = \"{}\"\nminimum-tock-kernel-version = \"{}.{}\"\n",
        name.escape_default(),
        version.major,
        version.minor
    );
    let mut tab = tar::Builder::new(Vec::new());
    let tbf_name = format!("{}.tbf", board().arch);
    for (path, data) in [
        ("metadata.toml", metadata.as_bytes()),
        (tbf_name.as_str(), tbf),
    ] {
        let mut h = tar::Header::new_ustar();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        tab.append_data(&mut h, path, data)
            .map_err(|e| format!("cannot build the TAB: {e}"))?;
    }
    tab.into_inner()
        .map_err(|e| format!("cannot build the TAB: {e}"))
}

/// The repository root (two levels above this crate).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("tools/qemu-runner sits two levels below the root")
        .to_path_buf()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A TAB (tar) with empty members of these names.
    fn tab_of(names: &[&str]) -> Vec<u8> {
        let mut tab = tar::Builder::new(Vec::new());
        for name in ["metadata.toml"].iter().chain(names) {
            let mut h = tar::Header::new_ustar();
            h.set_size(4);
            h.set_mode(0o644);
            h.set_cksum();
            tab.append_data(&mut h, name, &b"\0\0\0\0"[..]).unwrap();
        }
        tab.into_inner().unwrap()
    }

    #[test]
    fn a_tab_must_carry_the_tbf_of_every_slot_table() {
        const RV: &str = "rv32imac.0x80160000.0x80360000.tbf";
        const AST: &str = "cortex-m4.0x00050000.0x00088000.tbf";
        const DK: &str = "cortex-m4.0x00040000.0x20010000.tbf";
        let all = || vec![RV.to_string(), AST.to_string(), DK.to_string()];
        assert!(tab_holds_exactly(&tab_of(&[DK, RV, AST]), all()).is_ok());
        // One Cortex-M4 TBF is not enough when two boards of that
        // architecture build the app.
        let e = tab_holds_exactly(&tab_of(&[RV, AST]), all()).unwrap_err();
        assert!(e.contains(DK), "{e}");
        let extra = tab_of(&[RV, AST, DK, "rv32imc.0x20030000.0x10006000.tbf"]);
        assert!(tab_holds_exactly(&extra, all()).is_err());
        // A TAB named the old way (one `<arch>.tbf` per architecture).
        let old = tab_of(&["rv32imac.tbf", "cortex-m4.tbf"]);
        assert!(tab_holds_exactly(&old, all()).is_err());
    }

    fn outcome(console: &str, status: Option<i32>) -> Outcome {
        Outcome {
            console: console.to_string(),
            status,
            stopped: false,
            elapsed: Duration::ZERO,
        }
    }

    #[test]
    fn blocks_stop_text_and_ignored_lines() {
        let e = Expect {
            blocks: vec![
                vec!["2.000: a".into(), "Summary 2".into()],
                vec!["1.000: b".into(), "Summary 1".into()],
            ],
            ignore_app_lines: vec!["Setting key".into()],
            app_lines: Some(vec![
                "1.000: b".into(),
                "Summary 1".into(),
                "2.000: a".into(),
                "Summary 2".into(),
            ]),
            stop_after: Some(("Summary 2".into(), 1)),
            ..Expect::default()
        };
        let text =
            "qemu_rv32_virt: boot 1\n1.000: b\nSetting key 0\nSummary 1\n2.000: a\nSummary 2\n";
        let mut o = outcome(text, None);
        // Not stopped on the text: killed at the timeout.
        assert_eq!(e.check(&o).len(), 1, "{:?}", e.check(&o));
        o.stopped = true;
        assert_eq!(e.check(&o), Vec::<String>::new());
        // A block split by another line, or twice, fails.
        let split = text.replace("2.000: a\n", "2.000: a\nextra\n");
        let mut o = outcome(&split, None);
        o.stopped = true;
        assert_eq!(e.check(&o).len(), 2, "{:?}", e.check(&o));
    }

    #[test]
    fn expectations() {
        let e = Expect {
            in_order: vec!["a".into(), "c".into()],
            counts: vec![("x".into(), 2)],
            absent: vec!["panic".into()],
            status: Some(0),
            ..Expect::default()
        };
        assert!(e.check(&outcome("a b c x x", Some(0))).is_empty());
        assert_eq!(e.check(&outcome("c a x x", Some(0))).len(), 1);
        assert_eq!(
            e.check(&outcome("a c x panic", None)),
            vec![
                "\"x\" appears 1 times, want 2".to_string(),
                "unexpected \"panic\"".to_string(),
                "killed at the timeout, want exit status 0".to_string(),
            ]
        );
    }

    #[test]
    fn a_tbf_becomes_a_tab_tockloader_reads() {
        let tbf = kernel_mock::tbf::TbfBuilder::app("mine").build();
        let tab = tab_from_tbf(&tbf).unwrap();
        let tbfs = app_image::tab_tbfs(&tab).unwrap();
        assert_eq!(tbfs, vec![("rv32imac.tbf".to_string(), tbf)]);
        let text = String::from_utf8_lossy(&tab);
        assert!(text.contains("name = \"mine\""), "{text}");
        assert!(tab_from_tbf(b"nonsense")
            .unwrap_err()
            .contains("not a valid TBF"));
    }

    #[test]
    fn summaries_need_every_declared_check() {
        let ok = "abi: 171 checks of 171, 0 failed\n";
        assert_eq!(summary_problem(ok, "abi"), None);
        assert!(summary_problem("abi: 170 checks of 171, 1 failed\n", "abi").is_some());
        assert!(summary_problem("abi: 171 checks of 171, 2 failed\n", "abi").is_some());
        assert!(summary_problem("abi: 0 checks of 0, 0 failed\n", "abi").is_some());
        assert!(summary_problem("", "abi").is_some());
        assert!(summary_problem(&format!("{ok}{ok}"), "abi").is_some());
        assert!(summary_problem("abi: 171 checks, 0 failed\n", "abi").is_some());
    }

    #[test]
    fn exact_app_lines() {
        let e = Expect {
            app_lines: Some(vec!["Hello world!".into()]),
            status: Some(0),
            ..Expect::default()
        };
        let clean =
            "qemu_rv32_virt: kernel started\nHello world!\nqemu_rv32_virt: all processes ended\n";
        assert!(e.check(&outcome(clean, Some(0))).is_empty());
        let extra = "Hello world!\nprocess \"x\" faulted\n";
        assert_eq!(e.check(&outcome(extra, Some(0))).len(), 1);
        assert_eq!(e.check(&outcome("Hello world\n", Some(0))).len(), 1);
        assert_eq!(e.check(&outcome("", Some(0))).len(), 1);
        // A kernel message between two writes of the app's line.
        let inside = "Hello qemu_rv32_virt: boot 2\nworld!\n";
        assert!(e.check(&outcome(inside, Some(0))).is_empty());
    }

    /// A minimal ELF32 with one PT_LOAD segment of `data` at `paddr`.
    fn elf(paddr: u32, data: &[u8]) -> Vec<u8> {
        let mut e = vec![0u8; 52 + 32];
        e[..4].copy_from_slice(b"\x7fELF");
        e[4] = 1;
        e[5] = 1;
        e[28..32].copy_from_slice(&52u32.to_le_bytes());
        e[42..44].copy_from_slice(&32u16.to_le_bytes());
        e[44..46].copy_from_slice(&1u16.to_le_bytes());
        let ph = 52;
        e[ph..ph + 4].copy_from_slice(&1u32.to_le_bytes());
        e[ph + 4..ph + 8].copy_from_slice(&84u32.to_le_bytes());
        e[ph + 12..ph + 16].copy_from_slice(&paddr.to_le_bytes());
        e[ph + 16..ph + 20].copy_from_slice(&(data.len() as u32).to_le_bytes());
        e.extend_from_slice(data);
        e
    }

    #[test]
    fn segments_land_at_their_addresses() {
        let img = flash_file_from_elf(&elf(ram_base() + 8, &[1, 2, 3]), 16, 0x10_0000).unwrap();
        assert_eq!(img[..8], [0xFF; 8]);
        assert_eq!(img[8..11], [1, 2, 3]);
        assert_eq!(img[11..], [0xFF; 5]);
    }

    #[test]
    fn bad_elves_are_refused() {
        assert_eq!(
            flash_file_from_elf(b"nope", 16, 16),
            Err(ElfError::Malformed("no ELF magic"))
        );
        assert_eq!(
            flash_file_from_elf(&elf(0x1000, &[1]), 16, 16),
            Err(ElfError::OutOfRange {
                addr: 0x1000,
                size: 1
            })
        );
        assert_eq!(
            flash_file_from_elf(&elf(ram_base() + 15, &[1, 2]), 16, 16),
            Err(ElfError::OutOfRange {
                addr: ram_base() + 15,
                size: 2
            })
        );
        let mut short = elf(ram_base(), &[1, 2]);
        short.truncate(85);
        assert_eq!(
            flash_file_from_elf(&short, 16, 16),
            Err(ElfError::Malformed("segment beyond the end of the file"))
        );
    }
}
