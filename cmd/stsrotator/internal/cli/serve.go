package cli

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/stsrotator/stsrotator/shared/credprovider"
	"github.com/stsrotator/stsrotator/shared/lambdaenv"
	"github.com/stsrotator/stsrotator/shared/secretfmt"
)

// CredentialsPath is where serve answers.
const CredentialsPath = "/credentials"

// credentialsSource is what the endpoint serves from.
type credentialsSource interface {
	Retrieve(context.Context) (aws.Credentials, error)
}

// Environment variables of the container-credentials protocol that serve
// speaks. The SDKs read the token from the file each time they fetch
// (botocore: ContainerProvider._build_headers), so a token kept in a file
// outlives a restart of serve.
const (
	EnvContainerFullURI   = "AWS_CONTAINER_CREDENTIALS_FULL_URI"
	EnvContainerToken     = "AWS_CONTAINER_AUTHORIZATION_TOKEN"
	EnvContainerTokenFile = "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"
)

// ServeLimits bound each phase of a connection to serve, so a local client
// that stalls (a promised body never sent, a body one byte a second, an
// idle keep-alive) is cut off instead of holding a descriptor forever.
// Zero fields take DefaultServeLimits' values.
type ServeLimits struct {
	// Header is the time to read a request's headers.
	Header time.Duration
	// Read is the time to read a whole request, body included.
	Read time.Duration
	// Write is the time from the end of the headers to the end of the
	// response.
	Write time.Duration
	// Idle is how long a kept-alive connection may wait for its next
	// request.
	Idle time.Duration
}

// DefaultServeLimits are generous for a loopback client: an SDK sends a
// bodiless GET and reads a few hundred bytes.
var DefaultServeLimits = ServeLimits{Header: 5 * time.Second, Read: 10 * time.Second, Write: 10 * time.Second, Idle: 30 * time.Second}

// maxHeaderBytes is far above what an SDK sends (a token and a few
// headers), far below net/http's 1 MB default.
const maxHeaderBytes = 16 << 10

func (l ServeLimits) orDefaults() ServeLimits {
	d := DefaultServeLimits
	pick := func(v, def time.Duration) time.Duration {
		if v > 0 {
			return v
		}
		return def
	}
	return ServeLimits{Header: pick(l.Header, d.Header), Read: pick(l.Read, d.Read), Write: pick(l.Write, d.Write), Idle: pick(l.Idle, d.Idle)}
}

// newServer is serve's HTTP server with every phase bounded; net/http's
// own error lines go through logf, escaped.
func newServer(h http.Handler, l ServeLimits, logf func(string, ...any)) *http.Server {
	l = l.orDefaults()
	return &http.Server{Handler: h, ReadHeaderTimeout: l.Header, ReadTimeout: l.Read, WriteTimeout: l.Write, IdleTimeout: l.Idle,
		MaxHeaderBytes: maxHeaderBytes, ErrorLog: log.New(logWriter(logf), "", 0)}
}

// logWriter turns net/http's log lines into serve's.
type logWriter func(string, ...any)

func (f logWriter) Write(p []byte) (int, error) {
	f("%s", printable(strings.TrimRight(string(p), "\n")))
	return len(p), nil
}

