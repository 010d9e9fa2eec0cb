package main

import (
	"bytes"
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// gitRepo makes a repository in a temporary directory with files committed
// in one commit, isolated from the user's git configuration.
func gitRepo(t *testing.T, files map[string][]byte) string {
	t.Helper()
	dir := t.TempDir()
	gitIn(t, dir, "init", "-q")
	for name, data := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	gitIn(t, dir, "add", ".")
	gitIn(t, dir, "commit", "-q", "-m", "test")
	return dir
}

func gitIn(t *testing.T, dir string, args ...string) {
	t.Helper()
	cmd := exec.Command("git", append([]string{"-C", dir, "-c", "user.name=test", "-c", "user.email=test@example.com", "-c", "commit.gpgsign=false"}, args...)...)
	cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
}

// pe is the smallest head Executable reads as PE: an MZ stub whose
// e_lfanew (offset 0x3c) points at the PE signature.
func pe() []byte {
	b := make([]byte, 0x80)
	copy(b, "MZ")
	binary.LittleEndian.PutUint32(b[0x3c:], 0x40)
	copy(b[0x40:], "PE\x00\x00")
	return b
}

func TestCheckFailsOnACommittedBuildOutput(t *testing.T) {
	self, err := os.ReadFile(os.Args[0]) // this test binary: a real executable for the host
	if err != nil {
		t.Fatal(err)
	}
	big := bytes.Repeat([]byte("x"), MaxSize+1)
	cases := []struct {
		why   string
		files map[string][]byte
		want  []string // paths reported, in index order
	}{
		{"source files and a small text file that starts with MZ pass",
			map[string][]byte{"main.go": []byte("package main\n"), "notes.txt": []byte("MZ is not enough to be a PE file\n")}, nil},
		{"a real executable (the test binary) at the root fails, as stsrotator-local did",
			map[string][]byte{"main.go": []byte("package main\n"), "stsrotator-local": self}, []string{"stsrotator-local"}},
		{"a small ELF fails by its magic, not its size",
			map[string][]byte{"bin/tool": append([]byte("\x7fELF\x02\x01\x01"), make([]byte, 100)...)}, []string{"bin/tool"}},
		{"a 64-bit Mach-O fails",
			map[string][]byte{"tool": {0xcf, 0xfa, 0xed, 0xfe, 7, 0, 0, 1}}, []string{"tool"}},
		{"a PE (MZ stub pointing at PE\\0\\0) fails",
			map[string][]byte{"tool.exe": pe()}, []string{"tool.exe"}},
		{"a file over 1 MB fails whatever it holds",
			map[string][]byte{"docs/huge.json": big}, []string{"docs/huge.json"}},
		{"under testdata/ both large inputs and executables are allowed",
			map[string][]byte{"pkg/testdata/huge.json": big, "testdata/elf": []byte("\x7fELF\x02\x01\x01\x00")}, nil},
	}
	for _, c := range cases {
		t.Run(c.why, func(t *testing.T) {
			dir := gitRepo(t, c.files)
			found, err := Check(dir)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, f := range found {
				got = append(got, f.Path)
			}
			if strings.Join(got, ",") != strings.Join(c.want, ",") {
				t.Errorf("reported %v, want %v (%v)", got, c.want, found)
			}
			var stdout, stderr bytes.Buffer
			code := run(dir, &stdout, &stderr)
			if wantCode := map[bool]int{true: 1, false: 0}[len(c.want) > 0]; code != wantCode {
				t.Errorf("exit %d, want %d: %s", code, wantCode, stderr.String())
			}
			for _, p := range c.want {
				if !strings.Contains(stderr.String(), p) || !strings.Contains(stderr.String(), "git rm --cached") {
					t.Errorf("the message names neither %s nor the fix:\n%s", p, stderr.String())
				}
			}
		})
	}
}

// Removing the file in a later commit makes the check pass: it reads what
// is tracked now, not history.
func TestCheckPassesOnceTheBinaryIsRemoved(t *testing.T) {
	dir := gitRepo(t, map[string][]byte{"README.md": []byte("hi\n"), "app": []byte("\x7fELF\x02\x01\x01\x00")})
	if found, _ := Check(dir); len(found) != 1 {
		t.Fatalf("committed ELF not found: %v", found)
	}
	gitIn(t, dir, "rm", "-q", "--cached", "app")
	gitIn(t, dir, "commit", "-q", "-m", "untrack the build output")
	if found, err := Check(dir); err != nil || len(found) != 0 {
		t.Fatalf("after git rm --cached: %v %v", found, err)
	}
}

func TestCheckOutsideARepositoryIsAnError(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run(t.TempDir(), &stdout, &stderr); code != 2 {
		t.Errorf("exit %d outside a git repository, want 2: %s", code, stderr.String())
	}
}
