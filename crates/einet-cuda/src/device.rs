//! Device access: probing for a usable GPU without panicking, and the small execution layer
//! the model drives — buffers, copies and kernel launches on one stream — over cudarc or,
//! in tests, the CPU emulator of [`crate::emu`].

use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use cudarc::driver::{
    CudaContext, CudaFunction, CudaSlice, CudaStream, DevicePtr, DeviceRepr, LaunchConfig,
    PinnedHostSlice, PushKernelArg, ValidAsZeroBits,
};
use cudarc::nvrtc::Ptx;
use einet_core::BackendError;

use crate::emu::Emulator;
use crate::kernels::{self, Kernel};

/// What [`probe`] found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProbeInfo {
    /// Number of CUDA devices.
    pub devices: usize,
}

fn unavailable(msg: impl Into<String>) -> BackendError {
    BackendError::Unavailable(msg.into())
}

/// Checks, without panicking, that the CUDA driver library loads, initialises and sees a
/// device, and that NVRTC loads. Every failure is a one-line [`BackendError::Unavailable`].
pub fn probe() -> Result<ProbeInfo, BackendError> {
    // SAFETY: only tries to open the driver library by its usual names.
    if !unsafe { cudarc::driver::sys::is_culib_present() } {
        return Err(unavailable(
            "no CUDA driver: libcuda.so was not found (is an NVIDIA driver installed?)",
        ));
    }
    cudarc::driver::result::init()
        .map_err(|e| unavailable(format!("the CUDA driver failed to initialise: {e}")))?;
    let devices = cudarc::driver::result::device::get_count()
        .map_err(|e| unavailable(format!("cannot count CUDA devices: {e}")))?;
    if devices <= 0 {
        return Err(unavailable("the CUDA driver reports no device"));
    }
    kernels::nvrtc_available().map_err(unavailable)?;
    Ok(ProbeInfo {
        devices: devices as usize,
    })
}

/// A kernel argument.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Arg {
    /// A device pointer (0 for null).
    Ptr(u64),
    U32(u32),
    U64(u64),
    F32(f32),
}

/// Element types of device buffers.
pub(crate) trait Elem: DeviceRepr + ValidAsZeroBits + Copy + Default + 'static {}
impl Elem for f32 {}
impl Elem for u32 {}

/// Emulator memory: a zeroed host allocation standing in for device memory.
struct HostMem {
    ptr: *mut u8,
    layout: std::alloc::Layout,
}

// SAFETY: a HostMem exclusively owns its allocation (like a Box<[u8]>); the emulator only
// writes to it during a launch, while the owning model is borrowed mutably or immutably by
// the launching thread.
unsafe impl Send for HostMem {}
// SAFETY: as above; shared references never write through the pointer.
unsafe impl Sync for HostMem {}

impl Drop for HostMem {
    fn drop(&mut self) {
        // SAFETY: `ptr` was allocated with exactly `layout` and is freed once.
        unsafe { std::alloc::dealloc(self.ptr, self.layout) }
    }
}

enum Mem<T> {
    Cuda(CudaSlice<T>),
    Host(HostMem),
}

/// Device memory held by an executor's buffers: now, and the most since the last reset.
#[derive(Debug, Default)]
pub(crate) struct MemoryUse {
    now: AtomicU64,
    peak: AtomicU64,
}

impl MemoryUse {
    fn hold(self: &Arc<Self>, bytes: u64) -> Held {
        let now = self.now.fetch_add(bytes, Ordering::Relaxed) + bytes;
        self.peak.fetch_max(now, Ordering::Relaxed);
        Held {
            usage: self.clone(),
            bytes,
        }
    }

    /// Bytes held now.
    pub(crate) fn now(&self) -> u64 {
        self.now.load(Ordering::Relaxed)
    }

