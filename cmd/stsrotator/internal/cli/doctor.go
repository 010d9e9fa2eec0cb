package cli

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials/ssocreds"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/stsrotator/stsrotator/shared/expiredcreds"
	"github.com/stsrotator/stsrotator/shared/humantime"
	"github.com/stsrotator/stsrotator/shared/secretfmt"
)

// doctorTimeout bounds doctor's credential retrieval and its one STS call,
// so it is never silent for more than 10 s (IMDS retries, a hung process).
const doctorTimeout = 8 * time.Second

// The credential sources, by the names the AWS CLI's `aws configure list`
// prints in its Type column (botocore's provider METHOD names), so a user
// can compare the two.
const (
	srcEnv         = "env"
	srcWebIdentity = "assume-role-with-web-identity"
	srcAssumeRole  = "assume-role"
	srcSSO         = "sso"
	srcProcess     = "custom-process"
	srcCredFile    = "shared-credentials-file"
	srcConfigFile  = "config-file"
	srcContainer   = "container-role"
	srcIMDS        = "iam-role"
	srcNone        = "none"
)

// doctorReport prints findings as they are found (so a slow step is never
// a long silence), one a line: "source:", "expires:", "managed:",
// "shadows:", "problem:", "fix:", "note:", "error:".
type doctorReport struct {
	w        io.Writer
	problems int
}

func (r *doctorReport) add(kind, format string, args ...any) {
	fmt.Fprintln(r.w, kind+": "+oneLine(fmt.Sprintf(format, args...)))
	if kind == "problem" {
		r.problems++
	}
}

func (a *App) doctor(ctx context.Context, args []string) error {
	fs := a.flags("doctor", "[--profile P] [--error TEXT]", `
Says where the AWS SDKs' default credential chain gets credentials in this
environment, one finding a line: the source (named as aws configure list
names it: env, assume-role, assume-role-with-web-identity, sso,
custom-process, shared-credentials-file, config-file, container-role,
iam-role, or none), when the credentials expire (or expired), whether
stsrotator manages them and for which target, which configured sources
it shadows, what is wrong and the fix. It asks AWS once
(sts:GetCallerIdentity, which needs no permission) whether the
credentials work, unless they are known to have expired.

  stsrotator doctor
  stsrotator doctor --profile billing
  stsrotator doctor --error "An error occurred (ExpiredToken) when calling ..."

--error classifies a pasted error: expired credentials, request expired
(an expired session or a clock more than 15 minutes off), presigned URL
expired, web identity token expired, or not an expiry. Access keys are
shown masked. Exit status 0 when nothing is wrong, 7 when a problem line
is printed.`)
	fs.Lookup("profile").Usage = "diagnose this shared config `profile`, as --profile for the AWS CLI (default: AWS_PROFILE, else default)"
	var pasted string
	fs.StringVar(&pasted, "error", "", "classify this pasted error `text` too")
	pos, err := a.parse(fs, args)
	if err != nil {
		return err
	}
	if err := noArgs(fs, pos); err != nil {
		return err
	}
	r := doctorReport{w: a.Stdout}
	if pasted != "" {
		explainError(&r, pasted)
	}
	a.diagnose(ctx, fs.g, &r)
	if r.problems > 0 {
		return coded(ExitUnhealthy, fmt.Errorf("doctor found %d problem(s); see the fix lines above", r.problems))
	}
	return nil
}

// explainError classifies a pasted error with the shared classifier.
func explainError(r *doctorReport, text string) {
	v, f := expiredcreds.Explain(text)
	where := ""
	if f.Code != "" {
		where = " (" + strings.TrimSpace(strings.Join([]string{f.Code, f.Service, f.Operation}, " ")) + ")"
	}
	switch v {
	case expiredcreds.CredentialsExpired:
		r.add("error", "expired credentials%s: the temporary credentials that signed the call had expired; the findings below say which source gave them", where)
	case expiredcreds.RequestExpiredOrSkew:
		r.add("error", "request expired%s: either the session expired or this machine's clock is more than 15 minutes off AWS's (compare date -u with an AWS response's Date header)", where)
	case expiredcreds.PresignedURLExpired:
		r.add("error", "presigned URL expired: the URL was used after its X-Amz-Expires; no credential source is at fault (fix: presign a new URL, with a lifetime within the signing credentials' own)")
	case expiredcreds.WebIdentityTokenExpired:
		r.add("error", "web identity token expired: the OIDC token (e.g. EKS's projected service-account token) or SAML assertion passed to STS had expired; the identity provider or platform renews it, not a rotation")
	default:
		r.add("error", "not an expiry: nothing in the text says credentials or a request expired (an access or signature error has another cause)")
	}
}

