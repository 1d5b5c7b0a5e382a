// SPDX-License-Identifier: MIT
// Compiled into every fast-path Verilator build (tb/vdpa_tb/sim.py): the prototypes Verilator
// generates from the DPI-C imports of tb/hdl/tb_nic_host.sv meet those of the host library
// here, so an import that drifts from vdpa_tb_host.h fails the build ("conflicting
// declaration") instead of passing arguments the library reads wrongly.

#include "Vtop__Dpi.h"
#include "vdpa_tb_host.h"
