// SPDX-License-Identifier: MIT
// Language: SystemVerilog 2012, Verilator 5 with DPI-C (testbench only, not synthesizable)

`resetall
`timescale 1ns / 1ps
`default_nettype none

/*
 * The host side of one NIC in the fast testbench: everything a cocotb test would otherwise do
 * in Python on every clock edge, done here and in the C++ host library
 * (tb/csrc/vdpa_tb_host.cpp) through DPI-C.
 *
 *  - AXI4 slave over guest memory: each read beat reads a whole bus word, each write beat
 *    writes its strobed bytes; every access is logged with the {kind, asid, vq} user sideband
 *    of its burst (captured with the address), poisoned or out-of-range accesses answer
 *    SLVERR. INCR and FIXED. As cocotbext-axi's AxiSlave queues them, read addresses are
 *    taken ahead (RD_QUEUE) and their bursts served in order, back to back, and a write's
 *    response waits in a queue (WR_QUEUE) while the next write's address and beats are taken.
 *  - AXI-Stream sink of transmitted frames and source of received frames, whole frames
 *    exchanged with Python in bulk.
 *  - AXI-Lite master of the command path, fed from a queue Python fills; `axil_done` toggles
 *    when the queue runs dry, the single event Python waits for per batch of accesses.
 *  - Used-buffer notifications counted per VQ.
 *  - Stall patterns per channel (valid or ready held off on chosen cycles), the idle and
 *    backpressure inserters of the cocotbext models.
 *  - Read and write latency (RD_LATENCY, WR_LATENCY), a host farther away than this model.
 *  - `settled`: the device reports itself idle and nothing is moving or queued on any bus for
 *    QUIET_CYCLES cycles in a row since Python last asked (vtb_settle_arm), the edge settle
 *    waits on instead of polling a register. A received frame the idle device refuses (it
 *    holds one for a queue without a buffer, or stopped) is as quiet as none: nothing moves
 *    until the driver acts.
 *
 * Ports carry the names of the device ports they connect to, so a top connects both with .*
 * or the NIC_HOST macro of tb_nic_host.svh.
 */
module tb_nic_host #(
    // Index of this device in the host library
    parameter int DEV = 0,
    // DMA (AXI4) data width: 32, 64, 128, 256 or 512
    parameter int DATA_W = 64,
    // DMA address width
    parameter int ADDR_W = 64,
    // DMA ID width
    parameter int ID_W = 4,
    // AXI-Lite address width
    parameter int AXIL_ADDR_W = 16,
    // Quiet cycles in a row before `settled` rises
    parameter int QUIET_CYCLES = 16,
    // Read addresses the memory takes ahead of the burst it serves (a power of two)
    parameter int RD_QUEUE = 8,
    // Write responses that may wait to be sent (a power of two)
    parameter int WR_QUEUE = 8,
    // Cycles a read burst's first beat waits after its address is taken, and a write's
    // response after its last beat, beyond the model's own (0: the fastest this model answers,
    // one cycle for a read, two for a write). A host's memory or PCIe round trip, to measure a
    // device against: bursts queued behind one another wait out their latency together, so a
    // master with several transactions in flight hides it and one with a single one does not
    parameter int RD_LATENCY = 0,
    parameter int WR_LATENCY = 0
) (
    input  wire logic                    clk,
    input  wire logic                    rst,

    /* AXI-Lite master, to the device's BAR */
    output      logic [AXIL_ADDR_W-1:0]  s_axil_awaddr,
    output wire logic [2:0]              s_axil_awprot,
    output      logic                    s_axil_awvalid,
    input  wire logic                    s_axil_awready,
    output      logic [31:0]             s_axil_wdata,
    output wire logic [3:0]              s_axil_wstrb,
    output      logic                    s_axil_wvalid,
    input  wire logic                    s_axil_wready,
    input  wire logic [1:0]              s_axil_bresp,
    input  wire logic                    s_axil_bvalid,
    output wire logic                    s_axil_bready,
    output      logic [AXIL_ADDR_W-1:0]  s_axil_araddr,
    output wire logic [2:0]              s_axil_arprot,
    output      logic                    s_axil_arvalid,
    input  wire logic                    s_axil_arready,
    input  wire logic [31:0]             s_axil_rdata,
    input  wire logic [1:0]              s_axil_rresp,
    input  wire logic                    s_axil_rvalid,
    output wire logic                    s_axil_rready,

    /* AXI4 slave over guest memory, from the device's DMA master */
    input  wire logic [ID_W-1:0]         m_axi_awid,
    input  wire logic [ADDR_W-1:0]       m_axi_awaddr,
    input  wire logic [7:0]              m_axi_awlen,
    input  wire logic [2:0]              m_axi_awsize,
    input  wire logic [1:0]              m_axi_awburst,
    input  wire logic [2:0]              m_axi_awprot,
    input  wire logic [23:0]             m_axi_awuser,
    input  wire logic                    m_axi_awvalid,
    output wire logic                    m_axi_awready,
    input  wire logic [DATA_W-1:0]       m_axi_wdata,
    input  wire logic [DATA_W/8-1:0]     m_axi_wstrb,
    input  wire logic                    m_axi_wlast,
    input  wire logic                    m_axi_wvalid,
    output wire logic                    m_axi_wready,
    output      logic [ID_W-1:0]         m_axi_bid,
    output      logic [1:0]              m_axi_bresp,
    output      logic                    m_axi_bvalid,
    input  wire logic                    m_axi_bready,
    input  wire logic [ID_W-1:0]         m_axi_arid,
    input  wire logic [ADDR_W-1:0]       m_axi_araddr,
    input  wire logic [7:0]              m_axi_arlen,
    input  wire logic [2:0]              m_axi_arsize,
    input  wire logic [1:0]              m_axi_arburst,
    input  wire logic [2:0]              m_axi_arprot,
    input  wire logic [23:0]             m_axi_aruser,
    input  wire logic                    m_axi_arvalid,
    output wire logic                    m_axi_arready,
    output      logic [ID_W-1:0]         m_axi_rid,
    output      logic [DATA_W-1:0]       m_axi_rdata,
    output      logic [1:0]              m_axi_rresp,
    output      logic                    m_axi_rlast,
    output      logic                    m_axi_rvalid,
    input  wire logic                    m_axi_rready,

    /* AXI-Stream sink of transmitted frames */
    input  wire logic [DATA_W-1:0]       m_axis_tx_tdata,
    input  wire logic [DATA_W/8-1:0]     m_axis_tx_tkeep,
    input  wire logic                    m_axis_tx_tvalid,
    output wire logic                    m_axis_tx_tready,
    input  wire logic                    m_axis_tx_tlast,
    input  wire logic                    m_axis_tx_tuser,
    input  wire logic [7:0]              m_axis_tx_tdest,

    /* AXI-Stream source of received frames */
    output      logic [DATA_W-1:0]       s_axis_rx_tdata,
    output      logic [DATA_W/8-1:0]     s_axis_rx_tkeep,
    output      logic                    s_axis_rx_tvalid,
    input  wire logic                    s_axis_rx_tready,
    output      logic                    s_axis_rx_tlast,
    output      logic [7:0]              s_axis_rx_tdest,

    /* Interrupts and device state */
    input  wire logic                    irq_vq_valid,
    input  wire logic [7:0]              irq_vq,
    input  wire logic                    irq_fault,       // fault records wait to be read
    input  wire logic                    dp_idle,         // the device's own quiescence
    input  wire logic                    rx_evict,        // a parked received frame dropped
    input  wire logic [7:0]              rx_evict_vq,
    input  wire logic [15:0]             rx_evict_seq,

    /* To Python */
    output      logic                    axil_done,       // toggles when the queue runs dry
    output wire logic                    settled          // quiet since the last settle_arm
);

localparam int BYTES = DATA_W / 8;
localparam int LANE_BITS = $clog2(BYTES);
localparam logic [1:0] RESP_OKAY = 2'b00;
localparam logic [1:0] RESP_SLVERR = 2'b10;
localparam logic [1:0] BURST_FIXED = 2'b00;
localparam logic [1:0] BURST_INCR = 2'b01;
// stall channels: bit positions of vtb_cycle's result (enum vtb_channel in vdpa_tb_host.h)
localparam int CH_RX = 0;
localparam int CH_B = 1;
localparam int CH_R = 2;
localparam int CH_TX = 3;
localparam int CH_AW = 4;
localparam int CH_W = 5;
localparam int CH_AR = 6;
localparam int CYCLE_SETTLE_ARM = 8;
localparam int CYCLE_HOST_BUSY = 9;
localparam int CYCLE_RX_QUEUED = 10;

import "DPI-C" function int vtb_cycle(input int dev);
import "DPI-C" function bit vtb_mem_read(input int dev, input longint addr, input int nbytes,
                                         input int user, output bit [511:0] data);
import "DPI-C" function bit vtb_mem_write(input int dev, input longint addr, input int nbytes,
                                          input bit [511:0] data, input longint strb, input int user);
import "DPI-C" function void vtb_tx_beat(input int dev, input bit [511:0] data, input longint keep,
                                         input bit last, input bit user, input int dest);
import "DPI-C" function bit vtb_rx_beat(input int dev, input int nbytes, output bit [511:0] data,
                                        output longint keep, output bit last, output int dest);
import "DPI-C" function bit vtb_axil_next(input int dev, output bit write, output int addr,
                                          output int data);
import "DPI-C" function bit vtb_axil_complete(input int dev, input int rdata, input int resp);
import "DPI-C" function void vtb_irq(input int dev, input int vq);
import "DPI-C" function void vtb_rx_evicted(input int dev, input int vq, input int seq);
import "DPI-C" function void vtb_protocol_error(input int dev, input string what);

initial begin
    if (DATA_W != 32 && DATA_W != 64 && DATA_W != 128 && DATA_W != 256 && DATA_W != 512) begin
        $error("Error: DATA_W %0d not 32, 64, 128, 256 or 512 (instance %m)", DATA_W);
        $finish;
    end
end

// ---------------------------------------------------------------------------------------
// Once per cycle: this cycle's stalls, a settle request, whether the host queues hold work
// ---------------------------------------------------------------------------------------
logic [6:0] stall;
logic       settle_arm;
logic       host_busy;   // AXI-Lite accesses queued
logic       rx_queued;   // received frames queued

// cycles since reset: when a delayed read beat or write response is due (RD/WR_LATENCY)
logic [63:0] now;

always @(posedge clk) begin : cycle_counter
    now <= rst ? '0 : now + 64'd1;
end

always @(posedge clk) begin : control
    int bits;
    bits = vtb_cycle(DEV);
    stall <= bits[6:0];
    settle_arm <= bits[CYCLE_SETTLE_ARM];
    host_busy <= bits[CYCLE_HOST_BUSY];
    rx_queued <= bits[CYCLE_RX_QUEUED];
end

// ---------------------------------------------------------------------------------------
// AXI-Lite master: one access at a time, taken from the host queue
// ---------------------------------------------------------------------------------------
typedef enum logic [1:0] {AL_IDLE, AL_WRITE, AL_READ} al_state_t;
al_state_t al_state;

assign s_axil_awprot = 3'd0;
assign s_axil_arprot = 3'd0;
assign s_axil_wstrb = 4'hF;
assign s_axil_bready = 1'b1;
assign s_axil_rready = 1'b1;

initial axil_done = 1'b0;

always @(posedge clk) begin : axil_master
    bit req_write;
    /* verilator lint_off UNUSEDSIGNAL */
    int req_addr;  // the BAR decodes AXIL_ADDR_W bits
    /* verilator lint_on UNUSEDSIGNAL */
    int req_data;
    if (rst) begin
        al_state <= AL_IDLE;
        s_axil_awvalid <= 1'b0;
        s_axil_wvalid <= 1'b0;
        s_axil_arvalid <= 1'b0;
    end else begin
        case (al_state)
            AL_IDLE: begin
                // looked at every idle cycle (not only once host_busy says so), so an access
                // posted between two edges starts at the next: a register access takes the
                // cycles it takes through cocotbext's AxiLiteMaster
                if (vtb_axil_next(DEV, req_write, req_addr, req_data)) begin
                    if (req_write) begin
                        s_axil_awaddr <= AXIL_ADDR_W'(req_addr);
                        s_axil_wdata <= req_data;
                        s_axil_awvalid <= 1'b1;
                        s_axil_wvalid <= 1'b1;
                        al_state <= AL_WRITE;
                    end else begin
                        s_axil_araddr <= AXIL_ADDR_W'(req_addr);
                        s_axil_arvalid <= 1'b1;
                        al_state <= AL_READ;
                    end
                end
            end
            AL_WRITE: begin
                if (s_axil_awready) s_axil_awvalid <= 1'b0;
                if (s_axil_wready) s_axil_wvalid <= 1'b0;
                if (s_axil_bvalid) begin
                    if (vtb_axil_complete(DEV, 0, 32'(s_axil_bresp))) axil_done <= !axil_done;
                    al_state <= AL_IDLE;
                end
            end
            AL_READ: begin
                if (s_axil_arready) s_axil_arvalid <= 1'b0;
                if (s_axil_rvalid) begin
                    if (vtb_axil_complete(DEV, s_axil_rdata, 32'(s_axil_rresp))) begin
                        axil_done <= !axil_done;
                    end
                    al_state <= AL_IDLE;
                end
            end
            default: al_state <= AL_IDLE;
        endcase
    end
end

// ---------------------------------------------------------------------------------------
// AXI4 slave, write: address, beats, then the response queued (up to WR_QUEUE waiting), so
// the next burst's address is taken once the last beat is, as cocotbext-axi's AxiSlaveWrite
// takes it while its responses wait in their queue
// ---------------------------------------------------------------------------------------
typedef enum logic {WR_IDLE, WR_DATA} wr_state_t;
wr_state_t       wr_state;
logic [ADDR_W-1:0] wr_addr;
logic [7:0]      wr_left;
logic [2:0]      wr_size;
logic [1:0]      wr_burst;
logic [23:0]     wr_user;
logic [ID_W-1:0] wr_id;
logic            wr_err;

typedef struct packed {
    logic [ID_W-1:0] id;
    logic            err;
    logic [63:0]     due;      // the cycle after which it may be sent (WR_LATENCY)
} wr_resp_t;

localparam int WR_PTR_W = $clog2(WR_QUEUE);

wr_resp_t          wr_b_q [WR_QUEUE];
logic [WR_PTR_W:0] wr_b_wr;
logic [WR_PTR_W:0] wr_b_rd;
wire logic         wr_b_empty = wr_b_wr == wr_b_rd;
wire logic         wr_b_full = (wr_b_wr - wr_b_rd) == (WR_PTR_W+1)'(WR_QUEUE);

assign m_axi_awready = !rst && wr_state == WR_IDLE && !wr_b_full && !stall[CH_AW];
// the first beat may come with its address, as cocotbext's AxiSlave (which queues W apart
// from AW) takes it; later beats follow in WR_DATA
assign m_axi_wready = !stall[CH_W] && (wr_state == WR_DATA ||
                                       (wr_state == WR_IDLE && m_axi_awvalid && m_axi_awready));

initial begin
    if (WR_QUEUE < 1 || (WR_QUEUE & (WR_QUEUE - 1)) != 0) begin
        $error("Error: WR_QUEUE %0d not a power of two (instance %m)", WR_QUEUE);
        $finish;
    end
end

// burst checks shared by both directions (cocotbext-axi asserts the same)
function automatic string burst_problem(input logic [ADDR_W-1:0] addr, input logic [7:0] len,
                                        input logic [2:0] size, input logic [1:0] burst);
    logic [11:0] page_offset;
    page_offset = 12'((addr >> size) << size);
    if (burst != BURST_INCR && burst != BURST_FIXED) return $sformatf("burst type %0d", burst);
    if (32'(size) > LANE_BITS) return $sformatf("size %0d wider than the %0d-byte bus", size, BYTES);
    if (burst == BURST_INCR && 32'(page_offset) + ((32'(len) + 1) << size) > 32'h1000) begin
        return $sformatf("INCR burst at %h of %0d beats crosses 4 KiB", addr, 32'(len) + 1);
    end
    return "";
endfunction

always @(posedge clk) begin : axi_write
    string problem;
    logic [ADDR_W-1:0] addr;
    logic [7:0]      left;
    logic [2:0]      size;
    logic [1:0]      burst;
    logic [23:0]     user;
    logic [ID_W-1:0] id;
    logic            err;
    if (rst) begin
        wr_state <= WR_IDLE;
        wr_b_wr <= '0;
        wr_b_rd <= '0;
        m_axi_bvalid <= 1'b0;
    end else begin
        // the burst in progress, or the one whose address is taken this cycle
        {addr, left, size, burst, user, id, err} = {wr_addr, wr_left, wr_size, wr_burst, wr_user, wr_id, wr_err};
        if (wr_state == WR_IDLE && m_axi_awvalid && m_axi_awready) begin
            problem = burst_problem(m_axi_awaddr, m_axi_awlen, m_axi_awsize, m_axi_awburst);
            if (problem != "") vtb_protocol_error(DEV, {"AXI4 write: ", problem});
            addr = (m_axi_awaddr >> m_axi_awsize) << m_axi_awsize;
            {left, size, burst, user, id, err} = {m_axi_awlen, m_axi_awsize, m_axi_awburst, m_axi_awuser, m_axi_awid, 1'b0};
            wr_state <= WR_DATA;
        end
        if (m_axi_wvalid && m_axi_wready) begin
            err = vtb_mem_write(DEV, longint'(addr >> LANE_BITS << LANE_BITS), BYTES,
                                512'(m_axi_wdata), 64'(m_axi_wstrb), 32'(user)) || err;
            if (m_axi_wlast != (left == 0)) begin
                vtb_protocol_error(DEV, $sformatf("AXI4 write: wlast %0d with %0d beats left",
                                                  m_axi_wlast, left));
            end
            if (burst == BURST_INCR) addr = addr + (ADDR_W'(1) << size);
            if (left == 0) begin
                // the burst is written: its response queues, the next address may come
                wr_b_q[WR_PTR_W'(wr_b_wr)] <= '{id: id, err: err, due: now + 64'(WR_LATENCY)};
                wr_b_wr <= wr_b_wr + 1'b1;
                wr_state <= WR_IDLE;
            end
            left = left - 8'd1;
        end
        {wr_addr, wr_left, wr_size, wr_burst, wr_user, wr_id, wr_err} <= {addr, left, size, burst, user, id, err};
        // responses in order, the oldest first, one each cycle the channel is free
        if (m_axi_bvalid && m_axi_bready) m_axi_bvalid <= 1'b0;
        if ((!m_axi_bvalid || m_axi_bready) && !wr_b_empty && !stall[CH_B] &&
                now > wr_b_q[WR_PTR_W'(wr_b_rd)].due) begin
            m_axi_bid <= wr_b_q[WR_PTR_W'(wr_b_rd)].id;
            m_axi_bresp <= wr_b_q[WR_PTR_W'(wr_b_rd)].err ? RESP_SLVERR : RESP_OKAY;
            m_axi_bvalid <= 1'b1;
            wr_b_rd <= wr_b_rd + 1'b1;
        end
    end
end

// ---------------------------------------------------------------------------------------
// AXI4 slave, read: addresses queue (up to RD_QUEUE behind the burst being served, as
// cocotbext-axi's AxiSlaveRead queues them), bursts are served in order, one beat per cycle the
// channel is free and not stalled, the next burst's first beat right after the last one's
// ---------------------------------------------------------------------------------------
typedef struct packed {
    logic [ADDR_W-1:0] addr;    // aligned to the beat size
    logic [7:0]        len;
    logic [2:0]        size;
    logic [1:0]        burst;
    logic [23:0]       user;
    logic [ID_W-1:0]   id;      // each beat carries it, so the last beat of one burst keeps its
                                // RID while the next burst is loaded
    logic [63:0]       due;     // the cycle after which its first beat may go (RD_LATENCY)
} rd_burst_t;

localparam int RD_PTR_W = $clog2(RD_QUEUE);

rd_burst_t       rd_cur;         // the burst being served
logic            rd_busy;
rd_burst_t       rd_q [RD_QUEUE];
logic [RD_PTR_W:0] rd_q_wr;      // one bit wider than the index: full and empty differ
logic [RD_PTR_W:0] rd_q_rd;
wire logic       rd_q_empty = rd_q_wr == rd_q_rd;
wire logic       rd_q_full = (rd_q_wr - rd_q_rd) == (RD_PTR_W+1)'(RD_QUEUE);

assign m_axi_arready = !rst && !rd_q_full && !stall[CH_AR];

initial begin
    if (RD_QUEUE < 1 || (RD_QUEUE & (RD_QUEUE - 1)) != 0) begin
        $error("Error: RD_QUEUE %0d not a power of two (instance %m)", RD_QUEUE);
        $finish;
    end
end

always @(posedge clk) begin : axi_read
    string problem;
    bit err;
    /* verilator lint_off UNUSEDSIGNAL */
    bit [511:0] word;  // the DPI word is as wide as the widest bus
    /* verilator lint_on UNUSEDSIGNAL */
    rd_burst_t taken;
    bit free;          // no burst being served after this edge's beat
    if (rst) begin
        rd_busy <= 1'b0;
        rd_q_wr <= '0;
        rd_q_rd <= '0;
        m_axi_rvalid <= 1'b0;
    end else begin
        free = !rd_busy;
        if (m_axi_rvalid && m_axi_rready) m_axi_rvalid <= 1'b0;
        if (rd_busy && (!m_axi_rvalid || m_axi_rready) && !stall[CH_R] && now > rd_cur.due) begin
            err = vtb_mem_read(DEV, longint'(rd_cur.addr >> LANE_BITS << LANE_BITS), BYTES,
                               32'(rd_cur.user), word);
            m_axi_rdata <= word[DATA_W-1:0];
            m_axi_rid <= rd_cur.id;
            m_axi_rresp <= err ? RESP_SLVERR : RESP_OKAY;
            m_axi_rlast <= rd_cur.len == 0;
            m_axi_rvalid <= 1'b1;
            if (rd_cur.burst == BURST_INCR) rd_cur.addr <= rd_cur.addr + (ADDR_W'(1) << rd_cur.size);
            rd_cur.len <= rd_cur.len - 8'd1;
            free = rd_cur.len == 0;
        end
        // the next burst: the oldest queued, else the one whose address is taken this edge
        if (free && !rd_q_empty) begin
            rd_cur <= rd_q[RD_PTR_W'(rd_q_rd)];
            rd_q_rd <= rd_q_rd + 1'b1;
        end
        if (m_axi_arvalid && m_axi_arready) begin
            problem = burst_problem(m_axi_araddr, m_axi_arlen, m_axi_arsize, m_axi_arburst);
            if (problem != "") vtb_protocol_error(DEV, {"AXI4 read: ", problem});
            taken = '{addr: (m_axi_araddr >> m_axi_arsize) << m_axi_arsize, len: m_axi_arlen,
                      size: m_axi_arsize, burst: m_axi_arburst, user: m_axi_aruser, id: m_axi_arid,
                      due: now + 64'(RD_LATENCY)};
            if (free && rd_q_empty) begin
                rd_cur <= taken;
            end else begin
                rd_q[RD_PTR_W'(rd_q_wr)] <= taken;
                rd_q_wr <= rd_q_wr + 1'b1;
            end
            free = 1'b0;
        end
        rd_busy <= !free || !rd_q_empty;
    end
end

// ---------------------------------------------------------------------------------------
// AXI-Stream: transmit sink and receive source
// ---------------------------------------------------------------------------------------
logic tx_in_frame;

assign m_axis_tx_tready = !rst && !stall[CH_TX];

always @(posedge clk) begin : tx_sink
    if (rst) begin
        tx_in_frame <= 1'b0;
    end else if (m_axis_tx_tvalid && m_axis_tx_tready) begin
        vtb_tx_beat(DEV, 512'(m_axis_tx_tdata), 64'(m_axis_tx_tkeep), m_axis_tx_tlast,
                    m_axis_tx_tuser, 32'(m_axis_tx_tdest));
        tx_in_frame <= !m_axis_tx_tlast;
    end
end

always @(posedge clk) begin : rx_source
    // DPI arguments are as wide as the widest bus (512 bits, 64 lanes of tkeep)
    /* verilator lint_off UNUSEDSIGNAL */
    bit [511:0] word;
    longint keep;
    int dest;
    /* verilator lint_on UNUSEDSIGNAL */
    bit last;
    if (rst) begin
        s_axis_rx_tvalid <= 1'b0;
    end else if (!s_axis_rx_tvalid || s_axis_rx_tready) begin
        s_axis_rx_tvalid <= 1'b0;
        if (rx_queued && !stall[CH_RX]) begin
            if (vtb_rx_beat(DEV, BYTES, word, keep, last, dest)) begin
                s_axis_rx_tdata <= word[DATA_W-1:0];
                s_axis_rx_tkeep <= BYTES'(keep);
                s_axis_rx_tlast <= last;
                s_axis_rx_tdest <= 8'(dest);
                s_axis_rx_tvalid <= 1'b1;
            end
        end
    end
end

// ---------------------------------------------------------------------------------------
// Notifications and quiescence
// ---------------------------------------------------------------------------------------
always @(posedge clk) begin : irq_counter
    if (!rst && irq_vq_valid) vtb_irq(DEV, 32'(irq_vq));
end

// received frames the device dropped to make room, for the reference model (rx_evicted)
always @(posedge clk) begin : evict_log
    if (!rst && rx_evict) vtb_rx_evicted(DEV, 32'(rx_evict_vq), 32'(rx_evict_seq));
end

// received frames are quiet once none is queued, or when the idle device refuses the next one
// (every receive slot holds a frame of a stopped queue; a frame parked for want of a buffer
// would have been dropped to take it: rx_evict); a frame queued but not yet presented will move
wire logic rx_quiet = s_axis_rx_tvalid ? !s_axis_rx_tready : !rx_queued;
wire logic quiet = dp_idle && !host_busy && !irq_fault && al_state == AL_IDLE &&
                   wr_state == WR_IDLE && wr_b_empty && !m_axi_bvalid && !rd_busy &&
                   !m_axi_rvalid && !m_axi_awvalid && !m_axi_arvalid && rx_quiet && !tx_in_frame;

logic [$clog2(QUIET_CYCLES+1)-1:0] quiet_count;

always @(posedge clk) begin : quiet_counter
    if (rst || settle_arm || !quiet) begin
        quiet_count <= '0;
    end else if (32'(quiet_count) != QUIET_CYCLES) begin
        quiet_count <= quiet_count + 1'b1;
    end
end

assign settled = 32'(quiet_count) == QUIET_CYCLES;

// the device's protection bits are not modelled (the bus carries no secure/privileged split)
/* verilator lint_off UNUSEDSIGNAL */
wire logic unused = ^{m_axi_awprot, m_axi_arprot};
/* verilator lint_on UNUSEDSIGNAL */

endmodule

`resetall