// diagnose resolves the chain with aws-sdk-go-v2's own LoadDefaultConfig
// and reads which provider it chose from the provider's
// ProviderSources() (aws.CredentialProviderSource), rather than
// re-implementing the chain's order. Two steps the SDK does not expose are
// derived: whether static profile keys came from the credentials file or
// the config file (botocore tells them apart; read with ini.v1), and what
// the chosen source hides (the configured sources after it in the chain's
// documented order: environment keys, web identity, the profile, the
// container endpoint, IMDS).
func (a *App) diagnose(ctx context.Context, g Globals, r *doctorReport) {
	profile, profileFrom := g.Profile, "--profile"
	if profile == "" {
		profile, profileFrom = a.Getenv(envProfile), envProfile
		if profile == "" {
			profile, profileFrom = a.Getenv(envDefaultProfile), envDefaultProfile
		}
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx, g.loadOptions()...)
	if err != nil {
		var missing awsconfig.SharedConfigProfileNotExistError
		r.add("source", "%s — the SDK cannot load the configuration", srcNone)
		if errors.As(err, &missing) {
			r.add("problem", "%s %s names profile %q, which is in neither %s nor %s", profileFrom, profile, profile, a.configFile(), a.sharedCredentialsFile())
			drop := "unset " + profileFrom + " (to use the default chain)"
			if profileFrom == "--profile" {
				drop = "name an existing profile"
			}
			r.add("fix", "%s, or add [profile %s] to %s (aws configure --profile %s, or aws configure sso)", drop, profile, a.configFile(), profile)
			return
		}
		r.add("problem", "%v", err)
		r.add("fix", "correct the shared config files (%s, %s) or the AWS_* variables the error names", a.configFile(), a.sharedCredentialsFile())
		return
	}
	if g.EndpointURL != "" {
		cfg.BaseEndpoint = aws.String(g.EndpointURL)
	}
	if profile == "" {
		profile = "default"
	}
	var sources []aws.CredentialSource
	if ps, ok := cfg.Credentials.(aws.CredentialProviderSource); ok {
		sources = ps.ProviderSources()
	}
	envKeys := g.Profile == "" && a.Getenv("AWS_ACCESS_KEY_ID") != "" && a.Getenv("AWS_SECRET_ACCESS_KEY") != ""
	walk, walkErr := a.walkProfile(ctx, profile)
	kind := sourceKind(sources)
	if kind == srcCredFile && !a.keysInCredentialsFile(walkLast(walk, profile)) {
		kind = srcConfigFile
	}

	rctx, cancel := context.WithTimeout(ctx, doctorTimeout)
	defer cancel()
	creds, rerr := cfg.Credentials.Retrieve(rctx)
	if rerr != nil && kind == srcIMDS {
		// The chain's last step found no instance role: nothing is
		// configured (aws configure list says <not set>).
		r.add("source", "%s — no variables, no profile with credentials, no container endpoint, and the instance metadata service (%s) gave none", srcNone, imdsWhere(a))
		if a.Getenv("AWS_EC2_METADATA_DISABLED") != "true" {
			r.add("note", "the instance metadata service: %v", rerr)
		}
		r.add("problem", "no credentials: every step of the default chain came up empty")
		r.add("fix", "configure a source: a profile whose credential_process is the line cdk deploy prints (credential_process = stsrotator credential-process --secret-id ARN --region REGION), aws configure sso, or aws configure")
		return
	}
	r.add("source", "%s — %s", kind, a.describeSource(kind, profile, walk))

	managedTarget := a.managed(r, kind, profile, walk, walkErr)

	var expired bool
	switch {
	case rerr != nil:
		a.retrieveProblem(r, kind, profile, managedTarget, rerr)
		a.shadows(r, kind, profile, walk, envKeys)
		return
	case creds.CanExpire:
		expired = !creds.Expires.After(a.Now())
		r.add("expires", "%s: key %s %s", creds.Expires.UTC().Format(time.RFC3339), secretfmt.Mask(creds.AccessKeyID), humantime.Left(a.Now(), creds.Expires))
	case kind == srcEnv && a.Getenv("AWS_CREDENTIAL_EXPIRATION") != "":
		exp, perr := time.Parse(time.RFC3339, a.Getenv("AWS_CREDENTIAL_EXPIRATION"))
		if perr != nil {
			r.add("note", "AWS_CREDENTIAL_EXPIRATION is not an RFC 3339 time; the expiry is unknown")
			break
		}
		expired = !exp.After(a.Now())
		r.add("expires", "%s (AWS_CREDENTIAL_EXPIRATION): key %s %s", exp.UTC().Format(time.RFC3339), secretfmt.Mask(creds.AccessKeyID), humantime.Left(a.Now(), exp))
	case creds.SessionToken == "":
		r.add("expires", "never: key %s is a long-term access key (no session token)", secretfmt.Mask(creds.AccessKeyID))
	default:
		r.add("expires", "unknown: key %s has a session token but its source states no expiry (AWS_CREDENTIAL_EXPIRATION unset); asking AWS", secretfmt.Mask(creds.AccessKeyID))
	}
	if kind == srcWebIdentity || kind == srcAssumeRole && walk.hasWebIdentity {
		a.webIdentityToken(r)
	}
	if !expired {
		expired = a.callerCheck(ctx, r, cfg)
	}
	a.shadows(r, kind, profile, walk, envKeys)
	if expired {
		r.add("problem", "the credentials from %s have expired", kind)
		a.expiredFix(r, kind, profile, managedTarget, walk, walkErr)
	}
}

