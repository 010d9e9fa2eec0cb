package awstest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	lambdatypes "github.com/aws/aws-sdk-go-v2/service/lambda/types"
)

// BuildFunction builds functions/<name> exactly as `make build` does but
// for the host architecture: the deployed arm64 bootstrap cannot execute
// on an x86 test machine, and this is the same package and flags.
func BuildFunction(tb testing.TB, root, name string) string {
	tb.Helper()
	out := filepath.Join(tb.TempDir(), name, "bootstrap")
	cmd := exec.Command("go", "build", "-tags", "lambda.norpc", "-trimpath", "-buildvcs=false", "-ldflags=-s -w -buildid=", "-o", out, "./functions/"+name)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("build %s: %v\n%s", name, err, b)
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
	Name string
	// Init is process start to the first Runtime API "next" poll: the
	// cold-start cost the binary itself adds.
	Init time.Duration
	cmd  *exec.Cmd
	done chan error
}

// RunFunction registers name in kumo's Lambda API, starts binary against
// kumo's Runtime API endpoint (/_runtime/<name>) and returns once the
// binary has asked for its first invocation. Its stdout and stderr go to
// the package's log sink (and to out, if given).
func (e *Env) RunFunction(tb testing.TB, name, binary string, env []string, out io.Writer) *Function {
	tb.Helper()
	ctx := Context(tb)
	lc := e.Lambda()
	_, err := lc.CreateFunction(ctx, &lambda.CreateFunctionInput{
		FunctionName:  aws.String(name),
		Role:          aws.String("arn:aws:iam::000000000000:role/" + name),
		Runtime:       lambdatypes.RuntimeProvidedal2023,
		Handler:       aws.String("bootstrap"),
		Architectures: []lambdatypes.Architecture{lambdatypes.ArchitectureArm64},
		Timeout:       aws.Int32(60),
		Code:          &lambdatypes.FunctionCode{ZipFile: []byte("PK\x05\x06" + strings.Repeat("\x00", 18))},
	})
	if err != nil {
		tb.Fatalf("create function %s in kumo: %v", name, err)
	}

	// A pass-through proxy in front of kumo's runtime endpoint tells us
	// when the binary first polls, without sleeping or guessing.
	target, _ := url.Parse(e.URL)
	firstPoll := make(chan time.Time, 1)
	var once sync.Once
	proxy := httputil.NewSingleHostReverseProxy(target)
	proxy.FlushInterval = -1
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/invocation/next") {
			once.Do(func() { firstPoll <- time.Now() })
		}
		proxy.ServeHTTP(w, r)
	}))
	tb.Cleanup(front.Close)

	own := &Buffer{}
	var sink io.Writer = &syncWriter{w: io.MultiWriter(Logs, own)}
	if out != nil {
		sink = &syncWriter{w: io.MultiWriter(Logs, own, out)}
	}
	cmd := exec.Command(binary)
	cmd.Env = append([]string{
		"PATH=" + os.Getenv("PATH"),
		"AWS_LAMBDA_RUNTIME_API=" + strings.TrimPrefix(front.URL, "http://") + "/_runtime/" + name,
		"AWS_LAMBDA_FUNCTION_NAME=" + name,
		"AWS_REGION=" + Region,
		"AWS_ENDPOINT_URL=" + e.URL,
		"AWS_ACCESS_KEY_ID=AKIAKUMOTESTKEY00000",
		"AWS_SECRET_ACCESS_KEY=kumo-test-secret",
		"AWS_EC2_METADATA_DISABLED=true",
		"HOME=" + tb.TempDir(),
	}, env...)
	cmd.Stdout, cmd.Stderr = sink, sink
	start := time.Now()
	if err := cmd.Start(); err != nil {
		tb.Fatalf("start %s: %v", binary, err)
	}
	f := &Function{Name: name, cmd: cmd, done: make(chan error, 1)}
	go func() { f.done <- cmd.Wait() }()
	tb.Cleanup(func() { f.Stop(tb) })
	select {
	case t := <-firstPoll:
		f.Init = t.Sub(start)
	case err := <-f.done:
		tb.Fatalf("%s exited before polling for work: %v\n%s", name, err, own.String())
	case <-time.After(30 * time.Second):
		tb.Fatalf("%s did not poll the Runtime API within 30s", name)
	}
	return f
}

// Stop ends the process and fails the test if it cannot be reaped, so no
// test leaves a function running.
func (f *Function) Stop(tb testing.TB) {
	if f.cmd.ProcessState != nil {
		return
	}
	_ = f.cmd.Process.Kill()
	select {
	case <-f.done:
	case <-time.After(10 * time.Second):
		tb.Errorf("function %s (pid %d) did not exit after kill", f.Name, f.cmd.Process.Pid)
	}
}

// Buffer is a bytes.Buffer safe to read while a process writes to it.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

// String returns everything written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// syncWriter serialises the process's stdout and stderr copies.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

// Lambda is a Lambda API client for the emulator.
func (e *Env) Lambda() *lambda.Client { return lambda.NewFromConfig(e.Config) }

// Invoke calls a function synchronously through kumo's Lambda API and
// returns its payload and, for a function error, its error type.
func (e *Env) Invoke(ctx context.Context, name string, payload []byte) ([]byte, string, error) {
	lc := e.Lambda()
	// kumo registers a Runtime API handler when it receives the first poll,
	// a moment after the proxy saw it go by; a few immediate retries close
	// that window.
	for attempt := 0; ; attempt++ {
		out, err := lc.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String(name), Payload: payload})
		if err != nil {
			if attempt < 100 && strings.Contains(err.Error(), "has no runtime handler") {
				continue
			}
			return nil, "", fmt.Errorf("invoke %s: %w", name, err)
		}
		return out.Payload, aws.ToString(out.FunctionError), nil
	}
}
