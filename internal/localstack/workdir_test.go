package localstack

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// One run at a time per work dir: a second claim is refused with the
// holder's pid and the fix, touches nothing, and succeeds once the first
// run is gone.
func TestClaimWorkDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), ".local")
	release, err := ClaimWorkDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	keep := filepath.Join(dir, "dev-clock")
	if err := os.WriteFile(keep, []byte("first run's"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = ClaimWorkDir(dir)
	if !errors.Is(err, ErrWorkDirBusy) || !strings.Contains(err.Error(), fmt.Sprintf("pid %d", os.Getpid())) || !strings.Contains(err.Error(), "fix:") {
		t.Fatalf("second claim: %v; want ErrWorkDirBusy naming pid %d and the fix", err, os.Getpid())
	}
	if b, err := os.ReadFile(keep); err != nil || string(b) != "first run's" {
		t.Fatalf("the refused run touched the first run's files: %q %v", b, err)
	}
	if err := release(); err != nil {
		t.Fatal(err)
	}
	again, err := ClaimWorkDir(dir)
	if err != nil {
		t.Fatalf("claim after release: %v", err)
	}
	_ = again()
}