// walkLast is the profile a walk ends in.
func walkLast(w profileWalk, profile string) string {
	if len(w.steps) == 0 {
		return profile
	}
	return strings.TrimPrefix(w.steps[len(w.steps)-1], "source_profile ")
}

func sourceKind(sources []aws.CredentialSource) string {
	has := func(ks ...aws.CredentialSource) bool {
		for _, s := range sources {
			for _, k := range ks {
				if s == k {
					return true
				}
			}
		}
		return false
	}
	switch {
	case has(aws.CredentialSourceEnvVars):
		return srcEnv
	case has(aws.CredentialSourceEnvVarsSTSWebIDToken, aws.CredentialSourceProfileSTSWebIDToken) && !has(aws.CredentialSourceProfileSourceProfile):
		return srcWebIdentity
	case has(aws.CredentialSourceProfileSourceProfile, aws.CredentialSourceProfileNamedProvider, aws.CredentialSourceSTSAssumeRole):
		return srcAssumeRole
	case has(aws.CredentialSourceSSO, aws.CredentialSourceProfileSSO, aws.CredentialSourceSSOLegacy, aws.CredentialSourceProfileSSOLegacy):
		return srcSSO
	case has(aws.CredentialSourceProfileProcess, aws.CredentialSourceProcess):
		return srcProcess
	case has(aws.CredentialSourceProfile):
		return srcCredFile
	case has(aws.CredentialSourceHTTP):
		return srcContainer
	}
	return srcIMDS
}

func (a *App) describeSource(kind, profile string, w profileWalk) string {
	switch kind {
	case srcEnv:
		d := "environment variables AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
		if a.Getenv("AWS_SESSION_TOKEN") != "" {
			d += " with AWS_SESSION_TOKEN"
		}
		return d + " (they come before every profile)"
	case srcWebIdentity:
		if f := a.Getenv("AWS_WEB_IDENTITY_TOKEN_FILE"); f != "" {
			return fmt.Sprintf("AssumeRoleWithWebIdentity of %s with the token in %s (AWS_WEB_IDENTITY_TOKEN_FILE)", a.Getenv("AWS_ROLE_ARN"), f)
		}
		return "profile " + profile + "'s web_identity_token_file"
	case srcAssumeRole, srcSSO, srcProcess, srcCredFile, srcConfigFile:
		where := map[string]string{srcAssumeRole: "role chain", srcSSO: "IAM Identity Center (SSO) session", srcProcess: "credential_process",
			srcCredFile: "static keys in " + a.sharedCredentialsFile(), srcConfigFile: "static keys in " + a.configFile()}[kind]
		return fmt.Sprintf("%s: %s", where, w)
	case srcContainer:
		u := a.Getenv("AWS_CONTAINER_CREDENTIALS_FULL_URI")
		if u == "" {
			u = "http://169.254.170.2" + a.Getenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")
		}
		return "the container credentials endpoint " + redactURL(u)
	}
	return "the EC2 instance metadata service (" + imdsWhere(a) + ")"
}