func (a *App) serve(ctx context.Context, args []string) error {
	var target, secretID, tokenFile string
	var port int
	var imds, imdsV1 bool
	fs := a.flags("serve", "--target NAME [--port N] [--token-file FILE | --imds [--imds-v1]]", `
Serves the target's credentials the way ECS does, on loopback only, for any
SDK or the AWS CLI. It prints the two lines to export:

  export AWS_CONTAINER_CREDENTIALS_FULL_URI=http://127.0.0.1:PORT/credentials
  export AWS_CONTAINER_AUTHORIZATION_TOKEN=...

Requests without that token are refused. Credentials are cached until the
secret's refresh hint (at most 30s after the last read) and never served
expired; while the cached key has more than 5 minutes left, requests are
answered from it at once and the secret is re-read in the background. When the secret, re-read, holds only expired credentials, serve
answers 503 and reports it once (per version, per 10 minutes) to the event
bus the secret names, so the target is rotated. Stops on Ctrl-C.

A new token is made at each start, so clients started before a restart are
refused after it. To keep them working, give a fixed --port and a token
file: serve writes each start's new token there (atomically, mode 0600,
without a newline, as botocore requires) and prints
AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE instead of the token; the SDKs read
the file at each refresh. The file must be yours and not a symbolic link.
Requests whose Host is not the address serve listens on are refused.

  stsrotator serve --target billing-reader --port 9911 --token-file ~/.stsrotator-serve.token

--imds serves the EC2 instance metadata service's IMDSv2 credentials paths
instead, for tools that speak only IMDS, and prints

  export AWS_EC2_METADATA_SERVICE_ENDPOINT=http://127.0.0.1:PORT/

Clients get a session token with PUT /latest/api/token (TTL 1-21600 s) and
send it with every GET; requests without one (IMDSv1) are refused unless
--imds-v1 is given, and requests carrying X-Forwarded-For are refused.
IMDS clients hold no secret, so on Linux only your own processes and root's
are answered (the socket's owner in /proc/net/tcp); elsewhere any local
user's are.`)
	fs.profileFor("read the secret")
	fs.StringVar(&target, "target", "", "config target `name`")
	fs.StringVar(&secretID, "secret-id", "", "serve this secret `name or ARN` instead of a target's")
	fs.IntVar(&port, "port", 0, "loopback `port` to listen on (default: any free port)")
	fs.BoolVar(&imds, "imds", false, "serve the EC2 instance metadata (IMDSv2) credentials paths instead of the container endpoint")
	fs.BoolVar(&imdsV1, "imds-v1", false, "with --imds, also answer GETs without a session token (IMDSv1)")
	fs.StringVar(&tokenFile, "token-file", "", "write each start's authorization token to this `file`, for clients that read "+EnvContainerTokenFile+" (never taken from the environment)")
	pos, err := a.parse(fs, args)
	if err != nil {
		return err
	}
	if err := noArgs(fs, pos); err != nil {
		return err
	}
	if port < 0 || port > 65535 {
		return coded(ExitUsage, fmt.Errorf("--port %d: want 0-65535", port))
	}
	switch {
	case imds && tokenFile != "":
		return coded(ExitUsage, errors.New("--token-file is for the container endpoint; IMDS clients get session tokens with PUT /latest/api/token (drop one of --imds and --token-file)"))
	case imdsV1 && !imds:
		return coded(ExitUsage, errors.New("--imds-v1 goes with --imds"))
	}
	if tokenFile != "" && port == 0 {
		// The token survives a restart, the URL would not: clients hold
		// AWS_CONTAINER_CREDENTIALS_FULL_URI with the port in it.
		fmt.Fprintf(a.Stderr, "stsrotator serve: warning: clients re-read the token file after a restart, but without --port each start listens on a new port and clients' %s stops working; pass a fixed --port (e.g. --port 9911)\n", EnvContainerFullURI)
	}
	if tokenFile != "" {
		if tokenFile, err = filepath.Abs(tokenFile); err != nil {
			return coded(ExitUsage, fmt.Errorf("--token-file: %w", err))
		}
		// Refused before anything else, and checked again when written.
		if err := tokenFileSafe(tokenFile); err != nil {
			return err
		}
	}
	r, err := a.resolve(fs.g, target, secretID)
	if err != nil {
		return err
	}
	// Never serve's own token file (only --token-file is): read before
	// readerFor may drop it from the environment.
	foreignTokenFile := a.Getenv(EnvContainerTokenFile)
	cfg, p, err := a.readerFor(ctx, fs.g, r, a.logf)
	if err != nil {
		return err
	}
	token, err := newToken()
	if err != nil {
		return err
	}
	ln, err := a.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return fmt.Errorf("listen on 127.0.0.1:%d: %w", port, err)
	}
	// Written only once the port is ours: a serve that cannot listen
	// (someone else holds the port) leaves the file alone.
	if tokenFile != "" {
		if err := writeTokenFile(tokenFile, token); err != nil {
			_ = ln.Close()
			return err
		}
	}
	rep := a.serveReporter(cfg)
	// A report still in flight at Ctrl-C is sent, not dropped (each is
	// bounded by its own timeout).
	defer rep.wait()
	var h http.Handler
	if imds {
		h = &imdsEndpoint{src: p, role: roleName(r.RoleArn, p.p.Target()), host: ln.Addr().String(), v1: imdsV1, now: a.Now, log: a.logf, onError: rep.observe, owner: a.SocketOwner}
		fmt.Fprintf(a.Stdout, "export %s=http://%s/\n", EnvEC2MetadataEndpoint, ln.Addr())
	} else {
		e := &endpoint{src: p, token: token, host: ln.Addr().String(), log: a.logf, onError: rep.observe}
		if tokenFile != "" {
			e.tokenHint = EnvContainerTokenFile + "=" + tokenFile
		}
		h = e
		fmt.Fprintf(a.Stdout, "export %s=http://%s%s\n", EnvContainerFullURI, ln.Addr(), CredentialsPath)
		if tokenFile != "" {
			// The file wins over the variable in every SDK; the unset keeps a
			// stale token from an earlier serve out of the way of tools that
			// only know the variable.
			fmt.Fprintf(a.Stdout, "export %s=%s\nunset %s\n", EnvContainerTokenFile, shellQuote(tokenFile), EnvContainerToken)
		} else {
			if foreignTokenFile != "" {
				// Every SDK prefers the file to the variable: an agent's
				// file left in the shell (EKS Pod Identity sets one in every
				// pod) would be sent to serve instead of its token.
				fmt.Fprintf(a.Stdout, "unset %s\n", EnvContainerTokenFile)
			}
			fmt.Fprintf(a.Stdout, "export %s=%s\n", EnvContainerToken, token)
		}
	}
	srv := newServer(h, a.ServeLimits, a.logf)
	a.logf("serving %s on %s; stop with Ctrl-C", r.SecretID, ln.Addr())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(limitConns(ln, maxServeConns)) }()
	select {
	case err := <-done:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil {
		return fmt.Errorf("stop serving: %w", err)
	}
	if err := <-done; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}

