package emulator

import (
	"bytes"
	"context"

	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	lambdatypes "github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/sivchari/kumo"
)

// Region, account and static credentials every emulated client uses.
const (
	Region    = "us-east-1"
	Account   = "000000000000"
	AccessKey = "AKIAKUMOLOCALKEY0000"
	SecretKey = "kumo-local-secret"
)

// Server is a running kumo.
type Server struct {
	// URL is where clients reach it: the fixed port when one was asked for.
	URL   string
	kumo  *kumo.Server
	proxy *http.Server
}

// Start runs kumo. With port > 0 it is also served on 127.0.0.1:port,
// which must equal KUMO_PORT in this process's environment for kumo's
// EventBridge → Lambda deliveries to arrive (kumo reads it at start-up).
func Start(port int) (*Server, error) {
	k := kumo.NewServer()
	s := &Server{URL: k.URL, kumo: k}
	if port > 0 {
		if got := os.Getenv("KUMO_PORT"); got != fmt.Sprint(port) {
			k.Close()
			return nil, fmt.Errorf("KUMO_PORT is %q, want %d: kumo addresses Lambda deliveries by it, read when the process starts", got, port)
		}
		p, err := ServeOn(port, k.URL)
		if err != nil {
			k.Close()
			return nil, err
		}
		s.proxy, s.URL = p, fmt.Sprintf("http://127.0.0.1:%d", port)
	}
	return s, nil
}

// Close stops kumo and the port it was served on.
func (s *Server) Close() {
	if s.proxy != nil {
		_ = s.proxy.Close()
	}
	s.kumo.Close()
}

// ServeOn forwards 127.0.0.1:port to target, loopback only.
func ServeOn(port int, target string) (*http.Server, error) {
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		return nil, fmt.Errorf("listen on 127.0.0.1:%d: %w (is another emulator running? pick another port, e.g. make local LOCAL_PORT=4567)", port, err)
	}
	u, err := url.Parse(target)
	if err != nil {
		return nil, err
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.ErrorLog = quiet
	srv := &http.Server{Handler: rp, ReadHeaderTimeout: 10 * time.Second, ErrorLog: quiet}
	go func() { _ = srv.Serve(l) }()
	return srv, nil
}

var quiet = log.New(io.Discard, "", 0)

// Build builds a main package exactly as `make build` does, but for the
// host: the deployed arm64 bootstrap cannot run on an x86 machine.
func Build(root, pkg, outDir string) (string, error) {
	out := filepath.Join(outDir, filepath.Base(pkg), "bootstrap")
	cmd := exec.Command("go", "build", "-tags", "lambda.norpc", "-trimpath", "-buildvcs=false", "-ldflags=-s -w -buildid=", "-o", out, pkg)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build %s: %w\n%s", pkg, err, b)
	}
	return out, nil
}

// Process is a function binary polling kumo's Runtime API.
type Process struct {
	Name string
	// Init is process start to its first Runtime API "next" poll.
	Init  time.Duration
	cmd   *exec.Cmd
	done  chan error
	front *httptest.Server
	// Output is everything the process printed.
	Output *Buffer
}

// Env is the environment a function process gets: what Lambda sets, and
// the emulator's endpoint and credentials.
func Env(endpoint, name, runtimeAPI string) []string {
	return []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + os.TempDir(),
		"AWS_LAMBDA_RUNTIME_API=" + runtimeAPI,
		"AWS_LAMBDA_FUNCTION_NAME=" + name,
		"AWS_REGION=" + Region,
		"AWS_ENDPOINT_URL=" + endpoint,
		"AWS_ACCESS_KEY_ID=" + AccessKey,
		"AWS_SECRET_ACCESS_KEY=" + SecretKey,
		"AWS_EC2_METADATA_DISABLED=true",
	}
}

