package localstack

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// LockFile is the file in a work dir whose lock marks it as taken by one
// run; it holds the owner's pid and start time.
const LockFile = ".lock"

// ErrWorkDirBusy is returned when another run holds the work dir.
var ErrWorkDirBusy = errors.New("work dir in use")

// ClaimWorkDir makes dir and takes it for this run: an exclusive flock(2)
// on dir/.lock, held until release is called or the process ends (the
// kernel drops it even on a crash, so a stale file never blocks). Two `make
// local` runs in one checkout share .local/, where each keeps its built
// binaries and dev clock; the second used to delete the first's. Now it
// is refused, with the first run's pid, before it touches anything.
func ClaimWorkDir(dir string) (release func() error, err error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	path := filepath.Join(dir, LockFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		holder, _ := os.ReadFile(path)
		_ = f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w: %s is held by another run (%s) (fix: stop that run with Ctrl-C in its terminal, or run this one from another checkout)",
				ErrWorkDirBusy, dir, describeHolder(string(holder)))
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	if err := f.Truncate(0); err == nil {
		_, _ = fmt.Fprintf(f, "%d %s", os.Getpid(), time.Now().UTC().Format(time.RFC3339))
	}
	return func() error {
		// The file stays: removing it while locked would let a third run
		// lock a new file beside a second run holding the old one.
		return f.Close()
	}, nil
}

func describeHolder(s string) string {
	f := strings.Fields(s)
	if len(f) == 2 {
		if pid, err := strconv.Atoi(f[0]); err == nil {
			return fmt.Sprintf("pid %d, started %s", pid, f[1])
		}
	}
	return "pid unknown"
}
