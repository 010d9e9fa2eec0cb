package localstack

import (
	"bytes"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// expiryShift is the functions' AWS endpoint: kumo, except that
// AssumeRole's Expiration is moved by the dev clock's offset.
//
// kumo stamps Expiration as wall-clock now plus the duration and cannot be
// given a clock, while the functions read the wall clock plus the offset.
// Without the shift, credentials minted with the clock 47 minutes ahead
// would look 47 minutes shorter to the functions: a 30-minute session
// expired before it was written. The session length kumo chose is kept to
// the second; the resilience harness does the same in-process
// (faults.SimulatedExpiry), the real binaries here need it on the wire.
type expiryShift struct {
	URL    string
	srv    *http.Server
	offset func() time.Duration
}

// newExpiryShift serves target on a free loopback port; errors (an answer
// it could not shift) go to errLog, which is the functions' log, since the
// function that asked sees only a failed call.
func newExpiryShift(target string, offset func() time.Duration, errLog io.Writer) (*expiryShift, error) {
	u, err := url.Parse(target)
	if err != nil {
		return nil, fmt.Errorf("emulator url %q: %w", target, err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen for the functions' AWS endpoint: %w", err)
	}
	e := &expiryShift{URL: "http://" + l.Addr().String(), offset: offset}
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.ModifyResponse = e.rewrite
	if errLog == nil {
		errLog = io.Discard
	}
	rp.ErrorLog = log.New(errLog, "local stack: functions' AWS endpoint: ", 0)
	e.srv = &http.Server{Handler: rp, ReadHeaderTimeout: 10 * time.Second, ErrorLog: rp.ErrorLog}
	go func() { _ = e.srv.Serve(l) }()
	return e, nil
}

// Close stops serving and closes the port.
func (e *expiryShift) Close() error { return e.srv.Close() }

// reExpiration finds AssumeRole's Expiration in kumo's XML answer (STS is
// a query-protocol service).
var reExpiration = regexp.MustCompile(`<Expiration>([^<]*)</Expiration>`)

// rewrite shifts the Expiration of AssumeRole answers and passes every
// other answer through unchanged. Only XML answers are read: STS's and
// SNS's, small and complete; JSON answers and the Runtime API's long
// polls are streamed as they are.
func (e *expiryShift) rewrite(r *http.Response) error {
	if !strings.HasPrefix(r.Header.Get("Content-Type"), "text/xml") {
		return nil
	}
	body, err := io.ReadAll(r.Body)
	_ = r.Body.Close()
	if err != nil {
		return fmt.Errorf("read the emulator's answer: %w", err)
	}
	if bytes.Contains(body, []byte("<AssumeRoleResponse")) {
		if enc := r.Header.Get("Content-Encoding"); enc != "" {
			return fmt.Errorf("an AssumeRole answer encoded as %q cannot be shifted", enc)
		}
		if body, err = shiftExpiration(body, e.offset()); err != nil {
			return err
		}
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))
	r.Header.Set("Content-Length", strconv.Itoa(len(body)))
	return nil
}

// shiftExpiration moves the one Expiration in an AssumeRole answer by d.
func shiftExpiration(body []byte, d time.Duration) ([]byte, error) {
	m := reExpiration.FindAllSubmatchIndex(body, -1)
	if len(m) != 1 {
		return nil, fmt.Errorf("an AssumeRole answer holds %d Expiration elements, want 1", len(m))
	}
	start, end := m[0][2], m[0][3]
	exp, err := time.Parse(time.RFC3339, string(body[start:end]))
	if err != nil {
		return nil, fmt.Errorf("AssumeRole answer: %w", err)
	}
	shifted := exp.Add(d).UTC().Format(time.RFC3339)
	return append(append(append([]byte{}, body[:start]...), shifted...), body[end:]...), nil
}
