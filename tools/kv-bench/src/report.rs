//! Writes `benchmarks.md` and the SVG charts from the measurements.

use std::fmt::Write as _;
use std::path::PathBuf;

use crate::device::{self, Cost};
use crate::fill::{self, Beyond, Fill};
use crate::powercut;
use crate::stats::{Phase, Spread};
use crate::stores::{self, Kind};
use crate::svg::{self, Series};
use crate::workloads::{self, mixed, peer, scale, Run, PAYLOAD, REGION};
use crate::{Options, Results};

fn kib(b: u64) -> String {
    format!("{:.1}", b as f64 / 1024.0)
}

fn num(v: f64) -> String {
    if v == 0.0 {
        "0".into()
    } else if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else if v >= 0.01 {
        format!("{v:.2}")
    } else {
        format!("{v:.4}")
    }
}

/// A duration in ns, as ms or s.
pub fn time(ns: u64) -> String {
    let ms = ns as f64 / 1e6;
    if ns == 0 {
        "0".into()
    } else if ms < 1.0 {
        format!("{ms:.3} ms")
    } else if ms < 1000.0 {
        format!("{ms:.1} ms")
    } else {
        format!("{:.2} s", ms / 1000.0)
    }
}

fn spread(s: Spread) -> String {
    format!("{} / {} / {}", time(s.p50), time(s.p99), time(s.max))
}

/// `YYYY-MM-DD` of a Unix day number (days since 1970-01-01).
pub fn civil_date(days: i64) -> String {
    // Howard Hinnant's days-to-civil algorithm.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

fn today() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    civil_date((secs / 86_400) as i64)
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into())
}

/// Errors and wrong values of a run, or "none".
fn failures(run: &Run) -> String {
    let mut parts = Vec::new();
    for p in &run.phases {
        if p.errors > 0 {
            parts.push(format!(
                "{}: {} errors{}{} (first: {})",
                p.name,
                p.errors,
                if p.panics > 0 {
                    format!(", of which {} panics", p.panics)
                } else {
                    String::new()
                },
                if p.aborted { ", phase stopped" } else { "" },
                p.first_error.as_deref().unwrap_or("")
            ));
        }
        if p.wrong > 0 {
            parts.push(format!("{}: {} keys wrong or missing", p.name, p.wrong));
        }
    }
    if parts.is_empty() {
        "none".into()
    } else {
        parts.join("; ")
    }
}

fn rewrites(run: &Run) -> u64 {
    run.phases.iter().map(|p| p.total.c.word_rewrites).sum()
}

fn triple(p: &Phase) -> String {
    format!(
        "{} / {} / {}",
        kib(p.total.c.read_bytes),
        kib(p.total.c.program_bytes),
        p.total.c.erases
    )
}

fn pooled(phases: &[&Phase], nrf: bool) -> Spread {
    let mut v: Vec<u64> = phases
        .iter()
        .flat_map(|p| if nrf { p.nrf.clone() } else { p.spi.clone() })
        .collect();
    Spread::of(&mut v)
}

fn worst(c: &Cost, nrf: bool) -> String {
    format!(
        "{} ({} reads, {} KiB read, {} programs, {} erases)",
        time(if nrf { c.nrf_ns } else { c.spi_ns }),
        c.c.reads,
        kib(c.c.read_bytes),
        c.c.programs,
        c.c.erases
    )
}

fn erase_summary(counts: &[u32]) -> String {
    let min = counts.iter().min().copied().unwrap_or(0);
    let max = counts.iter().max().copied().unwrap_or(0);
    let mean = counts.iter().map(|&c| c as f64).sum::<f64>() / counts.len().max(1) as f64;
    format!("{min} / {} / {max}", num(mean))
}

fn tuning(o: &Options) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "| store | tuning |\n|---|---|");
    let rows: [(Kind, String); 7] = [
        (
            Kind::Ours,
            format!(
                "`tickv::blocking::Store`; scratch buffer {} B; RAM index with one 12-byte entry per workload key (the space test: 8192 entries; beyond the index: 1000, 500 or 100 entries for 1000 keys). Puts use `set`, deletes `delete`; GC runs inside writes. A write that finds no room fails with `NoSpace` without erasing (the engine runs at most one compaction step in a write, and only if the record then fits): then, while anything may be reclaimable, the adapter runs one `gc_step` and retries, at most once per region.",
                stores::OURS_SCRATCH
            ),
        ),
        (
            Kind::OursNoIndex,
            format!("as above with no index (an empty index slice); scratch {} B.", stores::OURS_SCRATCH),
        ),
        (
            Kind::OursFilter,
            format!(
                "tickv v2 (index) built with the engine's `filter` feature and made by `TicKV::with_filter`: {} B of key filter per region ({} B for the 64 regions beyond the index), beside 1000, 500, 100 or no index entries. Measured beyond the index only.",
                stores::FILTER_PER_REGION,
                stores::FILTER_PER_REGION * fill::BEYOND_REGIONS
            ),
        ),
        (
            Kind::Upstream,
            format!(
                "`TicKV<_, 4096>` with a 4096-byte region buffer. Insert = `append_key`; set/update = `invalidate_key` then `append_key` (what Tock's KV layer does); delete = `invalidate_key`; get = `get_key`. On `FlashFull`/`RegionFull` the adapter runs `garbage_collect` once and retries. Main key hash: the fixed stand-in {:#x}. Objects are written at byte offsets; the adapter widens each write to whole 4-byte words with 0xFF (as a driver for word-programmed flash must), so a word shared by two objects is programmed twice and counted in word rewrites.",
                stores::MAIN_KEY_HASH
            ),
        ),
        (
            Kind::SeqUncached,
            "`MapStorage<[u8; 8], _, _>` with `Cache::new_uncached()`; values `&[u8]`; data buffer sized for key + value. Flash adapter: `READ_SIZE` 1, `WRITE_SIZE` 4, `ERASE_SIZE` 4096, declared `MultiwriteNorFlash` so that `remove_item` (the map's delete, which zeroes an item's CRC in place) can run; its second programs show as word rewrites. Mount is lazy (nothing is read until the first operation).".into(),
        ),
        (
            Kind::SeqCached,
            format!(
                "as above with `Cache<ArrayPageStates<P>, ArrayPagePointers<P>, ArrayKeyPointers<[u8; 8], K>>`, P = pages of the flash, K = key slots: 100 for N = 100 and for the power-cut test's 64 keys, 1000 for N = 1000 and the mixed-size test, 5000 for N = 5000 and the fill levels, 8192 in the space test, 1000, 500 and 100 beyond the index. At 64 pages and 1000 keys the cache object is {} B on the host. A fresh (empty) cache after every remount, as the crate requires.",
                stores::cache_ram(64, 1000)
            ),
        ),
        (
            Kind::Ekv,
            format!(
                "`Database<_, NoopRawMutex>`, {}; one write transaction (write or delete, then commit) per put or delete; one read transaction per get. Keys are the 8 big-endian bytes of the 64-bit key.",
                stores::EKV_TUNING
            ),
        ),
    ];
    for (k, t) in rows {
        let _ = writeln!(s, "| {} | {t} |", k.name());
    }
    let _ = writeln!(
        s,
        "\nAll async stores are driven by `pollster::block_on`. Every store gets the same flash: regions of {REGION} B, program unit 4 B, erase value 0xFF, strict mode off (a second program of a word is performed and counted in `word_rewrites` instead of being refused). Keys are random 64-bit numbers (never 0 or `u64::MAX`, which upstream TicKV rejects), 8 bytes on flash in every store. Values are 32 B unless stated. Run with {} power cuts per store.",
        o.cuts
    );
    s
}

