package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/aws/smithy-go"

	"github.com/stsrotator/stsrotator/shared/humantime"
	"github.com/stsrotator/stsrotator/shared/rotation"
	"github.com/stsrotator/stsrotator/shared/secretfmt"
)

// secretReader and secretLister are the Secrets Manager calls status
// makes, with the SDK's exact signatures.
type secretReader interface {
	GetSecretValue(context.Context, *secretsmanager.GetSecretValueInput, ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
}

type secretDescriber interface {
	DescribeSecret(context.Context, *secretsmanager.DescribeSecretInput, ...func(*secretsmanager.Options)) (*secretsmanager.DescribeSecretOutput, error)
}

type secretLister interface {
	ListSecrets(context.Context, *secretsmanager.ListSecretsInput, ...func(*secretsmanager.Options)) (*secretsmanager.ListSecretsOutput, error)
}

// Health, most urgent first; the order is the sort order.
type Health int

const (
	HealthError    Health = iota // the secret could not be read
	HealthMissing                // declared but never written
	HealthInvalid                // not a usable stsrotator value
	HealthExpired                // the credentials no longer work
	HealthExpiring               // under ExpiringWithin left
	HealthLate                   // past its refresh time: the rotator is behind
	HealthOrphaned               // managed but no longer declared: nothing rotates it
	HealthOK
)

// ExpiringWithin is when status starts shouting about a secret that still
// works.
const ExpiringWithin = 5 * time.Minute

func (h Health) String() string {
	return [...]string{"ERROR", "MISSING", "INVALID", "EXPIRED", "EXPIRING", "LATE", "ORPHANED", "OK"}[h]
}

func (h Health) MarshalText() ([]byte, error) { return []byte(strings.ToLower(h.String())), nil }

// UnmarshalText reads what MarshalText wrote, for scripts and tests that
// read status --json back.
func (h *Health) UnmarshalText(b []byte) error {
	for c := HealthError; c <= HealthOK; c++ {
		if strings.EqualFold(c.String(), string(b)) {
			*h = c
			return nil
		}
	}
	return fmt.Errorf("unknown health %q", b)
}

// Replica is one region's copy of a secret, as DescribeSecret's
// ReplicationStatus reports it: Status is InSync, InProgress or Failed
// (https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_ReplicationStatusType.html).
type Replica struct {
	Region  string `json:"region"`
	Status  string `json:"status"`
	Message string `json:"message,omitempty"`
}

// unhealthy is what makes status exit non-zero: a consumer of this secret
// is failing now.
func (h Health) unhealthy() bool { return h <= HealthExpired }

// Row is one secret's status; it carries no secret material.
type Row struct {
	Target       string    `json:"target"`
	SecretID     string    `json:"secretId"`
	RoleArn      string    `json:"roleArn,omitempty"`
	Key          string    `json:"accessKeyId,omitempty"` // masked
	IssuedAt     time.Time `json:"issuedAt,omitzero"`
	ExpiresAt    time.Time `json:"expiresAt,omitzero"`
	RefreshAt    time.Time `json:"refreshAt,omitzero"`
	Validity     int64     `json:"validitySeconds"`
	LastRotation time.Time `json:"lastRotation,omitzero"`
	Health       Health    `json:"health"`
	Problem      string    `json:"problem,omitempty"`
	// Revocations are stsrotator revoke's (and the console's) policies
	// on the target's role, with --revocations.
	Revocations      []RevocationRow `json:"revocations,omitempty"`
	RevocationsError string          `json:"revocationsError,omitempty"`
	// Replicas is each replica's ReplicationStatus, for targets the config
	// replicates.
	Replicas []Replica `json:"replicas,omitempty"`
	left     time.Duration
	life     time.Duration
	// primary is the primary region when the row was read from a
	// replica (status run in a replica region), else "".
	primary string
}

func (a *App) status(ctx context.Context, args []string) error {
	var asJSON, watch, all, revs bool
	var every time.Duration
	var only string
	fs := a.flags("status", "[--target NAME] [--watch] [--json] [--all] [--revocations]", `
Shows every managed secret, most urgent first: target, role, masked access
key, when it was issued and expires, validity left with a bar, the last
rotation and its health (ERROR, MISSING, INVALID, EXPIRED, EXPIRING, LATE,
ORPHANED, OK). With a config file it shows the config's targets; without
one, every secret tagged `+rotation.TagManagedBy+`. With a config and --all,
also every secret so tagged that the config does not declare, as ORPHANED:
the stack keeps a removed target's secret, and nothing rotates it any more.
--target shows one (the command every ExpiredToken alert prints).
--revocations also lists the revocations in force on each target's role
(stsrotator revoke; needs iam:GetRole and iam:GetRolePolicy there).

Exits 7 if any secret is expired, invalid, missing or unreadable; else 12
if --revocations could not read the revocations of a target (UNKNOWN).`)
	fs.profileFor("list and read the secrets")
	fs.BoolVar(&asJSON, "json", false, "print JSON instead of a table")
	fs.BoolVar(&watch, "watch", false, "redraw until interrupted")
	fs.DurationVar(&every, "interval", 10*time.Second, "redraw `interval` for --watch")
	fs.BoolVar(&all, "all", false, "with a config, also list every managed secret in the account; those it does not declare show as ORPHANED")
	fs.BoolVar(&revs, "revocations", false, "also show the session revocations on each target's role (needs a config and IAM read access in the role's account)")
	fs.StringVar(&only, "target", "", "show only this target `name` (from the config, or the secret's "+rotation.TagTarget+" tag without one)")
	pos, err := a.parse(fs, args)
	if err != nil {
		return err
	}
	if err := noArgs(fs, pos); err != nil {
		return err
	}
	if only != "" && all {
		return coded(ExitUsage, errors.New("--target shows one target and --all every secret; give one"))
	}
	if watch && every <= 0 {
		return coded(ExitUsage, fmt.Errorf("--interval is %s; it must be positive, e.g. 10s", humantime.Span(every)))
	}
	cfg, err := a.LoadAWS(ctx, fs.g)
	if err != nil {
		return err
	}
	sm := secretsmanager.NewFromConfig(cfg)
	draw := func() ([]Row, error) {
		refs, err := a.statusRefs(ctx, fs.g, sm, all)
		if err != nil {
			return nil, err
		}
		if only != "" {
			if refs, err = pick(refs, only); err != nil {
				return nil, err
			}
		}
		rows := readRows(ctx, sm, refs, a.Now())
		if revs {
			readRevocations(ctx, iam.NewFromConfig(cfg), rows, a.wallNow())
		}
		if watch && !asJSON {
			// Home and clear, so each frame replaces the last.
			fmt.Fprint(a.Stdout, "\x1b[H\x1b[2J")
		}
		if asJSON {
			return rows, writeJSON(a.Stdout, rows)
		}
		if err := writeTable(a.Stdout, rows, a.Now(), a.wallNow()); err != nil || !revs {
			return rows, err
		}
		// A revocation's cutoff is on AWS's clock (revoke takes it from
		// the Date header), so its time left is counted on the wall clock.
		return rows, writeRevocations(a.Stdout, rows, a.wallNow())
	}
	if !watch {
		rows, err := draw()
		if err != nil {
			return err
		}
		if err := unhealthy(rows); err != nil {
			return err
		}
		return unreadRevocations(rows)
	}
	ticks, stop := a.Tick(every)
	defer stop()
	for {
		if _, err := draw(); err != nil {
			fmt.Fprintf(a.Stderr, "stsrotator status: %s\n", oneLine(err.Error()))
		}
		select {
		case <-ctx.Done():
			return nil
		case <-ticks:
		}
	}
}

// pick keeps the one target asked for, or says which ones there are.
func pick(refs []ref, name string) ([]ref, error) {
	var names []string
	for _, r := range refs {
		if r.Target == name {
			return []ref{r}, nil
		}
		if r.Target != "" {
			names = append(names, r.Target)
		}
	}
	sort.Strings(names)
	return nil, coded(ExitNotFound, fmt.Errorf("no target %q among the secrets status can see (targets: %s; fix: check the name, or pass the --config that declares it)", name, strings.Join(names, ", ")))
}

// unreadRevocations fails a --revocations check that could not look at
// some target's role: an UNKNOWN is not a pass.
func unreadRevocations(rows []Row) error {
	var bad []string
	for _, r := range rows {
		if r.RevocationsError != "" {
			bad = append(bad, r.Target)
		}
	}
	if len(bad) == 0 {
		return nil
	}
	return coded(ExitCheckFailed, fmt.Errorf("could not read the revocations of %d of %d targets (%s): see UNKNOWN above, fix the access it names and run again", len(bad), len(rows), strings.Join(bad, ", ")))
}

func unhealthy(rows []Row) error {
	var bad []string
	for _, r := range rows {
		if r.Health.unhealthy() {
			bad = append(bad, r.Target+" "+r.Health.String())
		}
	}
	if len(bad) == 0 {
		return nil
	}
	return coded(ExitUnhealthy, fmt.Errorf("%d of %d secrets need attention: %s", len(bad), len(rows), strings.Join(bad, ", ")))
}

// statusRefs lists the secrets to show: the config's targets, the
// account's managed secrets, or both; with both, a managed secret the
// config does not declare is an orphan.
func (a *App) statusRefs(ctx context.Context, g Globals, sm secretLister, all bool) ([]ref, error) {
	conf, err := a.loadConfig(g)
	if err != nil {
		return nil, err
	}
	var refs []ref
	seen := map[string]bool{}
	if conf != nil {
		for _, t := range conf.Targets {
			refs = append(refs, ref{Target: t.Name, SecretID: t.SecretName, RoleArn: t.RoleArn, Replicas: t.ReplicaRegions})
			seen[t.SecretName] = true
		}
		if !all {
			return refs, nil
		}
	}
	managed, err := listManaged(ctx, sm)
	if err != nil {
		return nil, err
	}
	for _, r := range managed {
		if seen[r.SecretID] {
			continue
		}
		if conf != nil {
			r.Orphan = conf.File
		}
		refs = append(refs, r)
	}
	return refs, nil
}

// orphaned marks the row of a managed secret that the config no longer
// declares, with the two ways out.
func orphaned(row Row, r ref) Row {
	was := ""
	if row.Problem != "" {
		was = "; " + row.Problem
	}
	target := r.Target
	if target == "" {
		target = "NAME"
	}
	row.Health = HealthOrphaned
	// Re-declaring the target as it was fails the deploy: CloudFormation
	// cannot create a secret whose name exists (ResourceExistsException),
	// nor one scheduled for deletion, and cdk import cannot bring the
	// orphan back because the secrets live in nested stacks ("Resources
	// can't be imported into nested stacks":
	// https://docs.aws.amazon.com/cdk/v2/guide/ref-cli-cmd-import.html).
	// So the name must be freed without a recovery window first
	// (https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_DeleteSecret.html).
	row.Problem = fmt.Sprintf("not declared in %s, so nothing rotates it%s (fix: if nobody reads it, aws secretsmanager delete-secret --secret-id %s "+
		"(recoverable for 30 days, its name stays taken meanwhile); to declare target %s again, first free the name with "+
		"aws secretsmanager delete-secret --secret-id %s --force-delete-without-recovery, then add the target back and deploy "+
		"(re-adding it while the secret exists fails the deploy with ResourceExistsException; cdk import cannot import into the nested stacks holding secrets), "+
		"or declare it with another secretName)",
		r.Orphan, was, r.SecretID, target, r.SecretID)
	return row
}

// listManaged lists secrets tagged stsrotator:managed-by. The filter is
// also applied here because not every Secrets Manager implementation
// honours ListSecrets filters (the kumo emulator ignores them).
func listManaged(ctx context.Context, sm secretLister) ([]ref, error) {
	in := &secretsmanager.ListSecretsInput{
		Filters:    []smtypes.Filter{{Key: smtypes.FilterNameStringTypeTagKey, Values: []string{rotation.TagManagedBy}}},
		MaxResults: aws.Int32(100),
	}
	var refs []ref
	for {
		out, err := sm.ListSecrets(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("list secrets tagged %s: %w", rotation.TagManagedBy, err)
		}
		for _, s := range out.SecretList {
			managed, target := false, ""
			for _, t := range s.Tags {
				switch aws.ToString(t.Key) {
				case rotation.TagManagedBy:
					managed = true
				case rotation.TagTarget:
					target = aws.ToString(t.Value)
				}
			}
			if managed {
				refs = append(refs, ref{Target: target, SecretID: aws.ToString(s.Name)})
			}
		}
		if aws.ToString(out.NextToken) == "" {
			return refs, nil
		}
		in.NextToken = out.NextToken
	}
}

// readRows reads every secret, a few at a time, and sorts the rows by
// urgency.
func readRows(ctx context.Context, sm interface {
	secretReader
	secretDescriber
}, refs []ref, now time.Time) []Row {
	rows := make([]Row, len(refs))
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	for i, r := range refs {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			rows[i] = readRow(ctx, sm, r, now)
			if len(r.Replicas) > 0 {
				rows[i] = replicas(ctx, sm, rows[i], r)
			}
			if r.Orphan != "" {
				rows[i] = orphaned(rows[i], r)
			}
		})
	}
	wg.Wait()
	sort.SliceStable(rows, func(i, j int) bool {
		if rows[i].Health != rows[j].Health {
			return rows[i].Health < rows[j].Health
		}
		if rows[i].left != rows[j].left {
			return rows[i].left < rows[j].left
		}
		return rows[i].Target < rows[j].Target
	})
	return rows
}

