/*
 * Linked into the Linux prebuilds only (scripts/prebuild.js), together with
 * -Wl,--wrap=pthread_sigmask -Wl,--wrap=__libc_single_threaded, so that binaries built against
 * Debian 12's glibc 2.36 need no glibc newer than 2.28 (scripts/check-glibc.js enforces it).
 * A build from source on the target machine does not use this file.
 *
 * - pthread_sigmask moved into libc in glibc 2.32 under a new symbol version (GLIBC_2.32). On
 *   Linux it is the same operation as sigprocmask, which is in every glibc: both set the calling
 *   thread's mask through rt_sigprocmask and both keep glibc's internal signals unblocked.
 * - __libc_single_threaded (glibc 2.32) is read by libstdc++ 12 (headers and the static
 *   libstdc++.a) to skip atomic reference counting while a process has one thread. Zero means
 *   "not known to be single-threaded": the atomic path, always correct (Node is multi-threaded
 *   anyway).
 */
#include <errno.h>
#include <signal.h>

__attribute__((visibility("hidden"))) char __wrap___libc_single_threaded = 0;

__attribute__((visibility("hidden"))) int __wrap_pthread_sigmask(int how, const sigset_t *set,
                                                                 sigset_t *old) {
  return sigprocmask(how, set, old) == 0 ? 0 : errno;
}
