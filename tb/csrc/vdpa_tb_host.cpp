// SPDX-License-Identifier: MIT
// Host side of the HDL bus models: see vdpa_tb_host.h for the contract with the HDL and Python.

#include "vdpa_tb_host.h"

#include <sys/mman.h>

#include <algorithm>
#include <cstring>
#include <deque>
#include <string>
#include <vector>

namespace {

constexpr uint64_t kChunk = 1ull << VTB_CHUNK_SHIFT;
// AXI-Lite results kept per device, indexed by ticket modulo this (far more than ever waits)
constexpr size_t kAxilResults = 1 << 12;
constexpr size_t kMaxErrors = 16;
// byte lanes of the widest bus (the DPI words are 128 bits)
constexpr int kMaxLanes = 64;

// One guest memory per simulation: every device of a two-device top reaches the same guest.
struct GuestMemory {
    uint8_t* base = nullptr;
    uint64_t size = 0;
    std::vector<uint8_t> dirty;

    bool map() {
        if (base) return true;
        void* p = mmap(nullptr, VTB_MEM_RESERVE, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (p == MAP_FAILED) return false;
        base = static_cast<uint8_t*>(p);
        dirty.assign(VTB_MEM_RESERVE >> VTB_CHUNK_SHIFT, 0);
        return true;
    }

    // Give every written chunk back to the kernel: it reads as zero again, like fresh RAM.
    void zero() {
        size_t n = dirty.size();
        for (size_t i = 0; i < n;) {
            if (!dirty[i]) {
                ++i;
                continue;
            }
            size_t j = i;
            while (j < n && dirty[j]) dirty[j++] = 0;
            madvise(base + (i << VTB_CHUNK_SHIFT), (j - i) << VTB_CHUNK_SHIFT, MADV_DONTNEED);
            i = j;
        }
    }

    bool inside(uint64_t pa, uint64_t len) const { return pa <= size && len <= size - pa; }

    void mark(uint64_t pa, uint64_t len) {
        for (uint64_t c = pa >> VTB_CHUNK_SHIFT; c <= (pa + len - 1) >> VTB_CHUNK_SHIFT; ++c) {
            dirty[c] = 1;
        }
    }
};

struct RxFrame {
    std::vector<uint8_t> data;
    size_t pos = 0;
    int dest = 0;
};

struct AxilRequest {
    bool write;
    uint32_t addr;
    uint32_t data;
};

struct Stall {
    uint32_t pattern = 0;
    int len = 0;
    int pos = 0;
};

struct Device {
    std::vector<vtb_dma_rec> dma;
    uint64_t bytes_read = 0;
    uint64_t bytes_written = 0;
    std::vector<std::pair<uint64_t, uint64_t>> poison;

    std::vector<uint8_t> tx_data;
    std::vector<vtb_tx_frame> tx_frames;  // completed frames only
    bool tx_in_frame = false;
    size_t tx_start = 0;  // where the frame still arriving begins in tx_data
    int tx_dest = 0;
    uint64_t cycles = 0;  // vtb_cycle calls: one per clock edge of this device's host

    std::deque<RxFrame> rx;

    std::deque<AxilRequest> axil;
    bool axil_issued = false;
    uint64_t axil_posted = 0;
    uint64_t axil_done = 0;
    uint64_t axil_results[kAxilResults] = {};

