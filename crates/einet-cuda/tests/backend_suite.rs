//! The backend-generic suite on the CUDA backend. Without a usable GPU every test prints
//! SKIP and passes, unless `EINET_REQUIRE_GPU=1` is set, which makes each one fail.

einet_testsuite::backend_testsuite!(einet_cuda::CudaBackend::new_if_available());

#[test]
fn backend_and_models_can_move_between_threads() {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>() {}
    send_sync::<einet_cuda::CudaBackend>();
    send::<einet_cuda::CudaModel>();
}
