package awstest

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
)

// Sink collects every log and metric line a package's tests produce, so
// TestMain can scan the lot for secret material at the end.
type Sink struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Logs is the package-wide sink.
var Logs = &Sink{}

func (s *Sink) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

// Bytes copies everything written so far.
func (s *Sink) Bytes() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return bytes.Clone(s.buf.Bytes())
}

// Logger is a JSON slog logger writing to the sink (and to w, if given).
func Logger(w io.Writer) *slog.Logger {
	var out io.Writer = Logs
	if w != nil {
		out = io.MultiWriter(Logs, w)
	}
	return slog.New(slog.NewJSONHandler(out, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// Main runs a package's tests, then fails the run if any remembered secret
// appears in the sink. Use it as: func TestMain(m *testing.M) { awstest.Main(m) }.
func Main(m *testing.M) {
	code := m.Run()
	if code == 0 {
		logs := Logs.Bytes()
		if leaks := Leaks(logs); len(leaks) > 0 {
			fmt.Fprintf(os.Stderr, "FAIL: %d secret values appear in test logs: %v\n", len(leaks), leaks)
			code = 1
		} else {
			fmt.Fprintf(os.Stderr, "leak check: %d log bytes scanned for %d secret values, none found\n", len(logs), SeenSecrets())
		}
	}
	os.Exit(code)
}

// CountEMF is how many EMF lines in text report metric with value 1: how
// an operator's dashboard would count rotations or failures.
func CountEMF(text, metric string) int {
	return strings.Count(text, fmt.Sprintf(`"%s":1,`, metric))
}
