// SPDX-License-Identifier: MIT
// Language: SystemVerilog 2012 (subset accepted by Verilator 5 and Icarus 11)

`resetall
`timescale 1ns / 1ps
`default_nettype none

/*
 * Split virtqueue layout (virtio 1.2 §2.7, include/uapi/linux/virtio_ring.h): where each ring
 * item of a queue of `size` entries sits, from the descriptor table, driver area (avail ring)
 * and device area (used ring) addresses. One place for the layout, shared by the walker and
 * the completion writer (a packed-ring walker would have a package of its own, §2.8).
 */
package vdpa_split_ring_pkg;

    // struct vring_desc: 16 bytes {addr, len, flags, next}
    function automatic logic [63:0] desc_iova(input logic [63:0] table_base, input logic [15:0] i);
        return table_base + 64'(i) * 16;
    endfunction

    // avail->idx
    function automatic logic [63:0] avail_idx_iova(input logic [63:0] drv);
        return drv + 64'd2;
    endfunction

    // avail->ring[i % size] (size a power of two)
    function automatic logic [63:0] avail_entry_iova(input logic [63:0] drv, input logic [16:0] size,
                                                     input logic [15:0] i);
        return drv + 64'd4 + 64'(i & 16'(size - 17'd1)) * 2;
    endfunction

    // used_event: after the avail ring (VIRTIO_F_EVENT_IDX)
    function automatic logic [63:0] used_event_iova(input logic [63:0] drv, input logic [16:0] size);
        return drv + 64'd4 + 64'(size) * 2;
    endfunction

    // used->idx
    function automatic logic [63:0] used_idx_iova(input logic [63:0] dev);
        return dev + 64'd2;
    endfunction

    // used->ring[i % size]: 8 bytes {id, len}
    function automatic logic [63:0] used_elem_iova(input logic [63:0] dev, input logic [16:0] size,
                                                   input logic [15:0] i);
        return dev + 64'd4 + 64'(i & 16'(size - 17'd1)) * 8;
    endfunction

    // avail_event: after the used ring (VIRTIO_F_EVENT_IDX)
    function automatic logic [63:0] avail_event_iova(input logic [63:0] dev, input logic [16:0] size);
        return dev + 64'd4 + 64'(size) * 8;
    endfunction

endpackage

`resetall
