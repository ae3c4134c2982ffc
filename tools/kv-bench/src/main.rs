//! kv-bench: TicKV v2 and its peers side by side on one simulated NOR flash.
//!
//! `cargo run --release -p kv-bench -- --out doc` runs every workload of
//! `doc/peers.md` ("A fair side-by-side benchmark") on every store, builds
//! the ROM probes, and writes `doc/benchmarks.md` and `doc/bench-*.svg`.

mod device;
mod fill;
mod powercut;
mod report;
mod rom;
mod stats;
mod stores;
mod svg;
mod workloads;

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Instant;

use stores::{position, Kind};

/// What one run is asked to do.
#[derive(Clone, Debug)]
pub struct Options {
    /// Where the report and charts go.
    pub out: PathBuf,
    /// Power cuts per store.
    pub cuts: usize,
    /// Key counts of the scaling workload.
    pub sizes: Vec<usize>,
    /// Churn of the scaling workload, in multiples of the flash size.
    pub churn: usize,
    /// Skip the ROM probes.
    pub skip_rom: bool,
    /// Only the targets: the peer workload for ours and the reference,
    /// power cuts of ours, the ROM probes; print the targets table and
    /// fail if one is missed (what `make test` runs).
    pub check: bool,
    /// The command line, for the report.
    pub command: String,
}

const USAGE: &str = "usage: kv-bench [--out DIR] [--cuts N] [--quick] [--skip-rom] [--check]
  --out DIR    where benchmarks.md and bench-*.svg are written (default: doc)
  --cuts N     power cuts per store (default: 500)
  --quick      a smoke run: N in {100, 1000}, churn 2x, 50 cuts (not for the report)
  --skip-rom   do not build the thumbv7em size probes
  --check      only what the targets need; print them, exit 1 if one fails,
               write no report (make test)";

fn parse(args: &[String]) -> Result<Options, String> {
    let mut o = Options {
        out: PathBuf::from("doc"),
        cuts: 500,
        sizes: vec![100, 1000, 5000],
        churn: 10,
        skip_rom: false,
        check: false,
        command: format!("cargo run --release -p kv-bench -- {}", args.join(" "))
            .trim_end()
            .to_string(),
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--out" => o.out = it.next().ok_or("--out needs a directory")?.into(),
            "--cuts" => {
                o.cuts = it
                    .next()
                    .and_then(|n| n.parse().ok())
                    .filter(|&n| n > 0)
                    .ok_or("--cuts needs a positive number")?
            }
            "--quick" => {
                o.sizes = vec![100, 1000];
                o.churn = 2;
                o.cuts = 50;
            }
            "--skip-rom" => o.skip_rom = true,
            "--check" => {
                o.check = true;
                o.cuts = 100;
            }
            "-h" | "--help" => return Err(USAGE.into()),
            other => return Err(format!("unknown argument {other}\n{USAGE}")),
        }
    }
    Ok(o)
}

enum Job {
    Rom,
    Peer(Kind),
    Scale(usize, Kind),
    Mixed(Kind),
    Space(Kind),
    Cut(Kind),
    Fill(Kind, usize),
    Beyond(Kind, usize),
}

enum Out {
    Rom(Result<rom::Report, String>),
    Peer(workloads::Run),
    Scale(usize, workloads::Run),
    Mixed(workloads::Run),
    Space(workloads::Space),
    Cut(Kind, powercut::CutResult),
    Fill(Box<fill::Fill>),
    Beyond(Box<fill::Beyond>),
}

/// Everything measured, for the report.
pub struct Results {
    /// The peer workload, per store.
    pub peer: Vec<workloads::Run>,
    /// The scaling workload: per N, per store.
    pub scale: Vec<(usize, Vec<workloads::Run>)>,
    /// Mixed value sizes, per store.
    pub mixed: Vec<workloads::Run>,
    /// Space efficiency, per store.
    pub space: Vec<workloads::Space>,
    /// Power cuts, per store.
    pub cuts: Vec<(Kind, powercut::CutResult)>,
    /// Steady overwrites per fill level, per store.
    pub fill: Vec<fill::Fill>,
    /// Gets and misses beyond the RAM index, per store and entries.
    pub beyond: Vec<fill::Beyond>,
    /// ROM probes (or why they could not be built).
    pub rom: Result<rom::Report, String>,
    /// Seconds the whole run took.
    pub seconds: f64,
}

