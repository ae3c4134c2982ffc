//! Behaviour of the in-memory simulator through its public API.

use flashsim::{Counters, Geometry, SimError, SimFlash, Tear};

/// 4 regions of 64 bytes, 4-byte program unit, erased = 0xFF.
fn geo() -> Geometry {
    Geometry {
        region_size: 64,
        region_count: 4,
        program_unit: 4,
        erase_value: 0xFF,
    }
}

fn flash() -> SimFlash {
    SimFlash::new(geo())
}

fn read_vec(f: &mut SimFlash, addr: usize, len: usize) -> Vec<u8> {
    let mut buf = vec![0u8; len];
    f.read(addr, &mut buf).expect("read");
    buf
}

#[test]
fn geometry_validation() {
    assert_eq!(geo().size(), 256);
    assert!(geo().validate().is_ok());
    for unit in [1, 2, 4, 8, 16, 32] {
        let g = Geometry {
            program_unit: unit,
            ..geo()
        };
        assert!(g.validate().is_ok(), "unit {unit}");
    }
    let bad = [
        Geometry {
            region_size: 0,
            ..geo()
        },
        Geometry {
            region_count: 0,
            ..geo()
        },
        Geometry {
            program_unit: 0,
            ..geo()
        },
        Geometry {
            program_unit: 3,
            ..geo()
        },
        Geometry {
            program_unit: 64,
            region_size: 128,
            ..geo()
        },
        Geometry {
            region_size: 6,
            program_unit: 4,
            ..geo()
        },
        Geometry {
            region_size: usize::MAX / 2,
            region_count: 3,
            ..geo()
        },
    ];
    for g in bad {
        assert!(g.validate().is_err(), "{g:?} should be rejected");
        assert!(SimFlash::from_image(g, Vec::new()).is_err());
    }
}

#[test]
#[should_panic(expected = "invalid geometry")]
fn new_panics_on_invalid_geometry() {
    let _ = SimFlash::new(Geometry {
        program_unit: 3,
        ..geo()
    });
}

#[test]
fn new_flash_is_erased_and_unprogrammed() {
    let mut f = flash();
    assert_eq!(f.geometry(), geo());
    assert!(f.image().iter().all(|&b| b == 0xFF));
    assert!((0..256).all(|a| !f.is_programmed(a)));
    assert_eq!(f.programmed_words(), 0);
    assert!(f.is_powered());
    assert!(f.is_strict());
    assert_eq!(f.erase_counts(), &[0, 0, 0, 0]);
    assert_eq!(f.mutations(), 0);
    assert_eq!(f.counters(), Counters::default());
    assert_eq!(read_vec(&mut f, 0, 256), vec![0xFF; 256]);

    let zero = SimFlash::new(Geometry {
        erase_value: 0,
        ..geo()
    });
    assert!(zero.image().iter().all(|&b| b == 0));
}

#[test]
fn and_semantics_non_strict() {
    let mut f = flash();
    f.set_strict(false);
    f.program(8, &[0b1100_1100, 0xF0, 0xFF, 0x00]).unwrap();
    f.program(8, &[0b1010_1010, 0x0F, 0x7E, 0xFF]).unwrap();
    assert_eq!(
        read_vec(&mut f, 8, 4),
        [0b1000_1000, 0x00, 0x7E, 0x00],
        "new = old & data"
    );
    // One word was rewritten once (the first program was clean).
    assert_eq!(f.counters().word_rewrites, 1);
    // Neighbours untouched.
    assert_eq!(read_vec(&mut f, 4, 4), [0xFF; 4]);
    assert_eq!(read_vec(&mut f, 12, 4), [0xFF; 4]);
}

#[test]
fn or_semantics_for_zero_erase_value() {
    let g = Geometry {
        erase_value: 0x00,
        ..geo()
    };
    let mut f = SimFlash::new(g);
    f.program(0, &[0b0011, 0, 0, 0x80]).unwrap();
    // Strict: the word is already programmed, so Rewrite is reported (it
    // takes precedence over the bit raise of bit 1).
    assert_eq!(f.program(0, &[0b0101, 0, 0, 0]), Err(SimError::Rewrite));
    f.set_strict(false);
    f.program(0, &[0b0101, 0, 0, 0]).unwrap();
    assert_eq!(f.image()[..4], [0b0111, 0, 0, 0x80]);
    f.erase(0).unwrap();
    assert_eq!(f.image()[..4], [0, 0, 0, 0]);
}

