//! Tests that take more than one boot: persistence across reboots, power
//! cuts, and the host `tickv` tool reading and provisioning the store.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::{board, kernel_line, layout, pflash_size, userland_dir, Apps, Boot, Outcome};

mod image;
mod signed;

/// What a scenario needs from the runner.
pub struct Ctx {
    /// The repository root.
    pub root: PathBuf,
    /// The test kernel (exits QEMU when no process is alive).
    pub kernel: PathBuf,
    /// The test kernel built with `secure-apps` (checks app credentials).
    pub secure_kernel: PathBuf,
    /// Where logs and store images go.
    pub logs: PathBuf,
    /// Power cuts to run.
    pub power_cuts: u32,
    /// Seed of the power-cut moments.
    pub power_cut_seed: u64,
    /// The fixtures folder a scenario asked for ([`Scenario::fixtures`]).
    pub fixtures: Option<PathBuf>,
}

impl Ctx {
    /// This context with `dir` as the scenario's fixtures folder.
    pub fn with_fixtures(&self, dir: PathBuf) -> Ctx {
        Ctx {
            root: self.root.clone(),
            kernel: self.kernel.clone(),
            secure_kernel: self.secure_kernel.clone(),
            logs: self.logs.clone(),
            power_cuts: self.power_cuts,
            power_cut_seed: self.power_cut_seed,
            fixtures: Some(dir),
        }
    }

    fn image(&self, name: &str) -> PathBuf {
        userland_dir(&self.root).join(format!("{name}.bin"))
    }

    /// A fresh 0xFF-filled store for scenario `name`.
    fn fresh_store(&self, name: &str) -> Result<PathBuf, String> {
        let path = self.logs.join(format!("{name}.pflash.img"));
        std::fs::write(&path, vec![0xFF; pflash_size()])
            .map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(path)
    }

    /// Boots `image` on `store`; appends the console to the scenario's log.
    fn boot(
        &self,
        log: &str,
        image: &str,
        store: &Path,
        timeout: Duration,
    ) -> Result<Outcome, String> {
        self.boot_apps(log, Apps::Image(self.image(image)), store, timeout)
    }

    /// Boots `apps` on `store`; appends the console to the scenario's log.
    fn boot_apps(
        &self,
        log: &str,
        apps: Apps,
        store: &Path,
        timeout: Duration,
    ) -> Result<Outcome, String> {
        self.boot_with(log, &self.kernel, apps, store, timeout)
    }

    /// [`Ctx::boot_apps`] with another kernel (ignored for a flash file,
    /// which holds its own).
    fn boot_with(
        &self,
        log: &str,
        kernel: &Path,
        apps: Apps,
        store: &Path,
        timeout: Duration,
    ) -> Result<Outcome, String> {
        let image = match &apps {
            Apps::Image(p) | Apps::FlashFile(p) => p.display().to_string(),
            Apps::None => "no apps".to_string(),
        };
        let boot = Boot {
            kernel: kernel.to_path_buf(),
            apps,
            pflash: Some(store.to_path_buf()),
            timeout,
            extra: Vec::new(),
            input: Vec::new(),
            stop_after: None,
            // A kill at the timeout is a power cut: where QEMU writes the
            // store behind the guest, the VM stops first (that instant is
            // the cut) and QEMU drains its block I/O.
            stop_first: crate::qemu()
                .store_writes_async
                .then(|| self.logs.join(format!("{log}.qmp"))),
        };
        let outcome = boot.run().map_err(|e| format!("cannot run QEMU: {e}"))?;
        append(
            &self.logs.join(format!("{log}.log")),
            &format!(
                "=== {image} ({:?}, {:.2} s)\n{}\n",
                outcome.status,
                outcome.elapsed.as_secs_f64(),
                outcome.console
            ),
        );
        Ok(outcome)
    }