func imdsWhere(a *App) string {
	if a.Getenv("AWS_EC2_METADATA_DISABLED") == "true" {
		return "disabled by AWS_EC2_METADATA_DISABLED"
	}
	if e := a.Getenv("AWS_EC2_METADATA_SERVICE_ENDPOINT"); e != "" {
		return redactURL(e)
	}
	return "http://169.254.169.254"
}

// redactURL drops a URL's user info and query, which can carry secrets.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(an unparsable URL)"
	}
	u.User, u.RawQuery = nil, ""
	return u.String()
}

// managed says whether stsrotator keeps the chosen credentials fresh, and
// returns the target it names ("" when none or unknown).
func (a *App) managed(r *doctorReport, kind, profile string, w profileWalk, walkErr error) string {
	switch {
	case (kind == srcProcess || kind == srcAssumeRole) && walkErr == nil && w.reaches:
		t, id := processTarget(w.process, a.Getenv)
		what := "target " + t
		if t == "" {
			what = "secret " + id
			if sm := secretTarget(id); sm != "" {
				t = sm
			}
		}
		via := "its credential_process"
		if kind == srcAssumeRole {
			via = "the source profile's credential_process; the role is assumed with them"
		}
		r.add("managed", "yes: stsrotator %s, through %s", what, via)
		return t
	case (kind == srcCredFile || kind == srcConfigFile) && a.updateMarker(walkLast(w, profile)) != "":
		t := a.updateMarker(walkLast(w, profile))
		r.add("managed", "yes: stsrotator update --target %s writes this profile (renewed at the refresh hint while update runs; a program that read the file before keeps its copy)", t)
		return t
	case kind == srcContainer && loopbackURI(a.Getenv("AWS_CONTAINER_CREDENTIALS_FULL_URI")):
		r.add("managed", "probably: a loopback container endpoint, as stsrotator serve and exec run (they refresh)")
	case kind == srcEnv && a.Getenv("AWS_CREDENTIAL_EXPIRATION") != "":
		r.add("managed", "no: a one-time copy (stsrotator env or a similar export); environment variables never refresh")
	default:
		r.add("managed", "no")
	}
	return ""
}

// processTarget names what a stsrotator credential_process line reads:
// its --target, else its --secret-id.
func processTarget(line string, getenv func(string) string) (target, secretID string) {
	cmds, err := commandLines(line, runtime.GOOS, getenv)
	if err != nil {
		return "", ""
	}
	for _, words := range cmds {
		for i, w := range words {
			switch {
			case (w == "--target" || w == "-target") && i+1 < len(words):
				target = words[i+1]
			case strings.HasPrefix(w, "--target="):
				target = strings.TrimPrefix(w, "--target=")
			case (w == "--secret-id" || w == "-secret-id") && i+1 < len(words):
				secretID = words[i+1]
			case strings.HasPrefix(w, "--secret-id="):
				secretID = strings.TrimPrefix(w, "--secret-id=")
			}
		}
	}
	return target, secretID
}

// secretTarget guesses the target from a default secret name or ARN
// (stsrotator/NAME, the deploy's naming); "" otherwise.
func secretTarget(id string) string {
	if i := strings.LastIndex(id, "stsrotator/"); i >= 0 {
		name := id[i+len("stsrotator/"):]
		if strings.HasPrefix(id, "arn:") {
			// Secrets Manager appends "-" and six random characters.
			if j := strings.LastIndexByte(name, '-'); j > 0 && len(name)-j == 7 {
				name = name[:j]
			}
		}
		return name
	}
	return ""
}

func loopbackURI(s string) bool {
	u, err := url.Parse(s)
	if err != nil {
		return false
	}
	h := u.Hostname()
	return h == "127.0.0.1" || h == "localhost" || h == "::1"
}

// updateMarker is the target named by stsrotator update's comment in the
// profile's section of the credentials file; "" when there is none.
func (a *App) updateMarker(profile string) string {
	b, err := os.ReadFile(a.sharedCredentialsFile())
	if err != nil {
		return ""
	}
	in := false
	for _, l := range splitLines(b) {
		if name, ok := sectionName(l); ok {
			in = name == profile
			continue
		}
		if rest, ok := strings.CutPrefix(strings.TrimSpace(l), updateMarker+" --target "); in && ok {
			t, _, _ := strings.Cut(rest, ";")
			return t
		}
	}
	return ""
}