#[test]
fn strict_rewrite_rejected_and_changes_nothing() {
    let mut f = flash();
    f.program(0, &[0xF0; 8]).unwrap();
    let before_image = f.image().to_vec();
    let before_counters = f.counters();
    let before_mut = f.mutations();
    // Overlaps the programmed word 4..8 and the free word 8..12; even data
    // that would not raise any bit is rejected.
    assert_eq!(f.program(4, &[0x00; 8]), Err(SimError::Rewrite));
    assert_eq!(f.image(), &before_image[..]);
    assert_eq!(f.counters(), before_counters);
    assert_eq!(f.mutations(), before_mut);
    assert!(!f.is_programmed(8), "rejected program marked nothing");
}

#[test]
fn strict_bit_raise_rejected_and_changes_nothing() {
    let mut f = flash();
    // A corrupted (unprogrammed-flag) word with a 0 bit: programming a 1
    // there is a bit raise, not a rewrite.
    f.flip_bit(16, 3);
    assert!(!f.is_programmed(16));
    let before = f.image().to_vec();
    assert_eq!(f.program(16, &[0xFF, 0, 0, 0]), Err(SimError::BitRaise));
    assert_eq!(f.image(), &before[..]);
    assert!(!f.is_programmed(16));
    assert_eq!(f.counters(), Counters::default());
    // Keeping the 0 bit is fine.
    f.program(16, &[0xF7, 0, 0, 0]).unwrap();
    assert_eq!(f.image()[16..20], [0xF7, 0, 0, 0]);
}

#[test]
fn non_strict_counts_each_offending_word_once() {
    let mut f = flash();
    f.set_strict(false);
    f.program(0, &[0x0F; 16]).unwrap(); // words 0..4
    assert_eq!(f.counters().word_rewrites, 0);
    // Words 2,3 rewritten (and raising bits), words 4,5 fresh.
    f.program(8, &[0xF0; 16]).unwrap();
    assert_eq!(f.counters().word_rewrites, 2);
    assert_eq!(f.image()[8..16], [0x00; 8]);
    assert_eq!(f.image()[16..24], [0xF0; 8]);
    // A bit raise in an unprogrammed (corrupted) word counts too.
    f.flip_bit(40, 0);
    f.program(40, &[0xFF; 4]).unwrap();
    assert_eq!(f.counters().word_rewrites, 3);
    assert_eq!(f.image()[40], 0xFE, "the raised bit stays down");
}

#[test]
fn misaligned_checked_in_both_modes() {
    for strict in [true, false] {
        let mut f = flash();
        f.set_strict(strict);
        assert_eq!(f.program(2, &[0; 4]), Err(SimError::Misaligned));
        assert_eq!(f.program(4, &[0; 3]), Err(SimError::Misaligned));
        assert_eq!(f.program(1, &[]), Err(SimError::Misaligned));
        assert!(f.image().iter().all(|&b| b == 0xFF));
        assert_eq!(f.counters(), Counters::default());
        assert_eq!(f.mutations(), 0);
    }
}

#[test]
fn out_of_range() {
    let mut f = flash();
    let mut buf = [0u8; 8];
    assert_eq!(f.read(252, &mut buf), Err(SimError::OutOfRange));
    assert_eq!(f.read(usize::MAX, &mut buf), Err(SimError::OutOfRange));
    assert_eq!(f.program(252, &[0; 8]), Err(SimError::OutOfRange));
    assert_eq!(
        f.program(usize::MAX - 3, &[0; 4]),
        Err(SimError::OutOfRange)
    );
    // Out of range takes precedence over misalignment.
    assert_eq!(f.program(255, &[0; 3]), Err(SimError::OutOfRange));
    assert_eq!(f.erase(4), Err(SimError::OutOfRange));
    // Edges are fine.
    f.read(248, &mut buf).unwrap();
    f.read(256, &mut []).unwrap();
    f.program(252, &[0; 4]).unwrap();
    assert_eq!(f.counters().programs, 1);
    assert_eq!(f.counters().erases, 0);
}

