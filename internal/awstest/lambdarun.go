package awstest

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/lambda"

	"github.com/stsrotator/stsrotator/internal/emulator"
)

// BuildFunction builds functions/<name> exactly as `make build` does but
// for the host architecture: the deployed arm64 bootstrap cannot execute
// on an x86 test machine, and this is the same package and flags.
func BuildFunction(tb testing.TB, root, name string) string {
	return BuildPackage(tb, root, "./functions/"+name)
}

// BuildPackage builds any main package with the Lambda flags for the host.
func BuildPackage(tb testing.TB, root, pkg string) string {
	tb.Helper()
	out, err := emulator.Build(root, pkg, tb.TempDir())
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

// RepoRoot finds the module root from a test's working directory.
func RepoRoot(tb testing.TB) string {
	tb.Helper()
	dir, err := os.Getwd()
	if err != nil {
		tb.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			tb.Fatal("go.mod not found above the test directory")
		}
		dir = parent
	}
}

// Function is a real function binary polling kumo's Runtime API.
type Function struct {
	*emulator.Process
}

// RunFunction starts binary under kumo's Runtime API as function name (see
// emulator.Run). Its output goes to the package's log sink, and to out if
// given; the test fails if the process cannot be reaped at the end.
func (e *Env) RunFunction(tb testing.TB, name, binary string, env []string, out io.Writer) *Function {
	tb.Helper()
	var sink io.Writer = Logs
	if out != nil {
		sink = io.MultiWriter(Logs, out)
	}
	p, err := emulator.Run(Context(tb), e.Lambda(), e.URL, name, binary, append([]string{"HOME=" + tb.TempDir()}, env...), sink)
	if err != nil {
		tb.Fatal(err)
	}
	f := &Function{Process: p}
	tb.Cleanup(func() { f.Stop(tb) })
	return f
}

// Stop ends the process, failing the test if it is left behind.
func (f *Function) Stop(tb testing.TB) {
	if err := f.Process.Stop(); err != nil {
		tb.Error(err)
	}
}

// Lambda is a Lambda API client for the emulator.
func (e *Env) Lambda() *lambda.Client { return lambda.NewFromConfig(e.Config) }

// Invoke calls a function synchronously through kumo's Lambda API.
func (e *Env) Invoke(ctx context.Context, name string, payload []byte) ([]byte, string, error) {
	return emulator.Invoke(ctx, e.Lambda(), name, payload)
}

// Buffer is a bytes.Buffer safe to read while a process writes to it.
type Buffer = emulator.Buffer
