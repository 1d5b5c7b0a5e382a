// SPDX-License-Identifier: MIT
// Language: SystemVerilog 2012 (subset accepted by Verilator 5 and Icarus 11)

`resetall
`timescale 1ns / 1ps
`default_nettype none

/*
 * Mutant ids: deliberate bugs of the kind a vendor's device could have, each selected by the
 * MUTANT parameter of vdpa_nic_top (and vdpa_nic_pair, vdpa_iotlb, vdpa_cmd_proc,
 * vdpa_vq_engine, vdpa_vq_ctx, vdpa_split_ring_walker, vdpa_used_writer, vdpa_notifier,
 * vdpa_ring_port, vdpa_xlate_cache, vdpa_axi_arb, vdpa_rx_buffer, vdpa_dma_mover), so the regression can
 * prove it catches each one (`make mutate`, docs/mutation.md). MUTANT = MUT_NONE (0), the default, is the correct device: every hook is
 * a comparison of two constants that the tools fold away.
 *
 * This package is the one list of ids. Each hook in the RTL is a `MUTANT == MUT_<NAME>` (or
 * `!=`) comparison inside an existing expression or condition, never an `if` of its own (its
 * else arm would stay in the default build's branch coverage), on a line marked
 * `// mutant MUT_<NAME>`; what each breaks, the rule it violates and the tests that must kill
 * it are in tb/vdpa_tb/mutants.py, which reads the ids from here (tests/rtl/test_mutants.py
 * checks that the two and the hooks agree).
 */
package vdpa_mutants_pkg;

// every module imports the whole list and hooks only its own ids: a block linted alone (the
// ring-item port) leaves the others unused
/* verilator lint_off UNUSEDPARAM */
localparam int MUT_NONE = 0;
localparam int MUT_SUSPEND_NO_DRAIN = 1;
localparam int MUT_NO_NEEDS_RESET = 2;
localparam int MUT_RESUME_DROPS_KICK = 3;
localparam int MUT_INDIRECT_LEN_UNCHECKED = 4;
localparam int MUT_INDIRECT_VIA_RING_GROUP = 5;
localparam int MUT_RX_NUM_BUFFERS_ZERO = 6;
localparam int MUT_TX_USED_LEN_NONZERO = 7;
localparam int MUT_STRADDLE_FAULTS = 8;
localparam int MUT_IOTLB_IGNORE_WRITE_PERM = 9;
localparam int MUT_RESET_KEEPS_GROUPS = 10;
localparam int MUT_RESET_MAP_NO_IDENTITY = 11;
localparam int MUT_STALE_TABLE_HIT = 12;
localparam int MUT_RESET_NOT_BARRIER = 13;
localparam int MUT_USED_IDX_EARLY = 14;
localparam int MUT_R_ROUTED_BY_GRANT = 15;
localparam int MUT_REFILL_KEEPS_STALE = 16;
localparam int MUT_UNMAP_NO_DRAIN = 17;
localparam int MUT_BATCH_FAULT_WHOLE = 18;
localparam int MUT_EVICT_WOKEN = 19;
localparam int MUT_REFILL_WRONG_QUEUE = 20;
localparam int MUT_TX_NO_HOLD = 21;
localparam int MUT_FAULT_BEFORE_COMPLETION = 22;
localparam int MUT_AVAIL_EVENT_EARLY = 23;
localparam int MUT_COMPLETE_AFTER_ERROR = 24;
localparam int MUT_WALK_ON_ERROR = 25;
localparam int MUT_CACHE_KEEPS_ON_FLUSH = 26;
localparam int MUT_USED_PAGE_KEPT = 27;
localparam int MUT_NOTIFY_PAST_EVENT = 28;
localparam int MUT_CACHE_IGNORES_GROUP = 29;
localparam int MUT_READAHEAD_KEPT = 30;
localparam int MUT_MOVER_STALE_BURST = 31;
localparam int MUT_TAIL_UNFLAGGED = 32;
localparam int MUT_NEXT_OFFER_UNORDERED = 33;
/* verilator lint_on UNUSEDPARAM */

endpackage

`resetall
