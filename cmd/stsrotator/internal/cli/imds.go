package cli

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/stsrotator/stsrotator/shared/secretfmt"
)

// The EC2 instance metadata service's IAM paths and headers, as EC2
// answers them (Amazon EC2 User Guide: "Retrieve instance metadata",
// https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/instancedata-data-retrieval.html;
// "Use the Instance Metadata Service to access instance metadata",
// https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/configuring-instance-metadata-service.html;
// "Retrieve security credentials from instance metadata",
// https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/instance-metadata-security-credentials.html).
const (
	// EnvEC2MetadataEndpoint is where the SDKs and the AWS CLI look for
	// IMDS instead of 169.254.169.254.
	EnvEC2MetadataEndpoint = "AWS_EC2_METADATA_SERVICE_ENDPOINT"

	imdsTokenPath = "/latest/api/token"
	imdsCredsPath = "/latest/meta-data/iam/security-credentials"

	imdsTokenHeader = "X-Aws-Ec2-Metadata-Token"
	imdsTTLHeader   = "X-Aws-Ec2-Metadata-Token-Ttl-Seconds"

	// imdsMaxTTL is the longest session token EC2 issues: 6 hours. The
	// shortest is 1 second.
	imdsMaxTTL = 21600
	// imdsMaxTokens bounds the session tokens held, as the IAM Roles
	// Anywhere credential helper's serve does (256): a client asking for
	// tokens in a loop evicts the earliest-expiring, not the memory.
	imdsMaxTokens = 256
)

// imdsEndpoint answers the IMDSv2 subset the SDKs' instance-metadata
// credential providers use: a session token by PUT, the role name, and
// the role's credentials.
type imdsEndpoint struct {
	src credentialsSource
	// role is the name listed under security-credentials/.
	role string
	// host is the only Host a request may name (see endpoint.host).
	host string
	// v1 serves GETs without a session token (IMDSv1); off unless asked.
	v1  bool
	now func() time.Time
	log func(string, ...any)
	// onError hears every error src returned; nil for none.
	onError func(context.Context, error)
	// owner finds which user a client's socket belongs to; nil for the
	// platform's (socketOwner).
	owner socketOwnerFunc

	mu     sync.Mutex
	tokens map[string]time.Time // session token → expiry
}

// imdsCredentials is the body EC2 answers for a role: every field a
// string, Expiration as YYYY-MM-DDTHH:MM:SSZ.
type imdsCredentials struct {
	Code            string `json:"Code"`
	LastUpdated     string `json:"LastUpdated"`
	Type            string `json:"Type"`
	AccessKeyID     string `json:"AccessKeyId"`
	SecretAccessKey string `json:"SecretAccessKey"`
	Token           string `json:"Token"`
	Expiration      string `json:"Expiration"`
}

// imdsTime is EC2's time format in metadata: seconds, UTC, Z.
const imdsTime = "2006-01-02T15:04:05Z"

func (e *imdsEndpoint) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set(EndpointHeader, "serve")
	host, _, _ := net.SplitHostPort(r.RemoteAddr)
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		e.refuse(w, r, http.StatusForbidden, "only loopback clients are served")
		return
	}
	if r.Host != e.host {
		e.refuse(w, r, http.StatusForbidden, "Host "+strconv.Quote(r.Host)+" is not "+e.host+", the address serve listens on")
		return
	}
	// IMDS has no secret a client must hold: anything that can connect
	// gets a session token. On EC2 that is the instance's own software;
	// on a shared machine every other user's process could connect to
	// 127.0.0.1, so only this user's (and root's) are answered.
	if msg := e.stranger(r); msg != "" {
		e.refuse(w, r, http.StatusForbidden, msg)
		return
	}
	// A request relayed by a proxy carries X-Forwarded-For; EC2 refuses
	// those at the token endpoint, and so does the IAM Roles Anywhere
	// credential helper's serve (400). Refused on every path here.
	if len(r.Header.Values("X-Forwarded-For")) > 0 {
		e.refuse(w, r, http.StatusBadRequest, "unable to process requests with X-Forwarded-For header")
		return
	}
	path := strings.TrimSuffix(r.URL.Path, "/")
	switch {
	case path == imdsTokenPath:
		e.putToken(w, r)
	case path == imdsCredsPath || strings.HasPrefix(path, imdsCredsPath+"/"):
		if r.Method != http.MethodGet {
			w.Header().Set("Allow", http.MethodGet)
			e.refuse(w, r, http.StatusMethodNotAllowed, "use GET")
			return
		}
		ttl, ok := e.session(r)
		if !ok {
			e.refuse(w, r, http.StatusUnauthorized, "missing or invalid "+imdsTokenHeader+" (get one with PUT "+imdsTokenPath+"; IMDSv1 is off)")
			return
		}
		if ttl > 0 {
			w.Header().Set(imdsTTLHeader, strconv.Itoa(ttl))
		}
		name := strings.TrimPrefix(strings.TrimPrefix(path, imdsCredsPath), "/")
		switch name {
		case "":
			w.Header().Set("Content-Type", "text/plain")
			_, _ = w.Write([]byte(e.role))
			e.log("%s %s 200 role %s", printable(r.Method), printable(r.URL.Path), e.role)
		case e.role:
			e.credentials(w, r)
		default:
			e.refuse(w, r, http.StatusNotFound, "no role "+name+"; the role here is "+e.role)
		}
	default:
		e.refuse(w, r, http.StatusNotFound, "only "+imdsTokenPath+" and "+imdsCredsPath+"/ are served")
	}
}

