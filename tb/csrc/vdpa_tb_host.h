// SPDX-License-Identifier: MIT
// Host side of the HDL bus models (tb/hdl/tb_nic_host.sv): guest memory, DMA access log, stream
// frames, the AXI-Lite request queue, interrupt counts and stall patterns, per device.
//
// Built once into libvdpa_tb_host.so (tb/vdpa_tb/sim.py: host_lib). The simulator executable
// links it, so the HDL reaches it through DPI-C; the cocotb test loads the same file through
// ctypes (tb/vdpa_tb/hostlib.py) and gets the same instance, so Python and the HDL share one
// guest memory without copies. Python only ever calls in bulk: it posts work and drains
// results at settle points, never once per clock cycle.
//
// The DPI-C functions below must match the imports in tb/hdl/tb_nic_host.sv; every Verilator
// build compiles tb/csrc/dpi_abi_check.cpp, which includes this header next to the generated
// Vtop__Dpi.h, so a mismatch is a compile error rather than a corrupted stack.

#ifndef VDPA_TB_HOST_H
#define VDPA_TB_HOST_H

#include <stddef.h>
#include <stdint.h>

#include "svdpi.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- layout facts Python checks against its numpy dtypes ------------------------------- */

// Devices one simulation can hold (a vdpa_nic_pair has two).
#define VTB_MAX_DEV 8
// Guest memory is tracked dirty in chunks of 2**VTB_CHUNK_SHIFT bytes, the chunk size of
// vdpa_model.memory.GuestMemory, so snapshots of the two compare chunk by chunk.
#define VTB_CHUNK_SHIFT 16
// Address space reserved for guest memory; pages cost nothing until touched.
#define VTB_MEM_RESERVE (1ull << 36)

// Stall-pattern channels, in the order of the bits vtb_cycle returns.
enum vtb_channel {
    VTB_CH_RX = 0,  // AXI-Stream receive source: tvalid held off
    VTB_CH_B = 1,   // AXI4 write response: bvalid held off
    VTB_CH_R = 2,   // AXI4 read data: rvalid held off
    VTB_CH_TX = 3,  // AXI-Stream transmit sink: tready held off
    VTB_CH_AW = 4,  // AXI4 write address: awready held off
    VTB_CH_W = 5,   // AXI4 write data: wready held off
    VTB_CH_AR = 6,  // AXI4 read address: arready held off
    VTB_NUM_CH = 7
};
// vtb_cycle result bits above the stall bits
#define VTB_CYCLE_SETTLE_ARM (1 << 8)  // restart the quiet count (Python asked to settle)
#define VTB_CYCLE_HOST_BUSY (1 << 9)   // AXI-Lite requests still queued
#define VTB_CYCLE_RX_QUEUED (1 << 10)  // receive frames still queued

// One bus access as the AXI4 slave performed it: a read beat (whole bus word) or one run of
// enabled write strobes. Bit 0 of flags: write; bit 1: answered with SLVERR.
typedef struct {
    uint64_t pa;
    uint32_t len;
    uint8_t vq;
    uint8_t asid;
    uint8_t kind;
    uint8_t flags;
} vtb_dma_rec;
#define VTB_DMA_WRITE 1
#define VTB_DMA_BUS_ERROR 2

// One transmitted frame: its bytes are tx data [offset, offset + len).
typedef struct {
    uint64_t offset;
    uint32_t len;
    uint8_t dest;     // tdest of the first beat (the transmit VQ)
    uint8_t aborted;  // tuser on the last beat: the device aborted the frame
    uint16_t reserved;
    uint64_t cycle;   // the device's cycle (vtb_cycle calls so far) its last beat left on
} vtb_tx_frame;

size_t vtb_dma_rec_size(void);
size_t vtb_tx_frame_size(void);
int vtb_chunk_shift(void);
// Stall channel of a name ("rx", "b", "r", "tx", "aw", "w", "ar"), or -1.
int vtb_channel(const char* name);

