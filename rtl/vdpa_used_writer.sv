// SPDX-License-Identifier: MIT
// Language: SystemVerilog 2012 (subset accepted by Verilator 5 and Icarus 11)

`resetall
`timescale 1ns / 1ps
`default_nettype none

/*
 * Completion writer of the split-ring data path (virtio 1.2 §2.7.8, §2.7.10): completes one
 * chain whose data has moved. In order, through the engine's ring-item port:
 *   1. used.ring[used_idx % size] = {id: head, len: bytes written}
 *                                                     (8-byte write, USED; len 0 for TX, as
 *      drivers/vdpa/vdpa_sim/vdpa_sim_net.c: vdpasim_net_work completes with 0; one item, so
 *      one bus write where it fits a burst: the element is at 4 mod 8 in the ring)
 *   2. used.idx = used_idx + 1                        (2-byte write, USED), only after the
 *      element's write response (__vringh_complete: the element before the index)
 *   3. used_event (EVENT_IDX) or avail.flags           (2-byte read, AVAIL)
 *   4. the notification decision (__vringh_need_notify): vring_need_event(used_event, new,
 *      new - 1) with EVENT_IDX, else !VRING_AVAIL_F_NO_INTERRUPT; an interrupt pulse if due.
 *      A field that cannot be read means no notification, and the chain is complete all the
 *      same (__vringh_need_notify returns the error; drivers/vdpa/vdpa_sim/vdpa_sim_net.c:
 *      vdpasim_net_complete notifies only on a positive answer, and nothing stops the queue).
 * It also says where the used element and used.idx of the queue's next completion are
 * (elem_iova, idx_iova), so the walker's before-any-data check translates exactly the items
 * this block will write.
 *
 * The block is ring-format specific (a packed ring completes into its descriptor ring, §2.8.9)
 * and mover independent: it sees a head, a direction and a byte count, never segments.
 *
 * Interfaces and timing (one clock, synchronous active-high reset):
 *   request   req_valid/req_ready: head, rx, written, vq are taken when both are high, and the
 *             new used index (ctx_used + 1) is latched then. req_ready is high while idle and
 *             in the cycle the previous completion's done is taken (back to back).
 *   context   ctx_*: the VQ context of the queue being completed, read in place (not latched):
 *             its owner keeps it stable from the request to done, except that it applies
 *             `commit` (below) to it. event_idx is the negotiated VIRTIO_F_EVENT_IDX.
 *   item port item_valid/item_ready: one ring item a handshake; `item_ready` means the port is
 *             free: high in the cycle the port can take an item, low from the cycle after it
 *             takes one until that item has been written or read in full. The first item is
 *             offered in the cycle after the request, each next one in the cycle the port
 *             becomes free again, so a port that is free at once moves one item every cycle.
 *             item_rdata is the first two bytes of the last item read; the port holds it from
 *             the cycle after the read's end until it takes another read. A fault on the used
 *             element or used.idx is the port owner's to report; it then pulses `cancel` and
 *             this block returns to idle at once. A fault on step 3's read is not a fault of
 *             the queue: the owner frees the port as for the read's end, with item_error high,
 *             and the completion ends without a notification.
 *   commit    one-cycle pulse in the cycle the port takes the read of step 3 (used.idx has been
 *             written): the owner stores new_used as the queue's used index, advances its
 *             last_avail and frees the head's in-flight bit.
 *   done      done_valid/done_ready: after step 3's read has returned, done_valid is high until
 *             taken (done_ready: the port is free, as for item_ready, so in the cycle the read
 *             ends); the block is idle in the next cycle, or completing the next request taken
 *             with the done. The notification field is in item_rdata in the cycle after the
 *             done, and irq_valid pulses in the one after that, with irq_vq, if it is due.
 */
module vdpa_used_writer
    import vdpa_mutants_pkg::*;
    import vdpa_split_ring_pkg::*;
#(
    // Deliberate bug to build in (vdpa_mutants_pkg, docs/mutation.md); MUT_NONE: none
    parameter int MUTANT = MUT_NONE
) (
    input  wire logic          clk,
    input  wire logic          rst,

    /* Request from the engine: complete the chain at `head` */
    input  wire logic          req_valid,
    output wire logic          req_ready,
    input  wire logic [15:0]   req_head,
    input  wire logic          req_rx,          // RX chain: used.len is the bytes written
    input  wire logic [31:0]   req_written,
    input  wire logic [7:0]    req_vq,

    /* VQ context of the queue being completed, read in place */
    input  wire logic [63:0]   ctx_drv,         // driver area (avail ring)
    input  wire logic [63:0]   ctx_dev,         // device area (used ring)
    input  wire logic [16:0]   ctx_size,
    input  wire logic [15:0]   ctx_used,
    input  wire logic [7:0]    ctx_group,       // the ring group (descriptor group's ASID)
    input  wire logic          event_idx,

    /* Where the queue's next completion writes (the walker's pre-check) */
    output wire logic [63:0]   elem_iova,
    output wire logic [63:0]   idx_iova,

    /* Ring-item port */
    output wire logic          item_valid,
    input  wire logic          item_ready,
    output wire logic [7:0]    item_group,
    output wire logic [63:0]   item_iova,
    output wire logic [4:0]    item_len,
    output wire logic          item_write,
    output wire logic [63:0]   item_wdata,
    output wire logic [2:0]    item_kind,       // vdpa_model.dma.AccessKind: AVAIL 1, USED 2
    input  wire logic [15:0]   item_rdata,
    input  wire logic          item_error,      // step 3's read failed (with done_ready)
    input  wire logic          cancel,

    /* Context update and completion */
    output wire logic          commit,
    output wire logic [15:0]   new_used,
    output wire logic          done_valid,
    input  wire logic          done_ready,
    output wire logic          irq_valid,
    output wire logic [7:0]    irq_vq
);

localparam logic [2:0] KIND_AVAIL = 3'd1;
localparam logic [2:0] KIND_USED = 3'd2;

typedef enum logic [2:0] {U_IDLE, U_ELEM, U_IDX, U_NOTE, U_CHK} ustate_t;
ustate_t      u_state_reg;
logic [15:0]  head_reg;
logic         rx_reg;
logic [31:0]  written_reg;
logic [7:0]   vq_reg;
logic [15:0]  new_used_reg;
logic         irq_valid_reg;
logic [7:0]   irq_vq_reg;
// the done completion's notification decision is due (its field is in item_rdata now)
logic         note_reg;
logic [15:0]  note_used_reg;
logic [7:0]   note_vq_reg;

assign elem_iova = used_elem_iova(ctx_dev, ctx_size, ctx_used);
assign idx_iova = used_idx_iova(ctx_dev);
// used_event sits after the avail ring (virtio 1.2 §2.7.6), avail.flags at its start
wire logic [63:0] note_iova = event_idx ? used_event_iova(ctx_drv, ctx_size) : ctx_drv;

wire logic done_taken = u_state_reg == U_CHK && done_ready;
assign req_ready = u_state_reg == U_IDLE || done_taken;
assign item_valid = u_state_reg == U_ELEM || u_state_reg == U_IDX || u_state_reg == U_NOTE;
assign item_group = ctx_group;
assign item_write = u_state_reg != U_NOTE;
assign item_kind = u_state_reg == U_NOTE ? KIND_AVAIL : KIND_USED;
assign new_used = new_used_reg;
assign commit = u_state_reg == U_NOTE && item_ready;
assign done_valid = u_state_reg == U_CHK;
assign irq_valid = irq_valid_reg;
assign irq_vq = irq_vq_reg;

// the step whose item is offered: the state, but for a mutant that trades steps 1 and 2
// (U_ELEM and U_IDX)
wire logic    swap_elem_idx = MUTANT == MUT_USED_IDX_EARLY && (u_state_reg == U_ELEM || u_state_reg == U_IDX);  // mutant MUT_USED_IDX_EARLY
wire logic [2:0] step = swap_elem_idx ? (u_state_reg == U_ELEM ? U_IDX : U_ELEM) : u_state_reg;

// TX reports 0 written bytes (vdpasim_net_work), RX the bytes written
wire logic [31:0] used_len = (rx_reg || MUTANT == MUT_TX_USED_LEN_NONZERO) ? written_reg : 32'd0;  // mutant MUT_TX_USED_LEN_NONZERO

// the item of the current step
logic [63:0]  iova_c;
logic [4:0]   len_c;
logic [63:0]  wdata_c;
always_comb begin
    case (step)
        U_IDX: begin
            iova_c = idx_iova;
            len_c = 5'd2;
            wdata_c = {48'd0, new_used_reg};
        end
        U_NOTE: begin
            iova_c = note_iova;
            len_c = 5'd2;
            wdata_c = '0;
        end
        default: begin
            // struct vring_used_elem: le32 id, le32 len
            iova_c = elem_iova;
            len_c = 5'd8;
            wdata_c = {used_len, 32'(head_reg)};
        end
    endcase
end
assign item_iova = iova_c;
assign item_len = len_c;
assign item_wdata = wdata_c;

// vring_need_event(used_event, new, old) with old = new - 1, or !NO_INTERRUPT
wire logic need_notify = event_idx ? item_rdata == note_used_reg - 1'b1 : item_rdata[0] == 1'b0;

always_ff @(posedge clk) begin
    irq_valid_reg <= 1'b0;
    note_reg <= 1'b0;
    if (note_reg) begin
        irq_valid_reg <= need_notify;
        irq_vq_reg <= note_vq_reg;
    end

    case (u_state_reg)
        U_ELEM: u_state_reg <= item_ready ? U_IDX : U_ELEM;
        U_IDX: u_state_reg <= item_ready ? U_NOTE : U_IDX;
        U_NOTE: u_state_reg <= item_ready ? U_CHK : U_NOTE;
        U_CHK: begin
            if (done_ready) begin
                note_reg <= !item_error;
                note_used_reg <= new_used_reg;
                note_vq_reg <= vq_reg;
                u_state_reg <= U_IDLE;
            end
        end
        default: begin
        end
    endcase
    // a request, while idle or with the previous completion's done
    if (req_valid && req_ready) begin
        head_reg <= req_head;
        rx_reg <= req_rx;
        written_reg <= req_written;
        vq_reg <= req_vq;
        new_used_reg <= ctx_used + 1'b1;
        u_state_reg <= U_ELEM;
    end

    if (cancel) begin
        u_state_reg <= U_IDLE;
    end

    if (rst) begin
        u_state_reg <= U_IDLE;
        irq_valid_reg <= 1'b0;
        irq_vq_reg <= '0;
        note_reg <= 1'b0;
    end
end

endmodule

`resetall
