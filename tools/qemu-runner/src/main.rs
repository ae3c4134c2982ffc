//! `qemu-runner`: build the QEMU board and the apps, boot them, judge them.
//!
//! ```text
//! qemu-runner test [NAME...]     build, then run the suite (or some tests)
//! qemu-runner list               the tests and what each checks
//! qemu-runner build              build the kernels and the userland only
//! qemu-runner boot IMAGE         boot the (non-test) kernel with an image
//! qemu-runner run                the main job: the demo apps on a persistent
//!                                store, console on this terminal
//! ```
//!
//! Logs of every test run are kept in `target/qemu-tests/<name>.log`.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Duration;

use clap::{Parser, Subcommand};
use qemu_runner::scenarios;
use qemu_runner::suite::{self, Install, Test};
use qemu_runner::{repo_root, Apps, Boot};

#[derive(Parser)]
#[command(about = "Build, boot and check a QEMU board (boards/<board>/board.toml) with our apps")]
struct Cli {
    /// The board: a folder under boards/ whose board.toml has a [qemu]
    /// table (qemu_rv32_virt, qemu_ast1030).
    #[arg(long, global = true, default_value = app_layout::DEFAULT_BOARD)]
    board: String,
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Build everything, then run the QEMU test suite.
    Test {
        /// Run only these tests.
        names: Vec<String>,
        /// Use what is already built.
        #[arg(long)]
        no_build: bool,
        /// Power cuts in the power-cut test.
        #[arg(long, default_value_t = 50)]
        power_cuts: u32,
        /// Seed of the power-cut moments [default: a fresh one each run,
        /// printed so that a failing run can be replayed].
        #[arg(long, value_name = "N", value_parser = parse_seed)]
        power_cut_seed: Option<u64>,
        /// QEMU runs side by side [default: one per core].
        #[arg(long, value_name = "N")]
        jobs: Option<usize>,
    },
    /// List the tests.
    List,
    /// Build the kernels and the userland apps.
    Build,
    /// Build everything and boot the board interactively with the demo
    /// apps on a persistent store (the main job; Ctrl-A X quits QEMU).
    Run {
        /// The app image (a name from target/userland or a file).
        #[arg(long, default_value = "demo")]
        image: String,
        /// The store: pflash unit 1 (created 0xFF-filled if missing).
        #[arg(long)]
        store: Option<PathBuf>,
        /// Boot these apps instead of the image: .tab or .tbf files
        /// (libtock-rs, libtock-c or ours, built for this board's layout),
        /// installed with tockloader into a flash file. Repeatable.
        #[arg(long = "app", value_name = "APP")]
        apps: Vec<PathBuf>,
    },
    /// Steps of a board module of upstream's tock-hardware-ci harness
    /// (tools/hwci): what a lab does to a real board, done to files.
    #[command(subcommand)]
    Hwci(Hwci),
    /// Build the board's kernel (without test-exit) and write the image a
    /// real board is flashed with: the kernel laid out from its start
    /// address, the apps installed after it with `tockloader install
    /// --flash-file`, trimmed after the last app (`make flash` writes it
    /// with opentitantool on the CW310).
    Image {
        /// Where to write the image.
        #[arg(short, long)]
        out: PathBuf,
        /// Apps (.tab) to install. Repeatable.
        #[arg(long = "app", value_name = "APP")]
        apps: Vec<PathBuf>,
    },
    /// Boot the kernel with an app image and show the console until QEMU
    /// exits (or the timeout).
    Boot {
        /// An image name from target/userland (e.g. `apps`) or a file.
        image: String,
        /// A pflash image for unit 1 (created 0xFF-filled if missing).
        #[arg(long)]
        pflash: Option<PathBuf>,
        /// Seconds before QEMU is stopped.
        #[arg(long, default_value_t = 60)]
        timeout: u64,
        /// Boot the test kernel (exits QEMU when every process has ended).
        #[arg(long)]
        test_kernel: bool,
    },
}