    /// Runs the host tool on `store` with the board's store geometry (from
    /// its description).
    fn tickv(&self, log: &str, store: &Path, args: &[&str]) -> Result<(i32, String), String> {
        let tool = self.root.join("target/release/tickv");
        let geometry = board()
            .store
            .ok_or_else(|| format!("board {} has no [store]", board().name))?;
        let out = Command::new(&tool)
            .arg("--image")
            .arg(store)
            .arg("--offset")
            .arg(geometry.offset.to_string())
            .arg("--region-size")
            .arg(geometry.region_size.to_string())
            .arg("--regions")
            .arg(geometry.regions.to_string())
            .arg("--unit")
            .arg(geometry.program_unit.to_string())
            .args(args)
            .output()
            .map_err(|e| format!("cannot run {}: {e}", tool.display()))?;
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        append(
            &self.logs.join(format!("{log}.log")),
            &format!("=== tickv {}\n{text}\n", args.join(" ")),
        );
        Ok((out.status.code().unwrap_or(-1), text))
    }
}

impl Ctx {
    /// Runs the host tool and fails the scenario unless it succeeds (for
    /// setting a store up).
    fn tickv_ok(&self, log: &str, store: &Path, args: &[&str]) -> Result<(), String> {
        let (code, text) = self.tickv(log, store, args)?;
        if code == 0 {
            Ok(())
        } else {
            Err(format!(
                "tickv {}: exit {code}: {}",
                args.join(" "),
                text.trim()
            ))
        }
    }

    /// `tickv fsck` on `store`: a problem unless it reports a clean store.
    fn fsck_problem(&self, log: &str, store: &Path) -> Result<Option<String>, String> {
        let (code, fsck) = self.tickv(log, store, &["fsck"])?;
        Ok((code != 0 || !fsck.contains("result: clean"))
            .then(|| format!("tickv fsck exited {code}: {}", fsck.trim())))
    }
}

fn append(path: &Path, text: &str) {
    use std::io::Write;
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
    {
        let _ = f.write_all(text.as_bytes());
    }
}

/// A scenario: name, what it checks, and the check (problems found).
pub struct Scenario {
    /// Name (for selection and the log file).
    pub name: &'static str,
    /// What it checks.
    pub about: &'static str,
    /// Runs it.
    pub run: fn(&Ctx) -> Result<Vec<String>, String>,
    /// The fixtures folder it needs (under the fixtures root), if any:
    /// without it the scenario is skipped, never passed.
    pub fixtures: Option<&'static str>,
    /// The apps it boots: a board whose slot table lacks one does not
    /// have the scenario.
    pub apps: &'static [&'static str],
    /// It needs a store (a board QEMU gives none does not have it).
    pub store: bool,
}

/// The scenarios of the selected board: those whose apps its slot table
/// has (and, for the libtock-c ones, a board libtock-c builds for).
pub fn for_board() -> Vec<Scenario> {
    all()
        .into_iter()
        .filter(|s| !s.store || crate::has_store())
        // The image walk places RAM with the RISC-V PMP's rules.
        .filter(|s| s.name != "flash-image" || board().arch.starts_with("rv32"))
        .filter(|s| {
            s.apps
                .iter()
                .all(|a| layout().is_some_and(|l| l.app(a).is_some()))
                && (s.fixtures.is_none_or(|f| !f.starts_with("libtock-c/"))
                    || crate::suite::LIBTOCK_C_BOARDS.contains(&crate::board_name()))
        })
        .collect()
}

