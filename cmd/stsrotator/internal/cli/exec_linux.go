package cli

import (
	"runtime"
	"syscall"
)

// bindChild makes the kernel send the child SIGTERM if exec dies without
// passing a signal on (SIGKILL, the OOM killer). The child's endpoint dies
// with exec, and its port is then anyone's: another user who takes it
// would answer the child's SDKs with credentials of their own. The
// signal follows the thread that started the child (prctl(2):
// PR_SET_PDEATHSIG), so that goroutine stays on its thread until the
// returned release, called after the child has ended.
func bindChild(attr *syscall.SysProcAttr) (*syscall.SysProcAttr, func()) {
	runtime.LockOSThread()
	if attr == nil {
		attr = &syscall.SysProcAttr{}
	}
	attr.Pdeathsig = syscall.SIGTERM
	return attr, runtime.UnlockOSThread
}