/// The steps behind tools/hwci's QEMU board modules.
#[derive(Subcommand)]
enum Hwci {
    /// "Flash the kernel": build the kernel and the apps, and write a
    /// flash file holding only the kernel.
    Kernel {
        /// The flash file.
        #[arg(long)]
        out: PathBuf,
    },
    /// "Flash an app": `tockloader install --flash-file` of these TABs.
    Install {
        /// The flash file (it starts with the kernel).
        flash: PathBuf,
        /// The TABs.
        #[arg(required = true)]
        tabs: Vec<PathBuf>,
    },
    /// "Erase the board": a blank store image of the board's size.
    Erase {
        /// The store image (overwritten).
        store: PathBuf,
    },
    /// The QEMU command line that boots a flash file on a store, one
    /// argument per line; with a QMP socket, so that a reset can stop the
    /// machine before it is killed.
    Command {
        /// The flash file.
        flash: PathBuf,
        /// The store image.
        store: PathBuf,
        /// The QMP socket.
        #[arg(long)]
        qmp: PathBuf,
    },
}

fn hwci(root: &Path, step: Hwci) -> Result<(), String> {
    match step {
        Hwci::Kernel { out } => {
            build_all(root)?;
            qemu_runner::write_kernel_flash_file(&Kernel::Run.path(root), &out)
        }
        Hwci::Install { flash, tabs } => qemu_runner::tockloader_install(&flash, &tabs),
        Hwci::Erase { store } => std::fs::write(&store, vec![0xFF; qemu_runner::pflash_size()])
            .map_err(|e| format!("{}: {e}", store.display())),
        Hwci::Command { flash, store, qmp } => {
            let boot = Boot {
                kernel: Kernel::Run.path(root),
                apps: Apps::FlashFile(flash),
                pflash: Some(store),
                timeout: Duration::MAX,
                extra: Vec::new(),
                input: Vec::new(),
                stop_after: None,
                stop_first: Some(qmp),
            };
            let c = boot.command();
            println!("{}", c.get_program().to_string_lossy());
            for a in c.get_args() {
                println!("{}", a.to_string_lossy());
            }
            Ok(())
        }
    }
}

/// Which kernel build.
#[derive(Clone, Copy)]
enum Kernel {
    /// With the `test-exit` feature.
    Test,
    /// With `test-exit` and `secure-apps` (app credentials checked).
    Secure,
    /// The normal kernel.
    Run,
}

impl Kernel {
    fn dir(self) -> &'static str {
        match self {
            Kernel::Test => "test",
            Kernel::Secure => "secure",
            Kernel::Run => "run",
        }
    }

    fn path(self, root: &Path) -> PathBuf {
        root.join("target/boards")
            .join(self.dir())
            .join(&qemu_runner::qemu().kernel_target)
            .join("release")
            .join(qemu_runner::board_name())
    }
}

/// `qemu-runner image`: the board's flash image with `apps`.
fn image(root: &Path, out: &Path, apps: &[PathBuf]) -> Result<(), String> {
    build_kernel(root, Kernel::Run)?;
    let kernel = Kernel::Run.path(root);
    qemu_runner::tockloader_flash_file(&kernel, apps, out)?;
    let mut bytes = std::fs::read(out).map_err(|e| format!("{}: {e}", out.display()))?;
    let end = bytes.iter().rposition(|&b| b != 0xFF).map_or(0, |i| i + 1);
    bytes.truncate(end.next_multiple_of(8));
    std::fs::write(out, &bytes).map_err(|e| format!("{}: {e}", out.display()))?;
    println!(
        "qemu-runner: {} ({} bytes from {:#x}): {} app(s)",
        out.display(),
        bytes.len(),
        qemu_runner::ram_base(),
        apps.len()
    );
    Ok(())
}

fn run_cmd(cmd: &mut Command) -> Result<(), String> {
    let status = cmd
        .status()
        .map_err(|e| format!("cannot run {cmd:?}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{cmd:?} failed ({status})"))
    }
}

fn build_kernel(root: &Path, kernel: Kernel) -> Result<(), String> {
    let mut c = Command::new("cargo");
    // From the board's folder: its .cargo/config.toml names the target.
    c.current_dir(root.join("boards").join(qemu_runner::board_name()))
        .env(
            "CARGO_TARGET_DIR",
            root.join("target/boards").join(kernel.dir()),
        )
        .args(["build", "--quiet", "--release"]);
    match kernel {
        Kernel::Test => c.args(["--features", "test-exit"]),
        Kernel::Secure => c.args(["--features", "test-exit,secure-apps"]),
        Kernel::Run => &mut c,
    };
    run_cmd(&mut c)
}

