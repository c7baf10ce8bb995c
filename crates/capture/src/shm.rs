//! A System V shared-memory segment attached to the X server (MIT-SHM), so
//! `ShmGetImage` writes pixels straight into our memory.
//!
//! The segment is marked for removal (`IPC_RMID`) right after both sides
//! attached, so the kernel frees it even if we crash.

#![allow(unsafe_code)]

use std::io;

/// A shared-memory segment mapped into this process.
pub(crate) struct ShmSegment {
    id: i32,
    ptr: *mut u8,
    len: usize,
}

// SAFETY: the mapping is owned by this value alone; access goes through
// &self / &mut self.
unsafe impl Send for ShmSegment {}

impl ShmSegment {
    /// Creates and maps a private segment of `len` bytes.
    pub(crate) fn new(len: usize) -> io::Result<Self> {
        // SAFETY: plain syscalls; results checked.
        unsafe {
            let id = libc::shmget(libc::IPC_PRIVATE, len, libc::IPC_CREAT | 0o600);
            if id < 0 {
                return Err(io::Error::last_os_error());
            }
            let ptr = libc::shmat(id, std::ptr::null(), 0);
            if ptr as isize == -1 {
                let err = io::Error::last_os_error();
                libc::shmctl(id, libc::IPC_RMID, std::ptr::null_mut());
                return Err(err);
            }
            Ok(ShmSegment {
                id,
                ptr: ptr as *mut u8,
                len,
            })
        }
    }

    /// The System V id, for `shm_attach`.
    pub(crate) fn id(&self) -> u32 {
        self.id as u32
    }

    /// Marks the segment for removal once everyone detached.
    pub(crate) fn mark_removed(&self) {
        // SAFETY: valid id; IPC_RMID takes no buffer.
        unsafe {
            libc::shmctl(self.id, libc::IPC_RMID, std::ptr::null_mut());
        }
    }

    /// Length in bytes.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The segment's bytes, writable: a band-wise grab paints masks and the
    /// cursor into the band in place. Only touched between a reply and the
    /// next request that fills the segment (the server writes it only while
    /// answering one).
    pub(crate) fn bytes_mut(&mut self) -> &mut [u8] {
        // SAFETY: ptr/len describe our live mapping, borrowed mutably.
        unsafe { std::slice::from_raw_parts_mut(self.ptr, self.len) }
    }
}

impl Drop for ShmSegment {
    fn drop(&mut self) {
        // SAFETY: detaching our own mapping; removal is idempotent.
        unsafe {
            libc::shmdt(self.ptr as *const libc::c_void);
            libc::shmctl(self.id, libc::IPC_RMID, std::ptr::null_mut());
        }
    }
}
