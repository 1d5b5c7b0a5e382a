// SPDX-License-Identifier: MIT
// Language: SystemVerilog 2012 (subset accepted by Verilator 5 and Icarus 11)

`resetall
`timescale 1ns / 1ps
`default_nettype none

/*
 * AXI4 master arbiter of the data path: NM masters (the walker's ring-item port, the
 * completion writer's ring-item port, the DMA mover) share one AXI4 master port, each with
 * transactions in flight of its own. Master m issues with ID m, so the read data and write
 * responses go back by RID/BID, whatever order the memory answers in across IDs (AXI4
 * §A5.3: in order per ID only).
 *
 *   AR   round robin over the masters asking; a grant is held while ARVALID waits for ARREADY
 *        (the request must not change under a valid), released by the handshake.
 *   AW/W a write grant is held from its address until its last data beat has passed, so the
 *        W channel, which carries no ID, follows AW in grant order (AXI4 §A5.2). A master may
 *        present AW and W in the same cycle; W without AW waits for the grant. Round robin,
 *        except that master AW_FIRST, when it asks, gets the next write grant: the engine
 *        gives its completion writer (one-beat writes, two round trips in order per chain)
 *        precedence over the mover's bursts, which would otherwise hold the W channel ahead
 *        of each of them. It issues at most two writes per chain the mover has moved, so it
 *        cannot starve the mover.
 *   R/B  RVALID/BVALID go to the master the ID names; a response with an ID no master issued
 *        (a memory error) is taken and dropped rather than left to block the channel. RREADY
 *        and BREADY are raised only under RVALID/BVALID (AXI4 §A3.3.1 allows a ready to wait
 *        for its valid), so an ID left undriven between responses never reaches them.
 * A master alone on a channel goes through with no added cycle: the grant is combinational,
 * so with one master asking, every handshake is as if it held the port itself.
 *
 * Reset: `rst` drops every grant (the registers hold grants, never transactions); the channels
 * are combinational paths, so the arbiter is idle once its masters' valids and the slave's
 * RVALID/BVALID are low, as AXI4 §A3.1.2 has them in reset. The slave must be reset with it,
 * as in the device: a response to a transaction from before the reset would go by its ID to
 * whichever master now issues that ID.
 *
 * Each master keeps AXI's rules on its own side: once it raises a valid it holds it and the
 * payload until the handshake. Size, burst type and protection are the same for every master
 * (full-width INCR bursts, unprivileged data) and set here.
 */
module vdpa_axi_arb
    import vdpa_axi_pkg::*;
    import vdpa_mutants_pkg::*;
#(
    // Masters sharing the port (master m issues ID m)
    parameter int NM = 3,
    // AXI data width in bits
    parameter int DATA_W = 64,
    // AXI address width in bits
    parameter int ADDR_W = 64,
    // AXI ID width (at least $clog2(NM))
    parameter int ID_W = 4,
    // AxUSER width
    parameter int USER_W = 24,
    // the master whose write address goes first when it asks (-1: none, round robin only)
    parameter int AW_FIRST = -1,
    // Deliberate bug to build in (vdpa_mutants_pkg, docs/mutation.md); MUT_NONE: none
    parameter int MUTANT = MUT_NONE
) (
    input  wire logic                    clk,
    input  wire logic                    rst,

    /* Masters, packed: master m in bits [m*W +: W] */
    input  wire logic [NM*ADDR_W-1:0]    s_araddr,
    input  wire logic [NM*8-1:0]         s_arlen,
    input  wire logic [NM*USER_W-1:0]    s_aruser,
    input  wire logic [NM-1:0]           s_arvalid,
    output wire logic [NM-1:0]           s_arready,
    output wire logic [DATA_W-1:0]       s_rdata,
    output wire logic [1:0]              s_rresp,
    output wire logic                    s_rlast,
    output wire logic [NM-1:0]           s_rvalid,
    input  wire logic [NM-1:0]           s_rready,
    input  wire logic [NM*ADDR_W-1:0]    s_awaddr,
    input  wire logic [NM*8-1:0]         s_awlen,
    input  wire logic [NM*USER_W-1:0]    s_awuser,
    input  wire logic [NM-1:0]           s_awvalid,
    output wire logic [NM-1:0]           s_awready,
    input  wire logic [NM*DATA_W-1:0]    s_wdata,
    input  wire logic [NM*DATA_W/8-1:0]  s_wstrb,
    input  wire logic [NM-1:0]           s_wlast,
    input  wire logic [NM-1:0]           s_wvalid,
    output wire logic [NM-1:0]           s_wready,
    output wire logic [1:0]              s_bresp,
    output wire logic [NM-1:0]           s_bvalid,
    input  wire logic [NM-1:0]           s_bready,

    /* The shared AXI4 master */
    output wire logic [ID_W-1:0]         m_axi_awid,
    output wire logic [ADDR_W-1:0]       m_axi_awaddr,
    output wire logic [7:0]              m_axi_awlen,
    output wire logic [2:0]              m_axi_awsize,
    output wire logic [1:0]              m_axi_awburst,
    output wire logic [2:0]              m_axi_awprot,
    output wire logic [USER_W-1:0]       m_axi_awuser,
    output wire logic                    m_axi_awvalid,
    input  wire logic                    m_axi_awready,
    output wire logic [DATA_W-1:0]       m_axi_wdata,
    output wire logic [DATA_W/8-1:0]     m_axi_wstrb,
    output wire logic                    m_axi_wlast,
    output wire logic                    m_axi_wvalid,
    input  wire logic                    m_axi_wready,
    input  wire logic [ID_W-1:0]         m_axi_bid,
    input  wire logic [1:0]              m_axi_bresp,
    input  wire logic                    m_axi_bvalid,
    output wire logic                    m_axi_bready,
    output wire logic [ID_W-1:0]         m_axi_arid,
    output wire logic [ADDR_W-1:0]       m_axi_araddr,
    output wire logic [7:0]              m_axi_arlen,
    output wire logic [2:0]              m_axi_arsize,
    output wire logic [1:0]              m_axi_arburst,
    output wire logic [2:0]              m_axi_arprot,
    output wire logic [USER_W-1:0]       m_axi_aruser,
    output wire logic                    m_axi_arvalid,
    input  wire logic                    m_axi_arready,
    input  wire logic [ID_W-1:0]         m_axi_rid,
    input  wire logic [DATA_W-1:0]       m_axi_rdata,
    input  wire logic [1:0]              m_axi_rresp,
    input  wire logic                    m_axi_rlast,
    input  wire logic                    m_axi_rvalid,
    output wire logic                    m_axi_rready
);

localparam int BYTES = DATA_W / 8;
localparam int MW = NM > 1 ? $clog2(NM) : 1;

initial begin
    if (NM < 1 || ID_W < MW) begin
        $error("Error: NM must be at least 1 and ID_W at least $clog2(NM) (instance %m)");
        $finish;
    end
    if (AW_FIRST < -1 || AW_FIRST >= NM) begin
        $error("Error: AW_FIRST must be -1 or a master, 0..NM-1 (instance %m)");
        $finish;
    end
end

// the master after `last` in round-robin order among those in `req` (last itself comes last)
function automatic logic [MW-1:0] rr_pick(input logic [NM-1:0] req, input logic [MW-1:0] last);
    logic [MW-1:0] pick;
    pick = last;
    for (int k = NM; k >= 1; k--) begin
        if (req[(32'(last) + k) % NM]) begin
            pick = MW'((32'(last) + k) % NM);
        end
    end
    return pick;
endfunction

// ---------------------------------------------------------------------------------------
// Read address and data
// ---------------------------------------------------------------------------------------
logic          ar_lock_reg;        // ARVALID is out and waits: its master keeps the grant
logic [MW-1:0] ar_owner_reg, ar_last_reg;
wire logic [MW-1:0] ar_owner = ar_lock_reg ? ar_owner_reg : rr_pick(s_arvalid, ar_last_reg);
wire logic          ar_any = |s_arvalid;

assign m_axi_arid = ID_W'(ar_owner);
assign m_axi_araddr = s_araddr[32'(ar_owner)*ADDR_W +: ADDR_W];
assign m_axi_arlen = s_arlen[32'(ar_owner)*8 +: 8];
assign m_axi_aruser = s_aruser[32'(ar_owner)*USER_W +: USER_W];
assign m_axi_arsize = 3'($clog2(BYTES));
assign m_axi_arburst = AXI_BURST_INCR;
assign m_axi_arprot = AXI_PROT_DATA;
assign m_axi_arvalid = ar_any;
assign s_arready = NM'(ar_any && m_axi_arready) << ar_owner;

// the ID is looked at only under RVALID/BVALID (a memory may leave it undriven otherwise)
logic [NM-1:0] r_to, b_to;
always_comb begin
    for (int m = 0; m < NM; m++) begin
        r_to[m] = m_axi_rvalid && ((MUTANT != MUT_R_ROUTED_BY_GRANT && 32'(m_axi_rid) == m) ||
                                   (MUTANT == MUT_R_ROUTED_BY_GRANT && 32'(ar_last_reg) == m));  // mutant MUT_R_ROUTED_BY_GRANT
        b_to[m] = m_axi_bvalid && 32'(m_axi_bid) == m;
    end
end
assign s_rdata = m_axi_rdata;
assign s_rresp = m_axi_rresp;
assign s_rlast = m_axi_rlast;
assign s_rvalid = r_to;
assign m_axi_rready = m_axi_rvalid && (r_to == '0 || (r_to & s_rready) != '0);

always_ff @(posedge clk) begin
    if (ar_any) begin
        ar_lock_reg <= !m_axi_arready;
        ar_owner_reg <= ar_owner;
        if (m_axi_arready) begin
            ar_last_reg <= ar_owner;
        end
    end
    if (rst) begin
        ar_lock_reg <= 1'b0;
        ar_owner_reg <= '0;
        ar_last_reg <= MW'(NM - 1);
    end
end

// ---------------------------------------------------------------------------------------
// Write address, data and response
// ---------------------------------------------------------------------------------------
logic          w_lock_reg;         // a write under way: its master keeps AW and W
logic [MW-1:0] w_owner_reg, w_last_reg;
logic          aw_done_reg;        // its address has been taken
logic          w_done_reg;         // its last data beat has been taken
wire logic          w_first = AW_FIRST >= 0 && s_awvalid[AW_FIRST >= 0 ? AW_FIRST : 0];
wire logic [MW-1:0] w_owner = w_lock_reg ? w_owner_reg :
                              w_first ? MW'(AW_FIRST >= 0 ? AW_FIRST : 0) :
                              rr_pick(s_awvalid, w_last_reg);
wire logic          w_active = w_lock_reg || |s_awvalid;

assign m_axi_awid = ID_W'(w_owner);
assign m_axi_awaddr = s_awaddr[32'(w_owner)*ADDR_W +: ADDR_W];
assign m_axi_awlen = s_awlen[32'(w_owner)*8 +: 8];
assign m_axi_awuser = s_awuser[32'(w_owner)*USER_W +: USER_W];
assign m_axi_awsize = 3'($clog2(BYTES));
assign m_axi_awburst = AXI_BURST_INCR;
assign m_axi_awprot = AXI_PROT_DATA;
assign m_axi_awvalid = w_active && !aw_done_reg && s_awvalid[w_owner];
assign m_axi_wdata = s_wdata[32'(w_owner)*DATA_W +: DATA_W];
assign m_axi_wstrb = s_wstrb[32'(w_owner)*BYTES +: BYTES];
assign m_axi_wlast = s_wlast[w_owner];
assign m_axi_wvalid = w_active && !w_done_reg && s_wvalid[w_owner];
assign s_awready = NM'(w_active && !aw_done_reg && m_axi_awready) << w_owner;
assign s_wready = NM'(w_active && !w_done_reg && m_axi_wready) << w_owner;

wire logic aw_done_next = aw_done_reg || (m_axi_awvalid && m_axi_awready);
wire logic w_done_next = w_done_reg || (m_axi_wvalid && m_axi_wready && m_axi_wlast);

assign s_bresp = m_axi_bresp;
assign s_bvalid = b_to;
assign m_axi_bready = m_axi_bvalid && (b_to == '0 || (b_to & s_bready) != '0);

always_ff @(posedge clk) begin
    if (w_active) begin
        if (aw_done_next && w_done_next) begin
            w_lock_reg <= 1'b0;
            aw_done_reg <= 1'b0;
            w_done_reg <= 1'b0;
            // (a first grant leaves the round robin where it was, or each would pull it back)
            if (32'(w_owner) != AW_FIRST) begin
                w_last_reg <= w_owner;
            end
        end else begin
            w_lock_reg <= 1'b1;
            w_owner_reg <= w_owner;
            aw_done_reg <= aw_done_next;
            w_done_reg <= w_done_next;
        end
    end
    if (rst) begin
        w_lock_reg <= 1'b0;
        w_owner_reg <= '0;
        w_last_reg <= MW'(NM - 1);
        aw_done_reg <= 1'b0;
        w_done_reg <= 1'b0;
    end
end

endmodule

`resetall