/// Whether the selected board's kernel crate has the cargo feature
/// `feature` (the secure-apps kernel exists only where it does).
fn board_has_feature(root: &Path, feature: &str) -> bool {
    let manifest = root
        .join("boards")
        .join(qemu_runner::board_name())
        .join("Cargo.toml");
    std::fs::read_to_string(manifest).is_ok_and(|t| {
        t.lines()
            .any(|l| l.trim_start().starts_with(&format!("{feature} =")))
    })
}

fn build_all(root: &Path) -> Result<(), String> {
    eprintln!(
        "qemu-runner: building the {} kernels and the userland",
        qemu_runner::board_name()
    );
    build_kernel(root, Kernel::Test)?;
    if board_has_feature(root, "secure-apps") {
        build_kernel(root, Kernel::Secure)?;
    }
    build_kernel(root, Kernel::Run)?;
    run_cmd(Command::new("cargo").current_dir(root).args([
        "build",
        "--quiet",
        "--release",
        "-p",
        "tickv-cli",
    ]))?;
    run_cmd(Command::new("bash").arg(root.join("userland/build.sh")))
}

/// How a test or scenario ended.
enum Verdict {
    /// Every expectation held.
    Pass,
    /// What went wrong.
    Fail(Vec<String>),
    /// Not run, and why (missing third-party fixtures).
    Skip(String),
}

fn run_test(root: &Path, test: &Test, logs: &Path) -> Result<Verdict, String> {
    let kernel = Kernel::Test.path(root);
    let fixture = |dir: &str, app: &str, ext: &str| {
        qemu_runner::fixtures_dir(root, dir).map(|d| d.join(format!("{app}.{ext}")))
    };
    let apps = match test.install {
        Install::FixtureTab(dir, app) => match fixture(dir, app, "tab") {
            Err(why) => return Ok(Verdict::Skip(why)),
            Ok(tab) => {
                let file = logs.join(format!("{}.flash.bin", test.name));
                qemu_runner::tockloader_flash_file(&kernel, &[tab], &file)?;
                Apps::FlashFile(file)
            }
        },
        Install::FixtureTabs(dir, apps) => {
            let tabs: Result<Vec<PathBuf>, String> =
                apps.iter().map(|app| fixture(dir, app, "tab")).collect();
            match tabs {
                Err(why) => return Ok(Verdict::Skip(why)),
                Ok(tabs) => {
                    let file = logs.join(format!("{}.flash.bin", test.name));
                    qemu_runner::tockloader_flash_file(&kernel, &tabs, &file)?;
                    Apps::FlashFile(file)
                }
            }
        }
        Install::FixtureTbf(dir, app) => match fixture(dir, app, "tbf") {
            Err(why) => return Ok(Verdict::Skip(why)),
            Ok(tbf) => Apps::Image(tbf),
        },
        Install::Image(name) => {
            Apps::Image(qemu_runner::userland_dir(root).join(format!("{name}.bin")))
        }
        Install::Custom(make, _) => {
            let file = logs.join(format!("{}.apps.bin", test.name));
            let image = make(&qemu_runner::userland_dir(root))?;
            std::fs::write(&file, image).map_err(|e| format!("{}: {e}", file.display()))?;
            Apps::Image(file)
        }
        Install::Tockloader(tabs) => {
            let file = logs.join(format!("{}.flash.bin", test.name));
            let mut paths = Vec::new();
            for app in tabs.iter() {
                let tab = qemu_runner::tabs_dir(root).join(format!("{app}.tab"));
                qemu_runner::check_tab_architectures(&tab, app)?;
                paths.push(tab);
            }
            let tabs = paths;
            qemu_runner::tockloader_flash_file(&kernel, &tabs, &file)?;
            Apps::FlashFile(file)
        }
    };
    // Every boot gets a blank store (pflash unit 1 on virt, the SPI NOR on
    // ast1030-evb): the board's KV stack lives there.
    let pflash = logs.join(format!("{}.pflash.img", test.name));
    if qemu_runner::has_store() {
        std::fs::write(&pflash, vec![0xFF; qemu_runner::pflash_size()])
            .map_err(|e| format!("{}: {e}", pflash.display()))?;
    }
    let boot = Boot {
        kernel,
        apps,
        pflash: qemu_runner::has_store().then_some(pflash),
        timeout: test.timeout,
        extra: test.qemu_args.iter().map(|a| a.to_string()).collect(),
        input: test.expect.input.clone(),
        stop_after: test.expect.stop_after.clone(),
        stop_first: None,
    };
    let outcome = boot.run().map_err(|e| format!("cannot run QEMU: {e}"))?;
    let log = logs.join(format!("{}.log", test.name));
    let _ = std::fs::write(
        &log,
        format!(
            "$ {:?}\n{}\n[exit status: {:?}, {:.2} s]\n",
            boot.command(),
            outcome.console,
            outcome.status,
            outcome.elapsed.as_secs_f64()
        ),
    );
    let problems = test.expect.check(&outcome);
    if problems.is_empty() {
        // The store image of a passing run is not worth its disk space.
        let _ = std::fs::remove_file(logs.join(format!("{}.pflash.img", test.name)));
        Ok(Verdict::Pass)
    } else {
        Ok(Verdict::Fail(problems))
    }
}

