//! A request to stop, passed from the daemon's signal handling into the work in progress, so
//! that a SIGTERM lets messages already being sent finish but starts nothing new.

use std::time::Duration;

use tokio::sync::watch;

/// The side the work holds. [`Stop::never`] for one-shot commands.
#[derive(Clone, Default)]
pub struct Stop(Option<watch::Receiver<bool>>);

/// The side that asks for the stop.
pub struct StopHandle(watch::Sender<bool>);

impl Stop {
    pub fn never() -> Stop {
        Stop(None)
    }

    pub fn new() -> (StopHandle, Stop) {
        let (sender, receiver) = watch::channel(false);
        (StopHandle(sender), Stop(Some(receiver)))
    }

    pub fn requested(&self) -> bool {
        self.0.as_ref().is_some_and(|r| *r.borrow())
    }

    /// Waits until a stop is requested: for ever with [`Stop::never`], or once the handle is
    /// gone without asking.
    pub async fn wait(&self) {
        if let Some(receiver) = &self.0 {
            let mut receiver = receiver.clone();
            if receiver.wait_for(|stop| *stop).await.is_ok() {
                return;
            }
        }
        std::future::pending::<()>().await;
    }

    /// Waits `duration`, or less if a stop is requested meanwhile. Returns false when stopped.
    pub async fn sleep(&self, duration: Duration) -> bool {
        let Some(receiver) = &self.0 else {
            tokio::time::sleep(duration).await;
            return true;
        };
        let mut receiver = receiver.clone();
        let deadline = tokio::time::Instant::now() + duration;
        let stopped = tokio::select! {
            _ = tokio::time::sleep_until(deadline) => return true,
            waited = receiver.wait_for(|stop| *stop) => waited.is_ok(),
        };
        if !stopped {
            // The handle is gone, so no stop can come: sleep out the rest of the time.
            tokio::time::sleep_until(deadline).await;
        }
        !stopped
    }
}

impl StopHandle {
    pub fn request(&self) {
        self.0.send_replace(true);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_request_cuts_a_sleep_short() {
        let (handle, stop) = Stop::new();
        assert!(!stop.requested());
        let sleeper = tokio::spawn({
            let stop = stop.clone();
            async move { stop.sleep(Duration::from_secs(60)).await }
        });
        let waiter = tokio::spawn({
            let stop = stop.clone();
            async move { stop.wait().await }
        });
        handle.request();
        let slept = tokio::time::timeout(Duration::from_secs(5), sleeper).await;
        tokio::time::timeout(Duration::from_secs(5), waiter)
            .await
            .expect("wait ends at the request")
            .unwrap();
        assert!(!slept.unwrap().unwrap(), "stopped, not slept");
        assert!(stop.requested());
        assert!(Stop::never().sleep(Duration::from_millis(1)).await);
    }

    #[tokio::test(start_paused = true)]
    async fn a_dropped_handle_leaves_the_sleep_its_length() {
        let (handle, stop) = Stop::new();
        let start = tokio::time::Instant::now();
        let sleeper = tokio::spawn(async move { stop.sleep(Duration::from_secs(60)).await });
        tokio::time::sleep(Duration::from_secs(10)).await;
        drop(handle);
        assert!(sleeper.await.unwrap(), "slept, not stopped");
        assert_eq!(start.elapsed(), Duration::from_secs(60));
    }
}
