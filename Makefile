# The two commands a newcomer needs:
#   make run    the main job (see README)
#   make test   every test in the repository
# Both install what they need first (tools/scripts/setup.sh, idempotent).

CARGO ?= cargo
# The boards (folders under boards/ with a kernel), linted one by one:
# the QEMU boards with their test mode; the real boards that have a
# Makefile of their own (flash with tockloader) as they are flashed, in
# each of their documented feature options.
BOARDS := qemu_rv32_virt qemu_ast1030 opentitan_earlgrey
DEVICE_BOARDS := nrf52840dk

.PHONY: all setup run host-demo test lint unit fuzz-check qemu hwci userland soak bench fuzz doc clean flash

all: test

setup:
	@bash tools/scripts/setup.sh

# The main job: build the kernel and the apps, boot the QEMU board with
# the key-value demo on a persistent store; the console is this terminal,
# Ctrl-A X quits. BOARD=qemu_rv32_virt (the default: qemu-system-riscv32
# -M virt, store target/qemu-store.img) or BOARD=qemu_ast1030
# (qemu-system-arm -M ast1030-evb, Cortex-M4, store
# target/qemu-store-qemu_ast1030.img on its SPI NOR).
# Your own apps instead: make run APP="path/to/a.tab path/to/b.tbf"
# (libtock-rs, libtock-c or ours, linked for the board's layout; the
# store is kept between runs).
BOARD ?= qemu_rv32_virt
APP ?=
run: setup
	$(CARGO) run --quiet --release -p qemu-runner -- --board $(BOARD) run $(foreach a,$(APP),--app $(a))

# The storage engine alone on the host, on target/demo-store.img.
host-demo: setup
	$(CARGO) run --quiet -p tickv@0.1.0 --example demo

test: setup lint unit fuzz-check qemu hwci

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	RUSTDOCFLAGS="-D warnings" $(CARGO) doc --workspace --no-deps --quiet
	cd userland && $(CARGO) fmt --all -- --check
	cd userland && $(CARGO) clippy --release -- -D warnings
	# The apps of the Cortex-M board, for its target and slot table.
	cd userland && TOCK_LAYOUT=$(CURDIR)/userland/layout-qemu_ast1030.toml \
		CARGO_TARGET_DIR=$(CURDIR)/target/userland/qemu_ast1030/cargo \
		$(CARGO) clippy --release --target thumbv7em-none-eabi \
		$$(sed -n 's/^name = "\(.*\)"/-p \1/p' layout-qemu_ast1030.toml) -- -D warnings
	# The apps of the OpenTitan board (RV32IMC: no atomics).
	cd userland && TOCK_LAYOUT=$(CURDIR)/userland/layout-opentitan_earlgrey.toml \
		CARGO_TARGET_DIR=$(CURDIR)/target/userland/opentitan_earlgrey/cargo \
		$(CARGO) clippy --release --target riscv32imc-unknown-none-elf \
		$$(sed -n 's/^name = "\(.*\)"/-p \1/p' layout-opentitan_earlgrey.toml) -- -D warnings
	cd boards && $(CARGO) fmt --all -- --check
	# Boards one by one, each from its folder (its .cargo/config.toml
	# names its target); qemu_rv32_virt also in its secure-apps build.
	for b in $(BOARDS); do (cd boards/$$b && $(CARGO) clippy --release --features test-exit -- -D warnings) || exit 1; done
	cd boards/qemu_rv32_virt && $(CARGO) clippy --release --features test-exit,secure-apps -- -D warnings
	# The real boards: linked too, which checks that the kernel fits below
	# the app area (their layout.ld asserts it).
	for b in $(DEVICE_BOARDS); do $(MAKE) --no-print-directory -C boards/$$b lint || exit 1; done

unit:
	$(CARGO) test --workspace
	# The engine as firmware that does not ask for the lazy mount builds it
	# (the workspace build above unifies it with the kernel's `lazy`).
	$(CARGO) test --quiet -p tickv@0.1.0 --features filter --test model --test ops --test beyond_index
	# Mutation check: with mount's rollback disabled the power-cut sweep
	# must fail (libraries/tickv/tests/power_cut.rs).
	$(CARGO) test --quiet -p tickv@0.1.0 --features mutation-no-rollback --test power_cut
	# The benchmark's targets (doc/benchmarks.md) on the workload they are
	# set on: a regression fails here, not only in the next `make bench`.
	$(CARGO) run --quiet --release -p kv-bench -- --check

