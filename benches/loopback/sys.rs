//! The few OS calls std does not expose, declared directly so the bench needs
//! no dependency beyond the crate's own: per-thread CPU time (fanin's server
//! cost), an hrtimer-precise readiness wait and larger socket buffers (the
//! impairment proxy, as in the shared harness), and a scheduling boost so the
//! proxy is not delayed behind the busy-polling peers. Elsewhere than 64-bit
//! Linux each has a fallback, and the run notes say which one was used.

use std::net::UdpSocket;
use std::time::Duration;

#[cfg(all(
    target_os = "linux",
    any(target_arch = "x86_64", target_arch = "aarch64")
))]
mod imp {
    use std::ffi::c_void;
    use std::net::UdpSocket;
    use std::os::fd::AsRawFd;
    use std::time::Duration;

    #[repr(C)]
    struct Timespec {
        tv_sec: i64,
        tv_nsec: i64,
    }

    #[repr(C)]
    struct PollFd {
        fd: i32,
        events: i16,
        revents: i16,
    }

    #[repr(C)]
    struct SchedParam {
        sched_priority: i32,
    }

    // Values shared by the x86_64 and aarch64 Linux ABIs.
    const CLOCK_THREAD_CPUTIME_ID: i32 = 3;
    const POLLIN: i16 = 1;
    const SOL_SOCKET: i32 = 1;
    pub const SO_SNDBUF: i32 = 7;
    pub const SO_RCVBUF: i32 = 8;
    const SCHED_FIFO: i32 = 1;
    const PRIO_PROCESS: i32 = 0;

    extern "C" {
        fn clock_gettime(clock: i32, ts: *mut Timespec) -> i32;
        fn ppoll(fds: *mut PollFd, nfds: u64, timeout: *const Timespec, mask: *const c_void)
            -> i32;
        fn setsockopt(fd: i32, level: i32, name: i32, value: *const c_void, len: u32) -> i32;
        fn sched_setscheduler(pid: i32, policy: i32, param: *const SchedParam) -> i32;
        fn setpriority(which: i32, who: u32, prio: i32) -> i32;
    }

    pub fn thread_cpu_ns() -> Option<u64> {
        let mut ts = Timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `ts` is a valid, writable timespec of the platform layout.
        let rc = unsafe { clock_gettime(CLOCK_THREAD_CPUTIME_ID, &mut ts) };
        (rc == 0).then(|| ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64)
    }

    pub fn wait_readable(sock: &UdpSocket, d: Duration) {
        let mut pfd = PollFd {
            fd: sock.as_raw_fd(),
            events: POLLIN,
            revents: 0,
        };
        let ts = Timespec {
            tv_sec: d.as_secs() as i64,
            tv_nsec: d.subsec_nanos() as i64,
        };
        // SAFETY: one valid pollfd, a valid timespec, no signal mask. A failed
        // or interrupted wait only means the caller looks at the socket early.
        unsafe {
            ppoll(&mut pfd, 1, &ts, std::ptr::null());
        }
    }

    pub fn set_buf(sock: &UdpSocket, opt: i32, bytes: i32) {
        // SAFETY: valid fd and a pointer to an i32 of the stated size; the
        // kernel caps the value at net.core.rmem_max / wmem_max.
        unsafe {
            setsockopt(
                sock.as_raw_fd(),
                SOL_SOCKET,
                opt,
                &bytes as *const i32 as *const c_void,
                std::mem::size_of::<i32>() as u32,
            );
        }
    }

    pub fn boost_thread() -> &'static str {
        let param = SchedParam { sched_priority: 10 };
        // SAFETY: plain syscalls on the calling thread (pid/who 0). On Linux
        // the nice value is per thread, so only the proxy thread is raised.
        unsafe {
            if sched_setscheduler(0, SCHED_FIFO, &param) == 0 {
                return "SCHED_FIFO";
            }
            if setpriority(PRIO_PROCESS, 0, -10) == 0 {
                return "nice -10";
            }
        }
        "normal priority (boost not permitted)"
    }
}

#[cfg(not(all(
    target_os = "linux",
    any(target_arch = "x86_64", target_arch = "aarch64")
)))]
mod imp {
    use std::net::UdpSocket;
    use std::time::Duration;

    pub const SO_SNDBUF: i32 = 0;
    pub const SO_RCVBUF: i32 = 0;

    pub fn thread_cpu_ns() -> Option<u64> {
        None
    }

    pub fn wait_readable(_sock: &UdpSocket, d: Duration) {
        std::thread::sleep(d.min(Duration::from_micros(200)));
    }

    pub fn set_buf(_sock: &UdpSocket, _opt: i32, _bytes: i32) {}

    pub fn boost_thread() -> &'static str {
        "normal priority (no boost on this platform)"
    }
}

/// CPU time consumed by the calling thread in ns; `None` where unavailable.
pub fn thread_cpu_ns() -> Option<u64> {
    imp::thread_cpu_ns()
}

/// Waits until `sock` is readable or `d` has passed.
pub fn wait_readable(sock: &UdpSocket, d: Duration) {
    imp::wait_readable(sock, d)
}

/// Raises both kernel buffers of `sock` (best effort).
pub fn set_bufs(sock: &UdpSocket, bytes: i32) {
    imp::set_buf(sock, imp::SO_RCVBUF, bytes);
    imp::set_buf(sock, imp::SO_SNDBUF, bytes);
}

/// Raises the calling thread's priority if permitted; says what it got.
pub fn boost_thread() -> &'static str {
    imp::boost_thread()
}

/// Kernel receive-queue drops of the 127.0.0.1 UDP socket bound to `port`
/// (last column of /proc/net/udp); `None` if not found.
pub fn udp_drops(port: u16) -> Option<u64> {
    let table = std::fs::read_to_string("/proc/net/udp").ok()?;
    let want = format!("0100007F:{port:04X}");
    table.lines().skip(1).find_map(|line| {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.get(1) == Some(&want.as_str()) {
            f.last()?.parse().ok()
        } else {
            None
        }
    })
}

/// CPUs and the 1-minute load average: other work on the machine moves these
/// numbers, and a reader should see how busy it was.
pub fn machine_note() -> String {
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let load = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "?".into());
    format!("machine: {cpus} CPUs, 1-min loadavg {load} at start")
}
