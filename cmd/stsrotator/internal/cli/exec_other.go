//go:build !unix

package cli

import (
	"io/fs"
	"os"
)

// forwardedSignals: without Unix signals only an interrupt is passed on.
var forwardedSignals = []os.Signal{os.Interrupt}

// exitStatus is the child's exit code.
func exitStatus(ps *os.ProcessState) int { return ps.ExitCode() }

// ownerOf: the platform reports no owning uid through fs.FileInfo.
func ownerOf(fs.FileInfo) (int, bool) { return 0, false }