/// The scenarios.
pub fn all() -> Vec<Scenario> {
    vec![
        Scenario {
            name: "persistence",
            about: "kv_demo's data and the kernel's boot count survive a power-off; the host tool reads the kernel's store",
            run: persistence,
            fixtures: None,
            apps: &["kv_demo"],
            store: true,
        },
        Scenario {
            name: "host-provisioned",
            about: "a store provisioned on the host with the tickv tool is read by an app",
            run: host_provisioned,
            fixtures: None,
            apps: &["kv_host"],
            store: true,
        },
        Scenario {
            name: "power-cuts",
            about: "kv_writer killed (SIGKILL) at random moments: every acknowledged write survives, the in-flight one is old or new",
            run: power_cuts,
            fixtures: None,
            apps: &["kv_writer", "kv_check"],
            store: true,
        },
        Scenario {
            name: "libtock-rs-kv-provisioned",
            about: "libtock-rs's kv reads key `a` provisioned on the host under the identity `tickv app-id` computes, installed both ways, across a reboot",
            run: libtock_rs_kv_provisioned,
            fixtures: Some(crate::suite::libtock_rs()),
            apps: &[],
            store: true,
        },
        Scenario {
            name: "signed-apps",
            about: "on the secure-apps kernel a signed app keeps its data across boots; an unsigned copy of the same TBF gets no identity and cannot read or write it (the development kernel gives the copy everything)",
            run: signed::signed_apps,
            fixtures: None,
            apps: &["kv_signed"],
            store: true,
        },
        Scenario {
            name: "libtock-c-secure-permissions",
            about: "the secure-apps kernel does not honour the unsigned storage TLV of libtock-c's kv_no_read: no storage, its SET is refused and its test fails",
            run: signed::libtock_c_unsigned_tlvs,
            fixtures: Some(crate::suite::libtock_c()),
            apps: &[],
            store: true,
        },
        Scenario {
            name: "flash-image",
            about: "each libtock-rs fixture installed with tockloader into a flash file after the kernel, walked by the kernel's loader on the host: loaded at its linked flash and RAM addresses",
            run: image::flash_image,
            fixtures: Some(crate::suite::libtock_rs()),
            apps: &[],
            store: false,
        },
    ]
}

fn want(problems: &mut Vec<String>, outcome: &Outcome, what: &str, texts: &[&str]) {
    for t in texts {
        if !outcome.console.contains(t) {
            problems.push(format!("{what}: missing {t:?}"));
        }
    }
}

fn persistence(ctx: &Ctx) -> Result<Vec<String>, String> {
    let log = "persistence";
    let store = ctx.fresh_store(log)?;
    let mut problems = Vec::new();
    let t = Duration::from_secs(30);
    let first = ctx.boot(log, "kv_demo", &store, t)?;
    want(
        &mut problems,
        &first,
        "first boot",
        &[
            &kernel_line("boot 1\n"),
            "kv_demo: boot 1\n",
            "(stored now)",
            "kv_demo: done",
        ],
    );
    let second = ctx.boot(log, "kv_demo", &store, t)?;
    want(
        &mut problems,
        &second,
        "second boot",
        &[
            &kernel_line("boot 2\n"),
            "kv_demo: boot 2\n",
            "kv_demo: greeting = \"hello from boot 1\"\n",
            "kv_demo: last message = \"written by boot 1\"",
            "kv_demo: done",
        ],
    );
    for (what, o) in [("first boot", &first), ("second boot", &second)] {
        if o.status != Some(0) {
            problems.push(format!("{what}: exit status {:?}, want 0", o.status));
        }
    }
    // The host reads what the kernel wrote: the kernel's item (owner 0)
    // and kv_demo's (owner crc32("kv_demo")), and the store checks clean.
    let (code, list) = ctx.tickv(log, &store, &["list"])?;
    if code != 0 {
        problems.push(format!("tickv list exited {code}"));
    }
    if !list.lines().any(|l| l.contains(" 0x0 ")) {
        problems.push("tickv list: no kernel-owned item".into());
    }
    let demo_owner = format!("{:#x}", 2_382_814_877u32);
    if !list.contains(&demo_owner) {
        problems.push(format!(
            "tickv list: no item owned by kv_demo ({demo_owner})"
        ));
    }
    // The boot count: owner 0, a 4-byte little-endian 2.
    let (code, count) = ctx.tickv(log, &store, &["get", "--kernel", "kernel-boot-count"])?;
    if code != 0 || !count.contains("owner  0x0") || !count.contains("value  hex:02000000") {
        problems.push(format!(
            "tickv get kernel-boot-count: {:?}, want owner 0, count 2",
            count.trim()
        ));
    }
    problems.extend(ctx.fsck_problem(log, &store)?);
    Ok(problems)
}

