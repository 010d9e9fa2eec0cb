package cli

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/stsrotator/stsrotator/shared/credprovider"
	"github.com/stsrotator/stsrotator/shared/secretfmt"
)

// CredentialsPath is where serve answers.
const CredentialsPath = "/credentials"

// credentialsSource is what the endpoint serves from.
type credentialsSource interface {
	Retrieve(context.Context) (aws.Credentials, error)
}

func (a *App) serve(ctx context.Context, args []string) error {
	var target, secretID string
	var port int
	fs := a.flags("serve", "--target NAME [--port N]", `
Serves the target's credentials the way ECS does, on loopback only, for any
SDK or the AWS CLI. It prints the two lines to export:

  export AWS_CONTAINER_CREDENTIALS_FULL_URI=http://127.0.0.1:PORT/credentials
  export AWS_CONTAINER_AUTHORIZATION_TOKEN=...

Requests without that token are refused. Credentials are cached until the
secret's refresh hint and never served expired. Stops on Ctrl-C.`)
	fs.StringVar(&target, "target", "", "config target `name`")
	fs.StringVar(&secretID, "secret-id", "", "serve this secret `name or ARN` instead of a target's")
	fs.IntVar(&port, "port", 0, "loopback `port` to listen on (default: any free port)")
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
	r, err := a.resolve(fs.g, target, secretID)
	if err != nil {
		return err
	}
	cfg, err := a.LoadAWS(ctx, fs.g)
	if err != nil {
		return err
	}
	p := a.servedProvider(cfg, r)
	// Read once before announcing, so a wrong target fails here, with its
	// exit code, instead of inside every SDK that asks later.
	if _, err := p.Retrieve(ctx); err != nil {
		return coded(codeForRead(err), err)
	}
	token, err := newToken()
	if err != nil {
		return err
	}
	ln, err := a.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return fmt.Errorf("listen on 127.0.0.1:%d: %w", port, err)
	}
	srv := &http.Server{Handler: &endpoint{src: p, token: token, log: a.logf}, ReadHeaderTimeout: 5 * time.Second}
	fmt.Fprintf(a.Stdout, "export AWS_CONTAINER_CREDENTIALS_FULL_URI=http://%s%s\nexport AWS_CONTAINER_AUTHORIZATION_TOKEN=%s\n", ln.Addr(), CredentialsPath, token)
	a.logf("serving %s on %s; stop with Ctrl-C", r.SecretID, ln.Addr())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
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

// servedProvider is serve's credential cache. A secret that breaks while
// serve runs is said on stderr at each failed re-read, while the cached key
// keeps being served until it expires.
func (a *App) servedProvider(cfg aws.Config, r ref) *credprovider.Provider {
	return credprovider.New(secretsmanager.NewFromConfig(cfg), r.Target, credprovider.WithSecretID(r.SecretID), credprovider.WithClock(a.Now),
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
	log   func(string, ...any)
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
	host, _, _ := net.SplitHostPort(r.RemoteAddr)
	switch ip := net.ParseIP(host); {
	case ip == nil || !ip.IsLoopback():
		// The socket is loopback-only; this guards against a proxy or a
		// changed listener ever exposing it.
		e.deny(w, r, http.StatusForbidden, "AccessDenied", "only loopback clients are served")
		return
	case subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), []byte(e.token)) != 1:
		e.deny(w, r, http.StatusUnauthorized, "AccessDenied", "missing or wrong Authorization token (set AWS_CONTAINER_AUTHORIZATION_TOKEN)")
		return
	case r.URL.Path != CredentialsPath:
		e.deny(w, r, http.StatusNotFound, "NotFound", "credentials are served at "+CredentialsPath)
		return
	case r.Method != http.MethodGet:
		e.deny(w, r, http.StatusMethodNotAllowed, "MethodNotAllowed", "use GET")
		return
	}
	creds, err := e.src.Retrieve(r.Context())
	if err != nil {
		e.deny(w, r, http.StatusServiceUnavailable, "CredentialsUnavailable", oneLine(err.Error()))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(containerCredentials{
		AccessKeyID: creds.AccessKeyID, SecretAccessKey: creds.SecretAccessKey, Token: creds.SessionToken,
		Expiration: creds.Expires.UTC().Format(time.RFC3339),
	})
	e.log("%s %s 200 key %s", r.Method, r.URL.Path, secretfmt.Mask(creds.AccessKeyID))
}

func (e *endpoint) deny(w http.ResponseWriter, r *http.Request, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"code": code, "message": msg})
	e.log("%s %s %d %s", r.Method, r.URL.Path, status, msg)
}