    uint32_t irq[256] = {};
    std::vector<uint32_t> rx_evicted;  // (vq << 16) | arrival number, in the order dropped
    Stall stall[VTB_NUM_CH];
    bool any_stall = false;
    bool settle_arm = false;
    std::vector<std::string> errors;
};

GuestMemory g_mem;
Device g_dev[VTB_MAX_DEV];

Device& dev_of(int dev) { return g_dev[static_cast<unsigned>(dev) % VTB_MAX_DEV]; }

bool poisoned(const Device& d, uint64_t pa, uint64_t len) {
    for (const auto& r : d.poison) {
        if (pa < r.second && r.first < pa + len) return true;
    }
    return false;
}

vtb_dma_rec record(int user, uint64_t pa, uint32_t len, bool write) {
    // AXI user sideband of vdpa_vq_engine: {kind[18:16], asid[15:8], vq[7:0]}
    return vtb_dma_rec{pa, len, static_cast<uint8_t>(user & 0xFF),
                       static_cast<uint8_t>((user >> 8) & 0xFF),
                       static_cast<uint8_t>((user >> 16) & 0x7),
                       static_cast<uint8_t>(write ? VTB_DMA_WRITE : 0)};
}

}  // namespace

extern "C" {

size_t vtb_dma_rec_size(void) { return sizeof(vtb_dma_rec); }
size_t vtb_tx_frame_size(void) { return sizeof(vtb_tx_frame); }
int vtb_chunk_shift(void) { return VTB_CHUNK_SHIFT; }

int vtb_channel(const char* name) {
    static const char* const names[VTB_NUM_CH] = {"rx", "b", "r", "tx", "aw", "w", "ar"};
    for (int c = 0; c < VTB_NUM_CH; ++c) {
        if (std::strcmp(name, names[c]) == 0) return c;
    }
    return -1;
}

/* ---- guest memory ------------------------------------------------------------------------ */

uint8_t* vtb_mem_open(uint64_t size) {
    if (size > VTB_MEM_RESERVE || !g_mem.map()) return nullptr;
    g_mem.zero();
    g_mem.size = size;
    return g_mem.base;
}

uint64_t vtb_mem_size(void) { return g_mem.size; }

uint8_t* vtb_mem_dirty(void) { return g_mem.dirty.empty() ? nullptr : g_mem.dirty.data(); }

void vtb_dev_reset(int dev) { dev_of(dev) = Device(); }

/* ---- DMA --------------------------------------------------------------------------------- */

size_t vtb_dma_count(int dev) { return dev_of(dev).dma.size(); }

size_t vtb_dma_take(int dev, vtb_dma_rec* out, size_t max) {
    auto& log = dev_of(dev).dma;
    size_t n = std::min(max, log.size());
    std::memcpy(out, log.data(), n * sizeof(vtb_dma_rec));
    log.erase(log.begin(), log.begin() + static_cast<std::ptrdiff_t>(n));
    return n;
}

uint64_t vtb_bytes_read(int dev) { return dev_of(dev).bytes_read; }
uint64_t vtb_bytes_written(int dev) { return dev_of(dev).bytes_written; }

void vtb_poison_add(int dev, uint64_t lo, uint64_t hi) { dev_of(dev).poison.emplace_back(lo, hi); }

// One read beat: the whole bus word at `addr`, logged before it is served (as the cocotbext
// target does), then answered with SLVERR if poisoned or outside guest memory.
svBit vtb_mem_read(int dev, long long addr, int nbytes, int user, svBitVecVal* data) {
    Device& d = dev_of(dev);
    uint64_t pa = static_cast<uint64_t>(addr);
    uint32_t n = static_cast<uint32_t>(nbytes);
    vtb_dma_rec rec = record(user, pa, n, false);
    std::memset(data, 0, (n + 3) / 4 * sizeof(svBitVecVal));
    bool bad = poisoned(d, pa, n) || !g_mem.inside(pa, n);
    if (bad) {
        rec.flags |= VTB_DMA_BUS_ERROR;
    } else {
        d.bytes_read += n;
        std::memcpy(data, g_mem.base + pa, n);  // svBitVecVal words are little-endian here
    }
    d.dma.push_back(rec);
    return bad;
}

// One write beat: each run of enabled strobes is one logged access; the first run that is
// poisoned or outside guest memory stops the beat and the burst answers SLVERR.
svBit vtb_mem_write(int dev, long long addr, int nbytes, const svBitVecVal* data, long long strb,
                    int user) {
    Device& d = dev_of(dev);
    uint64_t word = static_cast<uint64_t>(addr);
    uint64_t lanes = static_cast<uint64_t>(strb);
    const uint8_t* bytes = reinterpret_cast<const uint8_t*>(data);
    for (int lane = 0; lane < nbytes;) {
        if (!(lanes >> lane & 1)) {
            ++lane;
            continue;
        }
        int end = lane;
        while (end < nbytes && (lanes >> end & 1)) ++end;
        uint64_t pa = word + static_cast<uint64_t>(lane);
        uint32_t n = static_cast<uint32_t>(end - lane);
        vtb_dma_rec rec = record(user, pa, n, true);
        if (poisoned(d, pa, n) || !g_mem.inside(pa, n)) {
            rec.flags |= VTB_DMA_BUS_ERROR;
            d.dma.push_back(rec);
            return 1;
        }
        d.dma.push_back(rec);
        d.bytes_written += n;
        std::memcpy(g_mem.base + pa, bytes + lane, n);
        g_mem.mark(pa, n);
        lane = end;
    }
    return 0;
}

/* ---- AXI-Stream ---------------------------------------------------------------------------- */

size_t vtb_tx_count(int dev) { return dev_of(dev).tx_frames.size(); }
size_t vtb_tx_bytes(int dev) {
    const Device& d = dev_of(dev);
    return d.tx_frames.empty() ? 0 : d.tx_frames.back().offset + d.tx_frames.back().len;
}

size_t vtb_tx_take(int dev, vtb_tx_frame* frames, uint8_t* data) {
    Device& d = dev_of(dev);
    size_t n = d.tx_frames.size();
    size_t bytes = vtb_tx_bytes(dev);
    std::memcpy(frames, d.tx_frames.data(), n * sizeof(vtb_tx_frame));
    std::memcpy(data, d.tx_data.data(), bytes);
    d.tx_frames.clear();
    // a frame still arriving keeps its bytes, moved to the front
    d.tx_data.erase(d.tx_data.begin(), d.tx_data.begin() + static_cast<std::ptrdiff_t>(bytes));
    d.tx_start -= std::min(d.tx_start, bytes);
    return n;
}

void vtb_tx_beat(int dev, const svBitVecVal* data, long long keep, svBit last, svBit user,
                 int dest) {
    Device& d = dev_of(dev);
    uint64_t lanes = static_cast<uint64_t>(keep);
    const uint8_t* bytes = reinterpret_cast<const uint8_t*>(data);
    if (!d.tx_in_frame) {
        d.tx_start = d.tx_data.size();
        d.tx_dest = dest;
        d.tx_in_frame = true;
    }
    // cocotbext's sink keeps the bytes whose tkeep bit is set; so does this
    for (int lane = 0; lane < kMaxLanes; ++lane) {
        if (lanes >> lane & 1) d.tx_data.push_back(bytes[lane]);
    }
    if (last) {
        d.tx_frames.push_back(vtb_tx_frame{d.tx_start,
                                           static_cast<uint32_t>(d.tx_data.size() - d.tx_start),
                                           static_cast<uint8_t>(d.tx_dest),
                                           static_cast<uint8_t>(user ? 1 : 0), 0, d.cycles});
        d.tx_in_frame = false;
    }
}

int vtb_rx_push(int dev, int dest, const uint8_t* data, size_t len) {
    if (len == 0) return -1;
    RxFrame f;
    f.data.assign(data, data + len);
    f.dest = dest;
    dev_of(dev).rx.push_back(std::move(f));
    return 0;
}

size_t vtb_rx_pending(int dev) { return dev_of(dev).rx.size(); }

svBit vtb_rx_beat(int dev, int nbytes, svBitVecVal* data, long long* keep, svBit* last,
                  int* dest) {
    Device& d = dev_of(dev);
    if (d.rx.empty()) return 0;
    RxFrame& f = d.rx.front();
    size_t n = std::min(static_cast<size_t>(nbytes), f.data.size() - f.pos);
    std::memset(data, 0, (static_cast<size_t>(nbytes) + 3) / 4 * sizeof(svBitVecVal));
    std::memcpy(data, f.data.data() + f.pos, n);
    *keep = static_cast<long long>(n >= 64 ? ~0ull : (1ull << n) - 1);
    *dest = f.dest;
    f.pos += n;
    *last = f.pos == f.data.size();
    if (*last) d.rx.pop_front();
    return 1;
}

/* ---- AXI-Lite command path ------------------------------------------------------------------ */

uint64_t vtb_axil_post(int dev, int write, uint32_t addr, uint32_t data) {
    Device& d = dev_of(dev);
    d.axil.push_back(AxilRequest{write != 0, addr, data});
    return ++d.axil_posted;
}

uint64_t vtb_axil_completed(int dev) { return dev_of(dev).axil_done; }

uint64_t vtb_axil_result(int dev, uint64_t ticket) {
    return dev_of(dev).axil_results[ticket % kAxilResults];
}

void vtb_axil_restart(int dev) { dev_of(dev).axil_issued = false; }

svBit vtb_axil_next(int dev, svBit* write, int* addr, int* data) {
    Device& d = dev_of(dev);
    if (d.axil.empty() || d.axil_issued) return 0;
    const AxilRequest& r = d.axil.front();
    *write = r.write;
    *addr = static_cast<int>(r.addr);
    *data = static_cast<int>(r.data);
    d.axil_issued = true;
    return 1;
}

// The access in flight finished; returns 1 when nothing else is queued (the HDL then toggles
// its done signal, the one event Python waits for per batch).
svBit vtb_axil_complete(int dev, int rdata, int resp) {
    Device& d = dev_of(dev);
    if (!d.axil_issued || d.axil.empty()) return 0;  // a reset came in between
    d.axil.pop_front();
    d.axil_issued = false;
    ++d.axil_done;
    d.axil_results[d.axil_done % kAxilResults] =
        static_cast<uint32_t>(rdata) | (static_cast<uint64_t>(resp & 3) << 32);
    return d.axil.empty();
}

/* ---- interrupts, stalls, settle, protocol -------------------------------------------------- */

void vtb_irq(int dev, int vq) { ++dev_of(dev).irq[vq & 0xFF]; }

void vtb_irq_counts(int dev, uint32_t* out256) {
    std::memcpy(out256, dev_of(dev).irq, sizeof(dev_of(dev).irq));
}

void vtb_rx_evicted(int dev, int vq, int seq) {
    dev_of(dev).rx_evicted.push_back((static_cast<uint32_t>(vq & 0xFF) << 16) |
                                     static_cast<uint32_t>(seq & 0xFFFF));
}

size_t vtb_rx_evicted_count(int dev) { return dev_of(dev).rx_evicted.size(); }

size_t vtb_rx_evicted_take(int dev, uint32_t* out, size_t cap) {
    auto& log = dev_of(dev).rx_evicted;
    const size_t n = std::min(cap, log.size());
    std::copy(log.begin(), log.begin() + static_cast<std::ptrdiff_t>(n), out);
    log.erase(log.begin(), log.begin() + static_cast<std::ptrdiff_t>(n));
    return n;
}

void vtb_set_stall(int dev, int chan, uint32_t pattern, int len) {
    Device& d = dev_of(dev);
    if (chan < 0 || chan >= VTB_NUM_CH) return;
    d.stall[chan] = Stall{pattern, std::clamp(len, 0, 32), 0};
    d.any_stall = false;
    for (const Stall& s : d.stall) d.any_stall |= s.len > 0;
}

void vtb_settle_arm(int dev) { dev_of(dev).settle_arm = true; }

uint64_t vtb_cycles(int dev) { return dev_of(dev).cycles; }

int vtb_cycle(int dev) {
    Device& d = dev_of(dev);
    ++d.cycles;
    int bits = 0;
    if (d.any_stall) {
        for (int c = 0; c < VTB_NUM_CH; ++c) {
            Stall& s = d.stall[c];
            if (!s.len) continue;
            bits |= static_cast<int>(s.pattern >> s.pos & 1) << c;
            s.pos = s.pos + 1 == s.len ? 0 : s.pos + 1;
        }
    }
    if (d.settle_arm) {
        bits |= VTB_CYCLE_SETTLE_ARM;
        d.settle_arm = false;
    }
    if (!d.axil.empty()) bits |= VTB_CYCLE_HOST_BUSY;
    if (!d.rx.empty()) bits |= VTB_CYCLE_RX_QUEUED;
    return bits;
}

void vtb_protocol_error(int dev, const char* what) {
    Device& d = dev_of(dev);
    if (d.errors.size() < kMaxErrors) d.errors.emplace_back(what);
}

size_t vtb_protocol_error_count(int dev) { return dev_of(dev).errors.size(); }

size_t vtb_protocol_error_text(int dev, char* out, size_t cap) {
    const Device& d = dev_of(dev);
    if (d.errors.empty() || cap == 0) return 0;
    size_t n = std::min(cap - 1, d.errors.front().size());
    std::memcpy(out, d.errors.front().data(), n);
    out[n] = 0;
    return n;
}

}  // extern "C"