/* ---- Python side (ctypes) ---------------------------------------------------------------- */

// Guest memory of `size` bytes, zeroed; returns its base (the same mapping every call).
uint8_t* vtb_mem_open(uint64_t size);
uint64_t vtb_mem_size(void);
// One byte per chunk, set when the chunk is written by the device or by Python.
uint8_t* vtb_mem_dirty(void);

// A device back in its power-on state: queues, logs, counters and stall patterns cleared.
void vtb_dev_reset(int dev);

size_t vtb_dma_count(int dev);
// Move up to `max` records, oldest first, into `out`; returns how many.
size_t vtb_dma_take(int dev, vtb_dma_rec* out, size_t max);
uint64_t vtb_bytes_read(int dev);
uint64_t vtb_bytes_written(int dev);
// Guest-physical [lo, hi) answers SLVERR from now on (bus-error injection).
void vtb_poison_add(int dev, uint64_t lo, uint64_t hi);

size_t vtb_tx_count(int dev);
// Cycles the device has seen (vtb_cycle calls since its reset): the clock of vtb_tx_frame.cycle.
uint64_t vtb_cycles(int dev);
size_t vtb_tx_bytes(int dev);
// Move every completed frame out: descriptors into `frames`, bytes into `data` (sized from
// vtb_tx_count / vtb_tx_bytes); returns the number of frames.
size_t vtb_tx_take(int dev, vtb_tx_frame* frames, uint8_t* data);

// Queue a received frame for the AXI-Stream source; returns 0, or -1 for an empty frame.
int vtb_rx_push(int dev, int dest, const uint8_t* data, size_t len);
size_t vtb_rx_pending(int dev);

// Queue an AXI-Lite access; returns its ticket (1, 2, ...). Accesses complete in order.
uint64_t vtb_axil_post(int dev, int write, uint32_t addr, uint32_t data);
uint64_t vtb_axil_completed(int dev);
// Read data (and in bits 33:32 the response code) of a completed ticket.
uint64_t vtb_axil_result(int dev, uint64_t ticket);
// The HDL master was reset: an access it had in flight is issued again.
void vtb_axil_restart(int dev);

void vtb_irq_counts(int dev, uint32_t* out256);
// Received frames the device dropped to make room (its rx_evict port), oldest first: up to
// `cap` records ((vq << 16) | arrival number) moved into `out`; returns how many.
size_t vtb_rx_evicted_count(int dev);
size_t vtb_rx_evicted_take(int dev, uint32_t* out, size_t cap);
// Stall `chan` on cycle k of every `len` cycles when bit k of `pattern` is set; len 0 = never.
void vtb_set_stall(int dev, int chan, uint32_t pattern, int len);
void vtb_settle_arm(int dev);

size_t vtb_protocol_error_count(int dev);
// Copy the first recorded protocol error (NUL-terminated, cut to `cap`); returns its length.
size_t vtb_protocol_error_text(int dev, char* out, size_t cap);

/* ---- HDL side (DPI-C imports of tb/hdl/tb_nic_host.sv) ------------------------------------ */

int vtb_cycle(int dev);
svBit vtb_mem_read(int dev, long long addr, int nbytes, int user, svBitVecVal* data);
svBit vtb_mem_write(int dev, long long addr, int nbytes, const svBitVecVal* data, long long strb,
                    int user);
void vtb_tx_beat(int dev, const svBitVecVal* data, long long keep, svBit last, svBit user,
                 int dest);
svBit vtb_rx_beat(int dev, int nbytes, svBitVecVal* data, long long* keep, svBit* last,
                  int* dest);
svBit vtb_axil_next(int dev, svBit* write, int* addr, int* data);
svBit vtb_axil_complete(int dev, int rdata, int resp);
void vtb_irq(int dev, int vq);
void vtb_rx_evicted(int dev, int vq, int seq);
void vtb_protocol_error(int dev, const char* what);

#ifdef __cplusplus
}
#endif

#endif  // VDPA_TB_HOST_H