func readRow(ctx context.Context, sm secretReader, r ref, now time.Time) Row {
	row := Row{Target: r.Target, SecretID: r.SecretID, RoleArn: r.RoleArn}
	out, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(r.SecretID)})
	var ae smithy.APIError
	switch {
	case errors.As(err, &ae) && ae.ErrorCode() == "ResourceNotFoundException":
		row.Health, row.Problem = HealthMissing, "no secret yet (has the rotator run?)"
		return row
	case err != nil:
		row.Health, row.Problem = HealthError, oneLine(err.Error())
		return row
	case out.SecretString == nil:
		row.Health, row.Problem = HealthInvalid, "the version holds binary data"
		return row
	}
	row.LastRotation = aws.ToTime(out.CreatedDate)
	v, err := secretfmt.Parse([]byte(*out.SecretString))
	if err != nil {
		row.Health, row.Problem = HealthInvalid, err.Error()
		return row
	}
	if row.Target == "" {
		row.Target = v.Meta.Target
	}
	if row.RoleArn == "" {
		row.RoleArn = v.Meta.RoleArn
	}
	row.Key, row.IssuedAt, row.ExpiresAt, row.RefreshAt = v.MaskedKey(), v.Meta.IssuedAt, v.Expiration, v.Meta.RefreshAt
	row.left = v.Remaining(now)
	row.Validity = max(int64(row.left/time.Second), 0)
	if !v.Meta.IssuedAt.IsZero() {
		row.life = v.Expiration.Sub(v.Meta.IssuedAt)
	}
	switch {
	case v.Expired(now):
		row.Health, row.Problem = HealthExpired, humantime.Left(now, v.Expiration)
	case row.left < ExpiringWithin:
		row.Health, row.Problem = HealthExpiring, "expires "+humantime.Until(now, v.Expiration)
	case !v.Meta.RefreshAt.IsZero() && !now.Before(v.Meta.RefreshAt):
		row.Health, row.Problem = HealthLate, "rotation was due "+humantime.Since(now, v.Meta.RefreshAt)
	default:
		row.Health = HealthOK
	}
	return row
}

