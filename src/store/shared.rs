//! The store as async code uses it: every call runs on tokio's blocking pool. A write may
//! wait up to the busy timeout for another process; on a worker thread that wait would stop
//! the daemon answering signals and feeding the watchdog.

use std::sync::{Arc, Mutex, PoisonError};

use super::Store;

#[derive(Clone)]
pub struct SharedStore(Arc<Mutex<Store>>);

impl SharedStore {
    pub fn new(store: Store) -> SharedStore {
        SharedStore(Arc::new(Mutex::new(store)))
    }

    /// Runs `f` with the store on the blocking pool, one call at a time.
    pub async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Store) -> T + Send + 'static,
    ) -> T {
        self.start(f).await
    }

    /// Starts `f` on the blocking pool now, rather than when the answer is first awaited: the
    /// caller goes on with other work meanwhile (composing the next subscribers while the
    /// last ones are written).
    pub fn start<T, F>(&self, f: F) -> impl Future<Output = T> + use<T, F>
    where
        T: Send + 'static,
        F: FnOnce(&mut Store) -> T + Send + 'static,
    {
        let store = Arc::clone(&self.0);
        let task = tokio::task::spawn_blocking(move || {
            // A panic inside a call leaves no half-done transaction (rusqlite rolls back on
            // drop), so the store is still usable after one.
            let mut store = store.lock().unwrap_or_else(PoisonError::into_inner);
            f(&mut store)
        });
        async move {
            match task.await {
                Ok(value) => value,
                Err(e) => match e.try_into_panic() {
                    Ok(panic) => std::panic::resume_unwind(panic),
                    // Only at runtime shutdown, when nothing waits for the answer any more.
                    Err(e) => panic!("state database call cancelled: {e}"),
                },
            }
        }
    }
}
