/*
 * LD_PRELOAD shim for Debian's linux.uml on hosts with a large XSAVE area.
 *
 * linux.uml 6.1 moves its processes' FPU state with
 * ptrace(PTRACE_{GET,SET}REGSET, NT_X86_XSTATE) and a fixed-size buffer.
 * The host kernel accepts SETREGSET only with a buffer of exactly its own
 * XSAVE size, which on CPUs with AMX (8 KiB of tile data) is larger than
 * UML's, so UML's first context switch fails with EFAULT and the guest
 * dies.  This shim gives the kernel a buffer of the right size: GET reads
 * the whole area and hands UML the part it asked for; SET reads the whole
 * area, lays UML's part over it and writes it back, so the state UML does
 * not know about is kept as it was.  Every other request goes straight
 * to the C library.  Built by engine/lab/uml_xstate.py at test time.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <stdarg.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

/* static, not on the stack: UML calls ptrace on its small kernel stacks */
static unsigned char whole[64 * 1024] __attribute__((aligned(64)));

typedef long (*ptrace_fn)(int, pid_t, void *, void *);

static long raw(int request, pid_t pid, void *addr, void *data)
{
	return syscall(SYS_ptrace, request, pid, addr, data);
}

long ptrace(enum __ptrace_request request, ...)
{
	va_list ap;
	pid_t pid;
	void *addr, *data;

	va_start(ap, request);
	pid = va_arg(ap, pid_t);
	addr = va_arg(ap, void *);
	data = va_arg(ap, void *);
	va_end(ap);

	if ((request == PTRACE_GETREGSET || request == PTRACE_SETREGSET) &&
	    (unsigned long)addr == NT_X86_XSTATE && data != NULL) {
		struct iovec *iov = data;
		struct iovec full = { whole, sizeof(whole) };
		size_t n;

		if (raw(PTRACE_GETREGSET, pid, addr, &full) < 0)
			return -1;
		n = iov->iov_len < full.iov_len ? iov->iov_len : full.iov_len;
		if (request == PTRACE_GETREGSET) {
			memcpy(iov->iov_base, whole, n);
			iov->iov_len = n;
			return 0;
		}
		memcpy(whole, iov->iov_base, n);
		return raw(PTRACE_SETREGSET, pid, addr, &full);
	}

	static ptrace_fn next;
	if (next == NULL)
		next = (ptrace_fn)dlsym(RTLD_NEXT, "ptrace");
	return next(request, pid, addr, data);
}
