package expiredcreds

import (
	"regexp"
	"slices"
	"strings"
)

// The error codes AWS sends when it refuses a request because its
// credentials (or the request's signing time) expired.
const (
	// ExpiredToken: query- and XML-protocol services (STS, S3, SQS, SNS,
	// IAM, …). S3 sends it with "The provided token has expired."
	// https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html
	ExpiredToken = "ExpiredToken"
	// ExpiredTokenException: JSON-protocol services (DynamoDB, Lambda,
	// Secrets Manager, Kinesis, …).
	// https://docs.aws.amazon.com/awsconsolehelpdocs/latest/gsg/common-errors.html
	ExpiredTokenException = "ExpiredTokenException"
	// RequestExpired: EC2 (and other query services) for a call signed with
	// an expired session, and also for a request signed more than 15
	// minutes away from AWS's time: a clock-skew code too.
	// https://docs.aws.amazon.com/awsconsolehelpdocs/latest/gsg/common-errors.html
	// https://docs.aws.amazon.com/AWSEC2/latest/APIReference/errors-overview.html
	RequestExpired = "RequestExpired"
)

// Code is one row of the code table.
type Code struct {
	Name string
	// ClockSkew is set when AWS also sends the code for a request whose
	// signing time is off, so a report of it while the credentials are
	// valid points at the consumer's clock rather than at the secret.
	ClockSkew bool
	// Doc is where AWS or an SDK says the code means expired credentials.
	Doc string
}

// codes is the table. The SDKs that refresh credentials on their own treat
// exactly these three as "credentials expired": aws-sdk-go v1
// (aws/request/retryer.go credsExpiredCodes, CHANGELOG "ExpiredToken,
// ExpiredTokenException, or RequestExpired") and amplify-js
// (isCredentialsExpiredError).
var codes = []Code{
	{Name: ExpiredToken, Doc: "https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html"},
	{Name: ExpiredTokenException, Doc: "https://docs.aws.amazon.com/awsconsolehelpdocs/latest/gsg/common-errors.html"},
	{Name: RequestExpired, ClockSkew: true, Doc: "https://docs.aws.amazon.com/awsconsolehelpdocs/latest/gsg/common-errors.html"},
}

// Codes is every code, in table order: ExpiredToken,
// ExpiredTokenException, RequestExpired. The slice is a copy.
func Codes() []string {
	out := make([]string, len(codes))
	for i, c := range codes {
		out[i] = c.Name
	}
	return out
}

// Table is the code table (a copy).
func Table() []Code { return append([]Code(nil), codes...) }

// IsCode reports whether an AWS error code (smithy.APIError.ErrorCode(),
// CloudTrail's errorCode, a report's errorCode) means expired credentials.
// The match is exact: AWS error codes are case-sensitive.
func IsCode(code string) bool {
	for _, c := range codes {
		if c.Name == code {
			return true
		}
	}
	return false
}

// ClockSkew reports whether code is also sent for a skewed clock.
func ClockSkew(code string) bool {
	for _, c := range codes {
		if c.Name == code {
			return c.ClockSkew
		}
	}
	return false
}

// Message is one row of the message table: a text AWS sends with one of
// the codes, which some SDKs print without the code (Java v2, .NET,
// PowerShell, Kotlin).
type Message struct {
	Text string
	// Code is the code AWS sends with the text; a rendering that shows
	// only the text is reported with it.
	Code string
	// Generic marks a text that is not AWS's alone; it counts only where
	// the line also looks like an AWS SDK error (a status code, request ID,
	// "(Service: …" or an SDK exception name).
	Generic bool
	// NotFrom lists services (compared case-insensitively with the
	// rendering's) that send the text with another code, so a rendering
	// that shows the text without a code cannot be told apart from that
	// other error and is not reported.
	NotFrom []string
	Doc     string
}