/// Writes the report and the charts; returns the files written.
pub fn write(o: &Options, r: &Results) -> std::io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(&o.out)?;
    let mut files = Vec::new();
    let mut md = String::new();
    let m = &mut md;

    let _ = writeln!(m, "# Flash KV store benchmark: TicKV v2 and its peers\n");
    let _ = writeln!(
        m,
        "Generated by `tools/kv-bench` (do not edit by hand). Command, from the repository root:\n\n```\n{}\n```\n",
        o.command
    );
    let _ = writeln!(
        m,
        "Date {} (UTC); machine: {} CPUs (`nproc`), {}; the run took {:.0} s of wall time.\n",
        today(),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        cpu_model(),
        r.seconds
    );
    let _ = writeln!(
        m,
        "Every store runs on the same simulated NOR flash (`libraries/flashsim`), through an adapter that also meters time. The tables give counts (flash reads and bytes, programs and bytes, erases, word rewrites); times are those counts converted with two device models from `doc/peers.md`:\n\n\
* **nRF52 internal flash**: {} µs per 32-bit word programmed, {} ms per 4 KiB page erase, reads memory-mapped and counted as free.\n\
* **SPI NOR at 8 MHz**: reads cost {} µs per command plus {} µs per byte; {} ms per 256-byte page program (a program that crosses a page boundary is one page program per page touched; its data transfer is inside the {} ms); {} ms per 4 KiB sector erase.\n\n\
The times are flash time only (no CPU time) and are estimates, not hardware measurements. Percentiles are nearest-rank over every operation of a phase.\n",
        device::NRF_WORD_NS / 1000,
        device::NRF_ERASE_NS / 1_000_000,
        device::SPI_COMMAND_NS / 1000,
        device::SPI_READ_BYTE_NS / 1000,
        device::SPI_PAGE_PROGRAM_NS as f64 / 1e6,
        device::SPI_PAGE_PROGRAM_NS as f64 / 1e6,
        device::SPI_SECTOR_ERASE_NS / 1_000_000
    );

    targets(m, r);

    let _ = writeln!(m, "## Stores and their tuning\n");
    let _ = writeln!(m, "{}", tuning(o));

    peer_section(m, r);
    scaling_section(m, o, r);
    mixed_section(m, r);
    space_section(m, r);
    fill_section(m, r);
    beyond_section(m, r);
    cuts_section(m, o, r);
    ram_rom_section(m, r);
    charts(m, o, r, &mut files)?;
    limits(m, r);

    let path = o.out.join("benchmarks.md");
    std::fs::write(&path, md)?;
    files.insert(0, path);
    Ok(files)
}

fn run_of(runs: &[Run], k: Kind) -> Option<&Run> {
    runs.iter().find(|x| x.kind == k)
}

/// The targets section alone (what `kv-bench --check` prints).
pub fn targets_table(r: &Results) -> String {
    let mut m = String::new();
    targets(&mut m, r);
    m
}