// stranger says why the client may not be served ("" when it may): its
// socket belongs to another user, or its owner cannot be found.
func (e *imdsEndpoint) stranger(r *http.Request) string {
	uid, err := peerOwner(e.owner, r.RemoteAddr, e.host)
	switch {
	case errors.Is(err, errOwnerUnknown):
		return ""
	case err != nil:
		return "cannot tell which user is connecting: " + oneLine(err.Error())
	case !trustedUID(uid):
		return "the connecting process runs as uid " + strconv.Itoa(uid) + "; serve --imds answers only its own user (uid " + strconv.Itoa(os.Getuid()) + ") and root"
	}
	return ""
}

// putToken issues a session token for the TTL the client asks, 1 to
// 21600 seconds, echoing the TTL in the response header as EC2 does. A
// missing or bad TTL is a 400, as on EC2.
func (e *imdsEndpoint) putToken(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPut {
		w.Header().Set("Allow", http.MethodPut)
		e.refuse(w, r, http.StatusMethodNotAllowed, "use PUT")
		return
	}
	raw := r.Header.Get(imdsTTLHeader)
	ttl, err := strconv.Atoi(raw)
	if err != nil || ttl < 1 || ttl > imdsMaxTTL {
		e.refuse(w, r, http.StatusBadRequest, imdsTTLHeader+" must be a whole number of seconds from 1 to 21600")
		return
	}
	token, err := newToken()
	if err != nil {
		e.refuse(w, r, http.StatusInternalServerError, "could not make a token")
		return
	}
	now := e.now()
	e.mu.Lock()
	if e.tokens == nil {
		e.tokens = map[string]time.Time{}
	}
	for t, exp := range e.tokens {
		if !now.Before(exp) {
			delete(e.tokens, t)
		}
	}
	if len(e.tokens) >= imdsMaxTokens {
		var first string
		for t, exp := range e.tokens {
			if first == "" || exp.Before(e.tokens[first]) {
				first = t
			}
		}
		delete(e.tokens, first)
	}
	e.tokens[token] = now.Add(time.Duration(ttl) * time.Second)
	e.mu.Unlock()
	w.Header().Set(imdsTTLHeader, strconv.Itoa(ttl))
	w.Header().Set("Content-Type", "text/plain")
	_, _ = w.Write([]byte(token))
	e.log("%s %s 200 token for %ds", printable(r.Method), printable(r.URL.Path), ttl)
}

// session checks the request's session token and returns its remaining
// seconds; a request without one passes only with IMDSv1 on (ttl 0). A
// token sent must be valid even then, as on EC2.
func (e *imdsEndpoint) session(r *http.Request) (ttl int, ok bool) {
	tok := r.Header.Get(imdsTokenHeader)
	if tok == "" {
		return 0, e.v1
	}
	now := e.now()
	e.mu.Lock()
	defer e.mu.Unlock()
	for t, exp := range e.tokens {
		if subtle.ConstantTimeCompare([]byte(t), []byte(tok)) == 1 && now.Before(exp) {
			return int(exp.Sub(now) / time.Second), true
		}
	}
	return 0, false
}

func (e *imdsEndpoint) credentials(w http.ResponseWriter, r *http.Request) {
	creds, err := e.src.Retrieve(r.Context())
	if err != nil && r.Context().Err() != nil {
		e.log("%s %s client gave up while serve read the secret (nothing valid was cached)", printable(r.Method), printable(r.URL.Path))
		return
	}
	if err != nil {
		if e.onError != nil {
			e.onError(r.Context(), err)
		}
		e.refuse(w, r, http.StatusServiceUnavailable, oneLine(err.Error()))
		return
	}
	updated := e.now()
	if u, ok := e.src.(interface{ LastUpdated() time.Time }); ok && !u.LastUpdated().IsZero() {
		updated = u.LastUpdated()
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(imdsCredentials{
		Code: "Success", LastUpdated: updated.UTC().Format(imdsTime), Type: "AWS-HMAC",
		AccessKeyID: creds.AccessKeyID, SecretAccessKey: creds.SecretAccessKey, Token: creds.SessionToken,
		Expiration: creds.Expires.UTC().Format(imdsTime),
	})
	e.log("%s %s 200 key %s", printable(r.Method), printable(r.URL.Path), secretfmt.Mask(creds.AccessKeyID))
}

// refuse answers as IMDS does, a short plain-text reason, and closes the
// connection (see endpoint.deny).
func (e *imdsEndpoint) refuse(w http.ResponseWriter, r *http.Request, status int, msg string) {
	w.Header().Set("Content-Type", "text/plain")
	w.Header().Set("Connection", "close")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(msg))
	e.log("%s %s %d %s", printable(r.Method), printable(r.URL.Path), status, printable(msg))
}

// roleName is the name IMDS lists for a role ARN: the last part of its
// path (arn:aws:iam::123456789012:role/path/Name → Name); fallback when
// the ARN gives none.
func roleName(roleArn, fallback string) string {
	if i := strings.LastIndex(roleArn, "/"); i >= 0 && i < len(roleArn)-1 && strings.HasPrefix(roleArn, "arn:") {
		return roleArn[i+1:]
	}
	if fallback != "" {
		return fallback
	}
	return "stsrotator"
}