var messages = []Message{
	{Text: "The security token included in the request is expired", Code: ExpiredToken,
		Doc: "https://docs.aws.amazon.com/awsconsolehelpdocs/latest/gsg/common-errors.html"},
	{Text: "The security token included in the request has expired", Code: ExpiredTokenException,
		Doc: "https://docs.aws.amazon.com/AWSEC2/latest/APIReference/CommonErrors.html"},
	{Text: "The provided token has expired", Code: ExpiredToken,
		Doc: "https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html"},
	// S3 sends "Request has expired" with AccessDenied, not RequestExpired,
	// when a presigned URL is used past its X-Amz-Expires
	// (<Code>AccessDenied</Code><Message>Request has expired</Message>
	// <Expires>…</Expires><ServerTime>…</ServerTime>): the URL's own
	// lifetime ran out, which no rotation fixes
	// (https://docs.aws.amazon.com/AmazonS3/latest/userguide/using-presigned-url.html,
	// "You can use the presigned URL multiple times, up to the expiration
	// date and time"). RequestExpired is not in S3's error-code list
	// (https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html),
	// so an S3 line with the text and no code (Java v2's S3Exception) is
	// the presigned URL's AccessDenied and is not reported.
	{Text: "Request has expired", Code: RequestExpired, Generic: true, NotFrom: []string{"S3"},
		Doc: "https://docs.aws.amazon.com/AWSEC2/latest/APIReference/errors-overview.html"},
}

// notOurs are the STS operations that are not signed with AWS credentials
// at all: their ExpiredTokenException / ExpiredToken is about the web
// identity (OIDC, e.g. EKS IRSA's projected token) or SAML assertion the
// caller passed, "The web identity token that was passed is expired or is
// not valid. Get a new identity token from the identity provider", which
// the identity provider fixes, not a rotation of stored credentials.
// https://docs.aws.amazon.com/STS/latest/APIReference/API_AssumeRoleWithWebIdentity.html
// ("Calling AssumeRoleWithWebIdentity does not require the use of AWS
// security credentials"; Errors: ExpiredTokenException)
// https://docs.aws.amazon.com/STS/latest/APIReference/API_AssumeRoleWithSAML.html
var notOurs = []string{"AssumeRoleWithWebIdentity", "AssumeRoleWithSAML"}

// webIdentityTexts are the messages STS sends with AssumeRoleWithWebIdentity's
// ExpiredTokenException for an expired OIDC token, for renderings that do
// not name the operation (Java v2's ExpiredTokenException): "Token
// expired: current date/time … must be before the expiration date/time …"
// (awslabs/aws-orbit-workbench#771, parseablehq/parseable#604) and "Token
// too old" (mozilla-iam/mozilla-aws-cli#146).
var webIdentityTexts = []string{"Token expired: current date/time", "Token too old"}

// Messages is the message table (a copy).
func Messages() []Message { return append([]Message(nil), messages...) }

// Finding is what one rendering says. Service and Operation are empty
// where the rendering does not carry them (Go v1, JavaScript, Rust, …).
type Finding struct {
	// Code is the AWS error code shown, or the one implied by the message
	// when the rendering shows none.
	Code string
	// Service as the rendering names it, with Java v1's "Amazon"/"AWS"
	// client prefix dropped (AmazonSQS → SQS): "EC2", "S3", "Sts", "STS".
	Service string
	// Operation is the API operation, e.g. DescribeInstances.
	Operation string
}

var (
	// A bare code (no label around it) is followed by what every SDK puts
	// after one (": message", "(code)", `"X"`, PHP's " (client)") or ends
	// the line. Alone that is also how prose and debug output name a code
	// ("ExpiredToken: false", "[ExpiredToken, RequestTimeout]"), so a bare
	// code counts only beside an SDK's error context (sdkContext).
	reCode = regexp.MustCompile(`(?m)(?:^|[^A-Za-z0-9_])(` + alternation(Codes()) + `)(?:[:;)"'<,\].}]| \((?:client|server)\)|[ \t]*$)`)
	// What makes a bare code or a generic message an AWS SDK's. It is
	// matched on the text with the table's codes removed, so
	// "ExpiredTokenException" alone is not its own context.
	reSDKContext = regexp.MustCompile(`(?i:status ?code|request ?id)|\(Service: |Exception\b|Errors::|FullyQualifiedErrorId|api error |service error: `)
	dropCodes    = strings.NewReplacer(ExpiredTokenException, "", ExpiredToken, "", RequestExpired, "")
)

