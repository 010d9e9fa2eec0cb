package revocation

import "strings"

// explicitIdentityDeny is how AWS words a request refused by a Deny
// statement in an identity-based policy, which is where a revocation
// lives (an inline policy on the role): "User: <arn> is not authorized
// to perform: <action> on resource: <arn> with an explicit deny in an
// identity-based policy"
// (https://docs.aws.amazon.com/IAM/latest/UserGuide/troubleshoot_access-denied.html).
const explicitIdentityDeny = "explicit deny in an identity-based policy"

// IsDenial reports whether an AWS error may be a revocation refusing the
// key that signed the request: an access-denied code whose message says
// an identity-based policy explicitly denied it. Other explicit denies
// look the same, so a caller acting on it must be rate-limited (a
// re-read of the secret at most every so often), never treat it as proof.
func IsDenial(code, message string) bool {
	switch code {
	case "AccessDenied", "AccessDeniedException":
		return strings.Contains(strings.ToLower(message), explicitIdentityDeny)
	}
	return false
}
