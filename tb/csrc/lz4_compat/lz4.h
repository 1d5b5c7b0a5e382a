// SPDX-License-Identifier: MIT
// The two LZ4 block-compression entry points Verilator's FST writer calls
// (include/fstcpp/fstcpp_writer.cpp: LZ4_compressBound, LZ4_compress_default), declared for
// machines that have the LZ4 runtime (Debian's liblz4-1, which apt itself depends on) but not
// its development header (liblz4-dev). Both are part of LZ4's stable block API (lz4.h, since
// r129) and are linked from the runtime library. vdpa_tb.sim uses this directory only when no
// <lz4.h> is installed.
#ifndef VDPA_TB_LZ4_COMPAT_H
#define VDPA_TB_LZ4_COMPAT_H

#ifdef __cplusplus
extern "C" {
#endif

int LZ4_compressBound(int inputSize);
int LZ4_compress_default(const char* src, char* dst, int srcSize, int dstCapacity);

#ifdef __cplusplus
}
#endif

#endif
