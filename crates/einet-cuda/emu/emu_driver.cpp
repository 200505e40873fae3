// The emulator's scheduler and launch entry point (see cuda_emu.h). Compiled after the
// kernels, followed by the generated kernel table (EINET_EMU_KERNELS).

#include <type_traits>

namespace einet_emu {

thread_local Fiber* current = nullptr;
thread_local dim3 block_idx, block_dim, grid_dim;

namespace {

constexpr size_t kStackBytes = 256 * 1024;
constexpr size_t kGuardBytes = 4096;
constexpr unsigned char kGuardByte = 0xA5;

thread_local void* scheduler_sp = nullptr;
thread_local std::vector<Fiber>* fibers = nullptr;
thread_local std::vector<char*>* stacks = nullptr;
thread_local Launch launch_info;
thread_local unsigned slots[1024];
thread_local unsigned gathered[1024 * kGatherWords];
thread_local unsigned char* smem = nullptr;
thread_local size_t smem_capacity = 0;

}  // namespace

float* dynamic_smem() { return reinterpret_cast<float*>(smem); }
unsigned* shuffle_slots() { return slots; }
unsigned* gather_slots() { return gathered; }

}  // namespace einet_emu

#if defined(__x86_64__)
// Saves the callee-saved registers and the stack pointer of the running context in *save and
// resumes the context whose stack pointer is `load` (System V x86-64).
extern "C" void einet_emu_switch(void** save, void* load);
asm(R"(
.text
.p2align 4
.globl einet_emu_switch
.hidden einet_emu_switch
.type einet_emu_switch,@function
einet_emu_switch:
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    movq %rsp, (%rdi)
    movq %rsi, %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    ret
.size einet_emu_switch,.-einet_emu_switch
)");
#else
#error "the einet CUDA emulator needs an x86-64 host"
#endif

namespace einet_emu {

void yield(State s) {
    current->state = s;
    einet_emu_switch(&current->sp, scheduler_sp);
}

namespace {

[[noreturn]] void trampoline() {
    launch_info.thunk(launch_info.args);
    current->state = DONE;
    for (;;) einet_emu_switch(&current->sp, scheduler_sp);
}

// Runs every thread of the current block to completion; 0, or -2 on a barrier deadlock.
int run_block(unsigned nthreads) {
    if (!fibers) fibers = new std::vector<Fiber>();
    if (!stacks) stacks = new std::vector<char*>();
    while (stacks->size() < nthreads) {
        char* s = static_cast<char*>(std::aligned_alloc(64, kStackBytes));
        if (!s) return -5;
        stacks->push_back(s);
    }
    fibers->assign(nthreads, Fiber());
    for (unsigned t = 0; t < nthreads; ++t) {
        Fiber& f = (*fibers)[t];
        f.linear = t;
        f.tid.x = t % block_dim.x;
        f.tid.y = (t / block_dim.x) % block_dim.y;
        f.tid.z = t / (block_dim.x * block_dim.y);
        f.state = RUNNABLE;
        uintptr_t top = reinterpret_cast<uintptr_t>((*stacks)[t] + kStackBytes) & ~uintptr_t(15);
        void** sp = reinterpret_cast<void**>(top - 64);
        for (int r = 0; r < 6; ++r) sp[r] = nullptr;
        sp[6] = reinterpret_cast<void*>(&trampoline);
        f.sp = sp;
    }
    for (;;) {
        bool ran = false;
        for (unsigned t = 0; t < nthreads; ++t) {
            Fiber& f = (*fibers)[t];
            if (f.state != RUNNABLE) continue;
            current = &f;
            einet_emu_switch(&scheduler_sp, f.sp);
            ran = true;
        }
        if (ran) continue;
        bool released = false;
        for (unsigned w = 0; w * 32 < nthreads; ++w) {
            unsigned end = w * 32 + 32 < nthreads ? w * 32 + 32 : nthreads;
            bool waiting = false, all = true;
            for (unsigned t = w * 32; t < end; ++t) {
                State s = (*fibers)[t].state;
                if (s == DONE) continue;
                if (s == WAIT_WARP) waiting = true;
                else all = false;
            }
            if (waiting && all) {
                for (unsigned t = w * 32; t < end; ++t)
                    if ((*fibers)[t].state == WAIT_WARP) (*fibers)[t].state = RUNNABLE;
                released = true;
            }
        }
        if (released) continue;
        bool alive = false, all_block = true;
        for (unsigned t = 0; t < nthreads; ++t) {
            State s = (*fibers)[t].state;
            if (s == DONE) continue;
            alive = true;
            if (s != WAIT_BLOCK) all_block = false;
        }
        if (!alive) return 0;
        if (!all_block) return -2;
        for (unsigned t = 0; t < nthreads; ++t)
            if ((*fibers)[t].state == WAIT_BLOCK) (*fibers)[t].state = RUNNABLE;
    }
}

template <typename... A, std::size_t... I>
void call_with(void (*f)(A...), void** args, std::index_sequence<I...>) {
    f(*static_cast<typename std::remove_reference<A>::type*>(args[I])...);
}

template <typename F, F f>
struct Thunk;
template <typename... A, void (*f)(A...)>
struct Thunk<void (*)(A...), f> {
    static void run(void** args) { call_with(f, args, std::index_sequence_for<A...>{}); }
};

struct KernelEntry {
    const char* name;
    void (*thunk)(void**);
};

#define EMU_KERNEL(name) {#name, &Thunk<decltype(&name), &name>::run},
const KernelEntry kKernels[] = {EINET_EMU_KERNELS};
#undef EMU_KERNEL

}  // namespace

}  // namespace einet_emu