fn host_provisioned(ctx: &Ctx) -> Result<Vec<String>, String> {
    let log = "host-provisioned";
    let store = ctx.fresh_store(log)?;
    let mut problems = Vec::new();
    // kv_host's owner id: crc32 of its package name.
    let owner = 519_585_874u32.to_string();
    ctx.tickv_ok(log, &store, &["format"])?;
    ctx.tickv_ok(
        log,
        &store,
        &[
            "set",
            "provisioned",
            "written on the host",
            "--owner",
            &owner,
        ],
    )?;
    let o = ctx.boot(log, "kv_host", &store, Duration::from_secs(30))?;
    want(
        &mut problems,
        &o,
        "boot",
        &[
            &kernel_line("boot 1\n"),
            "kv_host: provisioned = \"written on the host\"",
        ],
    );
    if o.status != Some(0) {
        problems.push(format!("exit status {:?}, want 0", o.status));
    }
    Ok(problems)
}

/// The store holds key `a` for libtock-rs's `kv`, written on the host by
/// `tickv set --owner-app kv.tab` (so the owner id comes from the tool, not
/// from this test). The app, loaded raw, prints it as its first get; a
/// reboot with the app installed by tockloader prints it again (the app
/// deletes only its own key); the host then finds `a` intact and the app's
/// own key gone, and the store clean.
fn libtock_rs_kv_provisioned(ctx: &Ctx) -> Result<Vec<String>, String> {
    let log = "libtock-rs-kv-provisioned";
    let dir = ctx
        .fixtures
        .clone()
        .ok_or("the scenario needs the libtock-rs fixtures")?;
    let tab = dir.join("kv.tab");
    let tab_s = tab.display().to_string();
    let store = ctx.fresh_store(log)?;
    let _ = std::fs::remove_file(ctx.logs.join(format!("{log}.log")));
    let value = "stored on the host";
    ctx.tickv_ok(log, &store, &["format"])?;
    ctx.tickv_ok(log, &store, &["set", "a", value, "--owner-app", &tab_s])?;
    let mut lines = crate::suite::LIBTOCK_RS_KV_LINES.map(String::from).to_vec();
    lines.splice(
        1..2,
        [
            format!("Got value len: {}", value.len()),
            format!("Value: {value}"),
        ],
    );
    let expect = crate::Expect {
        in_order: vec![
            kernel_line(&format!(
                "process 0 'kv' flash {:#010x}..",
                crate::app_flash()
            )),
            crate::suite::LIBTOCK_RS_KV_IDENTITY.into(),
            kernel_line("all processes ended, 0 not cleanly"),
        ],
        status: Some(0),
        app_lines: Some(lines),
        ..crate::Expect::default()
    };
    let mut problems = Vec::new();
    let t = Duration::from_secs(30);
    let raw = ctx.boot_apps(log, Apps::Image(dir.join("kv.tbf")), &store, t)?;
    problems.extend(
        expect
            .check(&raw)
            .into_iter()
            .map(|p| format!("raw TBF, first boot: {p}")),
    );
    let flash = ctx.logs.join(format!("{log}.flash.bin"));
    crate::tockloader_flash_file(&ctx.kernel, &[tab], &flash)?;
    let again = ctx.boot_apps(log, Apps::FlashFile(flash), &store, t)?;
    problems.extend(
        expect
            .check(&again)
            .into_iter()
            .map(|p| format!("tockloader install, second boot: {p}")),
    );
    if !again.console.contains(&kernel_line("boot 2\n")) {
        problems.push("second boot: the kernel's boot count is not 2".into());
    }
    let (code, a) = ctx.tickv(log, &store, &["get", "a"])?;
    if code != 0 || !a.contains(value) {
        problems.push(format!("tickv get a: exit {code}: {}", a.trim()));
    }
    let (code, own) = ctx.tickv(log, &store, &["get", "libtock-rs"])?;
    if code != 4 {
        problems.push(format!(
            "tickv get libtock-rs: exit {code} (want 4, not found: the app deleted it): {}",
            own.trim()
        ));
    }
    problems.extend(ctx.fsck_problem(log, &store)?);
    Ok(problems)
}

