//! A cloneable "stop now" signal that wakes whoever waits on it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use parking_lot::{Condvar, Mutex};

#[derive(Debug, Clone, Default)]
pub struct Shutdown {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    stop: AtomicBool,
    lock: Mutex<()>,
    changed: Condvar,
    wakers: Mutex<Vec<Arc<mio::Waker>>>,
}

impl Shutdown {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn trigger(&self) {
        self.inner.stop.store(true, Ordering::SeqCst);
        {
            let _guard = self.inner.lock.lock();
            self.inner.changed.notify_all();
        }
        for waker in self.inner.wakers.lock().iter() {
            if let Err(e) = waker.wake() {
                log::warn!("cannot wake the event loop for shutdown: {e}");
            }
        }
    }

    pub fn is_triggered(&self) -> bool {
        self.inner.stop.load(Ordering::SeqCst)
    }

    /// Waits up to `timeout`; true if shutdown was triggered.
    pub fn wait(&self, timeout: Duration) -> bool {
        let mut guard = self.inner.lock.lock();
        if !self.is_triggered() {
            let _ = self.inner.changed.wait_for(&mut guard, timeout);
        }
        self.is_triggered()
    }

    pub(crate) fn add_waker(&self, waker: Arc<mio::Waker>) {
        self.inner.wakers.lock().push(waker);
        if self.is_triggered() {
            let _ = self.inner.wakers.lock().last().map(|w| w.wake());
        }
    }
}