// keysInCredentialsFile tells whether the profile's static keys are in the
// credentials file (botocore's shared-credentials-file) rather than the
// config file (config-file); the SDK reports both as
// CredentialSourceProfile.
func (a *App) keysInCredentialsFile(profile string) bool {
	b, err := os.ReadFile(a.sharedCredentialsFile())
	if err != nil {
		return false
	}
	return profileKey(b, profile) != ""
}

func (a *App) configFile() string {
	if f := a.Getenv("AWS_CONFIG_FILE"); f != "" {
		return f
	}
	home := a.Getenv("HOME")
	if home == "" {
		home, _ = os.UserHomeDir()
	}
	return home + string(os.PathSeparator) + ".aws" + string(os.PathSeparator) + "config"
}

// retrieveProblem explains a failed retrieval by source.
func (a *App) retrieveProblem(r *doctorReport, kind, profile, target string, err error) {
	var sso *ssocreds.InvalidTokenError
	v, _ := expiredcreds.Explain(err.Error())
	switch {
	case kind == srcSSO && (errors.As(err, &sso) || strings.Contains(err.Error(), "expired")):
		r.add("problem", "the IAM Identity Center (SSO) token cached for profile %s has expired or is missing", profile)
		r.add("fix", "aws sso login --profile %s", profile)
	case kind == srcProcess && target != "":
		r.add("problem", "stsrotator credential-process failed: %v", err)
		r.add("fix", "stsrotator status --target %s (then stsrotator rotate %s if the secret expired)", target, target)
	case kind == srcProcess:
		r.add("problem", "the credential_process failed: %v", err)
		r.add("fix", "run the profile's credential_process line by hand to see its error")
	case kind == srcContainer:
		r.add("problem", "the container credentials endpoint did not give credentials: %v", err)
		r.add("fix", "restart the server that printed AWS_CONTAINER_CREDENTIALS_FULL_URI (stsrotator serve prints it again), or unset AWS_CONTAINER_CREDENTIALS_FULL_URI and AWS_CONTAINER_AUTHORIZATION_TOKEN")
	case v == expiredcreds.WebIdentityTokenExpired || kind == srcWebIdentity:
		r.add("problem", "AssumeRoleWithWebIdentity failed: %v", err)
		a.webIdentityToken(r)
		r.add("fix", "the platform (EKS, GitHub Actions, ...) writes AWS_WEB_IDENTITY_TOKEN_FILE; check it is mounted and current, and that AWS_ROLE_ARN trusts its issuer")
	default:
		r.add("problem", "the SDK could not get credentials from %s: %v", kind, err)
		r.add("fix", "correct profile %s's configuration, or the source the error names", profile)
	}
}

