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
                        job();
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
