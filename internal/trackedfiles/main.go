package main

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
)

// MaxSize is the largest tracked file allowed outside testdata/.
const MaxSize = 1 << 20

func main() {
	dir := "."
	if len(os.Args) > 1 {
		dir = os.Args[1]
	}
	os.Exit(run(dir, os.Stdout, os.Stderr))
}

// run prints every finding and returns the exit status: 0 clean, 1 a
// finding, 2 git itself failed.
func run(dir string, stdout, stderr io.Writer) int {
	found, err := Check(dir)
	if err != nil {
		fmt.Fprintln(stderr, "trackedfiles:", err)
		return 2
	}
	if len(found) == 0 {
		return 0
	}
	fmt.Fprintf(stderr, "tracked build outputs or large files (%d):\n", len(found))
	for _, f := range found {
		fmt.Fprintf(stderr, "  %s\n", f)
	}
	fmt.Fprintln(stderr, "fix: git rm --cached each path and add it to .gitignore (build outputs belong in dist/); a large test input belongs under a testdata/ directory")
	return 1
}

// Finding is one tracked file that should not be.
type Finding struct {
	Path string
	Size int64
	// Kind is the executable format, or "" for a file refused for its size alone.
	Kind string
}

func (f Finding) String() string {
	if f.Kind == "" {
		return fmt.Sprintf("%s: %s, over the %s limit", f.Path, size(f.Size), size(MaxSize))
	}
	return fmt.Sprintf("%s: %s executable, %s", f.Path, f.Kind, size(f.Size))
}

func size(n int64) string {
	if n >= 1<<20 {
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	}
	return fmt.Sprintf("%d bytes", n)
}

// Check lists the files git tracks in dir's index that are executables or
// over MaxSize, testdata/ excepted, in index order.
func Check(dir string) ([]Finding, error) {
	ls, err := git(dir, "ls-files", "-z", "--stage")
	if err != nil {
		return nil, err
	}
	type entry struct{ obj, path string }
	var entries []entry
	for _, rec := range strings.Split(string(ls), "\x00") {
		// <mode> SP <object> SP <stage> TAB <path>
		meta, path, ok := strings.Cut(rec, "\t")
		if !ok {
			continue
		}
		f := strings.Fields(meta)
		if len(f) != 3 || f[0] == "160000" || f[0] == "120000" { // submodules and symlinks hold no content here
			continue
		}
		if inTestdata(path) {
			continue
		}
		entries = append(entries, entry{f[1], path})
	}
	if len(entries) == 0 {
		return nil, nil
	}
	var in bytes.Buffer
	for _, e := range entries {
		in.WriteString(e.obj + "\n")
	}
	cmd := exec.Command("git", "-C", dir, "cat-file", "--batch")
	cmd.Stdin = &in
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("git cat-file: %w", err)
	}
	r := bufio.NewReader(out)
	var found []Finding
	for _, e := range entries {
		// <object> SP <type> SP <size> LF <content> LF
		header, err := r.ReadString('\n')
		if err != nil {
			return nil, fmt.Errorf("git cat-file: reading %s: %w (%s)", e.path, err, strings.TrimSpace(stderr.String()))
		}
		h := strings.Fields(header)
		if len(h) != 3 {
			return nil, fmt.Errorf("git cat-file: %s: %q", e.path, strings.TrimSpace(header))
		}
		n, err := strconv.ParseInt(h[2], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("git cat-file: %s: size %q", e.path, h[2])
		}
		// The head decides the format; PE needs the header its DOS stub
		// points at, which sits well inside the first 64 KB.
		head := make([]byte, min(n, 64<<10))
		if _, err := io.ReadFull(r, head); err != nil {
			return nil, fmt.Errorf("git cat-file: %s: %w", e.path, err)
		}
		if _, err := io.CopyN(io.Discard, r, n-int64(len(head))+1); err != nil {
			return nil, fmt.Errorf("git cat-file: %s: %w", e.path, err)
		}
		if kind := Executable(head); kind != "" || n > MaxSize {
			found = append(found, Finding{Path: e.path, Size: n, Kind: kind})
		}
	}
	if err := cmd.Wait(); err != nil {
		return nil, fmt.Errorf("git cat-file: %w: %s", err, strings.TrimSpace(stderr.String()))
	}
	return found, nil
}

func inTestdata(path string) bool {
	return strings.HasPrefix(path, "testdata/") || strings.Contains(path, "/testdata/")
}

// Executable names the executable format head starts with, or "".
// Formats: ELF (System V ABI, e_ident), Mach-O thin (MH_MAGIC, MH_MAGIC_64,
// either byte order) and universal (FAT_MAGIC with a plausible arch count;
// the same magic with a large count is a Java class file), and PE (an
// MZ stub whose e_lfanew points at "PE\0\0").
func Executable(head []byte) string {
	if len(head) < 4 {
		return ""
	}
	switch {
	case bytes.HasPrefix(head, []byte("\x7fELF")):
		return "ELF"
	}
	switch binary.BigEndian.Uint32(head) {
	case 0xfeedface, 0xfeedfacf, 0xcefaedfe, 0xcffaedfe:
		return "Mach-O"
	case 0xcafebabe:
		if len(head) >= 8 && binary.BigEndian.Uint32(head[4:]) < 45 {
			return "Mach-O universal"
		}
	}
	if bytes.HasPrefix(head, []byte("MZ")) && len(head) >= 0x40 {
		off := int(binary.LittleEndian.Uint32(head[0x3c:]))
		if off >= 0x40 && off+4 <= len(head) && bytes.Equal(head[off:off+4], []byte("PE\x00\x00")) {
			return "PE"
		}
	}
	return ""
}

func git(dir string, args ...string) ([]byte, error) {
	cmd := exec.Command("git", append([]string{"-C", dir}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("git %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}
