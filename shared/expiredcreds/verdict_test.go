package expiredcreds

import "testing"

// Explain names the kind of expiry a pasted error shows; each input is a
// real rendering (see testdata/corpus.txt for their sources).
func TestExplain(t *testing.T) {
	for _, c := range []struct {
		why, text string
		want      Verdict
	}{
		{"botocore's ExpiredToken", "An error occurred (ExpiredToken) when calling the GetCallerIdentity operation: The security token included in the request is expired", CredentialsExpired},
		{"Go v2 ExpiredTokenException", "operation error Secrets Manager: GetSecretValue, https response error StatusCode: 400, RequestID: 1, api error ExpiredTokenException: The security token included in the request is expired", CredentialsExpired},
		{"EC2 RequestExpired is an expired session or clock skew", "operation error EC2: DescribeInstances, https response error StatusCode: 400, RequestID: 7c1e, api error RequestExpired: Request has expired.", RequestExpiredOrSkew},
		{"S3 presigned URL past X-Amz-Expires", "<Error><Code>AccessDenied</Code><Message>Request has expired</Message><X-Amz-Expires>3600</X-Amz-Expires><Expires>2026-01-01T00:00:00Z</Expires></Error>", PresignedURLExpired},
		{"web identity token (IRSA) expired", "An error occurred (ExpiredTokenException) when calling the AssumeRoleWithWebIdentity operation: Token expired: current date/time 1700000000 must be before the expiration date/time1699990000", WebIdentityTokenExpired},
		{"Java v2 web identity text without the operation", "software.amazon.awssdk.services.sts.model.ExpiredTokenException: Token expired: current date/time 1 must be before the expiration date/time 0 (Service: Sts, Status Code: 400)", WebIdentityTokenExpired},
		{"an invalid (not expired) token", "An error occurred (InvalidClientTokenId) when calling the GetCallerIdentity operation: The security token included in the request is invalid.", NotExpiry},
		{"access denied", "An error occurred (AccessDenied) when calling the GetObject operation: Access Denied", NotExpiry},
		{"prose", "checkout session: Request has expired, please start again", NotExpiry},
	} {
		if got, _ := Explain(c.text); got != c.want {
			t.Errorf("%s: Explain = %s, want %s", c.why, got, c.want)
		}
	}
}
