// SPDX-License-Identifier: MIT
// Language: SystemVerilog 2012 (subset accepted by Verilator 5 and Icarus 11)

`resetall
`timescale 1ns / 1ps
`default_nettype none

/*
 * Completion writer of the split-ring data path (virtio 1.2 §2.7.8): completes the chains
 * whose data has moved, one or a batch of one queue's at a time. In order, through the
 * engine's ring-item port:
 *   1. used.ring[used_idx % size] = {id: head, len: bytes written}, for each chain of the batch
 *                                                     (8-byte write, USED; len 0 for TX, as
 *      drivers/vdpa/vdpa_sim/vdpa_sim_net.c: vdpasim_net_work completes with 0; one item, so
 *      one bus write where it fits a burst: the element is at 4 mod 8 in the ring)
 *   2. used.idx = used_idx + chains                   (2-byte write, USED), only after the
 *      elements' write responses (__vringh_complete: the elements before the index;
 *      drivers/vhost/vhost.c: vhost_add_used_n writes n elements, then one index)
 *   3. once used.idx's write response is in: the batch is complete (`commit`), and one
 *      notification check for it (virtio 1.2 §2.7.10: used_event with EVENT_IDX, else
 *      avail.flags, read after the index; vring_need_event over the old and new index, as
 *      vhost_notify decides for a batch) goes to vdpa_notifier as a note. That read cannot
 *      fault the queue (a field that cannot be read means no notification,
 *      __vringh_need_notify), so the writer does not wait for it and takes the next chain.
 *
 * Batches. After a chain's element is written the writer may hold used.idx back and take the
 * next chain of the same queue into the batch, up to BATCH chains: at once if that chain is
 * offered, or by waiting for it while `more` says one is on its way (the engine raises it
 * while its move stage writes a receive chain of the queue). So a receive queue under load
 * writes BATCH elements and one used.idx, and waits for one used.idx write response, per
 * BATCH chains instead of per chain. Order and state are a one-chain device's: the elements
 * are written in order, and last_avail and the used index advance only with used.idx. A
 * chain's element is written before the next one is taken, so its head may leave flight then
 * (`absorb`). If the port refuses a later chain's element (`refuse`), used.idx is written for
 * the chains before it, and the refused chain is completed again on its own, where a fault
 * is reported as for any single chain: the queue faults after exactly the chains a one-chain
 * device completes. BATCH = 1 completes one chain at a time.
 *
 * It also says where the used element and used.idx of the queue's next completion are
 * (elem_iova, idx_iova), so the walker's before-any-data check translates exactly the items
 * this block will write.
 *
 * The block is ring-format specific (a packed ring completes into its descriptor ring, §2.8.9)
 * and mover independent: it sees a head, a direction and a byte count, never segments.
 *
 * Interfaces and timing (one clock, synchronous active-high reset):
 *   request   req_valid/req_ready: head, rx, written, vq are taken when both are high, and the
 *             new used index (ctx_used + 1) and the notification field's address and group
 *             are latched then; a request of the same queue taken with the previous done
 *             follows that one's index instead (its commit reaches the context at that edge).
 *             req_ready is high while idle and in the cycle the previous batch's done is
 *             taken (back to back), if the notifier has room for the note this batch will
 *             hand it (note_room), so a completion never waits for the notifier at its end;
 *             and, for a request of the batch's queue, while the batch is open (below).
 *   batch     open: the last element is written (the port free) and neither BATCH chains are
 *             held nor a chain waits to be retried. A request of the queue taken then is
 *             added (absorb pulses: the chain before it is written, its head may be freed)
 *             and its element offered in the next cycle. While `more` is high an open batch
 *             offers nothing and waits; otherwise used.idx is offered. chains: the chains
 *             held, from the request to the done.
 *   context   ctx_*: the VQ context of the queue being completed, read in place from the
 *             request to done (the owner switches it to the next request's queue in the cycle
 *             that request is taken). event_idx is the negotiated VIRTIO_F_EVENT_IDX.
 *   item port item_valid/item_ready: one ring item a handshake, always a write to the used ring
 *             (the owner's port writes it with access kind USED); `item_ready` means the port is
 *             free: high in the cycle the port can take an item, low from the cycle after it
 *             takes one until that item has been written in full. A chain's element is
 *             offered in the cycle its request is taken when the port is free then (the done
 *             before it, or into the open batch), else in the cycle after; the next item in
 *             the cycle the port becomes free again, so a port that is free at once moves one
 *             item every cycle. The item's fields follow the request and the context in that
 *             cycle (combinational). A fault on an
 *             item is the port owner's: if `retry_ok` (the item is an element of a chain after
 *             the batch's first) it may pulse `refuse` instead, and the batch is cut before
 *             that chain; else it pulses `cancel` and this block returns to idle at once.
 *   done      done_valid/done_ready: high from the cycle after used.idx's write is taken; taken
 *             with done_ready, which the owner raises when the port is free again (the write
 *             has ended). In that cycle `commit` pulses (the owner stores new_used as the
 *             queue's used index, advances its last_avail by `chains` and, unless `keep`,
 *             frees the last head's in-flight bit) and the note goes to the
 *             notifier (note_valid with note_*; its room was checked at the request). The
 *             block is idle in the next cycle, or completing the next request taken with the
 *             done, or (`keep`, with a refused chain) starting that chain again once the
 *             notifier has room for its note.
 *   note      note_room: bit 0, the notifier can take one more note; bit 1, two more. Only
 *             this block hands it notes, so room seen at a request is still there at its done.
 */
module vdpa_used_writer
    import vdpa_mutants_pkg::*;
    import vdpa_split_ring_pkg::*;
#(
    // Chains completed under one used.idx write at most (1 .. 4; 1: one chain at a time; the
    // engine counts the received frames a faulting batch loses in three bits beside others)
    parameter int BATCH = 4,
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
    // a chain of the batch's queue is on its way: hold used.idx for it while the batch is open
    input  wire logic          more,

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
    output wire logic [63:0]   item_wdata,
    input  wire logic          cancel,
    output wire logic          retry_ok,
    input  wire logic          refuse,

    /* Batch, context update and completion */
    output wire logic          absorb,
    output wire logic [2:0]    chains,
    output wire logic          commit,
    output wire logic [15:0]   new_used,
    output wire logic          done_valid,
    input  wire logic          done_ready,
    output wire logic          keep,

    /* The notification check, to vdpa_notifier */
    output wire logic          note_valid,
    input  wire logic [1:0]    note_room,
    output wire logic [7:0]    note_vq,
    output wire logic [63:0]   note_iova,       // used_event (EVENT_IDX) or avail.flags
    output wire logic [7:0]    note_group,
    output wire logic          note_event_idx,
    output wire logic [15:0]   note_old,        // the used index before the batch
    output wire logic [15:0]   note_used        // ... and after it
);

initial begin
    if (BATCH < 1 || BATCH > 4) begin
        $error("Error: BATCH %0d outside 1 .. 4 (instance %m)", BATCH);
        $finish;
    end
end

// U_IDX: an element's write under way, then the batch open or used.idx offered;
// U_END: used.idx's write under way, done as it ends; U_RETRY: a refused chain waits for
// note room to start again
typedef enum logic [2:0] {U_IDLE, U_ELEM, U_IDX, U_END, U_RETRY} ustate_t;
ustate_t      u_state_reg;
logic [15:0]  head_reg;
logic         rx_reg;
logic [31:0]  written_reg;
logic [7:0]   vq_reg;
logic [15:0]  new_used_reg;
logic [2:0]   n_reg;           // chains held
logic         retry_reg;       // the last chain held was refused: completed again after the done
logic [63:0]  note_iova_reg;
logic [7:0]   note_group_reg;

assign elem_iova = used_elem_iova(ctx_dev, ctx_size, ctx_used);
assign idx_iova = used_idx_iova(ctx_dev);

// the last element is written and the batch may take one more chain
wire logic    batch_open = u_state_reg == U_IDX && item_ready && !retry_reg && 32'(n_reg) < BATCH;
assign absorb = batch_open && req_valid && req_vq == vq_reg;
wire logic    hold_idx = absorb || (batch_open && more);

// used.idx's write under way: done is taken as it ends (done_ready is the port free again)
assign done_valid = u_state_reg == U_END;
wire logic done_taken = done_valid && done_ready;
// room for this chain's note, and for the done one's handed over in the same cycle
assign req_ready = (u_state_reg == U_IDLE && note_room[0]) ||
                   (done_taken && !retry_reg && note_room[1]) || absorb;
// a request taken while the port is free (with the done before it, or into the open batch):
// its element is offered in that same cycle, so it follows the port's last item back to back
// (the mutant that writes used.idx first keeps the step order it swaps)
wire logic    elem_now = req_valid && req_ready && item_ready && MUTANT != MUT_USED_IDX_EARLY;  // mutant MUT_USED_IDX_EARLY
assign item_valid = u_state_reg == U_ELEM || (u_state_reg == U_IDX && !hold_idx) || elem_now;
assign item_group = ctx_group;
assign retry_ok = u_state_reg == U_IDX && n_reg > 3'd1;
assign chains = n_reg;
assign new_used = new_used_reg;
assign commit = done_taken;
assign keep = retry_reg;
assign note_valid = done_taken;
assign note_vq = vq_reg;
assign note_iova = note_iova_reg;
assign note_group = note_group_reg;
assign note_event_idx = event_idx;
assign note_old = new_used_reg - 16'(n_reg);
assign note_used = new_used_reg;

// the step whose item is offered: the state, but for a mutant that trades steps 1 and 2
// (U_ELEM and U_IDX)
wire logic    swap_elem_idx = MUTANT == MUT_USED_IDX_EARLY && (u_state_reg == U_ELEM || u_state_reg == U_IDX);  // mutant MUT_USED_IDX_EARLY
wire ustate_t  step = elem_now ? U_ELEM : swap_elem_idx ? (u_state_reg == U_ELEM ? U_IDX : U_ELEM) : u_state_reg;

// the chain whose element is offered: the request's in the cycle it is taken, else the last
// taken
wire logic [15:0] e_head = elem_now ? req_head : head_reg;
wire logic        e_rx = elem_now ? req_rx : rx_reg;
wire logic [31:0] e_written = elem_now ? req_written : written_reg;
// the used slot of a chain taken this cycle: after the open batch's last, or the completion
// just done's of the same queue, else the queue's used index (new_used_reg is set past it)
wire logic [15:0] req_slot = (absorb || (done_taken && req_vq == vq_reg)) ? new_used_reg : ctx_used;
// the element's used slot
wire logic [15:0] e_slot = elem_now ? req_slot : new_used_reg - 1'b1;

// TX reports 0 written bytes (vdpasim_net_work), RX the bytes written
wire logic [31:0] used_len = (e_rx || MUTANT == MUT_TX_USED_LEN_NONZERO) ? e_written : 32'd0;  // mutant MUT_TX_USED_LEN_NONZERO

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
        default: begin
            // struct vring_used_elem: le32 id, le32 len
            iova_c = used_elem_iova(ctx_dev, ctx_size, e_slot);
            len_c = 5'd8;
            wdata_c = {used_len, 32'(e_head)};
        end
    endcase
end
assign item_iova = iova_c;
assign item_len = len_c;
assign item_wdata = wdata_c;

always_ff @(posedge clk) begin
    case (u_state_reg)
        U_ELEM: u_state_reg <= item_ready ? U_IDX : U_ELEM;
        U_IDX: u_state_reg <= (item_ready && !hold_idx) ? U_END : U_IDX;
        U_END: begin
            if (done_taken) begin
                u_state_reg <= retry_reg ? U_RETRY : U_IDLE;
                if (retry_reg) begin
                    // the refused chain alone, after the index just committed
                    n_reg <= 3'd1;
                    new_used_reg <= new_used_reg + 1'b1;
                end
            end
        end
        U_RETRY: begin
            if (note_room[0]) begin
                retry_reg <= 1'b0;
                u_state_reg <= U_ELEM;
            end
        end
        default: begin
        end
    endcase
    // the port refused a later chain's element: the batch ends before it (used.idx for the
    // chains before, offered at once), and it is completed again alone
    if (refuse && retry_ok) begin
        n_reg <= n_reg - 1'b1;
        new_used_reg <= new_used_reg - 1'b1;
        retry_reg <= 1'b1;
    end
    // a request, while idle or with the previous completion's done
    if (req_valid && req_ready && !absorb) begin
        head_reg <= req_head;
        rx_reg <= req_rx;
        written_reg <= req_written;
        vq_reg <= req_vq;
        n_reg <= 3'd1;
        new_used_reg <= req_slot + 1'b1;
        // used_event sits after the avail ring (virtio 1.2 §2.7.6), avail.flags at its start
        note_iova_reg <= event_idx ? used_event_iova(ctx_drv, ctx_size) : ctx_drv;
        note_group_reg <= ctx_group;
        u_state_reg <= elem_now ? U_IDX : U_ELEM;
    end
    // ... or into the open batch: its element next
    if (absorb) begin
        head_reg <= req_head;
        rx_reg <= req_rx;
        written_reg <= req_written;
        n_reg <= n_reg + 1'b1;
        new_used_reg <= req_slot + 1'b1;
        u_state_reg <= elem_now ? U_IDX : U_ELEM;
    end

    if (cancel) begin
        u_state_reg <= U_IDLE;
        retry_reg <= 1'b0;
    end

    if (rst) begin
        u_state_reg <= U_IDLE;
        n_reg <= 3'd0;
        retry_reg <= 1'b0;
    end
end

endmodule

`resetall
