//! A wake-up flag between tasks of one shard: set by whoever queued work, taken by the task
//! that does it. Notifications coalesce; none is lost between a check and a sleep.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

/// A flag and the waker of the one task that waits for it.
#[derive(Default)]
pub(crate) struct Signal {
    set: Cell<bool>,
    waker: RefCell<Option<Waker>>,
}

impl Signal {
    /// Sets the flag and wakes the waiting task.
    pub fn notify(&self) {
        self.set.set(true);
        if let Some(w) = self.waker.borrow_mut().take() {
            w.wake();
        }
    }

    /// Takes the flag, or registers `cx`'s task to be woken when it is set.
    pub fn poll_take(&self, cx: &mut Context<'_>) -> bool {
        if self.set.replace(false) {
            return true;
        }
        let mut w = self.waker.borrow_mut();
        match &*w {
            Some(old) if old.will_wake(cx.waker()) => {}
            _ => *w = Some(cx.waker().clone()),
        }
        false
    }

    /// Waits until the flag is set, and takes it.
    pub fn wait(&self) -> Wait<'_> {
        Wait(self)
    }
}

/// The future of [`Signal::wait`].
pub(crate) struct Wait<'a>(&'a Signal);

impl Future for Wait<'_> {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0.poll_take(cx) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}