# The QEMU suites, one per QEMU board: build the board's kernels and the
# apps, boot QEMU for each test and check console and exit status
# (tools/qemu-runner; logs in target/qemu-tests/, the Cortex-M board's in
# target/qemu-tests/qemu_ast1030/).
QEMU_BOARDS := qemu_rv32_virt qemu_ast1030 opentitan_earlgrey
qemu: setup
	for b in $(QEMU_BOARDS); do $(CARGO) run --quiet --release -p qemu-runner -- --board $$b test || exit 1; done

# Upstream's tock-hardware-ci harness (../shared/fixtures, unmodified)
# running our board and test modules (tools/hwci) on each QEMU board; logs
# in target/hwci/<board>/. Absent fixtures are reported SKIP.
hwci: setup
	python3 tools/hwci/run.py

# A real board's image: the kernel (without test-exit) with APP installed
# after it by tockloader, in target/<board>.bin, then written to the board.
# BOARD=opentitan_earlgrey: the CW310 FPGA board, with OpenTitan's
#   opentitantool --interface=cw310 bootstrap target/opentitan_earlgrey.bin
# (opentitantool comes from an OpenTitan checkout: bazel build
# //sw/host/opentitantool; put it on PATH or set OPENTITANTOOL). Without
# it the image is built and the command printed. See
# boards/opentitan_earlgrey/README.md.
# BOARD=nrf52840dk: the kernel alone, written at 0 with tockloader
#   (J-Link; OPENOCD=1 for OpenOCD) by its own Makefile; apps go on with
#   tockloader install. See boards/nrf52840dk/README.md.
OPENTITANTOOL ?= opentitantool
flash: setup
ifneq ($(filter $(BOARD),$(DEVICE_BOARDS)),)
	$(MAKE) -C boards/$(BOARD) flash
else
	$(CARGO) run --quiet --release -p qemu-runner -- --board $(BOARD) image \
		-o target/$(BOARD).bin $(foreach a,$(APP),--app $(a))
	@if [ "$(BOARD)" != opentitan_earlgrey ]; then \
		echo "make flash: the real boards are opentitan_earlgrey and $(DEVICE_BOARDS) (the image is target/$(BOARD).bin)"; exit 1; fi
	@if command -v $(OPENTITANTOOL) >/dev/null; then \
		$(OPENTITANTOOL) --interface=cw310 bootstrap target/$(BOARD).bin; \
	else \
		echo "make flash: $(OPENTITANTOOL) not found; with a CW310 attached run:"; \
		echo "  $(OPENTITANTOOL) --interface=cw310 bootstrap target/$(BOARD).bin"; exit 1; fi
endif

# The userland apps for every board with a slot table, their app flash
# images (target/userland/, target/userland/<board>/) and one TAB per app
# with every architecture (target/userland/tabs/; see doc/userland.md).
userland: setup
	bash userland/build.sh

# Longer power-cut sweeps over more geometries and seeds.
soak: setup
	TICKV_SOAK=1 $(CARGO) test --release -p tickv@0.1.0 --test power_cut -- --nocapture
	$(CARGO) run --quiet --release -p qemu-runner -- test power-cuts --power-cuts 1000

# The side-by-side benchmark against the peer stores: regenerates
# doc/benchmarks.md and doc/bench-*.svg (about 3 minutes on 2 cores).
bench: setup
	$(CARGO) run --release -p kv-bench -- --out doc

# Coverage-guided fuzzing of the engine (libFuzzer on the stable toolchain,
# tools/scripts/fuzz.sh): each target for FUZZ_SECONDS, growing the corpus
# in libraries/tickv/fuzz/corpus/ (commit it: the next run starts there).
FUZZ_SECONDS ?= 600
fuzz: setup
	bash tools/scripts/fuzz.sh $(FUZZ_SECONDS)

# The bounded fuzz run of `make test`: 20 s a target; a crash fails.
fuzz-check: setup
	bash tools/scripts/fuzz.sh 20

clean:
	$(CARGO) clean