    /// The most bytes held at once since the last [`MemoryUse::reset_peak`].
    pub(crate) fn peak(&self) -> u64 {
        self.peak.load(Ordering::Relaxed)
    }

    /// Starts the peak afresh from what is held now.
    pub(crate) fn reset_peak(&self) {
        self.peak.store(self.now(), Ordering::Relaxed);
    }
}

/// A buffer's bytes in its executor's [`MemoryUse`], given back when the buffer is dropped.
struct Held {
    usage: Arc<MemoryUse>,
    bytes: u64,
}

impl Drop for Held {
    fn drop(&mut self) {
        self.usage.now.fetch_sub(self.bytes, Ordering::Relaxed);
    }
}

/// A device buffer of `len` elements of `T` (at least one element is allocated).
pub(crate) struct DevBuf<T> {
    len: usize,
    ptr: u64,
    mem: Mem<T>,
    _held: Held,
}

impl<T: Elem> DevBuf<T> {
    /// Number of elements.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The device address of element `offset`.
    pub(crate) fn at(&self, offset: usize) -> Arg {
        debug_assert!(offset <= self.len);
        Arg::Ptr(self.ptr + (offset * std::mem::size_of::<T>()) as u64)
    }

    /// The device address of the first element.
    pub(crate) fn arg(&self) -> Arg {
        self.at(0)
    }

    /// The CUDA memory of the buffer (`None` on the emulator).
    #[cfg(feature = "nccl")]
    pub(crate) fn cuda_slice_mut(&mut self) -> Option<&mut CudaSlice<T>> {
        match &mut self.mem {
            Mem::Cuda(slice) => Some(slice),
            Mem::Host(_) => None,
        }
    }

    fn check(&self, range: &Range<usize>) -> Result<(), BackendError> {
        if range.start <= range.end && range.end <= self.len {
            Ok(())
        } else {
            Err(BackendError::Device(format!(
                "internal error: range {range:?} outside a buffer of {} elements",
                self.len
            )))
        }
    }
}

/// Page-locked host memory that inputs are uploaded through: the driver copies pageable
/// memory at about a fifth of the speed (H200 machine: 9.6 against 46 GB/s for 3 MB).
#[derive(Default)]
pub(crate) struct Staging {
    pinned: Option<PinnedHostSlice<f32>>,
}

/// Where kernels run.
pub(crate) enum Exec {
    /// A CUDA device.
    Cuda {
        ctx: Arc<CudaContext>,
        stream: Arc<CudaStream>,
        functions: Vec<CudaFunction>,
        memory: Arc<MemoryUse>,
    },
    /// The CPU emulator (tests only).
    Emu {
        emu: Arc<Emulator>,
        memory: Arc<MemoryUse>,
    },
}

fn device_err(what: &str) -> impl Fn(cudarc::driver::DriverError) -> BackendError + '_ {
    move |e| BackendError::Device(format!("{what}: {e}"))
}

impl Exec {
    /// Opens device 0: a context, its default stream, and every kernel compiled for its
    /// architecture. Returns the device's name too.
    pub(crate) fn open_cuda(ordinal: usize) -> Result<(Exec, String), BackendError> {
        let found = probe()?.devices;
        if ordinal >= found {
            return Err(unavailable(format!(
                "there is no CUDA device {ordinal}: the driver reports {found} (ordinals 0..{found})"
            )));
        }
        let ctx = CudaContext::new(ordinal).map_err(|e| {
            unavailable(format!(
                "cannot create a CUDA context on device {ordinal}: {e}"
            ))
        })?;
        let name = ctx
            .name()
            .unwrap_or_else(|_| format!("CUDA device {ordinal}"));
        let (major, minor) = ctx
            .compute_capability()
            .map_err(|e| unavailable(format!("cannot read the compute capability: {e}")))?;
        let images = kernels::compiled_images(major, minor).map_err(|e| {
            unavailable(format!(
                "cannot compile the kernels for sm_{major}{minor}: {e}"
            ))
        })?;
        let mut modules = Vec::new();
        for (file, image) in images.iter() {
            let module = ctx
                .load_module(Ptx::from_binary(image.clone()))
                .map_err(|e| unavailable(format!("cannot load {file}: {e}")))?;
            modules.push((*file, module));
        }
        let mut functions = Vec::new();
        for k in Kernel::ALL {
            let module = &modules
                .iter()
                .find(|(f, _)| *f == k.file())
                .ok_or_else(|| unavailable(format!("no module for {}", k.file())))?
                .1;
            functions.push(
                module
                    .load_function(k.name())
                    .map_err(|e| unavailable(format!("cannot load kernel {}: {e}", k.name())))?,
            );
        }
        let stream = ctx.default_stream();
        Ok((
            Exec::Cuda {
                ctx,
                stream,
                functions,
                memory: Arc::default(),
            },
            name,
        ))
    }

