use crate::{hugepages, sys, Error};
use std::ffi::{c_char, CString};
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};

const NOT_STARTED: u8 = 0;
const STARTING: u8 = 1;
const RUNNING: u8 = 2;
const FAILED: u8 = 3;

/// Whether this process has called `rte_eal_init`, and how it went: DPDK
/// allows one call per process, successful or not.
static STATE: AtomicU8 = AtomicU8::new(NOT_STARTED);

/// The thread that initialised the EAL: DPDK's main lcore, the only thread
/// that may launch work on the others.
static MAIN_THREAD: std::sync::OnceLock<std::thread::ThreadId> = std::sync::OnceLock::new();

/// Whether [`Eal::run_on_lcores`] is running: the workers take one job at a time.
static LAUNCHED: AtomicBool = AtomicBool::new(false);

/// Proof that DPDK's Environment Abstraction Layer runs in this process.
///
/// `rte_eal_init` pins the calling thread to the main lcore's CPUs (all of
/// `-l`/`--lcores`' first entry) and makes it DPDK's main thread; other
/// threads that use mbuf pools should call [`Eal::register_current_thread`]
/// first, or they bypass the pools' per-lcore caches.
///
/// The EAL is never torn down: it lives until the process exits, which
/// releases everything it holds (with `--in-memory` or `--no-huge`, nothing
/// outlives the process; with file-backed hugepages see README.md).
#[derive(Debug, Clone, Copy)]
pub struct Eal {
    _private: (),
}

impl Eal {
    /// Runs `rte_eal_init` with `args` (the program name is added in front),
    /// once per process: a second call fails, whatever the first did.
    /// When it fails and the arguments need hugepages that are missing, the
    /// error says how to provide them.
    pub fn init<S: AsRef<str>>(args: &[S]) -> Result<Eal, Error> {
        if STATE.compare_exchange(NOT_STARTED, STARTING, Ordering::AcqRel, Ordering::Acquire).is_err() {
            return Err(Error::new(
                "rte_eal_init was already called in this process (DPDK allows one call per process)",
            ));
        }
        let words: Vec<&str> = std::iter::once("netcraq").chain(args.iter().map(AsRef::as_ref)).collect();
        let mut strings = Vec::with_capacity(words.len());
        for word in &words {
            match CString::new(*word) {
                Ok(string) => strings.push(string),
                Err(_) => {
                    STATE.store(NOT_STARTED, Ordering::Release);
                    return Err(Error::new(format!("EAL argument {word:?} contains a NUL byte")));
                }
            }
        }
        // The EAL may keep pointers into argv and permutes the array while
        // parsing, so both live until the process exits.
        let argv: &'static mut [*mut c_char] = Vec::leak(
            strings.into_iter().map(CString::into_raw).chain(std::iter::once(std::ptr::null_mut())).collect(),
        );
        let argc = (argv.len() - 1) as i32;
        // SAFETY: argv holds argc valid NUL-terminated strings followed by a
        // null pointer, all leaked so they outlive the EAL; STATE ensures this
        // is the process's only call.
        let rc = unsafe { sys::rte_eal_init(argc, argv.as_mut_ptr()) };
        if rc < 0 {
            STATE.store(FAILED, Ordering::Release);
            let error = Error::from_rte_errno(format!("rte_eal_init with `{}` failed", words[1..].join(" ")));
            let strings: Vec<String> = words[1..].iter().map(|w| w.to_string()).collect();
            return Err(match hugepages::check(&strings) {
                Err(hint) => error.with_hint(hint),
                Ok(()) => error.with_hint("DPDK's own messages above say why."),
            });
        }
        let _ = MAIN_THREAD.set(std::thread::current().id());
        STATE.store(RUNNING, Ordering::Release);
        Ok(Eal { _private: () })
    }

    /// The EAL of this process, if [`Eal::init`] succeeded.
    pub fn get() -> Option<Eal> {
        (STATE.load(Ordering::Acquire) == RUNNING).then_some(Eal { _private: () })
    }

    /// Gives the calling thread (not created by DPDK) an lcore id, so it
    /// uses the mempools' per-lcore caches. Call it once per thread.
    pub fn register_current_thread(&self) -> Result<(), Error> {
        // SAFETY: the EAL is initialised (self proves it); the call only
        // touches the calling thread's per-lcore state.
        let rc = unsafe { sys::rte_thread_register() };
        match rc {
            0 => Ok(()),
            _ => Err(Error::from_rte_errno("rte_thread_register")),
        }
    }
}