#[test]
fn reads_at_any_alignment() {
    let mut f = flash();
    let data: Vec<u8> = (0..64).collect();
    f.program(64, &data).unwrap();
    for start in 60..70 {
        for len in 0..9 {
            let got = read_vec(&mut f, start, len);
            assert_eq!(got, f.image()[start..start + len]);
        }
    }
    assert_eq!(read_vec(&mut f, 67, 3), [3, 4, 5]);
}

#[test]
fn erase_resets_programmed_state_and_counts_per_region() {
    let mut f = flash();
    f.program(64, &[0; 64]).unwrap();
    f.program(128, &[0; 4]).unwrap();
    assert!((64..128).all(|a| f.is_programmed(a)));
    f.erase(1).unwrap();
    assert!((64..128).all(|a| !f.is_programmed(a)));
    assert!(f.image()[64..128].iter().all(|&b| b == 0xFF));
    assert!(f.is_programmed(128), "other regions keep their state");
    assert_eq!(f.image()[128..132], [0; 4]);
    // Programming again after an erase is allowed in strict mode.
    f.program(64, &[0x12; 4]).unwrap();
    f.erase(1).unwrap();
    f.erase(3).unwrap();
    assert_eq!(f.erase_counts(), &[0, 2, 0, 1]);
    assert_eq!(f.counters().erases, 3);
}

#[test]
fn programming_erase_value_still_marks_word() {
    let mut f = flash();
    f.program(0, &[0xFF; 4]).unwrap();
    assert!(f.is_programmed(0) && f.is_programmed(3) && !f.is_programmed(4));
    assert_eq!(f.program(0, &[0xFF; 4]), Err(SimError::Rewrite));
}

#[test]
fn torn_program_writes_exact_prefix() {
    for n in 0..=12 {
        let mut f = flash();
        f.program(0, &[0xAA; 4]).unwrap();
        f.cut_power_after(0, Tear::Partial(n));
        let data: Vec<u8> = (1..=8).collect();
        assert_eq!(f.program(8, &data), Err(SimError::PowerLoss));
        assert!(!f.is_powered());
        f.power_on();
        let written = n.min(8);
        let img = f.image();
        assert_eq!(img[8..8 + written], data[..written], "n={n}");
        assert!(img[8 + written..16].iter().all(|&b| b == 0xFF), "n={n}");
        assert_eq!(img[..4], [0xAA; 4]);
        // Words touched even partially are marked programmed.
        assert_eq!(f.is_programmed(8), written > 0, "n={n}");
        assert_eq!(f.is_programmed(12), written > 4, "n={n}");
        assert!(!f.is_programmed(16));
        let c = f.counters();
        assert_eq!(c.programs, 2);
        assert_eq!(c.program_bytes, 4 + written as u64);
        assert_eq!(f.mutations(), 2);
    }
}

#[test]
fn torn_program_before_is_not_performed() {
    let mut f = flash();
    f.cut_power_after(1, Tear::Before);
    f.program(0, &[0; 4]).unwrap();
    assert_eq!(f.program(4, &[0; 4]), Err(SimError::PowerLoss));
    f.power_on();
    assert!(f.image()[4..8].iter().all(|&b| b == 0xFF));
    assert!(!f.is_programmed(4));
    assert_eq!(f.counters().programs, 1);
    assert_eq!(f.mutations(), 2, "the torn op consumed budget");
}