/// A seed given in decimal or `0x` hex.
fn parse_seed(s: &str) -> Result<u64, String> {
    match s.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => s.parse(),
    }
    .map_err(|e| format!("{s:?}: {e}"))
}

/// A seed that differs from run to run: the clock and the process id.
fn fresh_seed() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    nanos ^ u64::from(std::process::id()).rotate_left(32)
}

fn test(
    root: &Path,
    names: &[String],
    build: bool,
    (power_cuts, power_cut_seed): (u32, Option<u64>),
    workers: Option<usize>,
) -> Result<bool, String> {
    let tests = suite::for_board();
    let scenarios = scenarios::for_board();
    let known =
        |n: &str| tests.iter().any(|t| t.name == n) || scenarios.iter().any(|t| t.name == n);
    if let Some(unknown) = names.iter().find(|n| !known(n)) {
        return Err(format!(
            "no test named {unknown:?} on board {} (see `qemu-runner --board {} list`)",
            qemu_runner::board_name(),
            qemu_runner::board_name()
        ));
    }
    let chosen = |n: &str| names.is_empty() || names.iter().any(|m| m == n);
    if build {
        build_all(root)?;
    }
    let logs = root
        .join("target/qemu-tests")
        .join(app_layout::out_dir(qemu_runner::board_name()));
    std::fs::create_dir_all(&logs).map_err(|e| format!("{}: {e}", logs.display()))?;
    let ctx = scenarios::Ctx {
        root: root.to_path_buf(),
        kernel: Kernel::Test.path(root),
        secure_kernel: Kernel::Secure.path(root),
        logs: logs.clone(),
        power_cuts,
        power_cut_seed: power_cut_seed.unwrap_or_else(fresh_seed),
        fixtures: None,
    };
    // Every test and scenario has its own store, flash file and log, so
    // they run side by side, one per core: the longest (the stress test
    // and the power cuts) first, so that they overlap the short ones.
    let mut jobs: Vec<Job> = tests
        .iter()
        .filter(|t| chosen(t.name))
        .map(Job::Test)
        .chain(
            scenarios
                .iter()
                .filter(|s| chosen(s.name))
                .map(Job::Scenario),
        )
        .collect();
    jobs.sort_by_key(|j| std::cmp::Reverse(j.weight()));
    let workers =
        workers.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let results: Vec<Result<Verdict, String>> = run_jobs(&jobs, workers, |job| {
        let verdict = match job {
            Job::Test(t) => run_test(root, t, &logs)?,
            Job::Scenario(sc) => {
                let verdict = match sc.fixtures {
                    Some(sub) => match qemu_runner::fixtures_dir(root, sub) {
                        Err(why) => Verdict::Skip(why),
                        Ok(dir) => verdict_of((sc.run)(&ctx.with_fixtures(dir))?),
                    },
                    None => verdict_of((sc.run)(&ctx)?),
                };
                if let Verdict::Pass = verdict {
                    let _ = std::fs::remove_file(logs.join(format!("{}.pflash.img", sc.name)));
                }
                verdict
            }
        };
        report(job.name(), job.about(), &verdict, &logs);
        Ok(verdict)
    });
    let results = results
        .into_iter()
        .collect::<Result<Vec<Verdict>, String>>()?;
    let failed = results
        .iter()
        .filter(|r| matches!(r, Verdict::Fail(_)))
        .count();
    let skipped = results
        .iter()
        .filter(|r| matches!(r, Verdict::Skip(_)))
        .count();
    let run = results.len() - skipped;
    println!(
        "qemu tests ({}): {run} run, {} ok, {failed} failed, {skipped} skipped{}",
        qemu_runner::board_name(),
        run - failed,
        if skipped > 0 {
            " (skipped tests did NOT pass: they need the third-party fixtures)"
        } else {
            ""
        }
    );
    Ok(failed == 0)
}

