//go:build unix

package cli

import (
	"os"
	"syscall"
)

// ownedByAnother tells whether fi belongs to a user other than this
// process's, and which.
func ownedByAnother(fi os.FileInfo) (uid int, foreign bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, false
	}
	return int(st.Uid), int(st.Uid) != os.Getuid()
}