#[test]
fn torn_erase_erases_exact_prefix_and_keeps_straddling_word() {
    let mut f = flash();
    f.program(64, &[0u8; 64]).unwrap();
    f.cut_power_after(0, Tear::Partial(10));
    assert_eq!(f.erase(1), Err(SimError::PowerLoss));
    f.power_on();
    let img = f.image();
    assert!(img[64..74].iter().all(|&b| b == 0xFF));
    assert!(img[74..128].iter().all(|&b| b == 0x00));
    // Words 64..68 and 68..72 are fully erased; 72..76 straddles the cut.
    assert!(!f.is_programmed(64) && !f.is_programmed(71));
    assert!(f.is_programmed(72) && f.is_programmed(75) && f.is_programmed(76));
    assert_eq!(f.erase_counts(), &[0, 1, 0, 0]);
    assert_eq!(f.counters().erases, 1);
    // The straddling word is still a rewrite target in strict mode.
    assert_eq!(f.program(72, &[0; 4]), Err(SimError::Rewrite));
    f.program(68, &[0; 4]).unwrap();

    // Oversized prefix clamps to the region; Before does nothing.
    let mut f = flash();
    f.program(0, &[0u8; 8]).unwrap();
    f.cut_power_after(0, Tear::Partial(1000));
    assert_eq!(f.erase(0), Err(SimError::PowerLoss));
    f.power_on();
    assert!(f.image()[..64].iter().all(|&b| b == 0xFF));
    assert_eq!(f.programmed_words(), 0);
    f.program(64, &[0u8; 4]).unwrap();
    f.cut_power_after(0, Tear::Before);
    assert_eq!(f.erase(1), Err(SimError::PowerLoss));
    f.power_on();
    assert_eq!(f.image()[64..68], [0; 4]);
    assert_eq!(f.erase_counts(), &[1, 0, 0, 0]);
    assert_eq!(f.counters().erases, 1);
}

#[test]
fn weak_and_random_erase_tears() {
    // Weak: only programmed bits flip back, the kept prefix is untouched,
    // every word stays programmed, the same seed gives the same damage.
    let weak = |seed| {
        let mut f = flash();
        f.program(64, &[0u8; 64]).unwrap();
        f.program(128, &[0x5Au8; 4]).unwrap();
        f.cut_power_after(
            0,
            Tear::Weak {
                seed,
                keep: 8,
                ones: 128,
            },
        );
        assert_eq!(f.erase(1), Err(SimError::PowerLoss));
        f.power_on();
        assert_eq!(f.erase_counts(), &[0, 1, 0, 0]);
        assert_eq!(f.counters().erases, 1);
        assert_eq!(f.erase_mutations(), &[(2, 1)]);
        f
    };
    let f = weak(3);
    let img = f.image();
    assert_eq!(img[64..72], [0; 8], "the kept prefix");
    let ones: u32 = img[72..128].iter().map(|b| b.count_ones()).sum();
    assert!(
        ones > 56 * 8 / 4 && ones < 56 * 8 * 3 / 4,
        "{ones} of 448 bits flipped"
    );
    assert_eq!(img[128..132], [0x5A; 4], "other regions untouched");
    assert!((64..128).all(|a| f.is_programmed(a)));
    assert_eq!(weak(3).image(), img);
    assert_ne!(weak(4).image(), img);
    let mut f = weak(5);
    assert_eq!(f.program(100, &[0; 4]), Err(SimError::Rewrite));
    // All bits flip with ones = 256: the region reads erased, yet must be
    // erased again before a program.
    f.program(0, &[0; 4]).unwrap();
    f.cut_power_after(
        0,
        Tear::Weak {
            seed: 1,
            keep: 0,
            ones: 256,
        },
    );
    assert_eq!(f.erase(0), Err(SimError::PowerLoss));
    f.power_on();
    assert!(f.image()[..64].iter().all(|&b| b == 0xFF));
    assert_eq!(f.program(0, &[0; 4]), Err(SimError::Rewrite));

    // Random: the whole region is noise and programmed.
    let mut f = flash();
    f.cut_power_after(0, Tear::Random(9));
    assert_eq!(f.erase(2), Err(SimError::PowerLoss));
    f.power_on();
    let noise = &f.image()[128..192];
    assert!(noise.iter().filter(|&&b| b == 0xFF).count() < 8);
    assert!(f.is_programmed(128) && f.is_programmed(191));
    assert_eq!(f.counters().erases, 1);

    // On a program these tears write nothing, like Before.
    let mut f = flash();
    f.cut_power_after(0, Tear::Random(1));
    assert_eq!(f.program(0, &[0; 4]), Err(SimError::PowerLoss));
    f.power_on();
    assert!(!f.is_programmed(0));
    assert_eq!(f.counters().programs, 0);
}

