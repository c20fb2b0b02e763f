//! A cache hint: asks the CPU to start loading a value that is likely out of cache, so that
//! several such loads overlap instead of each waiting in turn. It changes nothing any code
//! computes (a prefetch reads nothing and cannot fault); on other architectures it is a no-op.

/// Starts loading every cache line `x` spans, towards the core's L2.
#[inline]
pub fn prefetch<T>(x: &T) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_MM_HINT_T1, _mm_prefetch};
        let p: *const i8 = (x as *const T).cast();
        let size = std::mem::size_of::<T>().max(1);
        for off in (0..size).step_by(64).chain([size - 1]) {
            // SAFETY: a prefetch is only a hint to the cache: it reads nothing and cannot
            // fault, and the address is within (or at the end of) the value `x` refers to.
            unsafe { _mm_prefetch::<_MM_HINT_T1>(p.wrapping_add(off)) };
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = x;
}
