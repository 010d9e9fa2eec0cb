package expiredcreds

import (
	"regexp"
	"slices"
	"strings"
)

// Verdict is what a pasted error says about credentials, for a person
// deciding what to fix (stsrotator doctor --error). Classify answers the
// narrower question "should stsrotator rotate for this?"; Explain also
// names the expiries a rotation does not fix.
type Verdict int

const (
	// NotExpiry: nothing in the text is an expiry (AccessDenied,
	// InvalidClientTokenId, SignatureDoesNotMatch, prose).
	NotExpiry Verdict = iota
	// CredentialsExpired: ExpiredToken / ExpiredTokenException or their
	// messages: the temporary credentials that signed the call expired.
	CredentialsExpired
	// RequestExpiredOrSkew: EC2-style RequestExpired, sent for an expired
	// session and for a request signed more than 15 minutes from AWS's
	// time (clock skew).
	RequestExpiredOrSkew
	// PresignedURLExpired: S3's AccessDenied "Request has expired" for a
	// presigned URL used past X-Amz-Expires; a new URL fixes it.
	PresignedURLExpired
	// WebIdentityTokenExpired: AssumeRoleWithWebIdentity/SAML's
	// ExpiredTokenException: the OIDC token or SAML assertion the caller
	// passed expired; its identity provider fixes it.
	WebIdentityTokenExpired
)

func (v Verdict) String() string {
	return [...]string{"not an expiry", "expired credentials", "request expired (expired session or clock skew)",
		"presigned URL expired", "web identity token expired"}[v]
}

// presigned is S3's refusal of a presigned URL past its lifetime: the
// code AccessDenied with "Request has expired", often with <Expires> and
// <ServerTime>, or an X-Amz-Expires URL beside the message.
// https://docs.aws.amazon.com/AmazonS3/latest/userguide/using-presigned-url.html
var presigned = regexp.MustCompile(`(?s)(AccessDenied|X-Amz-Expires|<Expires>|\bS3\b|s3\.).*Request has expired|Request has expired.*(AccessDenied|X-Amz-Expires|<Expires>)`)

// Explain reads one error text (a log line, an SDK's error, an HTTP body)
// and says which kind of expiry it shows, with Classify's Finding for the
// two kinds Classify reports.
func Explain(text string) (Verdict, Finding) {
	if f, ok := Classify(text); ok {
		if ClockSkew(f.Code) {
			return RequestExpiredOrSkew, f
		}
		return CredentialsExpired, f
	}
	if slices.ContainsFunc(webIdentityTexts, func(s string) bool { return strings.Contains(text, s) }) {
		return WebIdentityTokenExpired, Finding{}
	}
	if slices.ContainsFunc(notOurs, func(op string) bool { return strings.Contains(text, op) }) && expiryWords(text) {
		return WebIdentityTokenExpired, Finding{}
	}
	if presigned.MatchString(text) {
		return PresignedURLExpired, Finding{}
	}
	return NotExpiry, Finding{}
}

// expiryWords: one of the codes or messages appears anywhere in text.
func expiryWords(text string) bool {
	for _, c := range codes {
		if strings.Contains(text, c.Name) {
			return true
		}
	}
	return strings.Contains(text, "expired")
}