#[test]
fn power_stays_off_until_power_on() {
    let mut f = flash();
    f.cut_power_after(2, Tear::Before);
    assert_eq!(f.power_budget(), Some(2));
    // Reads do not consume budget.
    read_vec(&mut f, 0, 4);
    f.program(0, &[1; 4]).unwrap();
    f.erase(3).unwrap();
    assert_eq!(f.power_budget(), Some(0));
    assert!(f.is_powered());
    assert_eq!(f.erase(2), Err(SimError::PowerLoss));
    assert!(!f.is_powered());
    assert_eq!(f.power_budget(), None);
    let counters = f.counters();
    let mutations = f.mutations();
    let image = f.image().to_vec();
    let mut buf = [0x55u8; 4];
    for _ in 0..3 {
        assert_eq!(f.read(0, &mut buf), Err(SimError::PowerLoss));
        assert_eq!(f.program(4, &[0; 4]), Err(SimError::PowerLoss));
        assert_eq!(f.erase(0), Err(SimError::PowerLoss));
        // Power loss wins even over argument errors.
        assert_eq!(f.program(3, &[0; 1]), Err(SimError::PowerLoss));
        assert_eq!(f.erase(99), Err(SimError::PowerLoss));
    }
    assert_eq!(buf, [0x55; 4], "buffer untouched");
    assert_eq!(f.image(), &image[..]);
    assert_eq!(f.counters(), counters);
    assert_eq!(f.mutations(), mutations);
    f.power_on();
    assert!(f.is_powered());
    f.read(0, &mut buf).unwrap();
    assert_eq!(buf, [1; 4]);
    // No cut armed any more.
    for i in 0..8 {
        f.program(64 + 4 * i, &[0; 4]).unwrap();
    }
}

#[test]
fn power_on_disarms_pending_cut() {
    let mut f = flash();
    f.cut_power_after(0, Tear::Before);
    f.power_on();
    assert_eq!(f.power_budget(), None);
    f.program(0, &[0; 4]).unwrap();
    // Re-arming replaces the earlier cut.
    f.cut_power_after(0, Tear::Before);
    f.cut_power_after(1, Tear::Before);
    f.program(4, &[0; 4]).unwrap();
    assert_eq!(f.program(8, &[0; 4]), Err(SimError::PowerLoss));
}

#[test]
fn invalid_ops_consume_no_budget() {
    let mut f = flash();
    f.program(0, &[0; 4]).unwrap();
    f.cut_power_after(0, Tear::Before);
    assert_eq!(f.program(0, &[0; 4]), Err(SimError::Rewrite));
    assert_eq!(f.program(2, &[0; 4]), Err(SimError::Misaligned));
    assert_eq!(f.erase(7), Err(SimError::OutOfRange));
    assert!(f.is_powered());
    assert_eq!(f.mutations(), 1);
    assert_eq!(f.program(4, &[0; 4]), Err(SimError::PowerLoss));
    assert_eq!(f.mutations(), 2);
}

#[test]
fn zero_length_program_is_an_operation() {
    let mut f = flash();
    f.program(8, &[]).unwrap();
    assert_eq!(f.mutations(), 1);
    assert_eq!(f.counters().programs, 1);
    assert_eq!(f.counters().program_bytes, 0);
    assert_eq!(f.programmed_words(), 0);
}

#[test]
fn injected_read_fault_fires_once_at_nth() {
    let mut f = flash();
    f.program(0, &[7; 4]).unwrap();
    f.fail_nth_read(2);
    let mut buf = [0u8; 4];
    f.read(0, &mut buf).unwrap();
    // Reads rejected before the fault check do not count.
    assert_eq!(f.read(300, &mut buf), Err(SimError::OutOfRange));
    f.read(0, &mut buf).unwrap();
    let mut buf = [0x33u8; 4];
    assert_eq!(f.read(0, &mut buf), Err(SimError::Injected));
    assert_eq!(buf, [0x33; 4], "buffer untouched");
    assert_eq!(f.counters().reads, 2);
    for _ in 0..10 {
        f.read(0, &mut buf).unwrap();
    }
    assert_eq!(buf, [7; 4]);
}

