// SPDX-License-Identifier: MIT
// Language: SystemVerilog 2012 (subset accepted by Verilator 5 and Icarus 11)

`resetall
`timescale 1ns / 1ps
`default_nettype none

/*
 * Ring-item port of the data path: reads or writes one ring item at a guest IOVA, translated
 * through the IOTLB, or only checks that it translates. Items: an avail index or entry, a
 * descriptor, a used element (8 bytes, written whole), used.idx, avail_event, a notification
 * field; or what is read ahead at once: up to eight avail entries, up to ITEM_BYTES / 16
 * descriptors. Writes are at most 8 bytes.
 * The virtqueue engine has two: the walker's and the completion writer's, so a chain can be
 * completed while the next one is walked.
 *
 * Translation: a ring item's request asks the IOTLB for the rest of its 4 KiB page, and a
 * translation cache (vdpa_xlate_cache, CACHE_SETS x CACHE_ENTRIES, the set named by the
 * request: the VQ) keeps successful answers, so the next items of the same ring go from their
 * address straight to the bus. An item across two IOTLB ranges (or pages) is moved in pieces,
 * one translation each, as vringh's copy_from_iotlb / iotlb_translate split it into several
 * iovecs (drivers/vhost/vringh.c); every piece is translated before the first is accessed, so
 * a fault on a later piece moves no byte. A piece also ends at a 4 KiB boundary (an identity
 * answer may run past it). A piece is one burst over the beats it spans, read or written.
 *
 * Interfaces and timing (one clock, synchronous active-high reset):
 *   request   req_valid and req_* held by the owner from the cycle it raises req_valid to the
 *             cycle of done or fault (inclusive); in the cycle after, req_valid drops, or
 *             stays high with the next item's req_* (back to back: the port is ready for it). The port
 *             looks the item up in the cycle req_valid rises and, on a cache hit, has the bus
 *             request out in the next (ISSUE_AT_HIT 0) or in that same cycle (1: the address,
 *             a write's first beat and `asid` then follow req_* combinationally). In a cycle
 *             of done from the bus (a read's last beat or a write's response, not a probe's
 *             answer) the owner may instead present the next item already, with req_next
 *             high: the port looks it up in that cycle, so on a hit its bus request follows
 *             the last response with no idle cycle between, or (ISSUE_AT_HIT) goes out with
 *             it (the done does not depend on req_* in that cycle). req_next is ignored in any
 *             other cycle.
 *   done      one-cycle pulse (combinational: the cycle the read's last beat or the write's
 *             response is taken, or, translating only, the answer). rdata (byte k of the item
 *             in bits [8k +: 8]) is valid from the next cycle until the port takes another
 *             read.
 *   fault     one-cycle pulse instead of done: fault_xlate with fault_asid for a translation
 *             the IOTLB refused (or answered with length 0), else a bus error response (EIO:
 *             the rest of the read burst is taken first). The owner records and reports it.
 *   asid      the ASID of the access on the bus (the owner's AXI user sideband).
 *   IOTLB     tr_req_* / tr_resp_*: one request outstanding; `flush` from the IOTLB drops
 *             every cached answer (vdpa_xlate_cache).
 *   AXI       address and data registers of one transaction at a time; IDs, size, burst type
 *             and the user sideband are the arbiter's and the owner's (vdpa_axi_arb).
 */
module vdpa_ring_port
    import vdpa_axi_pkg::*;
    import vdpa_mutants_pkg::*;
#(
    // AXI data width in bits (32, 64, 128, 256 or 512)
    parameter int DATA_W = 64,
    // AXI address width in bits
    parameter int ADDR_W = 64,
    // Translation cache sets (the owner names one per request: its VQ) and entries per set
    parameter int CACHE_SETS = 8,
    parameter int CACHE_ENTRIES = 4,
    // Largest item in bytes (16, or 64: the walker reads up to four descriptors at once);
    // writes are at most the 8 bytes of req_wdata
    parameter int ITEM_BYTES = 16,
    // 1: the owner may probe (req_probe). 0: it never does (req_probe tied low), and `done`
    // then comes from the bus alone, never combinationally from the item's lookup (as `fault`
    // always does), so an owner may derive its request from signals that depend on done and
    // fault (the completion writer's first item)
    parameter int PROBES = 1,
    // 1: an item the translation cache holds has its bus request out in the cycle it is looked
    // up (address, length, first write beat and `asid` combinational from the cache's
    // answer), so its round trip is a cycle shorter; 0: from the next cycle, from registers
    // only (a shorter path from the owner's request to the bus)
    parameter int ISSUE_AT_HIT = 0,
    // Deliberate bug to build in (vdpa_mutants_pkg, docs/mutation.md); MUT_NONE: none
    parameter int MUTANT = MUT_NONE
) (
    input  wire logic                 clk,
    input  wire logic                 rst,

    /* Request: one item */
    input  wire logic                 req_valid,
    input  wire logic [(CACHE_SETS > 1 ? $clog2(CACHE_SETS) : 1)-1:0] req_set,
    input  wire logic [7:0]           req_group,
    input  wire logic [63:0]          req_iova,
    input  wire logic [$clog2(ITEM_BYTES+1)-1:0] req_len,      // 1..ITEM_BYTES
    input  wire logic                 req_write,
    input  wire logic                 req_probe,    // translate only, no bus access
    input  wire logic [63:0]          req_wdata,    // a write's bytes (at most 8), byte k in [8k +: 8]
    input  wire logic                 req_next,     // in a cycle of done: req_* is the next item

    /* Outcome */
    output wire logic                 done,
    output wire logic                 fault,
    output wire logic                 fault_xlate,
    output wire logic [7:0]           fault_asid,
    output wire logic [8*ITEM_BYTES-1:0] rdata,
    output wire logic [7:0]           asid,

    /* IOTLB */
    output wire logic                 tr_req_valid,
    input  wire logic                 tr_req_ready,
    output wire logic [7:0]           tr_req_group,
    output wire logic [63:0]          tr_req_iova,
    output wire logic [31:0]          tr_req_len,
    output wire logic                 tr_req_write,
    input  wire logic                 tr_resp_valid,
    input  wire logic                 tr_resp_ok,
    input  wire logic [63:0]          tr_resp_pa,
    input  wire logic [31:0]          tr_resp_len,
    input  wire logic [7:0]           tr_resp_asid,
    input  wire logic                 flush,

    /* AXI4 master registers */
    output wire logic [ADDR_W-1:0]    axi_awaddr,
    output wire logic [7:0]           axi_awlen,
    output wire logic                 axi_awvalid,
    input  wire logic                 axi_awready,
    output wire logic [DATA_W-1:0]    axi_wdata,
    output wire logic [DATA_W/8-1:0]  axi_wstrb,
    output wire logic                 axi_wlast,
    output wire logic                 axi_wvalid,
    input  wire logic                 axi_wready,
    input  wire logic [1:0]           axi_bresp,
    input  wire logic                 axi_bvalid,
    output wire logic                 axi_bready,
    output wire logic [ADDR_W-1:0]    axi_araddr,
    output wire logic [7:0]           axi_arlen,
    output wire logic                 axi_arvalid,
    input  wire logic                 axi_arready,
    input  wire logic [DATA_W-1:0]    axi_rdata,
    input  wire logic [1:0]           axi_rresp,
    input  wire logic                 axi_rlast,
    input  wire logic                 axi_rvalid,
    output wire logic                 axi_rready
);

localparam int BYTES = DATA_W / 8;
localparam int BW = $clog2(BYTES);
// item lengths and offsets: 0..ITEM_BYTES
localparam int LW = $clog2(ITEM_BYTES + 1);

typedef enum logic [2:0] {P_XL, P_XLW, P_AR, P_R, P_AW, P_B} pstate_t;
pstate_t      p_state_reg;

logic [LW-1:0] done_reg;      // bytes of the item accessed (or checked) so far
logic [LW-1:0] piece_reg;     // bytes of the piece being accessed
logic         check_reg;      // a split item: translating its remaining pieces first
logic         checked_reg;    // every piece of this item translated
logic         last_reg;       // the piece on the bus is the item's last
logic [31:0]  beat_off_reg;   // byte offset of the current read beat from the piece
logic [8*ITEM_BYTES-1:0] item_reg;
logic         eio_reg;        // a read beat of this burst had an error response
logic [7:0]   asid_reg;
logic [ADDR_W-1:0] awaddr_reg, araddr_reg;
logic [7:0]   arlen_reg, awlen_reg;
logic         awvalid_reg, wvalid_reg, arvalid_reg, rready_reg, bready_reg;
// a write burst's beats, the next one at the bottom: at most 8 bytes from any lane span
// WBEATS beats (3 at 4 bytes a beat, else 2)
localparam int WBEATS = (BYTES - 1 + 8 + BYTES - 1) / BYTES;
logic [WBEATS*DATA_W-1:0] wline_reg;
logic [WBEATS*BYTES-1:0]  wsline_reg;
logic [7:0]   wleft_reg;      // W beats after the one offered

assign rdata = item_reg;
assign axi_bready = bready_reg;
assign axi_rready = rready_reg;

// the item's last response, from the bus alone (a probe's done is not: PROBES)
wire logic r_end = p_state_reg == P_R && axi_rvalid && axi_rlast;
wire logic r_err = axi_rresp != AXI_RESP_OKAY || eio_reg;
wire logic b_end = p_state_reg == P_B && axi_bvalid;
wire logic bus_done = (r_end && !r_err && last_reg) || (b_end && axi_bresp == AXI_RESP_OKAY && last_reg);
// the owner presents the next item in that cycle (req_next): it is looked up at once, from its
// start, while the item before ends on the bus
wire logic fresh = req_next && bus_done;
wire logic [LW-1:0] done_at = fresh ? '0 : done_reg;
wire logic check_at = !fresh && check_reg;
wire logic checked_at = !fresh && checked_reg;

// the remaining bytes of the item, and where they start
wire logic [LW-1:0] rem = req_len - done_at;
wire logic [63:0] cur_iova = req_iova + 64'(done_at);

// the answer to the item's translation: from the cache in P_XL when it holds the whole rest
// of the item (no IOTLB request then), else from the IOTLB in P_XLW
logic        xc_hit;
logic [63:0] xc_pa;
logic [7:0]  xc_asid;
wire logic        looking = (p_state_reg == P_XL || fresh) && req_valid;
wire logic        x_cached = looking && xc_hit;
wire logic        x_valid = x_cached || (p_state_reg == P_XLW && tr_resp_valid);
wire logic [63:0] x_pa = x_cached ? xc_pa : tr_resp_pa;
wire logic [31:0] x_len = x_cached ? 32'(rem) : tr_resp_len;
wire logic [7:0]  x_asid = x_cached ? xc_asid : tr_resp_asid;
// the IOTLB refuses the item: no translation, or none of it (a cached answer never faults: the
// cache keeps successes only, each for the whole rest of the item). So a fault comes from the
// IOTLB's answer or the bus, never combinationally from the lookup, and an owner may derive
// its request from `fault` as from `done` (PROBES)
wire logic        tr_refused = !tr_resp_ok || tr_resp_len == 0 ||
                               (MUTANT == MUT_STRADDLE_FAULTS && tr_resp_len < 32'(rem));  // mutant MUT_STRADDLE_FAULTS
wire logic        x_fault = !x_cached && tr_refused;
wire logic        tr_fault = p_state_reg == P_XLW && tr_resp_valid && tr_refused;

// a piece ends where the answer ends, and at a 4 KiB boundary of its address, which no AXI
// burst may cross (an answer that goes on past it, an identity translation, is used in two
// pieces)
wire logic [31:0] x_to_boundary = 32'(AXI_BOUNDARY) - 32'(x_pa[11:0]);
wire logic [31:0] x_room = x_len < x_to_boundary ? x_len : x_to_boundary;
wire logic [LW-1:0] xl_piece = (x_room < 32'(rem)) ? LW'(x_room) : rem;
// translate only: a probe, the pieces of a split item before its first access, or the piece
// just answered is not the last and the item is not yet checked
wire logic        x_translate_only = req_probe || check_at || (xl_piece != rem && !checked_at);
assign fault = tr_fault || (r_end && r_err) || (b_end && axi_bresp != AXI_RESP_OKAY);
assign fault_xlate = tr_fault;
assign fault_asid = tr_resp_asid;
// without probes the first term is never true (x_translate_only && xl_piece == rem needs
// req_probe or check_reg), and PROBES 0 leaves it out of the logic as well
assign done = (PROBES != 0 && x_valid && !x_fault && x_translate_only && xl_piece == rem && !check_reg) ||
              bus_done;

// The piece's bus request, from the translation's answer: one burst over the beats it spans
wire logic [ADDR_W-1:0] x_addr = ADDR_W'(beat_addr(x_pa, 3'(BW)));
wire logic [7:0]  x_beats_m1 = burst_beats(x_pa, 32'(xl_piece), 3'(BW)) - 8'd1;
wire logic [WBEATS*DATA_W-1:0] x_wline = (WBEATS*DATA_W)'(req_wdata >> (8 * done_at)) <<
                                         (8 * x_pa[BW-1:0]);
wire logic [WBEATS*BYTES-1:0]  x_wsline = (WBEATS*BYTES)'(16'((17'd1 << xl_piece) - 17'd1)) <<
                                          x_pa[BW-1:0];
// ... out in the cycle of a cache hit (ISSUE_AT_HIT), else from the registers it is latched
// into, from the next cycle. In that cycle the registers take it as well, so a request the
// bus does not take at once stays out unchanged (the AXI rule for VALID)
wire logic        issue_now = ISSUE_AT_HIT != 0 && x_cached && !x_translate_only;
wire logic        issue_w = issue_now && req_write;
wire logic        issue_r = issue_now && !req_write;
wire logic [WBEATS*DATA_W-1:0] wline = issue_w ? x_wline : wline_reg;
wire logic [WBEATS*BYTES-1:0]  wsline = issue_w ? x_wsline : wsline_reg;
wire logic [7:0]  wleft = issue_w ? x_beats_m1 : wleft_reg;
assign asid = issue_now ? x_asid : asid_reg;
assign axi_awaddr = issue_w ? x_addr : awaddr_reg;
assign axi_awlen = issue_w ? x_beats_m1 : awlen_reg;
assign axi_awvalid = awvalid_reg || issue_w;
assign axi_wdata = wline[DATA_W-1:0];
assign axi_wstrb = wsline[BYTES-1:0];
assign axi_wlast = wleft == 8'd0;
assign axi_wvalid = wvalid_reg || issue_w;
assign axi_araddr = issue_r ? x_addr : araddr_reg;
assign axi_arlen = issue_r ? x_beats_m1 : arlen_reg;
assign axi_arvalid = arvalid_reg || issue_r;

// a request goes out in the cycle the item is looked up and missed, held until taken; it
// asks for the rest of the page, so the answer serves the next items of the ring from the
// cache (the item itself is min(answer, rest))
wire logic [31:0] page_rest = 32'h1000 - 32'(cur_iova[11:0]);
assign tr_req_valid = looking && !xc_hit;
assign tr_req_group = req_group;
assign tr_req_iova = cur_iova;
assign tr_req_len = page_rest > 32'(rem) ? page_rest : 32'(rem);
assign tr_req_write = req_write;

vdpa_xlate_cache #(
    .SETS(CACHE_SETS),
    .ENTRIES(CACHE_ENTRIES),
    .MUTANT(MUTANT)
) xlate_cache_inst (
    .clk(clk),
    .rst(rst),
    .lk_set(req_set),
    .lk_group(req_group),
    .lk_iova(cur_iova),
    .lk_len(32'(rem)),
    .lk_write(req_write),
    .hit(xc_hit),
    .hit_pa(xc_pa),
    .hit_asid(xc_asid),
    .req_taken(tr_req_valid && tr_req_ready),
    .fill_valid(p_state_reg == P_XLW && tr_resp_valid && tr_resp_ok),
    .fill_set(req_set),
    .fill_group(req_group),
    .fill_iova(cur_iova),
    .fill_len(tr_resp_len),
    .fill_write(req_write),
    .fill_pa(tr_resp_pa),
    .fill_asid(tr_resp_asid),
    .flush(flush)
);

always_ff @(posedge clk) begin
    case (p_state_reg)
        P_XL, P_XLW: begin
            // the lookup and the translation's answer (below: also in a cycle of done with
            // the next item, req_next)
        end
        P_AR, P_AW: begin
            // the address (and a write's data) on the bus: below, with a request issued at a
            // cache hit
        end
        P_R: begin
            if (axi_rvalid) begin
                // the beat's bytes that belong to the piece go to their place in the item
                for (int j = 0; j < BYTES; j++) begin
                    if ($signed(beat_off_reg + 32'(j)) >= 0 && beat_off_reg + 32'(j) < 32'(piece_reg)) begin
                        item_reg[8 * (32'(done_reg) + beat_off_reg + 32'(j)) +: 8] <= axi_rdata[8*j +: 8];
                    end
                end
                beat_off_reg <= beat_off_reg + 32'(BYTES);
                if (axi_rresp != AXI_RESP_OKAY) begin
                    eio_reg <= 1'b1;
                end
                if (axi_rlast) begin
                    rready_reg <= 1'b0;
                    p_state_reg <= P_XL;
                    if (r_err || last_reg) begin
                        done_reg <= '0;
                        checked_reg <= 1'b0;
                    end else begin
                        done_reg <= done_reg + piece_reg;
                    end
                end
            end
        end
        P_B: begin
            if (axi_bvalid) begin
                bready_reg <= 1'b0;
                p_state_reg <= P_XL;
                if (axi_bresp != AXI_RESP_OKAY || last_reg) begin
                    done_reg <= '0;
                    checked_reg <= 1'b0;
                end else begin
                    done_reg <= done_reg + piece_reg;
                end
            end
        end
        default: begin
            p_state_reg <= P_XL;
        end
    endcase

    // an item looked up (in P_XL, or as the one before ends: fresh) or its answer (P_XLW);
    // after the case, so a lookup in a cycle of done overrides that item's return to P_XL
    if (p_state_reg == P_XL || p_state_reg == P_XLW || fresh) begin
        if (looking && !xc_hit) begin
            if (tr_req_ready) begin
                p_state_reg <= P_XLW;
            end
        end else if (x_valid) begin
            p_state_reg <= P_XL;
            if (x_fault) begin
                done_reg <= '0;
                check_reg <= 1'b0;
                checked_reg <= 1'b0;
            end else if (x_translate_only) begin
                // the next piece, or (all translated) back to the start of a split item
                // to access it, or the item checked
                if (xl_piece != rem) begin
                    done_reg <= done_at + xl_piece;
                    check_reg <= !req_probe;
                end else if (check_at) begin
                    done_reg <= '0;
                    check_reg <= 1'b0;
                    checked_reg <= 1'b1;
                end else begin
                    done_reg <= '0;
                end
            end else begin
                asid_reg <= x_asid;
                piece_reg <= xl_piece;
                last_reg <= done_at + xl_piece == req_len;
                if (req_write) begin
                    awaddr_reg <= x_addr;
                    awlen_reg <= x_beats_m1;
                    awvalid_reg <= 1'b1;
                    wline_reg <= x_wline;
                    wsline_reg <= x_wsline;
                    wleft_reg <= x_beats_m1;
                    wvalid_reg <= 1'b1;
                    p_state_reg <= P_AW;
                end else begin
                    beat_off_reg <= -32'(x_pa[BW-1:0]);
                    araddr_reg <= x_addr;
                    arlen_reg <= x_beats_m1;
                    arvalid_reg <= 1'b1;
                    eio_reg <= 1'b0;
                    p_state_reg <= P_AR;
                end
            end
        end
    end

    // the address and data on the bus: from P_AR / P_AW, or from the cycle a cache hit issues
    // them (after the lookup above, whose latched request they advance)
    if (p_state_reg == P_AR || issue_r) begin
        if (axi_arready) begin
            arvalid_reg <= 1'b0;
            rready_reg <= 1'b1;
            p_state_reg <= P_R;
        end
    end
    if (p_state_reg == P_AW || issue_w) begin
        if (axi_awready) begin
            awvalid_reg <= 1'b0;
        end
        if (axi_wvalid && axi_wready) begin
            if (wleft == 8'd0) begin
                wvalid_reg <= 1'b0;
            end else begin
                wline_reg <= wline >> DATA_W;
                wsline_reg <= wsline >> BYTES;
                wleft_reg <= wleft - 8'd1;
            end
        end
        if ((axi_awready || !axi_awvalid) && ((axi_wready && wleft == 8'd0) || !axi_wvalid)) begin
            bready_reg <= 1'b1;
            p_state_reg <= P_B;
        end
    end

    if (rst) begin
        p_state_reg <= P_XL;
        done_reg <= '0;
        check_reg <= 1'b0;
        checked_reg <= 1'b0;
        last_reg <= 1'b0;
        eio_reg <= 1'b0;
        asid_reg <= '0;
        awvalid_reg <= 1'b0;
        wvalid_reg <= 1'b0;
        arvalid_reg <= 1'b0;
        rready_reg <= 1'b0;
        bready_reg <= 1'b0;
    end
end

endmodule

`resetall
