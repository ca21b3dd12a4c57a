//! What the engine tells the outside world, as it happens: a stream of
//! [`Event`]s per subscriber. Events say *what* changed; the engine's
//! snapshot says what *is*. So a subscriber that falls behind loses only
//! hints (its channel is bounded and events that do not fit are dropped),
//! never the state: it reads the snapshot when it wakes.

use std::net::SocketAddr;
use std::sync::Arc;

use crossbeam_channel::{Receiver, Sender, TrySendError, bounded};
use parking_lot::Mutex;

use super::download::DownloadState;
use super::stats::Direction;

/// Events a subscriber may hold unread before further ones are dropped.
const BACKLOG: usize = 1024;

#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A download started (also when resumed from an earlier run, and
    /// when a failed or cancelled one is retried: same id).
    DownloadAdded(u64),
    /// A download left the transfers list (removed, or cleared).
    DownloadRemoved(u64),
    /// New verified bytes in a download.
    DownloadProgress {
        id: u64,
        verified_bytes: u64,
    },
    /// A download's state changed (to done, paused, an error...).
    DownloadState {
        id: u64,
        state: DownloadState,
    },
    /// The shared folder's file list changed.
    FilesChanged,
    /// Connected to the tracker, lost it, or announced.
    Tracker {
        connected: bool,
    },
    /// In the distributed mode: a neighbour joined or left.
    Neighbours,
    PeerConnected {
        peer: SocketAddr,
        direction: Direction,
    },
    PeerDisconnected {
        peer: SocketAddr,
        direction: Direction,
    },
    /// Transfer rates were sampled again (while something moves, and once
    /// more when it stops, so rates shown fall to zero).
    Transfers,
}

/// Run after each event: a UI asks for a repaint.
pub type Wake = Arc<dyn Fn() + Send + Sync>;

/// The engine's side: clone it into every thread that reports.
#[derive(Clone, Default)]
pub struct Events {
    subscribers: Arc<Mutex<Vec<Sender<Event>>>>,
    /// Run after each event (a UI asks for a repaint), if set.
    wake: Arc<Mutex<Option<Wake>>>,
}

impl Events {
    /// A new stream of every event from now on.
    pub fn subscribe(&self) -> Receiver<Event> {
        let (tx, rx) = bounded(BACKLOG);
        self.subscribers.lock().push(tx);
        rx
    }

    /// Runs `wake` after every event, from the engine thread that sent it.
    pub fn on_event(&self, wake: Wake) {
        *self.wake.lock() = Some(wake);
    }

    pub fn send(&self, event: Event) {
        self.subscribers.lock().retain(|s| match s.try_send(event.clone()) {
            Ok(()) | Err(TrySendError::Full(_)) => true,
            Err(TrySendError::Disconnected(_)) => false,
        });
        let wake = self.wake.lock().clone();
        if let Some(wake) = wake {
            wake();
        }
    }
}

impl std::fmt::Debug for Events {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Events").field("subscribers", &self.subscribers.lock().len()).finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slow_subscriber_loses_hints_not_the_stream() {
        let events = Events::default();
        let slow = events.subscribe();
        let gone = events.subscribe();
        drop(gone);
        for _ in 0..BACKLOG + 10 {
            events.send(Event::Transfers);
        }
        assert_eq!(events.subscribers.lock().len(), 1, "a dropped receiver is forgotten");
        assert_eq!(slow.try_iter().count(), BACKLOG);
        events.send(Event::FilesChanged);
        assert_eq!(slow.try_recv(), Ok(Event::FilesChanged), "once read, it receives again");
    }
}