    /// The CPU emulator as an executor.
    pub(crate) fn emulated(emu: Arc<Emulator>) -> Exec {
        Exec::Emu {
            emu,
            memory: Arc::default(),
        }
    }

    /// The stream kernels run on (`None` on the emulator).
    #[cfg(feature = "nccl")]
    pub(crate) fn cuda_stream(&self) -> Option<&Arc<CudaStream>> {
        match self {
            Exec::Cuda { stream, .. } => Some(stream),
            Exec::Emu { .. } => None,
        }
    }

    /// The device's compute capability `(major, minor)`; `None` on the emulator, which
    /// runs every kernel.
    pub(crate) fn compute_capability(&self) -> Result<Option<(i32, i32)>, BackendError> {
        match self {
            Exec::Cuda { ctx, .. } => ctx
                .compute_capability()
                .map(Some)
                .map_err(device_err("cannot read the compute capability")),
            Exec::Emu { .. } => Ok(None),
        }
    }

    /// Device memory held by this executor's buffers.
    pub(crate) fn memory_use(&self) -> &Arc<MemoryUse> {
        match self {
            Exec::Cuda { memory, .. } | Exec::Emu { memory, .. } => memory,
        }
    }

    /// A zeroed buffer of `len` elements.
    pub(crate) fn alloc<T: Elem>(&self, len: usize) -> Result<DevBuf<T>, BackendError> {
        let n = len.max(1);
        let held = self
            .memory_use()
            .hold((n * std::mem::size_of::<T>()) as u64);
        match self {
            Exec::Cuda { stream, .. } => {
                let slice = stream.alloc_zeros::<T>(n).map_err(device_err(&format!(
                    "cannot allocate {} MiB on the device",
                    (n * std::mem::size_of::<T>()) >> 20
                )))?;
                let ptr = {
                    let (p, _sync) = slice.device_ptr(stream);
                    p
                };
                Ok(DevBuf {
                    len,
                    ptr,
                    mem: Mem::Cuda(slice),
                    _held: held,
                })
            }
            Exec::Emu { .. } => {
                let layout = std::alloc::Layout::array::<T>(n)
                    .and_then(|l| l.align_to(64))
                    .map_err(|e| BackendError::Device(format!("bad allocation: {e}")))?;
                // SAFETY: `layout` has a non-zero size (n >= 1 and T is 4 bytes).
                let ptr = unsafe { std::alloc::alloc_zeroed(layout) };
                if ptr.is_null() {
                    return Err(BackendError::Device("emulator: out of memory".into()));
                }
                Ok(DevBuf {
                    len,
                    ptr: ptr as u64,
                    mem: Mem::Host(HostMem { ptr, layout }),
                    _held: held,
                })
            }
        }
    }

    /// A buffer holding `data`.
    pub(crate) fn upload<T: Elem>(&self, data: &[T]) -> Result<DevBuf<T>, BackendError> {
        let mut buf = self.alloc(data.len())?;
        self.write(&mut buf, 0, data)?;
        Ok(buf)
    }