// readerFor loads the identity serve and exec read the secret with (never
// an stsrotator endpoint's, see dropLocalEndpoints), says which it is, and
// reads the secret once, so a wrong target or a missing identity fails
// here, with its exit code, instead of inside every SDK that asks later.
func (a *App) readerFor(ctx context.Context, g Globals, r ref, logf func(string, ...any)) (aws.Config, *servedCache, error) {
	note := a.dropLocalEndpoints(ctx, logf)
	cfg, err := a.LoadAWS(ctx, g)
	if err != nil {
		return aws.Config{}, nil, err
	}
	logReader(ctx, cfg, r.SecretID, logf)
	c := a.servedCache(cfg, r)
	c.logf = logf
	if _, err := c.Retrieve(ctx); err != nil {
		switch {
		case errors.Is(err, credprovider.ErrNotFound) && r.note != "":
			err = fmt.Errorf("%w; %s", err, r.note)
		case note != "" && !errors.Is(err, credprovider.ErrNotFound) && !errors.Is(err, credprovider.ErrExpired):
			err = fmt.Errorf("%w; %s", err, note)
		}
		return aws.Config{}, nil, coded(codeForRead(err), err)
	}
	return cfg, c, nil
}

// serveReporter is serve's expiry reporter: to $STSROTATOR_EVENT_BUS if
// set, else to the bus the secret names.
func (a *App) serveReporter(cfg aws.Config) *expiryReporter {
	host, _ := a.Hostname()
	return &expiryReporter{api: eventbridge.NewFromConfig(cfg), bus: a.Getenv(lambdaenv.EventBus), region: cfg.Region, host: host,
		now: a.Now, every: ServeReportEvery, logf: a.logf}
}

// servedCache is what serve answers from: servedProvider's key, handed
// out at once while valid and re-read behind the request.
func (a *App) servedCache(cfg aws.Config, r ref) *servedCache {
	return &servedCache{p: a.servedProvider(cfg, r), now: a.Now, logf: a.logf}
}

// servedProvider is serve's credential cache. A secret that breaks while
// serve runs is said on stderr at each failed re-read, while the cached key
// keeps being served until it expires.
func (a *App) servedProvider(cfg aws.Config, r ref) *credprovider.Provider {
	// WithMaxAge: a consumer restarted after stsrotator revoke must get
	// the new key within seconds, not the revoked one until the hint.
	return credprovider.New(secretsmanager.NewFromConfig(cfg), r.Target, credprovider.WithSecretID(r.SecretID), credprovider.WithClock(a.Now),
		credprovider.WithMaxAge(credprovider.DefaultRetryAfter),
		credprovider.WithReadFailure(func(err error, key string, until time.Time) {
			a.logf("cannot re-read the secret, still serving key %s until %s: %s", key, until.Format(time.RFC3339), oneLine(err.Error()))
		}))
}

func (a *App) logf(format string, args ...any) {
	fmt.Fprintf(a.Stderr, "stsrotator serve: "+format+"\n", args...)
}

