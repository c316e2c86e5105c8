/*
 * C shims for what Swift cannot call directly: variadic ptrace and
 * syscall, clone3 with set_tid (the child must run no Swift code), and the
 * kernel's struct layouts. No logic lives here.
 */
#ifndef CRTOOL_CSUPPORT_H
#define CRTOOL_CSUPPORT_H

#include <stdint.h>
#include <sys/types.h>
#include <sys/user.h>
#include <sys/uio.h>
#include <sys/xattr.h>
#include <signal.h>
#include <spawn.h>

/* posix_spawn_file_actions_addclosefrom_np (glibc 2.34), which Swift's
 * Glibc module does not show: the child closes every descriptor from
 * `from` up, including any another thread opened during the spawn. */
int cr_spawn_actions_close_from(posix_spawn_file_actions_t *actions, int from);

/* ptrace(2) without varargs; returns -1 and sets errno on failure. For
 * PEEK requests the caller clears errno first. */
long cr_ptrace(long request, pid_t pid, uint64_t addr, uint64_t data);

/* Reaps `tid`, a thread this process traces, if what waits to be
 * reported of it is its exit (waitid with WNOWAIT looks first, so a
 * ptrace stop is left for the tracer thread). 1 if reaped, else 0. */
int cr_reap_if_exited(pid_t tid);

/* syscall(2) without varargs. Returns the raw result or -1/errno. */
long cr_syscall6(long nr, uint64_t a1, uint64_t a2, uint64_t a3,
                 uint64_t a4, uint64_t a5, uint64_t a6);

/*
 * Start `path` as a new process with clone3 `flags` (CLONE_NEWPID: the
 * first process of a new PID namespace) and the pids `tids` (set_tid:
 * innermost namespace first; none: any PID).
 * The child blocks reading one byte from `gate_fd` before it execs, so the
 * caller can seize it and see the exec stop. `keep_fd` (unless -1) is
 * handed to the program at descriptor 3; every other one but stdio is
 * closed. Only raw system calls run in the child. Returns the pid (as the
 * caller's namespace numbers it) or -1/errno.
 */
pid_t cr_spawn_gated(const pid_t *tids, size_t ntids, uint64_t flags, const char *path,
                     char *const argv[], char *const envp[], int gate_fd, int keep_fd);

ssize_t cr_process_vm_readv(pid_t pid, const struct iovec *local, unsigned long nlocal,
                            const struct iovec *remote, unsigned long nremote);
ssize_t cr_process_vm_writev(pid_t pid, const struct iovec *local, unsigned long nlocal,
                             const struct iovec *remote, unsigned long nremote);

/* The x86-64 general registers as PTRACE_GETREGSET(NT_PRSTATUS) has them. */
typedef struct user_regs_struct cr_user_regs;

/* struct ptrace_rseq_configuration (linux/ptrace.h conflicts with glibc's). */
typedef struct {
    uint64_t rseq_abi_pointer;
    uint32_t rseq_abi_size;
    uint32_t signature;
    uint32_t flags;
    uint32_t pad;
} cr_rseq_configuration;

/* The kernel's struct sigaction for rt_sigaction on x86-64. */
typedef struct {
    uint64_t handler;
    uint64_t flags;
    uint64_t restorer;
    uint64_t mask;
} cr_kernel_sigaction;

/* struct sock_fprog, for SO_ATTACH_FILTER. */
typedef struct {
    unsigned short len;
    void *filter;
} cr_sock_fprog;

/* struct ptrace_peeksiginfo_args */
typedef struct {
    uint64_t off;
    uint32_t flags;
    int32_t nr;
} cr_peeksiginfo_args;

/* struct prctl_mm_map */
typedef struct {
    uint64_t start_code, end_code, start_data, end_data;
    uint64_t start_brk, brk, start_stack;
    uint64_t arg_start, arg_end, env_start, env_end;
    uint64_t auxv;
    uint32_t auxv_size;
    uint32_t exe_fd;
} cr_prctl_mm_map;

/* struct clone_args (the fields up to set_tid_size). */
typedef struct {
    uint64_t flags, pidfd, child_tid, parent_tid, exit_signal;
    uint64_t stack, stack_size, tls, set_tid, set_tid_size;
} cr_clone_args;

/* userfaultfd on a descriptor crtool holds for another process's memory.
 * Each returns 0 or -errno. */