/// The targets for our engine, judged from the measurements.
fn targets(m: &mut String, r: &Results) {
    let _ = writeln!(m, "## Targets\n");
    let _ = writeln!(
        m,
        "Our engine against the bar set in `doc/peers.md` (sequential-storage with all caches is \"the number to beat\"). Each verdict is computed from the numbers in this report.\n"
    );
    let _ = writeln!(
        m,
        "| target | ours | reference | result |\n|---|---|---|---|"
    );
    let verdict = |ok: bool| if ok { "PASS" } else { "FAIL" };
    let (Some(ours), Some(ss)) = (
        run_of(&r.peer, Kind::Ours),
        run_of(&r.peer, Kind::SeqCached),
    ) else {
        let _ = writeln!(m, "| (peer workload missing) | | | FAIL |\n");
        return;
    };
    for name in [peer::READ1, peer::READ2, peer::READ3] {
        let a = ours.phase(name);
        let b = ss.phase(name);
        let (x, y) = (
            a.per_op(a.total.c.read_bytes),
            b.per_op(b.total.c.read_bytes),
        );
        let _ = writeln!(
            m,
            "| bytes read per get, 1000-key workload, {name} | {} B | {} B (sequential-storage, all caches) | {} |",
            num(x),
            num(y),
            verdict(x <= y && a.wrong == 0 && a.errors == 0)
        );
    }
    let a = ours.phase(peer::UPDATES);
    let b = ss.phase(peer::UPDATES);
    let (pa, pb) = (a.total.c.program_bytes, b.total.c.program_bytes);
    let _ = writeln!(
        m,
        "| bytes programmed during the 10,000 updates | {} B ({} KiB; {:+} B, {:+.2} %) | {} B ({} KiB) | {} |",
        pa,
        kib(pa),
        pa as i64 - pb as i64,
        100.0 * (pa as f64 - pb as f64) / (pb as f64).max(1.0),
        b.total.c.program_bytes,
        kib(b.total.c.program_bytes),
        verdict(a.total.c.program_bytes <= b.total.c.program_bytes)
    );
    let _ = writeln!(
        m,
        "| erases during the 10,000 updates | {} | {} | {} |",
        a.total.c.erases,
        b.total.c.erases,
        verdict(a.total.c.erases <= b.total.c.erases)
    );
    match &r.rom {
        Ok(rom) => {
            let (x, y) = (
                rom.over_baseline("ours").ram,
                rom.over_baseline("seqstore").ram,
            );
            let _ = writeln!(
                m,
                "| RAM at equal capacity (64 x 4 KiB, 1000 keys; static RAM on thumbv7em) | {x} B | {y} B | {} |",
                verdict(x <= y)
            );
        }
        Err(_) => {
            let host = |k: Kind| -> usize {
                run_of(&r.peer, k)
                    .map(|x| {
                        x.ram
                            .iter()
                            .filter(|p| p.0 != stores::FUTURE)
                            .map(|p| p.1)
                            .sum()
                    })
                    .unwrap_or(0)
            };
            let (x, y) = (host(Kind::Ours), host(Kind::SeqCached));
            let _ = writeln!(
                m,
                "| RAM at equal capacity (host sizes; ROM probes not built) | {x} B | {y} B | {} |",
                verdict(x <= y)
            );
        }
    }
    for k in [Kind::Ours, Kind::OursNoIndex] {
        if let Some((_, c)) = r.cuts.iter().find(|(x, _)| *x == k) {
            let _ = writeln!(
                m,
                "| power-cut correctness, {} | {} / {} | 100 % | {} |",
                k.name(),
                c.correct,
                c.cuts,
                verdict(c.correct == c.cuts)
            );
        }
    }
    match &r.rom {
        Ok(rom) => {
            let x = rom.over_baseline("ours").rom;
            let _ = writeln!(
                m,
                "| ROM (thumbv7em, opt-level s, LTO; .text + .rodata over the baseline) | {x} B ({:.1} KiB) | < 10 KiB | {} |",
                x as f64 / 1024.0,
                verdict(x < 10 * 1024)
            );
        }
        Err(e) => {
            let _ = writeln!(
                m,
                "| ROM under 10 KiB | not measured: {e} | < 10 KiB | FAIL (not measured) |"
            );
        }
    }
    let ours_runs: Vec<&Run> = r
        .peer
        .iter()
        .chain(r.mixed.iter())
        .chain(r.scale.iter().flat_map(|(_, v)| v.iter()))
        .filter(|x| matches!(x.kind, Kind::Ours | Kind::OursNoIndex))
        .collect();
    let rw: u64 = ours_runs.iter().map(|x| rewrites(x)).sum();
    let _ = writeln!(
        m,
        "| word rewrites in every workload (both variants, {} runs) | {rw} | 0 | {} |",
        ours_runs.len(),
        verdict(rw == 0)
    );
    fill_targets(m, r);
    beyond_targets(m, r);
    let _ = writeln!(m);
}

/// The fill-level targets: at 90 % live at most 1.2 x the ideal erases per
/// KiB, and never more erases per KiB than sequential-storage.
fn fill_targets(m: &mut String, r: &Results) {
    let verdict = |ok: bool| if ok { "PASS" } else { "FAIL" };
    let at = |k: Kind, p: usize| r.fill.iter().find(|f| f.kind == k && f.percent == p);
    match at(Kind::Ours, 90) {
        Some(f) => {
            let ratio = f.erases_per_kib() / f.ideal_per_kib();
            let _ = writeln!(
                m,
                "| erases per KiB written at 90 % live (16 x 4 KiB, steady overwrites) | {:.3} ({ratio:.2} x the ideal) | ideal {:.3}; at most 1.2 x | {} |",
                f.erases_per_kib(),
                f.ideal_per_kib(),
                verdict(ratio <= 1.2 && f.phase.errors == 0 && f.phase.wrong == 0)
            );
        }
        None => {
            let _ = writeln!(
                m,
                "| erases per KiB written at 90 % live | not measured | | FAIL |"
            );
        }
    }
    let mut rows = Vec::new();
    let mut ok = true;
    for p in fill::FILL_LEVELS {
        match (at(Kind::Ours, p), at(Kind::SeqCached, p)) {
            (Some(a), Some(b)) => {
                ok &= a.erases_per_kib() <= b.erases_per_kib() && a.phase.errors == 0;
                rows.push(format!(
                    "{p} %: {:.3} / {:.3}",
                    a.erases_per_kib(),
                    b.erases_per_kib()
                ));
            }
            _ => ok = false,
        }
    }
    let _ = writeln!(
        m,
        "| erases per KiB written at every fill level, ours / sequential-storage | {} | no more than sequential-storage (all caches) | {} |",
        rows.join("; "),
        verdict(ok)
    );
}