    /// Copies `data` into `buf` at element `offset`.
    pub(crate) fn write<T: Elem>(
        &self,
        buf: &mut DevBuf<T>,
        offset: usize,
        data: &[T],
    ) -> Result<(), BackendError> {
        let range = offset..offset + data.len();
        buf.check(&range)?;
        if data.is_empty() {
            return Ok(());
        }
        match (self, &mut buf.mem) {
            (Exec::Cuda { stream, .. }, Mem::Cuda(slice)) => stream
                .memcpy_htod(data, &mut slice.slice_mut(range))
                .map_err(device_err("copy to the device")),
            (Exec::Emu { .. }, Mem::Host(host)) => {
                // SAFETY: the range was checked against the allocation, which holds at least
                // `buf.len` elements of T; host and emulator memory do not overlap.
                unsafe {
                    std::ptr::copy_nonoverlapping(
                        data.as_ptr(),
                        host.ptr.cast::<T>().add(offset),
                        data.len(),
                    )
                };
                Ok(())
            }
            _ => Err(BackendError::Device(
                "internal error: buffer of another device".into(),
            )),
        }
    }

    /// Copies `data` into `buf` from element 0 through `staging` (grown as needed), and waits
    /// until the copy is done, so that `staging` is free again when this returns.
    pub(crate) fn write_staged(
        &self,
        buf: &mut DevBuf<f32>,
        data: &[f32],
        staging: &mut Staging,
    ) -> Result<(), BackendError> {
        let Exec::Cuda { ctx, stream, .. } = self else {
            return self.write(buf, 0, data);
        };
        buf.check(&(0..data.len()))?;
        if data.is_empty() {
            return Ok(());
        }
        let copy_err = device_err("copy to the device");
        ctx.bind_to_thread().map_err(&copy_err)?;
        if staging.pinned.as_ref().is_none_or(|p| p.len() < data.len()) {
            staging.pinned = None;
            // SAFETY: the memory is uninitialised; only what is written below is ever read.
            let pinned = unsafe { ctx.alloc_pinned::<f32>(data.len()) }
                .map_err(device_err("cannot allocate page-locked host memory"))?;
            staging.pinned = Some(pinned);
        }
        let pinned = staging.pinned.as_mut().expect("allocated above");
        let host = &mut pinned.as_mut_slice().map_err(&copy_err)?[..data.len()];
        host.copy_from_slice(data);
        // SAFETY: `buf` holds at least `data.len()` elements (checked above) and `host` is
        // page-locked memory of this context holding them; the stream is synchronised below
        // before returning, so the copy has read `host` before it can be written or freed.
        let copied =
            unsafe { cudarc::driver::result::memcpy_htod_async(buf.ptr, host, stream.cu_stream()) };
        let synced = stream.synchronize();
        copied.map_err(&copy_err)?;
        synced.map_err(copy_err)
    }

    /// Copies elements `range` of `buf` to the host (waits for all queued work).
    pub(crate) fn read<T: Elem>(
        &self,
        buf: &DevBuf<T>,
        range: Range<usize>,
    ) -> Result<Vec<T>, BackendError> {
        buf.check(&range)?;
        let mut out = vec![T::default(); range.len()];
        if range.is_empty() {
            return Ok(out);
        }
        match (self, &buf.mem) {
            (Exec::Cuda { stream, .. }, Mem::Cuda(slice)) => {
                stream
                    .memcpy_dtoh(&slice.slice(range), &mut out)
                    .map_err(device_err("copy from the device"))?;
                stream
                    .synchronize()
                    .map_err(device_err("a kernel or copy failed"))?;
            }
            (Exec::Emu { .. }, Mem::Host(host)) => {
                // SAFETY: the range was checked against the allocation.
                unsafe {
                    std::ptr::copy_nonoverlapping(
                        host.ptr.cast::<T>().add(range.start),
                        out.as_mut_ptr(),
                        range.len(),
                    )
                };
            }
            _ => {
                return Err(BackendError::Device(
                    "internal error: buffer of another device".into(),
                ));
            }
        }
        Ok(out)
    }