/// One QEMU test or multi-boot scenario.
enum Job<'a> {
    Test(&'a Test),
    Scenario(&'a scenarios::Scenario),
}

impl Job<'_> {
    fn name(&self) -> &'static str {
        match self {
            Job::Test(t) => t.name,
            Job::Scenario(s) => s.name,
        }
    }

    fn about(&self) -> &'static str {
        match self {
            Job::Test(t) => t.about,
            Job::Scenario(s) => s.about,
        }
    }

    /// A rough cost, for ordering: the long ones start first.
    fn weight(&self) -> u64 {
        match self {
            Job::Test(t) => t.timeout.as_secs(),
            Job::Scenario(s) if s.name == "power-cuts" => 1000,
            Job::Scenario(_) => 60,
        }
    }
}

/// Runs `f` on every job with up to `workers` threads; the results come
/// back in job order.
fn run_jobs<J: Sync, R: Send>(jobs: &[J], workers: usize, f: impl Fn(&J) -> R + Sync) -> Vec<R> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Mutex;
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<R>>> = Mutex::new((0..jobs.len()).map(|_| None).collect());
    std::thread::scope(|scope| {
        for _ in 0..workers.clamp(1, jobs.len().max(1)) {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(job) = jobs.get(i) else { break };
                let r = f(job);
                results.lock().unwrap_or_else(|e| e.into_inner())[i] = Some(r);
            });
        }
    });
    results
        .into_inner()
        .unwrap_or_else(|e| e.into_inner())
        .into_iter()
        .map(|r| r.expect("every job ran"))
        .collect()
}

fn verdict_of(problems: Vec<String>) -> Verdict {
    if problems.is_empty() {
        Verdict::Pass
    } else {
        Verdict::Fail(problems)
    }
}

fn report(name: &str, about: &str, verdict: &Verdict, logs: &Path) {
    match verdict {
        Verdict::Pass => println!("ok   {name:<24} {about}"),
        Verdict::Skip(why) => println!("SKIP {name:<24} {about}\n     - not run: {why}"),
        Verdict::Fail(problems) => {
            println!("FAIL {name:<24} {about}");
            for p in problems.iter().take(20) {
                println!("     - {p}");
            }
            if problems.len() > 20 {
                println!("     - ... {} more", problems.len() - 20);
            }
            println!(
                "     console log: {}",
                logs.join(format!("{name}.log")).display()
            );
        }
    }
}

fn boot(
    root: &Path,
    image: &str,
    pflash: Option<PathBuf>,
    timeout: u64,
    test_kernel: bool,
) -> Result<(), String> {
    let kernel = if test_kernel {
        Kernel::Test
    } else {
        Kernel::Run
    };
    build_kernel(root, kernel)?;
    let named = qemu_runner::userland_dir(root).join(format!("{image}.bin"));
    let image = if named.exists() {
        named
    } else {
        PathBuf::from(image)
    };
    if !image.exists() {
        return Err(format!(
            "no image {} (run userland/build.sh)",
            image.display()
        ));
    }
    if let Some(p) = &pflash {
        if !p.exists() {
            std::fs::write(p, vec![0xFF; qemu_runner::pflash_size()])
                .map_err(|e| format!("{}: {e}", p.display()))?;
        }
    }
    let boot = Boot {
        kernel: kernel.path(root),
        apps: Apps::Image(image),
        pflash,
        timeout: Duration::from_secs(timeout),
        extra: Vec::new(),
        input: Vec::new(),
        stop_after: None,
        stop_first: None,
    };
    let outcome = boot.run().map_err(|e| format!("cannot run QEMU: {e}"))?;
    print!("{}", outcome.console);
    match outcome.status {
        Some(s) => println!("[QEMU exited with status {s}]"),
        None => println!("[QEMU stopped after {timeout} s]"),
    }
    Ok(())
}

