//! Cache-line-aligned buffers for the inner loops.
//!
//! A `Vec<i32>` starts wherever the allocator puts it (16-byte aligned on glibc); a 32- or
//! 64-byte vector load then straddles two cache lines on some runs and not on others, which
//! showed up as a 1.4x run-to-run spread on the dense benchmark. [`Aligned`] stores its
//! elements in 64-byte lines and hands out ordinary slices through `bytemuck` (no `unsafe`
//! in this crate).

use alloc::vec;
use alloc::vec::Vec;
use bytemuck::{Pod, Zeroable};
use core::marker::PhantomData;
use core::ops::{Deref, DerefMut};

#[derive(Clone, Copy, Pod, Zeroable)]
#[repr(C, align(64))]
struct Line([u8; 64]);

/// A fixed-length, zero-initialised, 64-byte aligned array of `T`.
#[derive(Clone)]
pub struct Aligned<T: Pod> {
    lines: Vec<Line>,
    len: usize,
    _t: PhantomData<T>,
}

impl<T: Pod> Aligned<T> {
    /// `len` zeroes.
    pub fn zeroed(len: usize) -> Self {
        let bytes = len * core::mem::size_of::<T>();
        Aligned { lines: vec![Line([0; 64]); bytes.div_ceil(64)], len, _t: PhantomData }
    }

    /// A copy of `values`.
    pub fn from_slice(values: &[T]) -> Self {
        let mut a = Self::zeroed(values.len());
        a.copy_from_slice(values);
        a
    }
}

impl<T: Pod> Deref for Aligned<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        &bytemuck::cast_slice::<Line, T>(&self.lines)[..self.len]
    }
}

impl<T: Pod> DerefMut for Aligned<T> {
    fn deref_mut(&mut self) -> &mut [T] {
        &mut bytemuck::cast_slice_mut::<Line, T>(&mut self.lines)[..self.len]
    }
}

impl<T: Pod + core::fmt::Debug> core::fmt::Debug for Aligned<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl<T: Pod + PartialEq> PartialEq for Aligned<T> {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligned_and_sized() {
        for n in [0usize, 1, 15, 16, 17, 1000] {
            let mut a = Aligned::<i32>::zeroed(n);
            assert_eq!(a.len(), n);
            assert_eq!(a.as_ptr() as usize % 64, 0);
            a.iter_mut().enumerate().for_each(|(i, x)| *x = i as i32);
            assert_eq!(Aligned::from_slice(&a[..]), a);
        }
    }
}
