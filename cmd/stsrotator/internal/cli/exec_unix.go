//go:build unix

package cli

import (
	"io/fs"
	"os"
	"syscall"
)

// forwardedSignals are passed from exec to its child. Job-control signals
// (SIGTSTP, SIGCONT) and SIGWINCH reach the child from the terminal
// directly, as it shares exec's process group.
var forwardedSignals = []os.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT, syscall.SIGUSR1, syscall.SIGUSR2}

// exitStatus is the child's exit status as a shell reports it: its code,
// or 128+N when signal N ended it.
func exitStatus(ps *os.ProcessState) int {
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ps.ExitCode()
}

// ownerOf is the file's owning uid.
func ownerOf(info fs.FileInfo) (int, bool) {
	if st, ok := info.Sys().(*syscall.Stat_t); ok {
		return int(st.Uid), true
	}
	return 0, false
}