/// The last `ack <n>` a writer printed. Only complete lines count: the
/// cut may stop the console in the middle of one (`ack 50` of `ack 5030`).
fn last_ack(console: &str) -> Option<u64> {
    console
        .split_inclusive('\n')
        .filter_map(|l| {
            l.strip_suffix('\n')?
                .strip_prefix("ack ")?
                .trim()
                .parse()
                .ok()
        })
        .next_back()
}

/// `check: ok <max>` from the checker.
fn checked_max(console: &str) -> Option<u64> {
    console
        .lines()
        .find_map(|l| l.strip_prefix("check: ok ")?.trim().parse().ok())
}

fn power_cuts(ctx: &Ctx) -> Result<Vec<String>, String> {
    let log = "power-cuts";
    let store = ctx.fresh_store(log)?;
    let _ = std::fs::remove_file(ctx.logs.join(format!("{log}.log")));
    let mut problems = Vec::new();
    // Fresh cut moments every run (the seed is printed: `--power-cut-seed`
    // replays a run).
    println!(
        "power cuts: seed {:#x} (replay: qemu-runner --board {} test power-cuts --power-cut-seed {:#x})",
        ctx.power_cut_seed,
        crate::board_name(),
        ctx.power_cut_seed
    );
    let mut rng = flashsim::Rng::new(ctx.power_cut_seed);
    // The highest sequence number known to be stored (acknowledged, or
    // found by the checker).
    let mut stored: Option<u64> = None;
    let mut ok = 0;
    for run in 0..ctx.power_cuts {
        // Kill the writer somewhere between just after boot and 1.2 s in:
        // during boot, mount, recovery, or any of its writes.
        let cut = Duration::from_millis(100 + rng.below(1100));
        let w = ctx.boot(log, "kv_writer", &store, cut)?;
        let mut run_problems = Vec::new();
        if w.status.is_some() {
            run_problems.push(format!("writer exited on its own ({:?})", w.status));
        }
        if w.console.contains("BAD") {
            run_problems.push("the writer found a bad value at start".into());
        }
        let acked = last_ack(&w.console).or(stored);
        let c = ctx.boot(log, "kv_check", &store, Duration::from_secs(30))?;
        match checked_max(&c.console) {
            None if acked.is_none() && c.console.contains("check: key 0 missing") => {}
            None => run_problems.push("the checker did not report `check: ok`".into()),
            Some(max) => {
                // Every acknowledged write is there; at most the one in
                // flight at the cut went further.
                let lo = acked.unwrap_or(0);
                if max < lo || max > lo + 1 && acked.is_some() {
                    run_problems.push(format!(
                        "checker found seq {max}; acknowledged up to {acked:?}, so {lo} or {} were allowed",
                        lo + 1
                    ));
                }
                stored = Some(max);
            }
        }
        if c.status != Some(0) {
            run_problems.push(format!("checker exit status {:?}", c.status));
        }
        // Every tenth cut, the host checks the image too.
        if run % 10 == 9 {
            run_problems.extend(ctx.fsck_problem(log, &store)?);
        }
        if run_problems.is_empty() {
            ok += 1;
        } else {
            problems.extend(
                run_problems
                    .into_iter()
                    .map(|p| format!("cut {run} ({cut:?}): {p}")),
            );
        }
    }
    println!(
        "power cuts: {} runs, {ok} ok (seed {:#x})",
        ctx.power_cuts, ctx.power_cut_seed
    );
    match stored {
        Some(n) if n > 0 => {}
        _ => problems.push("the writer never got a write acknowledged".into()),
    }
    if !problems.is_empty() {
        problems.push(format!(
            "replay these cut moments with --power-cut-seed {:#x}",
            ctx.power_cut_seed
        ));
    }
    Ok(problems)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parsing() {
        assert_eq!(
            last_ack("writer: resuming at seq 4\nack 4\nack 5\nack 6\n"),
            Some(6)
        );
        assert_eq!(last_ack("writer: key 0 missing\n"), None);
        // A line cut short by the power cut does not count.
        assert_eq!(last_ack("ack 5029\nack 50"), Some(5029));
        assert_eq!(checked_max("check: key 0 seq 8\ncheck: ok 12\n"), Some(12));
        assert_eq!(checked_max("check: BAD 1 problems\n"), None);
    }
}
