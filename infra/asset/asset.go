package asset

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
)

// Stage replaces dir with bootstrap (copied from the built binary at
// bootstrapPath) and files, keyed by slash-separated relative path. Modes
// are fixed — CDK's fingerprint ignores them, but the zip Lambda runs keeps
// them, and bootstrap must be executable.
func Stage(dir, bootstrapPath string, files map[string][]byte) error {
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("clear staging directory: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create staging directory: %w", err)
	}
	if err := copyFile(filepath.Join(dir, "bootstrap"), bootstrapPath, 0o755); err != nil {
		return err
	}
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		p := filepath.Join(dir, filepath.FromSlash(n))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return fmt.Errorf("stage %s: %w", n, err)
		}
		if err := os.WriteFile(p, files[n], 0o644); err != nil {
			return fmt.Errorf("stage %s: %w", n, err)
		}
		// The umask must not leak into what is deployed.
		if err := os.Chmod(p, 0o644); err != nil {
			return fmt.Errorf("stage %s: %w", n, err)
		}
	}
	return nil
}

func copyFile(dst, src string, mode os.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("open the function binary: %w (fix: run make build)", err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
	if err != nil {
		return fmt.Errorf("stage bootstrap: %w", err)
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("stage bootstrap: %w", err)
	}
	if err := out.Close(); err != nil {
		return fmt.Errorf("stage bootstrap: %w", err)
	}
	if err := os.Chmod(dst, mode); err != nil {
		return fmt.Errorf("stage bootstrap: %w", err)
	}
	return nil
}
