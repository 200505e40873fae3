// A small CUDA emulator for testing einet's kernels on a machine without a GPU.
//
// The test harness compiles `kernels/common.cuh` and every `kernels/*.cu` file with the host
// C++ compiler after this header (EINET_EMU defined), plus a generated table of kernels, into
// a shared library that the Rust crate loads in place of the CUDA driver. Each block runs on
// the calling OS thread; each CUDA thread of the block is a fiber (own stack, cooperative
// switching at __syncthreads / __syncwarp / warp shuffles and at the warp-wide exchange that
// emulates tensor-core mma.sync). That gives exact barrier semantics, so races that need
// true parallelism are not found here, but indexing, tiling, reductions and numerics are
// exercised with real launch shapes. Shared memory is filled with NaN before every block so
// reads of unwritten shared memory show up as NaN.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <utility>
#include <vector>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __restrict__ __restrict
#define __launch_bounds__(...)
#define __align__(n) alignas(n)

struct dim3 {
    unsigned x = 1, y = 1, z = 1;
};
struct alignas(8) float2 {
    float x, y;
};
struct alignas(16) float4 {
    float x, y, z, w;
};
inline float4 make_float4(float x, float y, float z, float w) { return float4{x, y, z, w}; }
inline float2 make_float2(float x, float y) { return float2{x, y}; }

namespace einet_emu {

enum State { RUNNABLE, WAIT_BLOCK, WAIT_WARP, DONE };

struct Fiber {
    void* sp = nullptr;
    dim3 tid;
    unsigned linear = 0;
    State state = RUNNABLE;
};

struct Launch {
    void (*thunk)(void**) = nullptr;
    void** args = nullptr;
};

extern thread_local Fiber* current;
extern thread_local dim3 block_idx, block_dim, grid_dim;
float* dynamic_smem();
void yield(State s);

inline unsigned as_bits(float v) {
    unsigned u;
    std::memcpy(&u, &v, 4);
    return u;
}
inline float from_bits(unsigned u) {
    float v;
    std::memcpy(&v, &u, 4);
    return v;
}
unsigned* shuffle_slots();

// Words per lane that warp_gather can exchange.
constexpr unsigned kGatherWords = 8;
unsigned* gather_slots();

}  // namespace einet_emu

#define threadIdx (einet_emu::current->tid)
#define blockIdx (einet_emu::block_idx)
#define blockDim (einet_emu::block_dim)
#define gridDim (einet_emu::grid_dim)

inline void __syncthreads() { einet_emu::yield(einet_emu::WAIT_BLOCK); }
inline void __syncwarp(unsigned = 0xffffffffu) { einet_emu::yield(einet_emu::WAIT_WARP); }

inline float __shfl_xor_sync(unsigned, float v, int lane_mask) {
    unsigned me = einet_emu::current->linear;
    unsigned* slots = einet_emu::shuffle_slots();
    slots[me] = einet_emu::as_bits(v);
    __syncwarp();
    float r = einet_emu::from_bits(slots[me ^ (unsigned)lane_mask]);
    __syncwarp();
    return r;
}

namespace einet_emu {
// Publishes this lane's words[0 .. n) (n <= kGatherWords) and returns its warp's table, lane l's
// words at [l * n, l * n + n). Every lane of the warp calls it; the table stays valid until each
// of them has passed its next __syncwarp.
inline const unsigned* warp_gather(const unsigned* words, unsigned n) {
    unsigned me = current->linear;
    unsigned* slots = gather_slots();
    for (unsigned i = 0; i < n; ++i) slots[me * n + i] = words[i];
    __syncwarp();
    return slots + (me & ~31u) * n;
}
}  // namespace einet_emu

inline float __int_as_float(int i) {
    float f;
    std::memcpy(&f, &i, 4);
    return f;
}
inline float __int_as_float(unsigned i) { return __int_as_float((int)i); }
inline float __uint_as_float(unsigned u) { return einet_emu::from_bits(u); }
inline unsigned __float_as_uint(float f) { return einet_emu::as_bits(f); }
inline unsigned __umulhi(unsigned a, unsigned b) {
    return (unsigned)(((unsigned long long)a * b) >> 32);
}
inline float atomicAdd(float* p, float v) {
    float old = *p;
    *p = old + v;
    return old;
}
inline unsigned atomicAdd(unsigned* p, unsigned v) {
    unsigned old = *p;
    *p = old + v;
    return old;
}
using std::exp;
using std::log;