// replicas adds each replica's status to a replicated target's row. A
// Failed replica is an error: consumers in that region read stale
// credentials or none. A region the config names but Secrets Manager does
// not replicate to (the stack not yet deployed) is reported as missing.
// Run in a replica's region, DescribeSecret answers for the replica,
// which has no ReplicationStatus; the row then says which region is the
// primary.
func replicas(ctx context.Context, sm secretDescriber, row Row, r ref) Row {
	out, err := sm.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(r.SecretID)})
	if err != nil {
		if row.Health > HealthError {
			row.Health, row.Problem = HealthError, "describe the replicas: "+oneLine(err.Error())
		}
		return row
	}
	got := map[string]smtypes.ReplicationStatusType{}
	for _, st := range out.ReplicationStatus {
		got[aws.ToString(st.Region)] = st
	}
	if here, primary := arnRegion(aws.ToString(out.ARN)), aws.ToString(out.PrimaryRegion); primary != "" && here != primary {
		// Read in a replica's region: show that copy alone.
		st, ok := got[here]
		rep := Replica{Region: here, Status: string(st.Status), Message: "read from this region's replica; the primary is in " + primary}
		if !ok {
			rep.Status = "replica"
		}
		row.Replicas = []Replica{rep}
		row.primary = primary
		if st.Status == smtypes.StatusTypeFailed && row.Health > HealthError {
			row.Health, row.Problem = HealthError, "replica "+here+" replication failed: "+aws.ToString(st.StatusMessage)
		}
		return row
	}
	var bad []string
	for _, region := range r.Replicas {
		st, ok := got[region]
		rep := Replica{Region: region, Status: string(st.Status), Message: aws.ToString(st.StatusMessage)}
		switch {
		case !ok:
			rep.Status = "Missing"
			bad = append(bad, region+" is not replicated (fix: deploy the stack; the config lists it in replicaRegions)")
		case st.Status == smtypes.StatusTypeFailed:
			bad = append(bad, region+" replication failed: "+rep.Message)
		}
		row.Replicas = append(row.Replicas, rep)
	}
	if len(bad) > 0 && row.Health > HealthError {
		row.Health, row.Problem = HealthError, "replica "+strings.Join(bad, "; ")
	}
	return row
}