fn peer_section(m: &mut String, r: &Results) {
    let _ = writeln!(m, "## 1. The workload of `doc/peers.md`\n");
    let _ = writeln!(
        m,
        "64 x 4 KiB, program unit 4, 1000 keys x 32 B: insert all, read all, remount, read all, 10 rounds of 1000 updates (each round in a new random order), read all, delete all. Same shape as the table in `doc/peers.md`, so the numbers can be compared with it directly. Cells with three numbers are KiB read / KiB programmed / erases.\n"
    );
    let _ = writeln!(
        m,
        "| store | insert | read all: KiB read | remount: KiB read | read all after remount: KiB read | 10,000 updates | read all after updates: KiB read | delete all | word rewrites |\n|---|---|---|---|---|---|---|---|---|"
    );
    for run in &r.peer {
        let _ = writeln!(
            m,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            run.kind.name(),
            triple(run.phase(peer::INSERT)),
            kib(run.phase(peer::READ1).total.c.read_bytes),
            kib(run.phase(peer::REMOUNT).total.c.read_bytes),
            kib(run.phase(peer::READ2).total.c.read_bytes),
            triple(run.phase(peer::UPDATES)),
            kib(run.phase(peer::READ3).total.c.read_bytes),
            triple(run.phase(peer::DELETE)),
            rewrites(run)
        );
    }
    let _ = writeln!(m, "\nErrors and wrong values (every read is checked against a model; a key whose write failed may hold its old or its new value):\n");
    for run in &r.peer {
        let _ = writeln!(m, "* {}: {}", run.kind.name(), failures(run));
    }
    let _ = writeln!(
        m,
        "\nPer update during the 10,000 updates (payload = 8-byte key + 32-byte value = {PAYLOAD} B):\n\n| store | flash reads | bytes read | programs | bytes programmed | write amplification (programmed / payload) | erases | erase counts per region after the workload: min / mean / max |\n|---|---|---|---|---|---|---|---|"
    );
    for run in &r.peer {
        let p = run.phase(peer::UPDATES);
        let c = &p.total.c;
        let _ = writeln!(
            m,
            "| {} | {} | {} | {} | {} | {}x | {} | {} |",
            run.kind.name(),
            num(p.per_op(c.reads)),
            num(p.per_op(c.read_bytes)),
            num(p.per_op(c.programs)),
            num(p.per_op(c.program_bytes)),
            num(c.program_bytes as f64 / (p.ops as f64 * PAYLOAD as f64).max(1.0)),
            num(p.per_op(c.erases)),
            erase_summary(&run.erase_counts)
        );
    }
    for (nrf, model) in [(true, "nRF52 internal flash"), (false, "SPI NOR at 8 MHz")] {
        let _ = writeln!(
            m,
            "\nPer-operation time on {model}, p50 / p99 / max:\n\n| store | insert | get (all three read-alls) | update | delete |\n|---|---|---|---|---|"
        );
        for run in &r.peer {
            let s = |p: &Phase| if nrf { p.nrf_spread() } else { p.spi_spread() };
            let _ = writeln!(
                m,
                "| {} | {} | {} | {} | {} |",
                run.kind.name(),
                spread(s(run.phase(peer::INSERT))),
                spread(pooled(
                    &[
                        run.phase(peer::READ1),
                        run.phase(peer::READ2),
                        run.phase(peer::READ3)
                    ],
                    nrf
                )),
                spread(s(run.phase(peer::UPDATES))),
                spread(s(run.phase(peer::DELETE)))
            );
        }
    }
    let _ = writeln!(
        m,
        "\nThe worst single update of the 10,000, and the flash work it did:\n\n| store | worst on nRF52 | worst on SPI NOR |\n|---|---|---|"
    );
    for run in &r.peer {
        let p = run.phase(peer::UPDATES);
        let _ = writeln!(
            m,
            "| {} | {} | {} |",
            run.kind.name(),
            worst(&p.worst_nrf, true),
            worst(&p.worst_spi, false)
        );
    }
    let _ = writeln!(
        m,
        "\nMount (the remount phase): {}.\n",
        r.peer
            .iter()
            .map(|run| {
                let p = run.phase(peer::REMOUNT);
                format!(
                    "{} {} KiB read in {} reads, {} on SPI NOR",
                    run.kind.name(),
                    kib(p.total.c.read_bytes),
                    p.total.c.reads,
                    time(p.total.spi_ns)
                )
            })
            .collect::<Vec<_>>()
            .join("; ")
    );
}

