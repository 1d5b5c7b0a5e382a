// SPDX-License-Identifier: MIT
// GENERATED from rtl/regmap/vdpa_regmap.toml by tb/vdpa_tb/regmap.py. Do not edit.
// Regenerate: PYTHONPATH=tb python -m vdpa_tb.regmap --write-sv

`resetall
`timescale 1ns / 1ps
`default_nettype none

/* Register offsets, command opcodes, status codes and VQ states of the vdpa NIC */
package vdpa_regs_pkg;

// Lint waiver, reviewed: the package is the whole interface and every module uses a
// subset of it, so unused constants are expected here and only here.
/* verilator lint_off UNUSEDPARAM */

    localparam logic [31:0] VDPA_ID = 32'h7d9a0001;
    localparam logic [31:0] VDPA_VERSION = 32'h10001;
    localparam logic [15:0] REG_ID = 16'h0;
    localparam logic [15:0] REG_VERSION = 16'h4;
    localparam logic [15:0] REG_CAPS0 = 16'h8;
    localparam logic [15:0] REG_CAPS1 = 16'hc;
    localparam logic [15:0] REG_CAPS2 = 16'h10;
    localparam logic [15:0] REG_CAPS3 = 16'h14;
    localparam logic [15:0] REG_DEV_FEATURES_LO = 16'h18;
    localparam logic [15:0] REG_DEV_FEATURES_HI = 16'h1c;
    localparam logic [15:0] REG_DEV_STATUS = 16'h20;
    localparam logic [15:0] REG_RX_DROPS = 16'h24;
    localparam logic [15:0] REG_CAPS4 = 16'h28;
    localparam logic [15:0] REG_CMD_ARG0 = 16'h40;
    localparam logic [15:0] REG_CMD_SUBMIT = 16'h70;
    localparam logic [15:0] REG_CMD_STATUS = 16'h74;
    localparam logic [15:0] REG_CPL_HEAD = 16'h80;
    localparam logic [15:0] REG_CPL_CYCLES = 16'h84;
    localparam logic [15:0] REG_CPL_DATA0 = 16'h88;
    localparam logic [15:0] REG_CPL_POP = 16'h98;
    localparam logic [15:0] REG_FAULT_HEAD = 16'ha0;
    localparam logic [15:0] REG_FAULT_IOVA_LO = 16'ha4;
    localparam logic [15:0] REG_FAULT_IOVA_HI = 16'ha8;
    localparam logic [15:0] REG_FAULT_POP = 16'hac;
    localparam logic [15:0] REG_DOORBELL = 16'h100;
    localparam logic [15:0] REG_NOTIFY_COUNT = 16'h400;
    localparam logic [7:0] OP_NOP = 8'h0;
    localparam logic [7:0] OP_SET_FEATURES = 8'h1;
    localparam logic [7:0] OP_SET_STATUS = 8'h2;
    localparam logic [7:0] OP_QUERY_DEV = 8'h3;
    localparam logic [7:0] OP_RESET = 8'h4;
    localparam logic [7:0] OP_CREATE_VQ = 8'h10;
    localparam logic [7:0] OP_MODIFY_VQ = 8'h11;
    localparam logic [7:0] OP_QUERY_VQ = 8'h12;
    localparam logic [7:0] OP_DESTROY_VQ = 8'h13;
    localparam logic [7:0] OP_SUSPEND_ALL = 8'h14;
    localparam logic [7:0] OP_RESUME_ALL = 8'h15;
    localparam logic [7:0] OP_MAP = 8'h20;
    localparam logic [7:0] OP_UNMAP = 8'h21;
    localparam logic [7:0] OP_RESET_MAP = 8'h22;
    localparam logic [7:0] OP_SET_GROUP_ASID = 8'h23;
    localparam logic [7:0] OP_QUERY_GROUP = 8'h24;
    localparam logic [7:0] OP_TABLE_NEW = 8'h25;
    localparam logic [7:0] OP_TABLE_SWITCH = 8'h26;
    localparam logic [7:0] OP_TABLE_FREE = 8'h27;
    localparam logic [7:0] ST_OK = 8'h0;
    localparam logic [7:0] ST_BAD_OPCODE = 8'h1;
    localparam logic [7:0] ST_BAD_PARAM = 8'h2;
    localparam logic [7:0] ST_BAD_STATE = 8'h3;
    localparam logic [7:0] ST_EXISTS = 8'h4;
    localparam logic [7:0] ST_NO_SPACE = 8'h5;
    localparam logic [7:0] ST_NO_MEM = 8'h6;
    localparam logic [2:0] VQS_INIT = 3'h0;
    localparam logic [2:0] VQS_RDY = 3'h1;
    localparam logic [2:0] VQS_SUSPEND = 3'h2;
    localparam logic [2:0] VQS_ERR = 3'h3;
    localparam logic [2:0] VQS_NONE = 3'h4;
    localparam logic [31:0] MOD_STATE = 32'h0;
    localparam logic [31:0] MOD_ADDRS = 32'h6;
    localparam logic [31:0] MOD_AVAIL_IDX = 32'h7;
    localparam logic [31:0] MOD_USED_IDX = 32'h8;
    localparam logic [31:0] MOD_GROUPS = 32'he;
    localparam logic [7:0] FAULT_EINVAL = 8'h16;
    localparam logic [7:0] FAULT_ELOOP = 8'h28;
    localparam logic [7:0] FAULT_EPROTO = 8'h47;
    localparam logic [7:0] FAULT_EFAULT = 8'he;
    localparam logic [7:0] FAULT_EIO = 8'h5;
    localparam logic [7:0] FAULT_E2BIG = 8'h7;
    localparam logic [1:0] UNIT_DEV = 2'h0;
    localparam logic [1:0] UNIT_IOTLB = 2'h1;
    localparam logic [1:0] UNIT_VQ = 2'h2;
    localparam logic [1:0] UNIT_ALL = 2'h3;
    localparam logic [2:0] ORD_NONE = 3'h0;
    localparam logic [2:0] ORD_OBJECT = 3'h1;
    localparam logic [2:0] ORD_UNIT = 3'h2;
    localparam logic [2:0] ORD_BUILD = 3'h3;
    localparam logic [2:0] ORD_BARRIER = 3'h4;
    localparam logic [2:0] FWC_VQ_CREATE = 3'h0;
    localparam logic [2:0] FWC_VQ_DESTROY = 3'h1;
    localparam logic [2:0] FWC_VQ_MODIFY = 3'h2;
    localparam logic [2:0] FWC_MAP = 3'h3;
    localparam logic [2:0] FWC_UNMAP = 3'h4;
    localparam logic [2:0] FWC_RESET = 3'h5;
    localparam logic [2:0] FWC_OTHER = 3'h6;

    // Command argument words (CMD_ARG0..11)
    localparam int ARG_SET_FEATURES_FEATURES_LO = 0;
    localparam int ARG_SET_FEATURES_FEATURES_HI = 1;
    localparam int ARG_SET_STATUS_STATUS = 0;
    localparam int RES_QUERY_DEV_STATUS = 0;
    localparam int RES_QUERY_DEV_FEATURES_LO = 1;
    localparam int RES_QUERY_DEV_FEATURES_HI = 2;
    localparam int ARG_RESET_FLAGS = 0;
    localparam int ARG_CREATE_VQ_VQ = 0;
    localparam int ARG_CREATE_VQ_SIZE = 1;
    localparam int ARG_CREATE_VQ_DESC_LO = 2;
    localparam int ARG_CREATE_VQ_DESC_HI = 3;
    localparam int ARG_CREATE_VQ_DRIVER_LO = 4;
    localparam int ARG_CREATE_VQ_DRIVER_HI = 5;
    localparam int ARG_CREATE_VQ_DEVICE_LO = 6;
    localparam int ARG_CREATE_VQ_DEVICE_HI = 7;
    localparam int ARG_CREATE_VQ_IDX = 8;
    localparam int ARG_CREATE_VQ_GROUPS = 9;
    localparam int ARG_MODIFY_VQ_VQ = 0;
    localparam int ARG_MODIFY_VQ_MASK = 1;
    localparam int ARG_MODIFY_VQ_STATE = 2;
    localparam int ARG_MODIFY_VQ_DESC_LO = 3;
    localparam int ARG_MODIFY_VQ_DESC_HI = 4;
    localparam int ARG_MODIFY_VQ_DRIVER_LO = 5;
    localparam int ARG_MODIFY_VQ_DRIVER_HI = 6;
    localparam int ARG_MODIFY_VQ_DEVICE_LO = 7;
    localparam int ARG_MODIFY_VQ_DEVICE_HI = 8;
    localparam int ARG_MODIFY_VQ_IDX = 9;
    localparam int ARG_MODIFY_VQ_GROUPS = 10;
    localparam int ARG_QUERY_VQ_VQ = 0;
    localparam int RES_QUERY_VQ_STATE_SIZE = 0;
    localparam int RES_QUERY_VQ_IDX = 1;
    localparam int RES_QUERY_VQ_ERRNO = 2;
    localparam int RES_QUERY_VQ_GROUPS = 3;
    localparam int ARG_DESTROY_VQ_VQ = 0;
    localparam int RES_SUSPEND_ALL_COUNT = 0;
    localparam int RES_RESUME_ALL_COUNT = 0;
    localparam int ARG_MAP_ASID = 0;
    localparam int ARG_MAP_IOVA_LO = 1;
    localparam int ARG_MAP_IOVA_HI = 2;
    localparam int ARG_MAP_LAST_LO = 3;
    localparam int ARG_MAP_LAST_HI = 4;
    localparam int ARG_MAP_PA_LO = 5;
    localparam int ARG_MAP_PA_HI = 6;
    localparam int ARG_MAP_PERM = 7;
    localparam int ARG_MAP_TABLE = 8;
    localparam int ARG_MAP_WRITERS = 9;
    localparam int RES_MAP_ENTRY = 0;
    localparam int ARG_UNMAP_ASID = 0;
    localparam int ARG_UNMAP_IOVA_LO = 1;
    localparam int ARG_UNMAP_IOVA_HI = 2;
    localparam int ARG_UNMAP_LAST_LO = 3;
    localparam int ARG_UNMAP_LAST_HI = 4;
    localparam int RES_UNMAP_COUNT = 0;
    localparam int ARG_RESET_MAP_ASID = 0;
    localparam int ARG_SET_GROUP_ASID_GROUP = 0;
    localparam int ARG_SET_GROUP_ASID_ASID = 1;
    localparam int ARG_QUERY_GROUP_GROUP = 0;
    localparam int RES_QUERY_GROUP_ASID = 0;
    localparam int RES_QUERY_GROUP_IDENTITY = 1;
    localparam int ARG_TABLE_NEW_ASID = 0;
    localparam int RES_TABLE_NEW_TABLE = 0;
    localparam int ARG_TABLE_SWITCH_ASID = 0;
    localparam int ARG_TABLE_SWITCH_TABLE = 1;
    localparam int RES_TABLE_SWITCH_OLD_TABLE = 0;
    localparam int ARG_TABLE_FREE_ASID = 0;
    localparam int ARG_TABLE_FREE_TABLE = 1;
    localparam int RES_TABLE_FREE_RANGES = 0;
    localparam int RES_TABLE_FREE_PAGES = 1;

    // Firmware latency classes (FWC_*), one latency parameter each
    localparam int NFW_CLASSES = 7;

    // Execution unit of a command (unknown opcodes: the device unit)
    function automatic logic [1:0] unit_of(input logic [7:0] op);
        case (op)
            OP_NOP: return UNIT_DEV;
            OP_SET_FEATURES: return UNIT_DEV;
            OP_SET_STATUS: return UNIT_DEV;
            OP_QUERY_DEV: return UNIT_DEV;
            OP_RESET: return UNIT_ALL;
            OP_CREATE_VQ: return UNIT_VQ;
            OP_MODIFY_VQ: return UNIT_VQ;
            OP_QUERY_VQ: return UNIT_VQ;
            OP_DESTROY_VQ: return UNIT_VQ;
            OP_SUSPEND_ALL: return UNIT_VQ;
            OP_RESUME_ALL: return UNIT_VQ;
            OP_MAP: return UNIT_IOTLB;
            OP_UNMAP: return UNIT_IOTLB;
            OP_RESET_MAP: return UNIT_IOTLB;
            OP_SET_GROUP_ASID: return UNIT_IOTLB;
            OP_QUERY_GROUP: return UNIT_IOTLB;
            OP_TABLE_NEW: return UNIT_IOTLB;
            OP_TABLE_SWITCH: return UNIT_IOTLB;
            OP_TABLE_FREE: return UNIT_IOTLB;
            default: return UNIT_DEV;
        endcase
    endfunction

    // What a command is ordered with (ORD_*; unknown opcodes: nothing)
    function automatic logic [2:0] order_of(input logic [7:0] op);
        case (op)
            OP_NOP: return ORD_NONE;
            OP_SET_FEATURES: return ORD_UNIT;
            OP_SET_STATUS: return ORD_UNIT;
            OP_QUERY_DEV: return ORD_UNIT;
            OP_RESET: return ORD_BARRIER;
            OP_CREATE_VQ: return ORD_OBJECT;
            OP_MODIFY_VQ: return ORD_OBJECT;
            OP_QUERY_VQ: return ORD_OBJECT;
            OP_DESTROY_VQ: return ORD_OBJECT;
            OP_SUSPEND_ALL: return ORD_UNIT;
            OP_RESUME_ALL: return ORD_UNIT;
            OP_MAP: return ORD_BUILD;
            OP_UNMAP: return ORD_OBJECT;
            OP_RESET_MAP: return ORD_OBJECT;
            OP_SET_GROUP_ASID: return ORD_UNIT;
            OP_QUERY_GROUP: return ORD_UNIT;
            OP_TABLE_NEW: return ORD_OBJECT;
            OP_TABLE_SWITCH: return ORD_OBJECT;
            OP_TABLE_FREE: return ORD_OBJECT;
            default: return ORD_NONE;
        endcase
    endfunction

    // Firmware latency class of a command (unknown opcodes: OTHER)
    function automatic logic [2:0] fw_class_of(input logic [7:0] op);
        case (op)
            OP_NOP: return FWC_OTHER;
            OP_SET_FEATURES: return FWC_OTHER;
            OP_SET_STATUS: return FWC_OTHER;
            OP_QUERY_DEV: return FWC_OTHER;
            OP_RESET: return FWC_RESET;
            OP_CREATE_VQ: return FWC_VQ_CREATE;
            OP_MODIFY_VQ: return FWC_VQ_MODIFY;
            OP_QUERY_VQ: return FWC_VQ_MODIFY;
            OP_DESTROY_VQ: return FWC_VQ_DESTROY;
            OP_SUSPEND_ALL: return FWC_VQ_MODIFY;
            OP_RESUME_ALL: return FWC_VQ_MODIFY;
            OP_MAP: return FWC_MAP;
            OP_UNMAP: return FWC_UNMAP;
            OP_RESET_MAP: return FWC_UNMAP;
            OP_SET_GROUP_ASID: return FWC_OTHER;
            OP_QUERY_GROUP: return FWC_OTHER;
            OP_TABLE_NEW: return FWC_MAP;
            OP_TABLE_SWITCH: return FWC_OTHER;
            OP_TABLE_FREE: return FWC_UNMAP;
            default: return FWC_OTHER;
        endcase
    endfunction

/* verilator lint_on UNUSEDPARAM */

endpackage

`resetall