fn image_path(root: &Path, image: &str) -> Result<PathBuf, String> {
    let named = qemu_runner::userland_dir(root).join(format!("{image}.bin"));
    let path = if named.exists() {
        named
    } else {
        PathBuf::from(image)
    };
    if path.exists() {
        Ok(path)
    } else {
        Err(format!(
            "no image {} (run userland/build.sh)",
            path.display()
        ))
    }
}

fn blank_store(path: &Path) -> Result<(), String> {
    if !path.exists() {
        std::fs::write(path, vec![0xFF; qemu_runner::pflash_size()])
            .map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(())
}

/// Installs `apps` (.tab, or .tbf wrapped into a TAB) with tockloader into
/// a flash file that starts with `kernel`: what a user's own apps boot
/// from.
fn flash_file_with_apps(root: &Path, kernel: &Path, apps: &[PathBuf]) -> Result<PathBuf, String> {
    let dir = root.join("target/run-apps");
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut tabs = Vec::new();
    for (i, app) in apps.iter().enumerate() {
        let bytes = std::fs::read(app).map_err(|e| format!("{}: {e}", app.display()))?;
        if app.extension().is_some_and(|e| e == "tab") {
            tabs.push(app.clone());
        } else {
            let tab =
                qemu_runner::tab_from_tbf(&bytes).map_err(|e| format!("{}: {e}", app.display()))?;
            let path = dir.join(format!("app{i}.tab"));
            std::fs::write(&path, tab).map_err(|e| format!("{}: {e}", path.display()))?;
            tabs.push(path);
        }
    }
    let flash = dir.join("flash.bin");
    qemu_runner::tockloader_flash_file(kernel, &tabs, &flash)?;
    Ok(flash)
}

/// The main job: QEMU with the console on this terminal. With `apps`, the
/// user's own apps instead of the demo image.
fn run(root: &Path, image: &str, store: Option<PathBuf>, apps: &[PathBuf]) -> Result<(), String> {
    build_all(root)?;
    let board = qemu_runner::board_name();
    let default_store = if board == app_layout::DEFAULT_BOARD {
        "target/qemu-store.img".to_string()
    } else {
        format!("target/qemu-store-{board}.img")
    };
    let store = store.unwrap_or_else(|| root.join(default_store));
    blank_store(&store)?;
    let (apps, what) = if apps.is_empty() {
        let image = image_path(root, image)?;
        let what = image.display().to_string();
        (Apps::Image(image), what)
    } else {
        let flash = flash_file_with_apps(root, &Kernel::Run.path(root), apps)?;
        let what = apps
            .iter()
            .map(|a| a.display().to_string())
            .collect::<Vec<_>>()
            .join(", ");
        (Apps::FlashFile(flash), what)
    };
    let boot = Boot {
        kernel: Kernel::Run.path(root),
        apps,
        pflash: Some(store.clone()),
        timeout: Duration::MAX,
        extra: Vec::new(),
        input: Vec::new(),
        stop_after: None,
        stop_first: None,
    };
    eprintln!(
        "qemu-runner: booting {board} with {what} (store: {}); Ctrl-A X quits",
        store.display()
    );
    run_cmd(&mut boot.interactive_command())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let root = repo_root();
    if let Err(e) = qemu_runner::select_board(&cli.board) {
        eprintln!("qemu-runner: {e}");
        return ExitCode::from(2);
    }
    let result = match cli.command {
        Cmd::Test {
            names,
            no_build,
            power_cuts,
            power_cut_seed,
            jobs,
        } => test(&root, &names, !no_build, (power_cuts, power_cut_seed), jobs),
        Cmd::List => {
            for t in suite::for_board() {
                println!("{:<16} {}", t.name, t.about);
            }
            for s in scenarios::for_board() {
                println!("{:<16} {}", s.name, s.about);
            }
            Ok(true)
        }
        Cmd::Build => build_all(&root).map(|()| true),
        Cmd::Hwci(step) => hwci(&root, step).map(|()| true),
        Cmd::Image { out, apps } => image(&root, &out, &apps).map(|()| true),
        Cmd::Run { image, store, apps } => run(&root, &image, store, &apps).map(|()| true),
        Cmd::Boot {
            image,
            pflash,
            timeout,
            test_kernel,
        } => boot(&root, &image, pflash, timeout, test_kernel).map(|()| true),
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("qemu-runner: {e}");
            ExitCode::from(2)
        }
    }
}