fn scaling_section(m: &mut String, o: &Options, r: &Results) {
    let _ = writeln!(
        m,
        "## 2. Scaling: N = {}\n",
        o.sizes
            .iter()
            .map(|n| n.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
    let _ = writeln!(
        m,
        "Insert N keys (32-byte values); get every key (hits) and N keys never written (misses); remount and read every key cold; update churn; read all; delete all; get every deleted key. Flash: 16 x 4 KiB for N = 100, 64 x 4 KiB for N = 1000, 256 x 4 KiB (1 MiB) for N = 5000. The churn writes {}x the flash size in payload (updates = factor x flash bytes / {PAYLOAD} B; every key once per round, rounds in random order), so garbage collection runs many times.\n",
        o.churn
    );
    for (n, runs) in &r.scale {
        let _ = writeln!(m, "### N = {n} ({} x 4 KiB)\n", workloads::regions_for(*n));
        let _ = writeln!(
            m,
            "| store | insert: B read / B prog per op | get hit: B read per op, SPI p99 | get miss: B read per op, SPI p99 | mount: KiB read, SPI time | cold get: B read per op | get after delete: B read per op |\n|---|---|---|---|---|---|---|"
        );
        for run in runs {
            let ins = run.phase(scale::INSERT);
            let hit = run.phase(scale::HITS);
            let miss = run.phase(scale::MISSES);
            let mount = run.phase(scale::MOUNT);
            let cold = run.phase(scale::COLD);
            let gone = run.phase(scale::GONE);
            let _ = writeln!(
                m,
                "| {} | {} / {} | {}, {} | {}, {} | {}, {} | {} | {} |",
                run.kind.name(),
                num(ins.per_op(ins.total.c.read_bytes)),
                num(ins.per_op(ins.total.c.program_bytes)),
                num(hit.per_op(hit.total.c.read_bytes)),
                time(hit.spi_spread().p99),
                num(miss.per_op(miss.total.c.read_bytes)),
                time(miss.spi_spread().p99),
                kib(mount.total.c.read_bytes),
                time(mount.total.spi_ns),
                num(cold.per_op(cold.total.c.read_bytes)),
                num(gone.per_op(gone.total.c.read_bytes)),
            );
        }
        let _ = writeln!(
            m,
            "\n| store | churn updates (x flash) | per update: B read / B prog / erases | write amp. | update nRF52 p50 / p99 / max | update SPI p50 / p99 / max | erases per region min / mean / max | delete: B prog per op | errors, wrong values |\n|---|---|---|---|---|---|---|---|---|"
        );
        for run in runs {
            let ch = run.phase(scale::CHURN);
            let del = run.phase(scale::DELETE);
            let c = &ch.total.c;
            let _ = writeln!(
                m,
                "| {} | {} | {} / {} / {} | {}x | {} | {} | {} | {} | {} |",
                run.kind.name(),
                if ch.aborted {
                    format!(
                        "{} of {} (stopped)",
                        ch.ops,
                        workloads::churn_updates(run.regions, o.churn)
                    )
                } else {
                    format!("{} ({}x)", ch.ops, o.churn)
                },
                num(ch.per_op(c.read_bytes)),
                num(ch.per_op(c.program_bytes)),
                num(ch.per_op(c.erases)),
                num(c.program_bytes as f64 / (ch.ops as f64 * PAYLOAD as f64).max(1.0)),
                spread(ch.nrf_spread()),
                spread(ch.spi_spread()),
                erase_summary(&run.erase_counts),
                num(del.per_op(del.total.c.program_bytes)),
                failures(run)
            );
        }
        let _ = writeln!(m);
    }
}

fn mixed_section(m: &mut String, r: &Results) {
    let _ = writeln!(m, "## 3. Mixed value sizes\n");
    let _ = writeln!(
        m,
        "{} keys with values of 1..={} bytes (uniform; every update draws a new length) on 64 x 4 KiB: insert, read all, 10 rounds of updates ({} updates), read all, delete all.\n",
        workloads::MIXED_KEYS,
        workloads::MIXED_MAX,
        10 * workloads::MIXED_KEYS
    );
    let _ = writeln!(
        m,
        "| store | insert: B prog per op | get: B read per op | update: B read / B prog / erases per op | update nRF52 p99 / max | update SPI p99 / max | delete: B read / B prog per op | word rewrites | errors, wrong values |\n|---|---|---|---|---|---|---|---|---|"
    );
    for run in &r.mixed {
        let ins = run.phase(mixed::INSERT);
        let get = run.phase(mixed::AFTER);
        let up = run.phase(mixed::UPDATES);
        let del = run.phase(mixed::DELETE);
        let (n, s) = (up.nrf_spread(), up.spi_spread());
        let _ = writeln!(
            m,
            "| {} | {} | {} | {} / {} / {} | {} / {} | {} / {} | {} / {} | {} | {} |",
            run.kind.name(),
            num(ins.per_op(ins.total.c.program_bytes)),
            num(get.per_op(get.total.c.read_bytes)),
            num(up.per_op(up.total.c.read_bytes)),
            num(up.per_op(up.total.c.program_bytes)),
            num(up.per_op(up.total.c.erases)),
            time(n.p99),
            time(n.max),
            time(s.p99),
            time(s.max),
            num(del.per_op(del.total.c.read_bytes)),
            num(del.per_op(del.total.c.program_bytes)),
            rewrites(run),
            failures(run)
        );
    }
    let _ = writeln!(m);
}

fn fill_section(m: &mut String, r: &Results) {
    let _ = writeln!(m, "## 5. Fill levels: erases per KiB written\n");
    let _ = writeln!(
        m,
        "16 x 4 KiB, 32-byte values. Each store's capacity is the number of keys it accepts before refusing one; it is filled to {} % of that, then random keys are overwritten: {} capacities' worth to reach a steady state, then as many again, measured. *Ideal* is what a ring needs at best if every lap (one erase per region) made room for exactly the free space, `capacity - live` keys: {} erases per `(capacity - live) x {PAYLOAD}` bytes of payload. A store that compacts the oldest region when space runs out does better than that (the oldest region holds more than the average garbage), so both stores land near half of it; the target is the bound. Payload is key + value, {PAYLOAD} B a write.\n",
        fill::FILL_LEVELS.map(|p| p.to_string()).join(", "),
        fill::FILL_LAPS,
        fill::FILL_REGIONS,
    );
    let _ = writeln!(
        m,
        "| store | live | capacity (keys) | writes measured | failed | erases | erases per KiB | ideal per KiB | / ideal | bytes programmed per payload byte | KiB read per write |\n|---|---|---|---|---|---|---|---|---|---|---|"
    );
    for f in &r.fill {
        let _ = writeln!(
            m,
            "| {} | {} % ({} keys) | {} | {} | {} | {} | {:.3} | {:.3} | {:.2} | {:.2} | {:.2} |",
            f.kind.name(),
            f.percent,
            f.keys,
            f.capacity,
            f.phase.ops,
            f.phase.errors,
            f.phase.total.c.erases,
            f.erases_per_kib(),
            f.ideal_per_kib(),
            f.erases_per_kib() / f.ideal_per_kib(),
            f.amplification(),
            f.phase.per_op(f.phase.total.c.read_bytes) / 1024.0,
        );
    }
    let wrong: u64 = r.fill.iter().map(|f| f.phase.wrong).sum();
    let _ = writeln!(
        m,
        "\nEvery key is read back after the overwrites: {wrong} wrong. Our writes that find no room fail without erasing; the adapter then runs `gc_step` and retries (see the tuning table).\n"
    );
}

fn beyond_section(m: &mut String, r: &Results) {
    let bits_per_record = (8 * stores::FILTER_PER_REGION) as f64 / beyond_region_records() as f64;
    let _ = writeln!(
        m,
        "## 6. Beyond the RAM index: reads per get and per miss\n"
    );
    let _ = writeln!(
        m,
        "64 x 4 KiB, {} keys x 32 B, each written three times (insert and two rounds of overwrites), then a remount and one unmeasured pass over every key (sequential-storage fills its key cache lazily); then a get of every key and of {} keys never written. Entries: our index entries (12 B each) or sequential-storage's key-pointer cache slots; 1x, 2x and 10x more keys than entries.\n",
        fill::BEYOND_KEYS,
        fill::BEYOND_KEYS
    );
    let _ = writeln!(
        m,
        "| store | entries | keys per entry | reads per get | bytes read per get | reads per miss | bytes read per miss | wrong |\n|---|---|---|---|---|---|---|---|"
    );
    for b in &r.beyond {
        let per = |p: &crate::stats::Phase, v: u64| num(p.per_op(v));
        let _ = writeln!(
            m,
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            b.kind.name(),
            b.entries,
            fill::BEYOND_KEYS
                .checked_div(b.entries)
                .map_or("-".to_string(), |n| n.to_string()),
            per(&b.hits, b.hits.total.c.reads),
            per(&b.hits, b.hits.total.c.read_bytes),
            per(&b.misses, b.misses.total.c.reads),
            per(&b.misses, b.misses.total.c.read_bytes),
            b.hits.wrong + b.misses.wrong,
        );
    }
    let _ = writeln!(
        m,
        "\nWithout key filters our engine scans the log for every key that is not indexed, and for every miss (it cannot tell a miss from an unindexed key): reads grow with the log. With them ({} B per region: {:.0} bits per record slot here) it scans only the regions whose filter may hold the key, newest first: a get of an unindexed key reads about one region's record headers ({} at 32-byte values) and its record; a miss reads a region in use only with the filter's false-positive chance, (1 - e^(-5 / bits per record))^5 = {:.2} % here; 0 reads with a complete index. The filter's ROM cost is in section 8; its RAM is per region, whatever the number of keys (`doc/tickv-format.md`, section 7).\n",
        stores::FILTER_PER_REGION,
        bits_per_record,
        beyond_region_records(),
        100.0 * (1.0 - (-5.0 / bits_per_record).exp()).powi(5)
    );
}

/// Records of 16 + 32 bytes in one 4 KiB region.
fn beyond_region_records() -> u64 {
    (REGION as u64 - 12) / 48
}

/// The beyond-the-index targets: with key filters and ten times more keys
/// than index entries, a miss reads under half a region's record headers on
/// average, and a get fewer bytes than upstream TicKV's one region.
fn beyond_targets(m: &mut String, r: &Results) {
    let verdict = |ok: bool| if ok { "PASS" } else { "FAIL" };
    let Some(b) = r
        .beyond
        .iter()
        .find(|b| b.kind == Kind::OursFilter && b.entries == fill::BEYOND_KEYS / 10)
    else {
        let _ = writeln!(m, "| beyond the index (not measured) | | | FAIL |");
        return;
    };
    let ok = b.hits.wrong + b.misses.wrong == 0 && b.hits.errors + b.misses.errors == 0;
    let miss = b.misses.per_op(b.misses.total.c.reads);
    let half = beyond_region_records() as f64 / 2.0;
    let _ = writeln!(
        m,
        "| reads per miss, 10x more keys than index entries (key filters, {} B per region) | {} | at most half a region's record headers ({}) | {} |",
        stores::FILTER_PER_REGION,
        num(miss),
        num(half),
        verdict(ok && miss <= half)
    );
    let get = b.hits.per_op(b.hits.total.c.read_bytes);
    let _ = writeln!(
        m,
        "| bytes read per get, 10x more keys than index entries (key filters) | {} B | {REGION} B (one region, what upstream TicKV reads) | {} |",
        num(get),
        verdict(ok && get <= REGION as f64)
    );
}

fn space_section(m: &mut String, r: &Results) {
    let _ = writeln!(m, "## 4. Space efficiency\n");
    let flash = workloads::SPACE_REGIONS * REGION;
    let _ = writeln!(
        m,
        "Distinct keys with 32-byte values inserted into {} x 4 KiB ({} KiB) until the store refuses one (at most {}). Payload = keys x {PAYLOAD} B.\n",
        workloads::SPACE_REGIONS,
        flash / 1024,
        workloads::SPACE_CAP
    );
    let _ = writeln!(m, "| store | keys stored | payload as % of flash | keys read back correctly | stopped by |\n|---|---|---|---|---|");
    for s in &r.space {
        let _ = writeln!(
            m,
            "| {} | {} | {:.1} % | {} | {} |",
            s.kind.name(),
            s.stored,
            100.0 * (s.stored * PAYLOAD) as f64 / flash as f64,
            s.readable,
            s.stop.as_deref().unwrap_or("the cap")
        );
    }
    let _ = writeln!(m);
}

fn cuts_section(m: &mut String, o: &Options, r: &Results) {
    let _ = writeln!(m, "## 7. Power cuts\n");
    let _ = writeln!(
        m,
        "{} x 4 KiB, program unit 4. Workload: {} writes over {} keys (each key first, then 80 % sets with values of 1..=100 B and 20 % deletes, random keys). One uninterrupted run counts its programs and erases; then {} cuts per store, one at a random point in each of {} equal slices of that count. The operation hit by the cut is torn: 10 % not performed, 50 % a prefix of 0..63 bytes written (programs) or erased (erases), 40 % a prefix of 0..4095 bytes. Power then stays off (every later flash operation fails) until the store has returned. Recovery: power on, a new store instance on the same flash, mount, read every key. A cut counts as correct when every key holds its last acknowledged value (the key being written may hold its old or new value; so may a key whose write failed with an error earlier), and the store then accepts a new write and reads it back. Panics are caught (`catch_unwind`); a panic or an error during recovery is a failure; a panic inside the operation that lost power is counted for information only (a reset follows a power cut anyway).\n",
        powercut::REGIONS,
        powercut::OPS,
        powercut::KEYS,
        o.cuts,
        o.cuts
    );
    let _ = writeln!(
        m,
        "| store | correct | wrong or lost key | mount error | read error | panic in recovery | write after recovery failed | panics at the cut | programs + erases in the workload | writes failing without a cut |\n|---|---|---|---|---|---|---|---|---|---|"
    );
    for (k, c) in &r.cuts {
        let _ = writeln!(
            m,
            "| {} | {} / {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            k.name(),
            c.correct,
            c.cuts,
            c.lost,
            c.mount_errors,
            c.read_errors,
            c.recovery_panics,
            c.write_after_failed,
            c.panics_at_cut,
            c.mutations,
            c.errors_without_cut
        );
    }
    let _ = writeln!(m, "\nFirst failures per store:\n");
    for (k, c) in &r.cuts {
        if !c.examples.is_empty() {
            let _ = writeln!(m, "* {}: {}", k.name(), c.examples.join("; "));
        }
    }
    let _ = writeln!(m);
}

fn ram_rom_section(m: &mut String, r: &Results) {
    let _ = writeln!(m, "## 8. RAM and ROM\n");
    let _ = writeln!(
        m,
        "Probe programs in `tools/kv-bench/rom/` (their own workspace) are built for thumbv7em-none-eabihf with opt-level \"s\", fat LTO, one codegen unit and panic = abort. Each places its store and buffers in statics (as firmware would), configured for the 1000-key geometry (64 x 4 KiB), and calls the store's main operations with inputs the optimiser cannot see: ours mount/format/set/get/delete/gc_step (built without its `walk` and `inspect` features: key iteration, and the record walk for tools, which no peer's probe includes either; the kernel builds `walk` in for its quota ledger); ours+filter the same program built with the engine's `filter` feature and 128 B of key filter per region (`TicKV::with_filter`; the 8 KiB of filters are in its static RAM); upstream initialise/invalidate_key/append_key/get_key/garbage_collect; sequential-storage store_item/fetch_item/remove_item; ekv mount/format/write+commit/read/delete+commit. The baseline has the same scaffolding (entry point, panic handler, a memory-mapped flash driver in the style of the nRF52 NVMC, a `block_on`) and no store. Sizes come from the ELF section headers: ROM = .text + .rodata, static RAM = .data + .bss.\n"
    );
    match &r.rom {
        Ok(rom) => {
            let _ = writeln!(m, "| program | ROM | ROM over baseline | static RAM | static RAM over baseline |\n|---|---|---|---|---|");
            for (p, s) in &rom.sizes {
                let d = rom.over_baseline(p);
                let _ = writeln!(
                    m,
                    "| {p} | {} B | {} B ({:.1} KiB) | {} B | {} B |",
                    s.rom,
                    d.rom,
                    d.rom as f64 / 1024.0,
                    s.ram,
                    d.ram
                );
            }
        }
        Err(e) => {
            let _ = writeln!(m, "ROM probes could not be built: {e}\n");
        }
    }
    let _ = writeln!(
        m,
        "\nRAM of every variant from `size_of` on the host (x86_64, so pointers take 8 bytes; the thumbv7em static RAM above is authoritative for the four probe configurations). Async stores also need their operation's future on the stack while it runs; its size is measured on the host with `size_of_val`. Stack use of the synchronous stores is not measured.\n"
    );
    let _ = writeln!(
        m,
        "| store | parts (1000-key workload) | total without futures |\n|---|---|---|"
    );
    for run in &r.peer {
        let parts: Vec<String> = run.ram.iter().map(|(n, b)| format!("{n} {b} B")).collect();
        let total: usize = run
            .ram
            .iter()
            .filter(|p| p.0 != stores::FUTURE)
            .map(|p| p.1)
            .sum();
        let _ = writeln!(
            m,
            "| {} | {} | {total} B |",
            run.kind.name(),
            parts.join(", ")
        );
    }
    let _ = writeln!(m);
}

fn charts(
    m: &mut String,
    o: &Options,
    r: &Results,
    files: &mut Vec<PathBuf>,
) -> std::io::Result<()> {
    let _ = writeln!(m, "## Charts\n");
    let names: Vec<String> = r.peer.iter().map(|x| x.kind.short().to_string()).collect();
    let per_update = |f: fn(&Cost) -> u64| -> Vec<f64> {
        r.peer
            .iter()
            .map(|x| {
                let p = x.phase(peer::UPDATES);
                p.per_op(f(&p.total))
            })
            .collect()
    };
    let ops = svg::bars(
        "Flash operations per update (1000 keys, 10,000 updates, 64 x 4 KiB)",
        "operations per update (log)",
        &names,
        &[
            Series {
                name: "reads".into(),
                values: per_update(|c| c.c.reads),
            },
            Series {
                name: "programs".into(),
                values: per_update(|c| c.c.programs),
            },
            Series {
                name: "erases".into(),
                values: per_update(|c| c.c.erases),
            },
        ],
        true,
    );
    let get_bytes = |name: &'static str| -> Vec<f64> {
        r.peer
            .iter()
            .map(|x| {
                let p = x.phase(name);
                p.per_op(p.total.c.read_bytes)
            })
            .collect()
    };
    let gets = svg::bars(
        "Bytes read per get (1000 keys x 32 B)",
        "bytes read per get (log)",
        &names,
        &[
            Series {
                name: "read all".into(),
                values: get_bytes(peer::READ1),
            },
            Series {
                name: "after remount".into(),
                values: get_bytes(peer::READ2),
            },
            Series {
                name: "after updates".into(),
                values: get_bytes(peer::READ3),
            },
        ],
        true,
    );
    let wear_runs = r
        .scale
        .iter()
        .find(|(n, _)| *n == 1000)
        .or_else(|| r.scale.first())
        .map(|(n, v)| (*n, v));
    let wear = wear_runs.map(|(n, runs)| {
        let series: Vec<Series> = runs
            .iter()
            .map(|x| Series {
                name: x.kind.short().to_string(),
                values: x.erase_counts.iter().map(|&c| c as f64).collect(),
            })
            .collect();
        (
            n,
            svg::lines(
                &format!("Erases per region after the N = {n} churn"),
                "erases (log)",
                "region",
                &series,
                true,
            ),
        )
    });
    let mut write =
        |name: &str, body: &str, caption: &str, m: &mut String| -> std::io::Result<()> {
            let path = o.out.join(name);
            std::fs::write(&path, body)?;
            files.push(path);
            let _ = writeln!(m, "![{caption}]({name})\n");
            Ok(())
        };
    write(
        "bench-ops-per-update.svg",
        &ops,
        "flash operations per update",
        m,
    )?;
    write("bench-bytes-per-get.svg", &gets, "bytes read per get", m)?;
    if let Some((n, body)) = wear {
        write(
            "bench-erases-per-region.svg",
            &body,
            &format!("erase counts per region after the N = {n} churn"),
            m,
        )?;
    }
    if !r.fill.is_empty() {
        write(
            "bench-fill-levels.svg",
            &fill_chart(&r.fill),
            "erases per KiB written at each fill level",
            m,
        )?;
    }
    if !r.beyond.is_empty() {
        write(
            "bench-beyond-index.svg",
            &beyond_chart(&r.beyond),
            "reads per get and per miss beyond the RAM index",
            m,
        )?;
    }
    let _ = writeln!(
        m,
        "Legend names: {}.\n",
        r.peer
            .iter()
            .map(|x| format!("{} = {}", x.kind.short(), x.kind.name()))
            .collect::<Vec<_>>()
            .join(", ")
    );
    Ok(())
}

/// Erases per KiB written per fill level: each store, and our ideal.
fn fill_chart(fills: &[Fill]) -> String {
    let levels: Vec<String> = fill::FILL_LEVELS.iter().map(|p| format!("{p} %")).collect();
    let of = |k: Kind, f: fn(&Fill) -> f64| -> Vec<f64> {
        fill::FILL_LEVELS
            .iter()
            .map(|&p| {
                fills
                    .iter()
                    .find(|x| x.kind == k && x.percent == p)
                    .map_or(0.0, f)
            })
            .collect()
    };
    let mut series: Vec<Series> = fill::FILL_STORES
        .iter()
        .map(|&k| Series {
            name: k.short().to_string(),
            values: of(k, Fill::erases_per_kib),
        })
        .collect();
    series.push(Series {
        name: "ideal (one lap per free space)".into(),
        values: of(Kind::Ours, Fill::ideal_per_kib),
    });
    svg::bars(
        "Erases per KiB written, steady overwrites at each fill level (16 x 4 KiB)",
        "erases per KiB of payload (log)",
        &levels,
        &series,
        true,
    )
}

/// Reads per get and per miss, per store and number of entries.
fn beyond_chart(runs: &[Beyond]) -> String {
    let names: Vec<String> = runs
        .iter()
        .map(|b| match b.entries {
            0 => b.kind.short().to_string(),
            e => format!("{} {e}", b.kind.short()),
        })
        .collect();
    let per = |f: fn(&Beyond) -> &Phase| -> Vec<f64> {
        runs.iter()
            .map(|b| {
                let p = f(b);
                p.per_op(p.total.c.reads).max(0.1)
            })
            .collect()
    };
    svg::bars(
        "Flash reads per get and per miss, 1000 keys, by RAM entries (64 x 4 KiB)",
        "reads per operation (log; 0 shown as 0.1)",
        &names,
        &[
            Series {
                name: "get".into(),
                values: per(|b| &b.hits),
            },
            Series {
                name: "miss".into(),
                values: per(|b| &b.misses),
            },
        ],
        true,
    )
}

fn limits(m: &mut String, r: &Results) {
    let _ = writeln!(m, "## What was not measured, and why\n");
    let mut items = vec![
        "littlefs: optional in the brief and skipped (it is a file system, not a KV store; `doc/peers.md` has its numbers).".to_string(),
        "Real hardware: all times are the device models applied to counted flash operations; CPU time, bus contention and interrupt latency are not included.".to_string(),
        "Stack use: measured only for the async stores' operation futures (on the host); the synchronous stores' stack is not measured.".to_string(),
        "ekv with other compile-time settings: ekv is configured at build time (Cargo features `page-size-*`, `max-page-count-*`, ... or `EKV_*` environment variables, see its `build.rs`); its defaults already are 4096-byte pages and up to 256 pages, so every geometry here (16, 64 and 256 pages) runs on one build with default settings. A tuned build (smaller `MAX_CHUNK_SIZE`, `MAX_KEY_SIZE` 8, `MAX_VALUE_SIZE`) would need less RAM; it was not built.".to_string(),
        "sequential-storage deletes with `remove_item`, which needs `MultiwriteNorFlash` (it zeroes an item's CRC word in place). Storing an empty value as a tombstone instead would avoid the rewrites; that variant was not measured.".to_string(),
        "Upstream TicKV cannot program at a 4-byte unit by itself (its objects start at byte offsets); the numbers include the adapter's widening to whole words.".to_string(),
    ];
    if let Err(e) = &r.rom {
        items.push(format!("ROM and static RAM on thumbv7em: {e}"));
    }
    for i in items {
        let _ = writeln!(m, "* {i}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        assert_eq!(civil_date(0), "1970-01-01");
        assert_eq!(civil_date(19_723), "2024-01-01");
        assert_eq!(civil_date(11_016), "2000-02-29");
    }

    #[test]
    fn times_pick_a_unit() {
        assert_eq!(time(0), "0");
        assert_eq!(time(53_000), "0.053 ms");
        assert_eq!(time(85_000_000), "85.0 ms");
        assert_eq!(time(2_360_000_000), "2.36 s");
    }
}