#[test]
fn injected_program_fault_fires_once_at_nth() {
    let mut f = flash();
    f.fail_nth_program(1);
    f.program(0, &[0; 4]).unwrap();
    assert_eq!(f.program(4, &[0; 4]), Err(SimError::Injected));
    assert!(f.image()[4..8].iter().all(|&b| b == 0xFF));
    assert!(!f.is_programmed(4));
    assert_eq!(f.counters().programs, 1);
    assert_eq!(f.mutations(), 1);
    // Fired once: the retry succeeds, as do later programs.
    f.program(4, &[0; 4]).unwrap();
    f.program(8, &[0; 4]).unwrap();
    assert_eq!(f.counters().programs, 3);

    // fail 0 = the very next; faults do not consume the power budget.
    f.fail_nth_program(0);
    f.cut_power_after(0, Tear::Before);
    assert_eq!(f.program(12, &[0; 4]), Err(SimError::Injected));
    assert!(f.is_powered());
    assert_eq!(f.program(12, &[0; 4]), Err(SimError::PowerLoss));
}

#[test]
fn injected_erase_fault_fires_once_at_nth() {
    let mut f = flash();
    f.program(0, &[0; 4]).unwrap();
    f.fail_nth_erase(0);
    assert_eq!(f.erase(0), Err(SimError::Injected));
    assert_eq!(f.image()[..4], [0; 4]);
    assert!(f.is_programmed(0));
    assert_eq!(f.erase_counts(), &[0; 4]);
    assert_eq!(f.counters().erases, 0);
    f.erase(0).unwrap();
    f.erase(0).unwrap();
    assert_eq!(f.erase_counts(), &[2, 0, 0, 0]);
}

#[test]
fn clear_faults_disarms_all() {
    let mut f = flash();
    f.fail_nth_read(0);
    f.fail_nth_program(0);
    f.fail_nth_erase(0);
    f.clear_faults();
    let mut buf = [0u8; 1];
    f.read(0, &mut buf).unwrap();
    f.program(0, &[0; 4]).unwrap();
    f.erase(0).unwrap();
}

#[test]
fn faults_do_not_advance_while_powered_off() {
    let mut f = flash();
    f.fail_nth_program(1);
    f.cut_power_after(0, Tear::Before);
    assert_eq!(f.program(0, &[0; 4]), Err(SimError::PowerLoss)); // counts as #0
    assert_eq!(f.program(0, &[0; 4]), Err(SimError::PowerLoss)); // power off: not counted
    f.power_on();
    assert_eq!(f.program(0, &[0; 4]), Err(SimError::Injected)); // #1
}

#[test]
fn flip_bit_is_direct_corruption() {
    let mut f = flash();
    f.program(0, &[0x00; 4]).unwrap();
    let c = f.counters();
    f.flip_bit(1, 7);
    f.flip_bit(100, 0);
    assert_eq!(f.image()[1], 0x80);
    assert_eq!(f.image()[100], 0xFE);
    assert_eq!(f.counters(), c);
    assert!(f.is_programmed(1));
    assert!(!f.is_programmed(100));
    // Works with power off too.
    f.cut_power_after(0, Tear::Before);
    let _ = f.erase(0);
    f.flip_bit(1, 7);
    assert_eq!(f.image()[1], 0x00);
}

#[test]
#[should_panic]
fn flip_bit_rejects_bad_bit() {
    flash().flip_bit(0, 8);
}

#[test]
fn image_mut_bypasses_checks() {
    let mut f = flash();
    f.image_mut()[5] = 0x12;
    assert!(!f.is_programmed(5));
    assert_eq!(read_vec(&mut f, 5, 1), [0x12]);
    assert_eq!(f.counters().programs, 0);
    assert_eq!(f.into_image()[5], 0x12);
}

