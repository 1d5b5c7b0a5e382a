// SPDX-License-Identifier: MIT
// Language: SystemVerilog 2012 (subset accepted by Verilator 5 and Icarus 11)

`resetall
`timescale 1ns / 1ps
`default_nettype none

/*
 * Used-buffer notifier of the split-ring data path (virtio 1.2 §2.7.10): for each completion
 * (one chain, or a batch of one queue's chains under one used.idx write) whose used.idx is
 * written, reads the driver's notification field and decides whether to notify
 * (drivers/vhost/vringh.c: __vringh_need_notify; for a batch, drivers/vhost/vhost.c:
 * vhost_notify after vhost_add_used_n, one decision over the old and new index):
 *   - with EVENT_IDX: used_event, after the avail ring; notify if
 *     vring_need_event(used_event, new, old), i.e. used_event in [old, new - 1];
 *   - without: avail.flags; notify unless VRING_AVAIL_F_NO_INTERRUPT.
 * A field that cannot be read (the port's fault: a refused translation or a bus error) means
 * no notification and nothing else: __vringh_need_notify returns the error and
 * drivers/vdpa/vdpa_sim/vdpa_sim_net.c: vdpasim_net_complete notifies only on a positive
 * answer, and nothing stops the queue. So the read cannot fault the queue, a completion is
 * final once its used.idx is written, and the completion writer hands the check here and
 * goes on with the next chain while the read is under way (the way Corundum keeps its event
 * and interrupt path apart from its completion writer).
 *
 * Checks are decided in the order they were handed over, so each queue's notifications follow
 * its completions. The read of a check is made after its used.idx is written (the writer
 * hands it over then), the order virtio 1.2 §2.7.10 asks for (the device reads the field
 * after the index it publishes, vhost_notify's smp_mb()).
 *
 * Interfaces and timing (one clock, synchronous active-high reset):
 *   note      note_valid: one check (queue, field address and ring group, event_idx, the used
 *             index before the completion and the new one), taken whenever it is high; the one producer (vdpa_used_writer) looks
 *             at note_room first (bit 0: room for one more, bit 1: for two). Up to DEPTH wait
 *             behind the one under way. A check taken while none is waiting or under way has
 *             its read requested in the next cycle.
 *   port      a vdpa_ring_port of its own (PROBES 0), driven directly: req_valid and req_* held
 *             from the request to its done or fault; the next check's request follows in the
 *             next cycle. port_rdata is the field from the cycle after done.
 *   irq       irq_valid pulses with irq_vq in the second cycle after the read's done if a
 *             notification is due.
 *   held      per VQ: a check of the queue is waiting, under way or being decided (SUSPEND and
 *             DESTROY wait for it, as for the other stages); busy: any is.
 */
module vdpa_notifier
    import vdpa_mutants_pkg::*;
#(
    // Number of hardware VQs (the width of `held`)
    parameter int NVQ = 8,
    // Checks that may wait behind the one under way (a power of two, at least 2)
    parameter int DEPTH = 4,
    // Deliberate bug to build in (vdpa_mutants_pkg, docs/mutation.md); MUT_NONE: none
    parameter int MUTANT = MUT_NONE
) (
    input  wire logic          clk,
    input  wire logic          rst,

    /* A completion's notification check, handed over once its used.idx is written */
    input  wire logic          note_valid,
    output wire logic [1:0]    note_room,
    input  wire logic [7:0]    note_vq,
    input  wire logic [63:0]   note_iova,       // used_event (EVENT_IDX) or avail.flags
    input  wire logic [7:0]    note_group,      // the ring group (descriptor group's ASID)
    input  wire logic          note_event_idx,
    input  wire logic [15:0]   note_old,        // the used index before the completion
    input  wire logic [15:0]   note_used,       // the used index just published

    /* Its ring-item port: the field's read */
    output wire logic          port_req_valid,
    output wire logic [7:0]    port_req_group,
    output wire logic [7:0]    port_req_vq,     // the port's cache set and the bus sideband
    output wire logic [63:0]   port_req_iova,
    input  wire logic          port_done,
    input  wire logic          port_fault,      // refused: no notification
    input  wire logic [15:0]   port_rdata,

    /* Notification and state */
    output wire logic          irq_valid,
    output wire logic [7:0]    irq_vq,
    output      logic [NVQ-1:0] held,
    output wire logic          busy
);

localparam int PW = DEPTH > 1 ? $clog2(DEPTH) : 1;

initial begin
    if (DEPTH < 2 || (DEPTH & (DEPTH - 1)) != 0) begin
        $error("Error: DEPTH %0d not a power of two of at least 2 (instance %m)", DEPTH);
        $finish;
    end
end

// a check but for its queue
typedef struct packed {
    logic [63:0] iova;
    logic [7:0]  group;
    logic        event_idx;
    logic [15:0] old;
    logic [15:0] used;
} note_t;

// waiting checks: a ring of DEPTH entries, pointers one bit wider than the index. The queues
// are kept apart from the rest, since `held` reads every waiting one's (and Icarus cannot
// select a member of an array element picked at run time)
logic [7:0]  q_vq_reg [DEPTH];
note_t       q_reg [DEPTH];
logic [PW:0] q_wr_reg, q_rd_reg;
wire logic [PW:0] q_count = q_wr_reg - q_rd_reg;
wire logic   q_empty = q_count == '0;

// the check handed over (a packed struct, fields in declaration order from the top)
wire note_t  note_in = {note_iova, note_group, note_event_idx, note_old, note_used};

// the check under way: its read requested from the port until done or fault
logic        n_port_reg;
logic [7:0]  cur_vq_reg;
note_t       cur_reg;
// the decision is due in the next cycle (the field is in port_rdata then)
logic        decide_reg;
logic [7:0]  decide_vq_reg;
logic        decide_event_idx_reg;
logic [15:0] decide_old_reg;
logic [15:0] decide_used_reg;
logic        irq_valid_reg;
logic [7:0]  irq_vq_reg;

assign note_room = {32'(q_count) + 2 <= DEPTH, 32'(q_count) + 1 <= DEPTH};
assign port_req_valid = n_port_reg;
assign port_req_group = cur_reg.group;
assign port_req_vq = cur_vq_reg;
assign port_req_iova = cur_reg.iova;
assign irq_valid = irq_valid_reg;
assign irq_vq = irq_vq_reg;

// the read has ended (or been refused): the next check may go to the port
wire logic read_end = n_port_reg && (port_done || port_fault);
// a check taken with none waiting or under way goes to the port at once
wire logic bypass = note_valid && q_empty && (!n_port_reg || read_end);

// vring_need_event(used_event, new, old): (u16)(new - used_event - 1) < (u16)(new - old),
// i.e. how far used_event lies behind new, less one, within the span this completion added
wire logic [15:0] event_behind = 16'(decide_used_reg - port_rdata - 1'b1);
wire logic [15:0] added_span = 16'(decide_used_reg - decide_old_reg);
// or, without EVENT_IDX, !NO_INTERRUPT
wire logic need_notify = decide_event_idx_reg
        ? event_behind < added_span ||
          (MUTANT == MUT_NOTIFY_PAST_EVENT && event_behind == added_span)  // mutant MUT_NOTIFY_PAST_EVENT
        : port_rdata[0] == 1'b0;

always_comb begin
    held = '0;
    for (int k = 0; k < DEPTH; k++) begin
        if ((PW+1)'(k) < q_count) begin
            held[32'(q_vq_reg[PW'(q_rd_reg + (PW+1)'(k))]) % NVQ] = 1'b1;
        end
    end
    if (n_port_reg) begin
        held[32'(cur_vq_reg) % NVQ] = 1'b1;
    end
    if (decide_reg) begin
        held[32'(decide_vq_reg) % NVQ] = 1'b1;
    end
end
assign busy = !q_empty || n_port_reg || decide_reg;

always_ff @(posedge clk) begin
    irq_valid_reg <= 1'b0;
    decide_reg <= 1'b0;
    if (decide_reg) begin
        irq_valid_reg <= need_notify;
        irq_vq_reg <= decide_vq_reg;
    end

    if (read_end) begin
        // decided from the field in the next cycle, unless it could not be read
        decide_reg <= port_done;
        decide_vq_reg <= cur_vq_reg;
        decide_event_idx_reg <= cur_reg.event_idx;
        decide_old_reg <= cur_reg.old;
        decide_used_reg <= cur_reg.used;
        n_port_reg <= 1'b0;
    end
    // the next check: while idle, or as the read before it ends (back to back)
    if (bypass) begin
        cur_vq_reg <= note_vq;
        cur_reg <= note_in;
        n_port_reg <= 1'b1;
    end else begin
        if (note_valid) begin
            q_reg[PW'(q_wr_reg)] <= note_in;
            q_vq_reg[PW'(q_wr_reg)] <= note_vq;
            q_wr_reg <= q_wr_reg + 1'b1;
        end
        if ((!n_port_reg || read_end) && !q_empty) begin
            cur_vq_reg <= q_vq_reg[PW'(q_rd_reg)];
            cur_reg <= q_reg[PW'(q_rd_reg)];
            q_rd_reg <= q_rd_reg + 1'b1;
            n_port_reg <= 1'b1;
        end
    end

    if (rst) begin
        n_port_reg <= 1'b0;
        q_wr_reg <= '0;
        q_rd_reg <= '0;
        decide_reg <= 1'b0;
        irq_valid_reg <= 1'b0;
        irq_vq_reg <= '0;
    end
end

endmodule

`resetall