// webIdentityToken reports the expiry of the OIDC token in
// AWS_WEB_IDENTITY_TOKEN_FILE, read from its unverified "exp" claim (the
// SDK does not expose it; STS is what verifies the token).
func (a *App) webIdentityToken(r *doctorReport) {
	f := a.Getenv("AWS_WEB_IDENTITY_TOKEN_FILE")
	if f == "" {
		return
	}
	b, err := os.ReadFile(f)
	if err != nil {
		r.add("problem", "AWS_WEB_IDENTITY_TOKEN_FILE %s cannot be read: %v", f, err)
		return
	}
	parts := strings.Split(strings.TrimSpace(string(b)), ".")
	if len(parts) != 3 {
		r.add("note", "the web identity token in %s is not a JWT; its expiry is unknown", f)
		return
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	var claims struct {
		Exp float64 `json:"exp"`
	}
	if err != nil || json.Unmarshal(payload, &claims) != nil || claims.Exp == 0 {
		r.add("note", "the web identity token in %s has no readable exp claim", f)
		return
	}
	exp := time.Unix(int64(claims.Exp), 0).UTC()
	if !exp.After(a.Now()) {
		r.add("problem", "the web identity token in %s expired %s (exp claim %s): STS refuses it with ExpiredTokenException", f, humantime.Left(a.Now(), exp), exp.Format(time.RFC3339))
		r.add("fix", "the platform that writes %s (EKS's kubelet, a CI job) must renew it: check the projected volume or the job's OIDC step; stsrotator cannot renew an identity provider's token", f)
		return
	}
	r.add("note", "the web identity token in %s is valid until %s (%s)", f, exp.Format(time.RFC3339), humantime.Left(a.Now(), exp))
}

// callerCheck asks STS whether the credentials work; it reports whether
// AWS said they expired.
func (a *App) callerCheck(ctx context.Context, r *doctorReport, cfg aws.Config) bool {
	if cfg.Region == "" {
		r.add("note", "no region: the credentials were not checked with AWS (pass --region)")
		return false
	}
	ctx, cancel := context.WithTimeout(ctx, doctorTimeout)
	defer cancel()
	out, err := sts.NewFromConfig(cfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err == nil {
		r.add("note", "AWS accepts them: sts:GetCallerIdentity says %s", aws.ToString(out.Arn))
		return false
	}
	switch v, _ := expiredcreds.Explain(err.Error()); v {
	case expiredcreds.CredentialsExpired:
		r.add("note", "AWS refused them as expired: %v", err)
		return true
	case expiredcreds.RequestExpiredOrSkew:
		r.add("problem", "AWS refused the request as expired: this machine's clock may be more than 15 minutes off (%v)", err)
		r.add("fix", "sync the clock (timedatectl set-ntp true, or w32tm /resync)")
	default:
		r.add("note", "sts:GetCallerIdentity failed, so whether the credentials work is unknown: %v", err)
	}
	return false
}

// shadows names the configured sources the chosen one hides, in the order
// the SDKs try them (aws-sdk-go-v2 resolveCredentialChain; botocore's
// credential resolver): environment keys, web identity, the profile, the
// container endpoint, the instance metadata service.
func (a *App) shadows(r *doctorReport, kind, profile string, w profileWalk, envKeys bool) {
	type cand struct{ kind, what string }
	var below []cand
	if kind == srcEnv {
		if a.Getenv("AWS_WEB_IDENTITY_TOKEN_FILE") != "" {
			below = append(below, cand{srcWebIdentity, "AWS_WEB_IDENTITY_TOKEN_FILE"})
		}
		if len(w.steps) > 0 && (w.process != "" || w.hasCredentials) {
			below = append(below, cand{"profile", a.profileSelector(profile) + " (" + w.String() + ")"})
		}
	}
	if kind == srcEnv || kind == srcWebIdentity || kind == srcAssumeRole || kind == srcSSO || kind == srcProcess || kind == srcCredFile || kind == srcConfigFile {
		if u := a.Getenv("AWS_CONTAINER_CREDENTIALS_FULL_URI"); u != "" {
			below = append(below, cand{srcContainer, "AWS_CONTAINER_CREDENTIALS_FULL_URI " + redactURL(u)})
		} else if a.Getenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI") != "" {
			below = append(below, cand{srcContainer, "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"})
		}
	}
	for _, c := range below {
		r.add("shadows", "%s comes first, so %s is not used", kind, c.what)
	}
	if !envKeys && a.Getenv("AWS_SESSION_TOKEN") != "" && a.Getenv("AWS_ACCESS_KEY_ID") == "" {
		r.add("note", "AWS_SESSION_TOKEN is set without AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY: every SDK ignores it")
	}
}

func (a *App) profileSelector(profile string) string {
	switch {
	case a.Getenv(envProfile) != "":
		return envProfile + "=" + a.Getenv(envProfile)
	case a.Getenv(envDefaultProfile) != "":
		return envDefaultProfile + "=" + a.Getenv(envDefaultProfile)
	}
	return "the " + profile + " profile"
}

// expiredFix is the fix for credentials the chain picked that expired.
func (a *App) expiredFix(r *doctorReport, kind, profile, target string, w profileWalk, walkErr error) {
	switch kind {
	case srcEnv:
		then := "then the default chain applies"
		if walkErr == nil && (w.process != "" || w.hasCredentials) {
			then = "then " + a.profileSelector(profile) + " applies: " + w.String()
		}
		r.add("fix", "unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN AWS_CREDENTIAL_EXPIRATION (%s); exported credentials never refresh, use credential_process or stsrotator exec instead", then)
	case srcProcess, srcAssumeRole:
		if target != "" {
			r.add("fix", "stsrotator status --target %s; stsrotator rotate %s", target, target)
			return
		}
		r.add("fix", "renew the source of profile %s (%s)", profile, w)
	case srcCredFile, srcConfigFile:
		if target != "" {
			r.add("fix", "start stsrotator update --target %s --profile %s (or run it with --once from a timer more often than the target's refreshBefore)", target, walkLast(w, profile))
			return
		}
		r.add("fix", "replace the expired keys in profile %s, or let stsrotator update --target NAME --profile %s keep them fresh", walkLast(w, profile), walkLast(w, profile))
	default:
		r.add("fix", "renew the %s source", kind)
	}
}