// labels are the shapes in which a rendering says "this word is the error
// code", so the word is one whatever it is. When a rendering labels codes
// and none is in the table, its message text is never read: S3's
// AccessDenied "Request has expired" is a presigned URL that ran out, not
// expired credentials.
var labels = []*regexp.Regexp{
	// Java v1 "Error Code: X;", .NET "ErrorCode: X".
	regexp.MustCompile(`Error ?[Cc]ode[:=] ?"?([A-Za-z][\w.]*)`),
	// Go v2 (smithy-go GenericAPIError via awshttp.ResponseError): "api error X: msg".
	regexp.MustCompile(`api error ([A-Za-z][\w.]*):`),
	// botocore ClientError: "An error occurred (X) when calling …".
	regexp.MustCompile(`An error occurred \(([A-Za-z][\w.]*)\)`),
	// Ruby: Aws::S3::Errors::X.
	regexp.MustCompile(`Aws::\w+::Errors::(\w+)`),
	// Any raw XML error body.
	regexp.MustCompile(`<Code>([A-Za-z][\w.]*)</Code>`),
	// C++ AWSError: "ExceptionName: X Message:", "Exception name: X".
	regexp.MustCompile(`Exception ?[Nn]ame[:=] ?([A-Za-z][\w.]*)`),
	// Rust ErrorMetadata Debug: code: Some("X").
	regexp.MustCompile(`\bcode: Some\("([A-Za-z][\w.]*)"\)`),
	// PHP AwsException: "X (client): msg".
	regexp.MustCompile(`\b([A-Za-z][\w.]*) \((?:client|server)\):`),
	// A raw JSON-protocol error body or a logger's error object.
	regexp.MustCompile(`"(?:[Cc]ode|__type)" ?: ?"(?:[\w.]*#)?([A-Za-z][\w.]*)"`),
}

// labelledCode is the first labelled code that is in the table, and
// whether the text labels any code at all.
func labelledCode(text string) (code string, labelled bool) {
	for _, re := range labels {
		for _, m := range re.FindAllStringSubmatch(text, -1) {
			labelled = true
			if IsCode(m[1]) {
				return m[1], true
			}
		}
	}
	return "", labelled
}

// extractor finds a service and/or an operation in one SDK's shape.
type extractor struct {
	re      *regexp.Regexp
	svc, op int // submatch index, 0: not carried
}

// Ordered: the first extractor that yields a field sets it.
var extractors = []extractor{
	// Go v2 (smithy-go OperationError): "operation error EC2: DescribeInstances, …".
	{re: regexp.MustCompile(`operation error ([A-Za-z0-9][A-Za-z0-9 .-]*?): (\w+),`), svc: 1, op: 2},
	// botocore, boto3, AWS CLI v1 and v2 (botocore/exceptions.py ClientError):
	// "An error occurred (ExpiredToken) when calling the GetObject operation".
	{re: regexp.MustCompile(`when calling the (\w+) operation`), op: 1},
	// Java v1 (AmazonServiceException.getMessage):
	// "(Service: AmazonSQS; Status Code: 403; Error Code: ExpiredToken; …)".
	{re: regexp.MustCompile(`\(Service: ([^;()]+); Status Code: \d+`), svc: 1},
	// Java v2 (AwsServiceException.getMessage): "(Service: Sts, Status Code: 403, …)".
	{re: regexp.MustCompile(`\(Service: ([^,;()]+), Status Code: \d+`), svc: 1},
	// PHP (Aws\Exception\AwsException): `Error executing "GetObject" on "https://…"`,
	// thrown as Aws\S3\Exception\S3Exception.
	{re: regexp.MustCompile(`Error executing "(\w+)"`), op: 1},
	{re: regexp.MustCompile(`Aws\\(\w+)\\Exception\\`), svc: 1},
	// Ruby (Aws::Errors::ServiceError subclasses): Aws::EC2::Errors::RequestExpired.
	{re: regexp.MustCompile(`Aws::(\w+)::Errors::`), svc: 1},
	// .NET and PowerShell (AmazonServiceException subclasses):
	// Amazon.S3.AmazonS3Exception, Amazon.SecurityToken.AmazonSecurityTokenServiceException.
	{re: regexp.MustCompile(`\bAmazon\.(\w+)\.Amazon\w*Exception\b`), svc: 1},
	// Kotlin: aws.sdk.kotlin.services.sts.model.StsException; Java v2
	// without its "(Service: …" suffix: software.amazon.awssdk.services.s3.model.S3Exception.
	{re: regexp.MustCompile(`(?:aws\.sdk\.kotlin|software\.amazon\.awssdk)\.services\.(\w+)\.model\.`), svc: 1},
	// Terraform AWS provider before its move to Go v2:
	// "error calling sts:GetCallerIdentity: ExpiredToken: …".
	{re: regexp.MustCompile(`\bcalling ([a-z0-9-]+):([A-Z]\w+)`), svc: 1, op: 2},
}

