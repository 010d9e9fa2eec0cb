package asset

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Staging twice gives byte-identical trees with bootstrap executable, and a
// stale file from an earlier staging does not survive (it would change the
// asset hash).
func TestStageIsDeterministic(t *testing.T) {
	tmp := t.TempDir()
	bin := filepath.Join(tmp, "built")
	if err := os.WriteFile(bin, []byte("\x7fELF binary"), 0o600); err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{"stsrotator.yaml": []byte("targets: []\n"), "lanes/shard01-rotator0.yaml": []byte("x: 1\n")}
	dir := filepath.Join(tmp, "stage")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "stale"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	snap := func() map[string]string {
		got := map[string]string{}
		err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
			if err != nil || fi.IsDir() {
				return err
			}
			b, err := os.ReadFile(p)
			rel, _ := filepath.Rel(dir, p)
			got[rel] = fi.Mode().String() + " " + string(b)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	for i := 0; i < 2; i++ {
		if err := Stage(dir, bin, files); err != nil {
			t.Fatal(err)
		}
	}
	got := snap()
	want := map[string]string{
		"bootstrap":                   "-rwxr-xr-x \x7fELF binary",
		"stsrotator.yaml":             "-rw-r--r-- targets: []\n",
		"lanes/shard01-rotator0.yaml": "-rw-r--r-- x: 1\n",
	}
	if len(got) != len(want) {
		t.Fatalf("staged %v, want exactly %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: got %q, want %q", k, got[k], v)
		}
	}
}

// A missing binary names the fix.
func TestStageWithoutBinary(t *testing.T) {
	err := Stage(filepath.Join(t.TempDir(), "s"), "/nonexistent/bootstrap", nil)
	if err == nil || !strings.Contains(err.Error(), "make build") {
		t.Fatalf("want an error telling to run make build, got %v", err)
	}
}