// arnRegion is the region field of an ARN, "" if it has none.
func arnRegion(arn string) string {
	parts := strings.SplitN(arn, ":", 5)
	if len(parts) < 5 {
		return ""
	}
	return parts[3]
}

func writeJSON(w io.Writer, rows []Row) error {
	if rows == nil {
		rows = []Row{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(rows)
}

// writeTable counts ISSUED, EXPIRES and LEFT on now, the clock that wrote
// the versions, and LAST ROTATION (Secrets Manager's CreatedDate) on wall,
// the clock AWS stamps it with: the two differ under make local's dev
// clock, where counting CreatedDate on the moved clock showed a rotation
// done a second ago as "41m ago".
func writeTable(w io.Writer, rows []Row, now, wall time.Time) error {
	if len(rows) == 0 {
		_, err := fmt.Fprintln(w, "no managed secrets found")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TARGET\tROLE\tKEY\tISSUED\tEXPIRES\tLEFT\t\tLAST ROTATION\tHEALTH")
	for _, r := range rows {
		health := r.Health.String()
		if r.Problem != "" {
			health += ": " + printable(r.Problem)
		}
		if r.primary != "" && len(r.Replicas) == 1 {
			// The JSON says this in the replica's message; the table
			// must too, or a replica's row reads like the primary's.
			rep := r.Replicas[0]
			health += fmt.Sprintf(" (read from the replica in %s, %s; the primary is in %s)", rep.Region, rep.Status, r.primary)
		} else if len(r.Replicas) > 0 {
			var rs []string
			for _, rep := range r.Replicas {
				rs = append(rs, rep.Region+" "+rep.Status)
			}
			health += " (replicas: " + strings.Join(rs, ", ") + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", dash(r.Target), dash(shortRole(r.RoleArn)), dash(r.Key),
			stamp(r.IssuedAt), stamp(r.ExpiresAt), left(r), bar(r), agoStamp(r.LastRotation, wall), health)
	}
	return tw.Flush()
}

// bar draws validity left as a share of the credentials' lifetime.
func bar(r Row) string {
	const width = 10
	if r.life <= 0 || r.ExpiresAt.IsZero() {
		return ""
	}
	n := int(float64(width)*float64(r.left)/float64(r.life) + 0.5)
	n = min(max(n, 0), width)
	return "[" + strings.Repeat("█", n) + strings.Repeat("·", width-n) + "]"
}

func left(r Row) string {
	if r.ExpiresAt.IsZero() {
		return "-"
	}
	if r.left <= 0 {
		return "expired"
	}
	return humantime.Span(r.left)
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02 15:04Z")
}

func agoStamp(t, now time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return humantime.Since(now, t)
}

func shortRole(arn string) string {
	if i := strings.LastIndex(arn, ":role/"); i >= 0 {
		return arn[i+len(":role/"):]
	}
	return arn
}

// dash is a table cell: "-" for nothing, and what a secret's tags or
// metadata carry made printable, since whoever can write a secret could
// otherwise put terminal escapes or line breaks on an operator's screen.
func dash(s string) string {
	if s == "" {
		return "-"
	}
	return printable(s)
}