impl Eal {
    /// The lcores the EAL was given (`-l`, `--lcores`, `-c`), the main lcore first.
    pub fn lcores(&self) -> Vec<u32> {
        // SAFETY: the EAL is initialised (self proves it); both calls only read its lcore table.
        let main = unsafe { sys::rte_get_main_lcore() };
        let mut lcores = vec![main];
        // u32::MAX: rte_get_next_lcore starts at the lcore after it, 0.
        let mut previous = u32::MAX;
        while lcores.len() <= sys::RTE_MAX_LCORE as usize {
            // SAFETY: as above; skip_main = 1, wrap = 0.
            let next = unsafe { sys::rte_get_next_lcore(previous, 1, 0) };
            if next >= sys::RTE_MAX_LCORE {
                break;
            }
            lcores.push(next);
            previous = next;
        }
        lcores
    }

    /// Runs `work(i)` on the i-th lcore of [`Eal::lcores`], all at once: 0 on
    /// the calling (main) thread, the others on the EAL's worker threads,
    /// pinned where the EAL pinned them. Returns once every one has
    /// returned, so `work` may borrow from the caller. A `work` that panics
    /// does not unwind into DPDK: the panic is reported as an error after
    /// all the others have finished. If a worker cannot be started, the
    /// main lcore's work is skipped and the error returns once the workers
    /// already started have finished: their work must end on its own (poll
    /// loops watch a stop flag).
    ///
    /// Only the thread that called [`Eal::init`] may call it, one call at a
    /// time (DPDK's launch is not safe from other threads or concurrently);
    /// otherwise it returns an error and runs nothing.
    pub fn run_on_lcores<F: Fn(usize) + Sync>(&self, work: F) -> Result<(), Error> {
        if MAIN_THREAD.get() != Some(&std::thread::current().id()) {
            return Err(Error::new(
                "run_on_lcores must be called from the thread that called Eal::init (the main lcore)",
            ));
        }
        if LAUNCHED.swap(true, Ordering::AcqRel) {
            return Err(Error::new("run_on_lcores is already running: the lcores take one job at a time"));
        }
        let result = self.launch_on_lcores(&work);
        LAUNCHED.store(false, Ordering::Release);
        result
    }

    fn launch_on_lcores(&self, work: &(dyn Fn(usize) + Sync)) -> Result<(), Error> {
        let lcores = self.lcores();
        let launches: Vec<Launch<'_>> = (1..lcores.len()).map(|index| Launch { work, index }).collect();
        let mut launched = Vec::with_capacity(launches.len());
        let mut failure = None;
        for (launch, lcore) in launches.iter().zip(&lcores[1..]) {
            let argument = launch as *const Launch<'_> as *mut std::ffi::c_void;
            // SAFETY: `argument` points to a Launch that outlives the worker's
            // run: every launched lcore is waited for below before `launches`
            // is dropped. The trampoline only reads it.
            let rc = unsafe { sys::rte_eal_remote_launch(Some(run_launch), argument, *lcore) };
            if rc != 0 {
                failure = Some(Error::from_return(format!("starting lcore {lcore} (rte_eal_remote_launch)"), rc));
                break;
            }
            launched.push(*lcore);
        }
        let main_result = match failure {
            None => std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| work(0))).is_ok(),
            Some(_) => true,
        };
        let mut panicked: Vec<u32> = Vec::new();
        for lcore in launched {
            // SAFETY: a worker lcore this call launched; waiting is what makes
            // the borrow of `launches` above sound.
            if unsafe { sys::rte_eal_wait_lcore(lcore) } != 0 {
                panicked.push(lcore);
            }
        }
        if !main_result {
            panicked.insert(0, lcores[0]);
        }
        match (failure, panicked.is_empty()) {
            (Some(error), _) => Err(error),
            (None, true) => Ok(()),
            (None, false) => Err(Error::new(format!("the work on lcore(s) {panicked:?} panicked"))),
        }
    }
}

/// What one worker lcore runs.
struct Launch<'a> {
    work: &'a (dyn Fn(usize) + Sync),
    index: usize,
}

/// The worker's entry point: runs the work without unwinding into C.
extern "C" fn run_launch(argument: *mut std::ffi::c_void) -> std::ffi::c_int {
    // SAFETY: run_on_lcores passes a pointer to a live Launch and waits for
    // this function to return before the Launch is dropped.
    let launch = unsafe { &*(argument as *const Launch<'_>) };
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| (launch.work)(launch.index))) {
        Ok(()) => 0,
        Err(_) => -1,
    }
}