int cr_uffd_api(int uffd);
int cr_uffd_register_missing(int uffd, uint64_t start, uint64_t len);
int cr_uffd_unregister(int uffd, uint64_t start, uint64_t len);
/* Copies len bytes from src (crtool's memory) into fresh pages at dst of
 * the registered range; *copied gets the bytes done even on failure. */
int cr_uffd_copy(int uffd, uint64_t dst, const void *src, uint64_t len, int64_t *copied);

/* Write tracking without soft-dirty: a userfaultfd in asynchronous
 * write-protect mode (the kernel resolves each first write itself and
 * only marks the page written), read back with PAGEMAP_SCAN on the
 * process's /proc/PID/pagemap. Each returns 0 or -errno. */
int cr_uffd_api_write_tracking(int uffd);
int cr_uffd_register_wp(int uffd, uint64_t start, uint64_t len);
int cr_uffd_writeprotect(int uffd, uint64_t start, uint64_t len);

/* Which huge pages of a shared hugetlb mapping of ours at `base` (`len`
 * bytes, pages of `huge_size`) exist, without allocating the others:
 * mincore sees only this mapping's own page table, and reading a page
 * that does not exist allocates it from the pool. Under a userfaultfd
 * that answers a missing page with SIGBUS, MADV_POPULATE_READ maps a page
 * that exists and fails on one that does not. present[i] is set to 1 or
 * 0 for huge page i. Returns 0 or -errno. */
int cr_hugetlb_present(uint64_t base, uint64_t len, uint64_t huge_size, uint8_t *present);

/* PAGE_IS_* categories of PAGEMAP_SCAN. */
#define CR_PAGE_IS_WRITTEN (1u << 1)
#define CR_PAGE_IS_PRESENT (1u << 3)
#define CR_PAGE_IS_PFNZERO (1u << 5)
#define CR_PAGE_IS_HUGE (1u << 6)

typedef struct {
    uint64_t start, end, categories;
} cr_page_region;

/* The regions of [start, end) whose pages are present, not written since
 * they were last write-protected and not the shared zero page, into
 * regions (at most capacity). Returns how many, or -errno (-EPERM when
 * some of the range is not under asynchronous write protection); *walk_end
 * is where the scan stopped (end when it covered everything). */
long cr_pagemap_unwritten(int pagemap_fd, uint64_t start, uint64_t end, cr_page_region *regions, uint64_t capacity, uint64_t *walk_end);

/* The regions of [start, end) that are present huge pages: transparent
 * huge pages mapped whole by one page-middle-directory entry, or hugetlb
 * pages. Returns how many, or -errno (-EINVAL or -ENOTTY on a kernel
 * without PAGEMAP_SCAN); *walk_end as above. */
long cr_pagemap_huge(int pagemap_fd, uint64_t start, uint64_t end, cr_page_region *regions, uint64_t capacity, uint64_t *walk_end);

/* statfs(2)'s f_type for the file system `path` is on; -1 with errno set
 * when it cannot be read (Swift's Glibc module leaves statfs out). */
long cr_fs_magic(const char *path);

/* The same for the file `fd` is open on, with the file system's block
 * size (hugetlbfs gives its huge page size there). */
long cr_fd_fs_magic(int fd, uint64_t *block_size);

/* XCR0: the XSAVE state components the kernel enabled for user space,
 * which a thread's register state may hold; 0 where the CPU or the
 * kernel has no XSAVE. */
uint64_t cr_user_xfeatures(void);

/* The size of the XSAVE area for the components XCR0 enables (CPUID
 * leaf 0xD, EBX), which PTRACE_SETREGSET(NT_X86_XSTATE) wants whole; 0
 * without XSAVE. */
uint32_t cr_xsave_area_size(void);

/* Where the kernel mapped this process's vDSO (AT_SYSINFO_EHDR); 0 when
 * it mapped none. */
uint64_t cr_vdso_base(void);

/* Catches SIGINT, SIGTERM and SIGHUP (`on` nonzero) or gives them their
 * default action back (`on` zero). The first one caught is recorded for
 * cr_interruption; calls are restarted, not broken off, so crtool stops
 * at a point of its choosing. The same signal again takes its default
 * action at once. */
void cr_catch_interruptions(int on);

/* The signal cr_catch_interruptions caught first, or 0. */
int cr_interruption(void);

/* memmem(3), which Glibc's module map leaves out (_GNU_SOURCE): the
   offset of the first `needle` in `haystack`, or -1. */
long cr_find_bytes(const void *haystack, size_t haystack_size, const void *needle, size_t needle_size);

#endif