#[test]
fn from_image_marks_programmed_words() {
    let mut image = vec![0xFF; 256];
    image[5] = 0xFE; // word 4..8
    image[64..72].fill(0x00); // words 64..68, 68..72
    image[255] = 0x7F; // last word
    let mut f = SimFlash::from_image(geo(), image.clone()).unwrap();
    assert_eq!(f.image(), &image[..]);
    for a in 0..256 {
        let expect = (4..8).contains(&a) || (64..72).contains(&a) || a >= 252;
        assert_eq!(f.is_programmed(a), expect, "addr {a}");
    }
    assert_eq!(f.programmed_words(), 4);
    assert_eq!(f.program(4, &[0; 4]), Err(SimError::Rewrite));
    f.program(0, &[0; 4]).unwrap();

    assert!(SimFlash::from_image(geo(), vec![0xFF; 255]).is_err());
    let err = SimFlash::from_image(geo(), vec![0xFF; 257]).unwrap_err();
    assert!(err.contains("257"), "{err}");
}

#[test]
fn counters_and_since() {
    let mut f = flash();
    let mut buf = [0u8; 10];
    f.read(3, &mut buf).unwrap();
    f.program(0, &[0; 8]).unwrap();
    let mid = f.counters();
    assert_eq!(
        mid,
        Counters {
            reads: 1,
            read_bytes: 10,
            programs: 1,
            program_bytes: 8,
            erases: 0,
            word_rewrites: 0,
        }
    );
    f.read(0, &mut buf[..2]).unwrap();
    f.read(0, &mut buf[..3]).unwrap();
    f.erase(0).unwrap();
    f.set_strict(false);
    f.program(64, &[0; 4]).unwrap();
    f.program(64, &[0; 4]).unwrap();
    let end = f.counters();
    assert_eq!(
        end.since(&mid),
        Counters {
            reads: 2,
            read_bytes: 5,
            programs: 2,
            program_bytes: 8,
            erases: 1,
            word_rewrites: 1,
        }
    );
    assert_eq!(end.since(&end), Counters::default());
    assert_eq!(mid.since(&end), Counters::default(), "saturates");
    f.reset_counters();
    assert_eq!(f.counters(), Counters::default());
    assert_eq!(f.mutations(), 4, "mutations survive reset_counters");
    assert_eq!(f.erase_counts(), &[1, 0, 0, 0]);
}

#[test]
fn snapshot_and_restore() {
    let mut f = flash();
    f.program(0, &[1; 8]).unwrap();
    f.erase(2).unwrap();
    let snap = f.snapshot();
    assert_eq!(snap.geometry(), geo());
    f.erase(0).unwrap();
    f.program(64, &[2; 4]).unwrap();
    f.restore(&snap);
    assert_eq!(f.image(), snap.image());
    assert!(f.is_programmed(0) && !f.is_programmed(64));
    assert_eq!(f.erase_counts(), &[0, 0, 1, 0]);
    assert_eq!(f.counters().erases, 2, "counters are not restored");
}

#[test]
fn program_unit_one_and_thirty_two() {
    let mut f = SimFlash::new(Geometry {
        region_size: 16,
        region_count: 2,
        program_unit: 1,
        erase_value: 0xFF,
    });
    f.program(3, &[0x0F]).unwrap();
    f.program(4, &[0xF0, 0x00]).unwrap();
    assert_eq!(f.program(4, &[0xF0]), Err(SimError::Rewrite));
    assert_eq!(f.programmed_words(), 3);

    let mut f = SimFlash::new(Geometry {
        region_size: 64,
        region_count: 2,
        program_unit: 32,
        erase_value: 0xFF,
    });
    assert_eq!(f.program(0, &[0; 16]), Err(SimError::Misaligned));
    f.program(32, &[0; 32]).unwrap();
    assert!(f.is_programmed(63) && !f.is_programmed(31) && !f.is_programmed(64));
    f.cut_power_after(0, Tear::Partial(40));
    assert_eq!(f.erase(0), Err(SimError::PowerLoss));
    f.power_on();
    assert!(
        f.is_programmed(32),
        "straddling 32-byte word stays programmed"
    );
}