// Classify reads one log line or error text. It reports a Finding when the
// text carries one of the codes as an error code, or one of the messages
// (a Generic one only beside an SDK's error context); false otherwise,
// including for InvalidClientTokenId ("…token included in the request is
// invalid"), AccessDenied and SignatureDoesNotMatch.
func Classify(text string) (Finding, bool) {
	var f Finding
	fromMessage := false
	if code, labelled := labelledCode(text); code != "" {
		f.Code = code
	} else if labelled {
		return Finding{}, false
	} else if m := reCode.FindStringSubmatch(text); m != nil && sdkContext(text) {
		f.Code = m[1]
	} else {
		for _, msg := range messages {
			if strings.Contains(text, msg.Text) && (!msg.Generic || sdkContext(text)) {
				f.Code, fromMessage = msg.Code, true
				break
			}
		}
	}
	if f.Code == "" {
		return Finding{}, false
	}
	for _, x := range extractors {
		if (x.svc == 0 || f.Service != "") && (x.op == 0 || f.Operation != "") {
			continue
		}
		m := x.re.FindStringSubmatch(text)
		if m == nil {
			continue
		}
		if x.svc != 0 && f.Service == "" {
			f.Service = serviceName(m[x.svc])
		}
		if x.op != 0 && f.Operation == "" {
			f.Operation = m[x.op]
		}
	}
	if fromMessage {
		for _, msg := range messages {
			if f.Code == msg.Code && strings.Contains(text, msg.Text) && slices.ContainsFunc(msg.NotFrom, func(s string) bool { return strings.EqualFold(s, f.Service) }) {
				return Finding{}, false
			}
		}
	}
	if slices.Contains(notOurs, f.Operation) || slices.ContainsFunc(webIdentityTexts, func(s string) bool { return strings.Contains(text, s) }) {
		return Finding{}, false
	}
	return f, true
}

// sdkContext reports whether text looks like an AWS SDK's error: a status
// code, a request ID, an SDK exception name, or one of the table's
// messages beside the code.
func sdkContext(text string) bool {
	rest := dropCodes.Replace(text)
	if reSDKContext.MatchString(rest) {
		return true
	}
	for _, m := range messages {
		if !m.Generic && strings.Contains(text, m.Text) {
			return true
		}
	}
	return false
}

// serviceName drops Java v1's client prefix: AmazonSQS, Amazon S3,
// AWSSecurityTokenService, AmazonDynamoDBv2 → SQS, S3, SecurityTokenService,
// DynamoDBv2.
func serviceName(s string) string {
	s = strings.TrimSpace(s)
	for _, p := range []string{"Amazon ", "AWS ", "Amazon", "AWS"} {
		if rest, ok := strings.CutPrefix(s, p); ok && rest != "" && rest[0] >= 'A' && rest[0] <= 'Z' {
			return rest
		}
	}
	return s
}

func alternation(words []string) string {
	// Longest first, so ExpiredTokenException is not read as ExpiredToken.
	ws := append([]string(nil), words...)
	for i := range ws {
		for j := i + 1; j < len(ws); j++ {
			if len(ws[j]) > len(ws[i]) {
				ws[i], ws[j] = ws[j], ws[i]
			}
		}
	}
	for i, w := range ws {
		ws[i] = regexp.QuoteMeta(w)
	}
	return strings.Join(ws, "|")
}
