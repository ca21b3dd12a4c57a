//! The download pool: a fixed set of std threads running download links.
//! A link blocks on its socket, so a link waiting for a free thread simply
//! starts later; nothing else shares these threads.

use crossbeam_channel::{Sender, unbounded};

type Job = Box<dyn FnOnce() + Send>;

#[derive(Debug)]
pub struct Pool {
    jobs: Option<Sender<Job>>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Pool {
    pub fn new(name: &str, size: usize) -> std::io::Result<Self> {
        let (tx, rx) = unbounded::<Job>();
        let threads = (0..size.max(1))
            .map(|i| {
                let rx = rx.clone();
                std::thread::Builder::new().name(format!("{name}-{i}")).spawn(move || {
                    for job in rx {
                        // A job that panics must not take a thread of the
                        // pool with it (jobs report their own end).
                        if std::panic::catch_unwind(std::panic::AssertUnwindSafe(job)).is_err() {
                            log::error!("a download pool job panicked; the thread goes on");
                        }
                    }
                })
            })
            .collect::<std::io::Result<_>>()?;
        Ok(Self { jobs: Some(tx), threads })
    }

    pub fn execute(&self, job: impl FnOnce() + Send + 'static) {
        if let Some(jobs) = &self.jobs {
            let _ = jobs.send(Box::new(job));
        }
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        self.jobs.take();
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panicking_job_does_not_take_the_thread_with_it() {
        let pool = Pool::new("test", 1).unwrap();
        let (tx, rx) = crossbeam_channel::bounded(1);
        pool.execute(|| panic!("a bug in a link"));
        pool.execute(move || tx.send(()).unwrap());
        assert!(rx.recv_timeout(std::time::Duration::from_secs(10)).is_ok(), "the only thread still runs jobs");
    }
}