// Run registers name in kumo's Lambda API, starts binary against kumo's
// Runtime API endpoint (/_runtime/<name>) and returns once it has asked
// for its first invocation. out, if not nil, receives its output too.
func Run(ctx context.Context, lc *lambda.Client, endpoint, name, binary string, env []string, out io.Writer) (*Process, error) {
	_, err := lc.CreateFunction(ctx, &lambda.CreateFunctionInput{
		FunctionName:  aws.String(name),
		Role:          aws.String("arn:aws:iam::" + Account + ":role/" + name),
		Runtime:       lambdatypes.RuntimeProvidedal2023,
		Handler:       aws.String("bootstrap"),
		Architectures: []lambdatypes.Architecture{lambdatypes.ArchitectureArm64},
		Timeout:       aws.Int32(60),
		// kumo ignores the code; the binary reaches it through the
		// Runtime API instead.
		Code: &lambdatypes.FunctionCode{ZipFile: []byte("PK\x05\x06" + strings.Repeat("\x00", 18))},
	})
	if err != nil {
		return nil, fmt.Errorf("create function %s in kumo: %w", name, err)
	}
	// A pass-through proxy in front of kumo's runtime endpoint tells us
	// when the binary first polls, without sleeping or guessing.
	target, err := url.Parse(endpoint)
	if err != nil {
		return nil, err
	}
	firstPoll := make(chan time.Time, 1)
	var once sync.Once
	proxy := httputil.NewSingleHostReverseProxy(target)
	proxy.FlushInterval = -1
	// A stopped function's pending long poll ends in a canceled proxy
	// request: expected, not worth a log line.
	proxy.ErrorLog = quiet
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/invocation/next") {
			once.Do(func() { firstPoll <- time.Now() })
		}
		proxy.ServeHTTP(w, r)
	}))
	p := &Process{Name: name, done: make(chan error, 1), front: front, Output: &Buffer{}}
	var sink io.Writer = p.Output
	if out != nil {
		sink = io.MultiWriter(p.Output, out)
	}
	// One writer for both streams: os/exec then never writes from two
	// goroutines at once.
	sink = &syncWriter{w: sink}
	cmd := exec.Command(binary)
	cmd.Env = append(Env(endpoint, name, strings.TrimPrefix(front.URL, "http://")+"/_runtime/"+name), env...)
	cmd.Stdout, cmd.Stderr = sink, sink
	start := time.Now()
	if err := cmd.Start(); err != nil {
		front.Close()
		return nil, fmt.Errorf("start %s: %w", binary, err)
	}
	p.cmd = cmd
	go func() { p.done <- cmd.Wait() }()
	select {
	case t := <-firstPoll:
		p.Init = t.Sub(start)
		return p, nil
	case err := <-p.done:
		front.Close()
		return nil, fmt.Errorf("%s exited before polling for work: %v\n%s", name, err, p.Output.String())
	case <-time.After(30 * time.Second):
		_ = p.Stop()
		return nil, fmt.Errorf("%s did not poll the Runtime API within 30s", name)
	case <-ctx.Done():
		_ = p.Stop()
		return nil, ctx.Err()
	}
}

// Stop ends the process and reaps it; an error means it could not be
// reaped, i.e. it may be left behind.
func (p *Process) Stop() error {
	defer p.front.Close()
	if p.cmd.ProcessState != nil {
		return nil
	}
	_ = p.cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.done:
		return nil
	case <-time.After(2 * time.Second):
	}
	_ = p.cmd.Process.Kill()
	select {
	case <-p.done:
		return nil
	case <-time.After(10 * time.Second):
		return fmt.Errorf("function %s (pid %d) did not exit after kill", p.Name, p.cmd.Process.Pid)
	}
}

// Pid is the process ID, for leak checks.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Invoke calls a function synchronously through kumo's Lambda API and
// returns its payload and, for a function error, its error type.
func Invoke(ctx context.Context, lc *lambda.Client, name string, payload []byte) ([]byte, string, error) {
	for attempt := 0; ; attempt++ {
		out, err := lc.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String(name), Payload: payload})
		// kumo registers a Runtime API handler when its first poll
		// arrives, a moment after the proxy saw it go by; a few immediate
		// retries close that window.
		if err != nil && attempt < 100 && strings.Contains(err.Error(), "has no runtime handler") {
			continue
		}
		if err != nil {
			return nil, "", fmt.Errorf("invoke %s: %w", name, err)
		}
		return out.Payload, aws.ToString(out.FunctionError), nil
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

// Tail returns at most the last n bytes written so far.
func (b *Buffer) Tail(n int) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := b.b.Bytes()
	if len(out) > n {
		out = out[len(out)-n:]
	}
	return string(out)
}

type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

// ReplayBody reads a request's body and puts an identical reader back, so
// a transport can look at the bytes and still send them.
func ReplayBody(req *http.Request) ([]byte, error) {
	if req.Body == nil {
		return nil, nil
	}
	b, err := io.ReadAll(req.Body)
	if err != nil {
		return nil, err
	}
	_ = req.Body.Close()
	req.Body = io.NopCloser(bytes.NewReader(b))
	return b, nil
}
