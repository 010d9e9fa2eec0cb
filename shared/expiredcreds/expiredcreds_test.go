package expiredcreds

import "testing"

func TestClassifyShapes(t *testing.T) {
	cases := []struct {
		why, text string
		want      Finding
		ok        bool
	}{
		{"Go v2 names service and operation; RequestExpired is a code of its own",
			"operation error EC2: DescribeInstances, https response error StatusCode: 400, RequestID: 7c1e, api error RequestExpired: Request has expired.",
			Finding{Code: RequestExpired, Service: "EC2", Operation: "DescribeInstances"}, true},
		{"Java v2 prints no code: the message implies ExpiredToken, the suffix names the service",
			"software.amazon.awssdk.services.sts.model.StsException: The security token included in the request is expired (Service: Sts, Status Code: 403, Request ID: 3f1c0a52)",
			Finding{Code: ExpiredToken, Service: "Sts"}, true},
		{"Java v1's AmazonSQS client name gives service SQS",
			"com.amazonaws.services.sqs.model.AmazonSQSException: The security token included in the request is expired (Service: AmazonSQS; Status Code: 403; Error Code: ExpiredToken; Request ID: abc)",
			Finding{Code: ExpiredToken, Service: "SQS"}, true},
		{"ExpiredTokenException is not read as ExpiredToken",
			"An error occurred (ExpiredTokenException) when calling the Invoke operation: The security token included in the request is expired",
			Finding{Code: ExpiredTokenException, Operation: "Invoke"}, true},
		{"a code in prose is not an error code", "stsrotator: ExpiredToken report not published", Finding{}, false},
		{"an invalid token is not an expired one", "InvalidClientTokenId: The security token included in the request is invalid", Finding{}, false},
		{"a generic message needs an SDK's context", "session cleanup: Request has expired.", Finding{}, false},
	}
	for _, c := range cases {
		got, ok := Classify(c.text)
		if ok != c.ok || got != c.want {
			t.Errorf("%s:\n  got %+v %v, want %+v %v", c.why, got, ok, c.want, c.ok)
		}
	}
}

func TestCodes(t *testing.T) {
	for _, c := range Codes() {
		if !IsCode(c) {
			t.Errorf("IsCode(%q) = false", c)
		}
	}
	for _, c := range []string{"", "expiredtoken", "AccessDenied", "InvalidClientTokenId", "ExpiredTokenExceptionX"} {
		if IsCode(c) {
			t.Errorf("IsCode(%q) = true: codes are exact and case-sensitive", c)
		}
	}
	if !ClockSkew(RequestExpired) || ClockSkew(ExpiredToken) {
		t.Error("only RequestExpired also means clock skew")
	}
	if n := len(FilterPattern()); n > MaxFilterPatternLen {
		t.Errorf("filter pattern is %d characters, CloudWatch Logs takes %d", n, MaxFilterPatternLen)
	}
}
