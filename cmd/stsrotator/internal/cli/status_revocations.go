package cli

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/stsrotator/stsrotator/shared/humantime"
	"github.com/stsrotator/stsrotator/shared/revocation"
)

// roleReader is what status --revocations asks IAM, with the SDK's exact
// signatures.
type roleReader interface {
	GetRole(context.Context, *iam.GetRoleInput, ...func(*iam.Options)) (*iam.GetRoleOutput, error)
	GetRolePolicy(context.Context, *iam.GetRolePolicyInput, ...func(*iam.Options)) (*iam.GetRolePolicyOutput, error)
}

// RevocationRow is one revocation on a target's role (stsrotator revoke,
// or AWS's console AWSRevokeOlderSessions).
type RevocationRow struct {
	Policy string `json:"policy"`
	// Sessions lists the session names denied, comma-separated, then
	// each source identity denied as sourceIdentity=<id>; "*" for every
	// session.
	Sessions string    `json:"sessions"`
	Cutoff   time.Time `json:"cutoff"`
	// DeniesUntil is when every session it denies has expired (cutoff +
	// the role's MaxSessionDuration); after it, --cleanup removes it.
	DeniesUntil time.Time `json:"deniesUntil"`
	InForce     bool      `json:"inForce"`
}

// readRevocations fills each row's revocations from the target's role:
// the target's own policy and AWSRevokeOlderSessions. A row whose role
// cannot be read says why; status itself does not fail for it.
func readRevocations(ctx context.Context, api roleReader, rows []Row, now time.Time) {
	for i := range rows {
		r := &rows[i]
		if r.RoleArn == "" || r.Target == "" {
			continue
		}
		_, _, role, err := splitRoleArn(r.RoleArn)
		if err != nil {
			r.RevocationsError = err.Error()
			continue
		}
		got, err := api.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String(role)})
		if err != nil {
			r.RevocationsError = oneLine(fmt.Sprintf("iam:GetRole %s: %v", role, err))
			continue
		}
		maxSession := time.Hour
		if got.Role != nil && got.Role.MaxSessionDuration != nil {
			maxSession = time.Duration(*got.Role.MaxSessionDuration) * time.Second
		}
		for _, name := range []string{revocation.PolicyName(r.Target), revocation.AllSessionsPolicyName} {
			out, err := api.GetRolePolicy(ctx, &iam.GetRolePolicyInput{RoleName: aws.String(role), PolicyName: aws.String(name)})
			if isCode(err, "NoSuchEntity") {
				continue
			}
			if err != nil {
				r.RevocationsError = oneLine(fmt.Sprintf("iam:GetRolePolicy %s on %s: %v", name, role, err))
				break
			}
			rev, err := revocation.Parse(name, aws.ToString(out.PolicyDocument))
			if err != nil {
				r.RevocationsError = oneLine(err.Error())
				continue
			}
			sessions := strings.Join(rev.Scope.SessionNames, ",")
			if rev.Scope.All() {
				sessions = "*"
			}
			if len(rev.Scope.SourceIdentities) > 0 {
				sessions = strings.TrimPrefix(sessions+",sourceIdentity="+strings.Join(rev.Scope.SourceIdentities, ",sourceIdentity="), ",")
			}
			until := revocation.ExpiresAt(rev.Cutoff, rev.Lasts(maxSession))
			r.Revocations = append(r.Revocations, RevocationRow{Policy: name, Sessions: sessions, Cutoff: rev.Cutoff, DeniesUntil: until, InForce: now.Before(until)})
		}
	}
}

// writeRevocations prints the revocations section under status's table.
func writeRevocations(w io.Writer, rows []Row, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "\nREVOCATIONS\tPOLICY\tSESSIONS\tCUTOFF\tDENIES UNTIL\tSTATE")
	n := 0
	for _, r := range rows {
		if r.RevocationsError != "" {
			fmt.Fprintf(tw, "%s\t-\t-\t-\t-\tUNKNOWN: %s\n", dash(r.Target), r.RevocationsError)
			n++
		}
		for _, v := range r.Revocations {
			state := "IN FORCE, " + humantime.Span(v.DeniesUntil.Sub(now)) + " left"
			if !v.InForce {
				state = "denies nothing now (remove: stsrotator revoke --target " + r.Target + " --cleanup)"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.Target, v.Policy, v.Sessions, stamp3339(v.Cutoff), stamp3339(v.DeniesUntil), state)
			n++
		}
	}
	if n == 0 {
		fmt.Fprintln(tw, "none\t\t\t\t\t")
	}
	return tw.Flush()
}