/// Cross-checks long random-ish operation sequences against a naive model,
/// across program units, erase values, strictness and tears.
#[test]
fn matches_naive_model() {
    struct Model {
        data: Vec<u8>,
        prog: Vec<bool>, // per byte-word, expanded per byte for simplicity
        erase_counts: Vec<u32>,
        rewrites: u64,
    }
    let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut rnd = move |bound: usize| -> usize {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % bound as u64) as usize
    };
    for (unit, e) in [
        (1usize, 0xFFu8),
        (2, 0x00),
        (4, 0xFF),
        (8, 0xA5),
        (32, 0xFF),
    ] {
        let g = Geometry {
            region_size: 128,
            region_count: 3,
            program_unit: unit,
            erase_value: e,
        };
        let mut f = SimFlash::new(g);
        f.set_strict(false);
        let mut m = Model {
            data: vec![e; g.size()],
            prog: vec![false; g.size()],
            erase_counts: vec![0; 3],
            rewrites: 0,
        };
        for step in 0..3000 {
            let torn = rnd(10) == 0;
            let tear = if rnd(3) == 0 {
                Tear::Before
            } else {
                Tear::Partial(rnd(140))
            };
            if torn {
                f.cut_power_after(0, tear);
            }
            if rnd(6) == 0 {
                let r = rnd(3);
                let res = f.erase(r);
                let n = match (torn, tear) {
                    (false, _) => 128,
                    (true, Tear::Before) => usize::MAX,
                    (true, Tear::Partial(n)) => n.min(128),
                    (true, _) => unreachable!("only Before and Partial are drawn"),
                };
                if n != usize::MAX {
                    let s = r * 128;
                    m.data[s..s + n].fill(e);
                    let full = n / unit * unit;
                    m.prog[s..s + full].fill(false);
                    m.erase_counts[r] += 1;
                }
                assert_eq!(res.is_err(), torn);
            } else {
                let words = 1 + rnd(6);
                let len = words * unit;
                let addr = rnd((g.size() - len) / unit + 1) * unit;
                let data: Vec<u8> = (0..len).map(|_| rnd(256) as u8).collect();
                let res = f.program(addr, &data);
                let n = match (torn, tear) {
                    (false, _) => len,
                    (true, Tear::Before) => 0,
                    (true, Tear::Partial(n)) => n.min(len),
                    (true, _) => unreachable!("only Before and Partial are drawn"),
                };
                for w in 0..n.div_ceil(unit) {
                    let s = addr + w * unit;
                    let t = (s + unit).min(addr + n);
                    let mut off = m.prog[s];
                    for i in s..t {
                        let o = m.data[i];
                        let d = data[i - addr];
                        if (o ^ e) & !(d ^ e) != 0 {
                            off = true;
                        }
                    }
                    m.rewrites += off as u64;
                    for i in s..t {
                        let o = m.data[i];
                        let d = data[i - addr];
                        // Per bit: programmed if programmed in old or data.
                        let mut v = 0u8;
                        for b in 0..8 {
                            let eb = (e >> b) & 1;
                            let ob = (o >> b) & 1;
                            let db = (d >> b) & 1;
                            let bit = if ob != eb || db != eb { 1 - eb } else { eb };
                            v |= bit << b;
                        }
                        m.data[i] = v;
                    }
                    m.prog[s..s + unit].fill(true);
                }
                assert_eq!(res.is_err(), torn);
            }
            if torn {
                f.power_on();
            }
            assert_eq!(f.image(), &m.data[..], "unit {unit} step {step}");
            for a in (0..g.size()).step_by(unit) {
                assert_eq!(
                    f.is_programmed(a),
                    m.prog[a],
                    "unit {unit} step {step} addr {a}"
                );
            }
            assert_eq!(f.erase_counts(), &m.erase_counts[..]);
            assert_eq!(
                f.counters().word_rewrites,
                m.rewrites,
                "unit {unit} step {step}"
            );
        }
    }
}