// Runs kernel `name` on a grid of grid[0..3] blocks of block[0..3] threads with `smem_bytes`
// of dynamic shared memory; args[i] points at the value of parameter i (device pointers are
// host pointers here). Returns 0, -1 unknown kernel, -2 barrier deadlock, -3 bad block size,
// -4 dynamic shared memory overrun, -5 out of memory.
extern "C" int einet_emu_launch(const char* name, const unsigned* grid, const unsigned* block,
                                unsigned smem_bytes, void** args) {
    using namespace einet_emu;
    void (*thunk)(void**) = nullptr;
    for (const KernelEntry& k : kKernels)
        if (std::strcmp(k.name, name) == 0) thunk = k.thunk;
    if (!thunk) return -1;
    unsigned nthreads = block[0] * block[1] * block[2];
    if (nthreads == 0 || nthreads > 1024) return -3;
    size_t need = (size_t)smem_bytes + kGuardBytes;
    if (need > smem_capacity) {
        std::free(smem);
        smem = static_cast<unsigned char*>(std::aligned_alloc(64, (need + 63) & ~size_t(63)));
        if (!smem) return -5;
        smem_capacity = need;
    }
    grid_dim.x = grid[0];
    grid_dim.y = grid[1];
    grid_dim.z = grid[2];
    block_dim.x = block[0];
    block_dim.y = block[1];
    block_dim.z = block[2];
    launch_info.thunk = thunk;
    launch_info.args = args;
    for (unsigned z = 0; z < grid[2]; ++z)
        for (unsigned y = 0; y < grid[1]; ++y)
            for (unsigned x = 0; x < grid[0]; ++x) {
                block_idx.x = x;
                block_idx.y = y;
                block_idx.z = z;
                std::memset(smem, 0xFF, smem_bytes);
                std::memset(smem + smem_bytes, kGuardByte, kGuardBytes);
                int r = run_block(nthreads);
                if (r != 0) return r;
                for (size_t i = 0; i < kGuardBytes; ++i)
                    if (smem[smem_bytes + i] != kGuardByte) return -4;
            }
    return 0;
}
