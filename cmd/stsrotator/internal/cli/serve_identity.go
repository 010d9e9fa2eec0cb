package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/stsrotator/stsrotator/shared/secretfmt"
)

// EndpointHeader marks every answer of an endpoint stsrotator serves
// (serve, serve --imds, exec), so a later serve or exec can tell one from
// the credentials source it should read its secret with.
const EndpointHeader = "Stsrotator-Endpoint"

// endpointVars are the variables through which the SDK default chain
// would read credentials from a local endpoint: the container endpoint
// (with its token variables, dropped with it) and an IMDS address.
var endpointVars = []struct {
	name string
	with []string
}{
	{EnvContainerFullURI, []string{EnvContainerToken, EnvContainerTokenFile}},
	{EnvEC2MetadataEndpoint, nil},
}

// dropLocalEndpoints keeps serve and exec from reading their secret
// through an endpoint stsrotator itself serves. The environment of a
// shell that ran another serve's exports (or of an exec's child) points
// the SDK default chain at that endpoint, which hands out another
// target's credentials: read with them, one target's key reads another's
// secret (issue 20). A loopback endpoint that answers with EndpointHeader,
// or does not answer at all (the serve that printed it has stopped), is
// removed from this process's environment before the SDK configuration
// is loaded, so the chain goes on to the program's own identity. Each
// removal is said, with the reason; note is what to add to a failure to
// read the secret.
func (a *App) dropLocalEndpoints(ctx context.Context, logf func(string, ...any)) (note string) {
	for _, v := range endpointVars {
		raw := a.Getenv(v.name)
		if raw == "" {
			continue
		}
		u, err := url.Parse(raw)
		if err != nil {
			continue
		}
		ip := net.ParseIP(u.Hostname())
		if u.Hostname() != "localhost" && (ip == nil || !ip.IsLoopback()) {
			continue // a real agent (ECS, EKS Pod Identity, EC2): the program's own identity
		}
		why := ""
		switch ours, uid, err := probeEndpoint(ctx, raw, a.SocketOwner); {
		case err != nil:
			why = "does not answer (" + oneLine(err.Error()) + "); a stopped serve's address"
		case uid >= 0 && !trustedUID(uid):
			// The port of a stopped serve (or agent) taken over by another
			// user, who would hand this program credentials of their own
			// choosing: the secret read with them comes from their account.
			why = fmt.Sprintf("is served by a process of uid %d, another user, who could hand this program any credentials", uid)
		case ours:
			why = "is an stsrotator endpoint, which serves another target's credentials"
		default:
			continue
		}
		for _, n := range append([]string{v.name}, v.with...) {
			_ = a.Unsetenv(n)
		}
		logf("not reading the secret through %s=%s: it %s; reading with the rest of the default chain (this program's own identity)", v.name, printable(raw), why)
		note = "serve and exec do not read a secret through " + v.name + " when it is an stsrotator endpoint (fix: give this command its own identity: --profile, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)"
	}
	return note
}

// probeEndpoint asks a local endpoint, without credentials, whether it is
// stsrotator's, and which user's process answers it (uid -1 where the
// platform does not say).
func probeEndpoint(ctx context.Context, raw string, owner socketOwnerFunc) (ours bool, uid int, err error) {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	uid = -1
	var ownerErr error
	// Asked while the connection is open: the server's end of it carries
	// the owner of the socket it listens on.
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{GotConn: func(info httptrace.GotConnInfo) {
		uid, ownerErr = connOwner(owner, info.Conn)
	}})
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, raw, nil)
	if err != nil {
		return false, -1, err
	}
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		return false, -1, err
	}
	_ = resp.Body.Close()
	switch {
	case errors.Is(ownerErr, errOwnerUnknown):
		uid = -1
	case ownerErr != nil:
		return false, -1, fmt.Errorf("cannot tell which user serves it: %w", ownerErr)
	}
	return resp.Header.Get(EndpointHeader) != "", uid, nil
}

// logReader says which identity reads the secret: the credential source
// the SDK chain picked and its key, masked.
func logReader(ctx context.Context, cfg aws.Config, secretID string, logf func(string, ...any)) {
	if cfg.Credentials == nil {
		return
	}
	c, err := cfg.Credentials.Retrieve(ctx)
	if err != nil {
		return // the read that follows fails and says why
	}
	src := c.Source
	if src == "" {
		src = "unnamed source"
	}
	logf("reading %s as key %s (from %s)", secretID, secretfmt.Mask(c.AccessKeyID), src)
}