    /// Sets elements `range` of `buf` to zero.
    pub(crate) fn zero<T: Elem>(
        &self,
        buf: &mut DevBuf<T>,
        range: Range<usize>,
    ) -> Result<(), BackendError> {
        buf.check(&range)?;
        if range.is_empty() {
            return Ok(());
        }
        match (self, &mut buf.mem) {
            (Exec::Cuda { stream, .. }, Mem::Cuda(slice)) => stream
                .memset_zeros(&mut slice.slice_mut(range))
                .map_err(device_err("memset on the device")),
            (Exec::Emu { .. }, Mem::Host(host)) => {
                // SAFETY: the range was checked against the allocation; all-zero bytes are a
                // valid T (ValidAsZeroBits).
                unsafe {
                    std::ptr::write_bytes(host.ptr.cast::<T>().add(range.start), 0, range.len())
                };
                Ok(())
            }
            _ => Err(BackendError::Device(
                "internal error: buffer of another device".into(),
            )),
        }
    }

    /// Launches `kernel` on `grid` blocks of `block` threads with `smem` bytes of dynamic
    /// shared memory. A grid with no blocks launches nothing.
    ///
    /// The caller guarantees that `args` match the kernel's parameters and that every
    /// pointer refers to a live buffer large enough for the launch shape.
    pub(crate) fn launch(
        &self,
        kernel: Kernel,
        grid: (u32, u32, u32),
        block: u32,
        smem: u32,
        args: &[Arg],
    ) -> Result<(), BackendError> {
        if grid.0 == 0 || grid.1 == 0 || grid.2 == 0 {
            return Ok(());
        }
        if grid.1 > 65_535 || grid.2 > 65_535 || block == 0 || block > 1024 {
            return Err(BackendError::Device(format!(
                "internal error: launch shape {grid:?} x {block} of {} is out of range",
                kernel.name()
            )));
        }
        match self {
            Exec::Cuda {
                stream, functions, ..
            } => {
                // Kernel::ALL lists the kernels in declaration order, as `functions` holds them.
                let f = &functions[kernel as usize];
                let mut builder = stream.launch_builder(f);
                for a in args {
                    match a {
                        Arg::Ptr(p) => builder.arg(p),
                        Arg::U32(v) => builder.arg(v),
                        Arg::U64(v) => builder.arg(v),
                        Arg::F32(v) => builder.arg(v),
                    };
                }
                let cfg = LaunchConfig {
                    grid_dim: grid,
                    block_dim: (block, 1, 1),
                    shared_mem_bytes: smem,
                };
                // SAFETY: the arguments match the kernel's signature (the model builds them
                // per kernel) and every pointer is a live buffer of this context sized for
                // the launch; the values in `args` outlive the call.
                unsafe { builder.launch(cfg) }
                    .map(|_| ())
                    .map_err(|e| BackendError::Device(format!("launch of {}: {e}", kernel.name())))
            }
            Exec::Emu { emu, .. } => emu.launch(kernel, grid, block, smem, args),
        }
    }

    /// Waits for all queued work.
    pub(crate) fn sync(&self) -> Result<(), BackendError> {
        match self {
            Exec::Cuda { stream, .. } => stream
                .synchronize()
                .map_err(device_err("a kernel or copy failed")),
            Exec::Emu { .. } => Ok(()),
        }
    }

    /// Free and total device memory in bytes, if known.
    pub(crate) fn memory(&self) -> Option<(usize, usize)> {
        match self {
            Exec::Cuda { ctx, .. } => ctx.mem_get_info().ok(),
            Exec::Emu { .. } => None,
        }
    }
}