fn run_all(o: &Options) -> Results {
    // Longest jobs first, so that the two workers finish together.
    let mut jobs = Vec::new();
    if !o.skip_rom {
        jobs.push(Job::Rom);
    }
    if o.check {
        // What the targets table needs, nothing else.
        jobs.extend([
            Job::Peer(Kind::Ours),
            Job::Peer(Kind::SeqCached),
            Job::Cut(Kind::Ours),
            Job::Cut(Kind::OursNoIndex),
            Job::Beyond(Kind::OursFilter, fill::BEYOND_KEYS / 10),
        ]);
    }
    // The fill levels are targets too (doc/benchmarks.md).
    for k in fill::FILL_STORES {
        for p in fill::FILL_LEVELS {
            jobs.push(Job::Fill(k, p));
        }
    }
    for (k, e) in fill::BEYOND.into_iter().filter(|_| !o.check) {
        jobs.push(Job::Beyond(k, e));
    }
    for &n in o.sizes.iter().rev().filter(|_| !o.check) {
        for k in stores::ALL {
            jobs.push(Job::Scale(n, k));
        }
    }
    for k in stores::ALL.into_iter().filter(|_| !o.check) {
        jobs.push(Job::Cut(k));
        jobs.push(Job::Peer(k));
        jobs.push(Job::Mixed(k));
        jobs.push(Job::Space(k));
    }
    jobs.reverse();
    let total = jobs.len();
    let queue = Mutex::new(jobs);
    let outs = Mutex::new(Vec::new());
    let started = Instant::now();
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| loop {
                let Some(job) = queue.lock().expect("queue").pop() else {
                    break;
                };
                let t = Instant::now();
                let (what, out) = match job {
                    Job::Rom => ("ROM probes".to_string(), Out::Rom(rom::measure())),
                    Job::Peer(k) => (
                        format!("peer workload, {}", k.name()),
                        Out::Peer(workloads::peer_workload(k)),
                    ),
                    Job::Scale(n, k) => (
                        format!("N = {n}, {}", k.name()),
                        Out::Scale(n, workloads::scaling(k, n, o.churn)),
                    ),
                    Job::Mixed(k) => (
                        format!("mixed sizes, {}", k.name()),
                        Out::Mixed(workloads::mixed_sizes(k)),
                    ),
                    Job::Space(k) => (
                        format!("space, {}", k.name()),
                        Out::Space(workloads::space(k)),
                    ),
                    Job::Cut(k) => (
                        format!("{} power cuts, {}", o.cuts, k.name()),
                        Out::Cut(k, powercut::run(k, o.cuts, 1)),
                    ),
                    Job::Fill(k, p) => (
                        format!("{p} % live, {}", k.name()),
                        Out::Fill(Box::new(fill::fill(k, p, fill::capacity(k)))),
                    ),
                    Job::Beyond(k, e) => (
                        format!("{e} entries for {} keys, {}", fill::BEYOND_KEYS, k.name()),
                        Out::Beyond(Box::new(fill::beyond(k, e))),
                    ),
                };
                let mut outs = outs.lock().expect("results");
                outs.push(out);
                eprintln!(
                    "[{:>2}/{total}] {what}: {:.1} s",
                    outs.len(),
                    t.elapsed().as_secs_f64()
                );
            });
        }
    });

    let mut r = Results {
        peer: Vec::new(),
        scale: o.sizes.iter().map(|&n| (n, Vec::new())).collect(),
        mixed: Vec::new(),
        space: Vec::new(),
        cuts: Vec::new(),
        fill: Vec::new(),
        beyond: Vec::new(),
        rom: Err("not built (--skip-rom)".into()),
        seconds: 0.0,
    };
    for out in outs.into_inner().expect("results") {
        match out {
            Out::Rom(x) => r.rom = x,
            Out::Peer(x) => r.peer.push(x),
            Out::Scale(n, x) => {
                if let Some((_, v)) = r.scale.iter_mut().find(|(m, _)| *m == n) {
                    v.push(x);
                }
            }
            Out::Mixed(x) => r.mixed.push(x),
            Out::Space(x) => r.space.push(x),
            Out::Cut(k, x) => r.cuts.push((k, x)),
            Out::Fill(x) => r.fill.push(*x),
            Out::Beyond(x) => r.beyond.push(*x),
        }
    }
    r.peer.sort_by_key(|x| position(x.kind));
    r.mixed.sort_by_key(|x| position(x.kind));
    r.space.sort_by_key(|x| position(x.kind));
    r.cuts.sort_by_key(|x| position(x.0));
    r.fill.sort_by_key(|x| (position(x.kind), x.percent));
    r.beyond
        .sort_by_key(|x| (position(x.kind), usize::MAX - x.entries));
    for (_, v) in &mut r.scale {
        v.sort_by_key(|x| position(x.kind));
    }
    r.seconds = started.elapsed().as_secs_f64();
    r
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let o = match parse(&args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    powercut::install_quiet_hook();
    let results = run_all(&o);
    if o.check {
        let table = report::targets_table(&results);
        print!("{table}");
        let failed = table.lines().filter(|l| l.contains("| FAIL")).count();
        println!(
            "kv-bench check: {} targets, {failed} failed ({:.0} s)",
            table
                .lines()
                .filter(|l| l.starts_with("| ") && !l.starts_with("| target"))
                .count(),
            results.seconds
        );
        std::process::exit(i32::from(failed > 0));
    }
    match report::write(&o, &results) {
        Ok(files) => {
            for f in files {
                eprintln!("wrote {}", f.display());
            }
        }
        Err(e) => {
            eprintln!("writing the report failed: {e}");
            std::process::exit(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn parses_the_documented_invocation() {
        let o = parse(&args("--out doc")).unwrap();
        assert_eq!(o.out, PathBuf::from("doc"));
        assert_eq!((o.cuts, o.churn), (500, 10));
        assert_eq!(o.sizes, vec![100, 1000, 5000]);
        assert_eq!(o.command, "cargo run --release -p kv-bench -- --out doc");
        assert!(parse(&args("--cuts 0")).is_err());
        assert!(parse(&args("--bogus")).is_err());
        assert_eq!(parse(&args("--quick")).unwrap().cuts, 50);
        assert!(parse(&args("--check")).unwrap().check);
    }
}