func codeForRead(err error) int {
	switch {
	case errors.Is(err, credprovider.ErrNotFound):
		return ExitNotFound
	case errors.Is(err, secretfmt.ErrInvalid):
		return ExitInvalid
	case errors.Is(err, credprovider.ErrExpired):
		return ExitExpired
	}
	return ExitFailure
}

func newToken() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("make authorization token: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// endpoint answers the container-credentials protocol the SDKs speak.
type endpoint struct {
	src   credentialsSource
	token string
	// host is the only Host a request may name: the address serve
	// listens on. A page in a browser that got its name to resolve to
	// 127.0.0.1 (DNS rebinding) sends its own name.
	host string
	log  func(string, ...any)
	// onError hears every error src returned, before the 503 is sent;
	// nil for none.
	onError func(context.Context, error)
	// tokenHint is the variable setting a refused client lacks: the
	// token file's when serve keeps one, else (empty) the token's.
	tokenHint string
}

// containerCredentials is the response body SDKs parse.
type containerCredentials struct {
	AccessKeyID     string `json:"AccessKeyId"`
	SecretAccessKey string `json:"SecretAccessKey"`
	Token           string `json:"Token"`
	Expiration      string `json:"Expiration"`
}

func (e *endpoint) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set(EndpointHeader, "serve")
	host, _, _ := net.SplitHostPort(r.RemoteAddr)
	switch ip := net.ParseIP(host); {
	case ip == nil || !ip.IsLoopback():
		// The socket is loopback-only; this guards against a proxy or a
		// changed listener ever exposing it.
		e.deny(w, r, http.StatusForbidden, "AccessDenied", "only loopback clients are served")
		return
	case r.Host != e.host:
		e.deny(w, r, http.StatusForbidden, "AccessDenied", "Host "+strconv.Quote(r.Host)+" is not "+e.host+", the address serve listens on")
		return
	case subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), []byte(e.token)) != 1:
		hint := EnvContainerToken + " to the token serve printed"
		if e.tokenHint != "" {
			hint = e.tokenHint + ", the file serve keeps its token in"
		}
		e.deny(w, r, http.StatusUnauthorized, "AccessDenied", "missing or wrong Authorization token (set "+hint+")")
		return
	case r.URL.Path != CredentialsPath:
		e.deny(w, r, http.StatusNotFound, "NotFound", "credentials are served at "+CredentialsPath)
		return
	case r.Method != http.MethodGet:
		// RFC 9110 §15.5.6: a 405 response must list the allowed methods.
		w.Header().Set("Allow", http.MethodGet)
		e.deny(w, r, http.StatusMethodNotAllowed, "MethodNotAllowed", "use GET")
		return
	}
	began := time.Now()
	creds, err := e.src.Retrieve(r.Context())
	if err != nil && r.Context().Err() != nil {
		// The client hung up while serve waited for the secret: its own
		// timeout, not an outage of serve's.
		e.log("%s %s client gave up after %s while serve read the secret (nothing valid was cached)", printable(r.Method), printable(r.URL.Path), time.Since(began).Round(time.Millisecond))
		return
	}
	if err != nil {
		if e.onError != nil {
			e.onError(r.Context(), err)
		}
		e.deny(w, r, http.StatusServiceUnavailable, "CredentialsUnavailable", oneLine(err.Error()))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(containerCredentials{
		AccessKeyID: creds.AccessKeyID, SecretAccessKey: creds.SecretAccessKey, Token: creds.SessionToken,
		Expiration: creds.Expires.UTC().Format(time.RFC3339),
	})
	e.log("%s %s 200 key %s", printable(r.Method), printable(r.URL.Path), secretfmt.Mask(creds.AccessKeyID))
}

// errorBody is a refusal. AWS's container-credentials providers disagree
// on the spelling: the AWS SDK for JavaScript v3 reads Code/Message (and
// without them reports only the status), others read code/message; both
// are sent.
type errorBody struct {
	Code      string `json:"Code"`
	Message   string `json:"Message"`
	LowerCode string `json:"code"`
	LowerMsg  string `json:"message"`
}

// deny answers a refusal and closes the connection after it: a client that
// was refused has no reason to hold a connection (and a hostile one would
// hold it to starve the process of descriptors).
func (e *endpoint) deny(w http.ResponseWriter, r *http.Request, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Connection", "close")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(errorBody{Code: code, Message: msg, LowerCode: code, LowerMsg: msg})
	e.log("%s %s %d %s", printable(r.Method), printable(r.URL.Path), status, printable(msg))
}
