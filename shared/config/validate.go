package config

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/stsrotator/stsrotator/shared/humantime"
	"github.com/stsrotator/stsrotator/shared/regions"
)

var (
	reName = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?$`)
	// IAM role ARNs, paths included; partitions as AWS lists them.
	reRoleArn   = regexp.MustCompile(`^arn:(aws|aws-cn|aws-us-gov|aws-iso|aws-iso-[a-z]|aws-eusc):iam::(\d{12}):role/([\w+=,.@/-]+)$`)
	rePolicyArn = regexp.MustCompile(`^arn:(aws|aws-cn|aws-us-gov|aws-iso|aws-iso-[a-z]|aws-eusc):iam::(\d{12}|aws):policy/[\w+=,.@/-]+$`)
	rePrincipal = regexp.MustCompile(`^(\d{12}|arn:(aws|aws-cn|aws-us-gov|aws-iso|aws-iso-[a-z]|aws-eusc):iam::\d{12}:(root|role/[\w+=,.@/-]+|user/[\w+=,.@/-]+))$`)
	// STS RoleSessionName and SourceIdentity: [\w+=,.@-]*
	reSession    = regexp.MustCompile(`^[\w+=,.@-]+$`)
	reExternalID = regexp.MustCompile(`^[\w+=,.@:/-]+$`)
	reTagKey     = regexp.MustCompile(`^[\p{L}\p{Z}\p{N}_.:/=+@-]+$`)
	reTagValue   = regexp.MustCompile(`^[\p{L}\p{Z}\p{N}_.:/=+@-]*$`)
	reSecretName = regexp.MustCompile(`^[A-Za-z0-9/_+=.@-]+$`)
	reRegion     = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-\d$`)
	reEmail      = regexp.MustCompile(`^[^@\s]+@[^@\s]+\.[^@\s]+$`)
	reLogGroup   = regexp.MustCompile(`^[.\-_/#A-Za-z0-9]+$`)
	reKMSKeyArn  = regexp.MustCompile(`^arn:(aws|aws-cn|aws-us-gov|aws-iso|aws-iso-[a-z]|aws-eusc):kms:([a-z]{2}(?:-[a-z]+)+-\d):\d{12}:(key/[A-Za-z0-9-]+|alias/[\w/-]+)$`)
)

// pick returns the target's own value if set, else the default's.
func pick[T any](own, def val[T]) val[T] {
	if own.set {
		return own
	}
	return def
}

// origin names where a value came from, so an error about an inherited
// default says to edit the defaults, not the target.
func origin[T any](v val[T], fallback string) string {
	if strings.HasPrefix(v.path, "defaults.") {
		return v.path
	}
	return fallback
}

// effective locates an error about a target's effective value whose
// validity depends on the target (its sourceCredentials, its role's
// partition, its session length): inherited from defaults, the value may
// be right for one target and wrong for the next, so the error names the
// target, at the target's line, and says where the value came from.
// shown is how the value is printed; the result adds "(from defaults,
// line N)" when it was inherited. A value wrong for every target is
// reported once at the defaults (origin) instead.
func effective[T any](v val[T], raw rawTarget, path, field, shown string) (line int, fieldPath, value string) {
	if strings.HasPrefix(v.path, "defaults.") {
		return raw.line, path + "." + field, fmt.Sprintf("%s (from %s, line %d)", shown, v.path, v.line)
	}
	line = v.line
	if !v.set {
		line = raw.line
	}
	return line, path + "." + field, shown
}

// resolve applies defaults to one target and validates the result.
func (d *decoder) resolve(path string, raw, def rawTarget) (Target, bool) {
	before := len(d.errs)
	t := Target{Line: raw.line}

	name := raw.name
	switch {
	case !name.set:
		d.add(raw.line, path+".name", "is missing", "add name: with lowercase letters, digits and hyphens, e.g. billing-reader")
	case len(name.v) > MaxNameLen || !reName.MatchString(name.v):
		d.add(name.line, path+".name", fmt.Sprintf("%q is not a valid name", name.v),
			fmt.Sprintf("use 1–%d lowercase letters, digits and inner hyphens; other resource names are built from it", MaxNameLen))
	}
	t.Name = name.v

	role := raw.roleArn
	switch {
	case !role.set:
		d.add(raw.line, path+".roleArn", "is missing", "add roleArn: arn:aws:iam::<account-id>:role/<role-name>")
	case !reRoleArn.MatchString(role.v):
		d.add(role.line, path+".roleArn", fmt.Sprintf("%q is not an IAM role ARN", role.v), "write arn:aws:iam::<12-digit account>:role/<role-name>")
	default:
		rolePath, roleName := SplitRoleArn(role.v)
		if n := len(roleName); n > MaxRoleNameLen {
			d.add(role.line, path+".roleArn", fmt.Sprintf("role name %q is %d characters; IAM allows at most %d (%s)", roleName, n, MaxRoleNameLen, iamQuotasDoc),
				"correct the role name: no IAM role can have this ARN")
		}
		if n := len(rolePath); n > MaxRolePathLen {
			d.add(role.line, path+".roleArn", fmt.Sprintf("role path is %d characters; IAM allows at most %d (%s)", n, MaxRolePathLen, iamQuotasDoc),
				"correct the role's path: no IAM role can have this ARN")
		}
	}
	t.RoleArn = role.v
	// The role's partition is the target's: STS assumes roles only within
	// its own partition, so the stack (and the secret) live there too.
	var partition string
	if m := reRoleArn.FindStringSubmatch(role.v); m != nil {
		partition = m[1]
	}

	ext := pick(raw.externalID, def.externalID)
	if ext.set && (len(ext.v) < 2 || len(ext.v) > 1224 || !reExternalID.MatchString(ext.v)) {
		d.add(ext.line, origin(ext, path+".externalId"), "must be 2–1224 characters of letters, digits and _+=,.@:/-", "use the external ID the role's trust policy expects")
	}
	t.ExternalID = ext.v

	src := pick(raw.sourceCreds, def.sourceCreds)
	t.SourceCredentials = SourceRole
	if src.set {
		switch src.v {
		case SourceRole, SourceIAMUser:
			t.SourceCredentials = src.v
		default:
			d.add(src.line, origin(src, path+".sourceCredentials"), fmt.Sprintf("%q is not a source of credentials", src.v),
				fmt.Sprintf("write %s (the rotator's Lambda role, sessions up to 1 hour) or %s (the deployment's IAM user, sessions up to 12 hours)", SourceRole, SourceIAMUser))
		}
	}

	dur := pick(raw.duration, def.duration)
	t.Duration = MaxDuration
	if dur.set {
		secs := int(dur.v.Seconds())
		switch {
		case dur.v > MaxDuration && t.SourceCredentials != SourceIAMUser:
			// Valid for iam-user targets, so an inherited value is
			// reported for each role target it breaks.
			line, field, shown := effective(dur, raw, path, "durationSeconds", strconv.Itoa(secs))
			d.add(line, field,
				fmt.Sprintf("%s is above 3600: AssumeRole from a Lambda is role chaining, and AWS caps chained sessions at 1 hour", shown),
				"set durationSeconds to 3600 or less (stsrotator refreshes the secret before it expires), or set `sourceCredentials: iam-user` for sessions up to 43200 seconds (the role's MaxSessionDuration must allow them)")
		case dur.v > MaxIAMUserDuration:
			d.add(dur.line, origin(dur, path+".durationSeconds"),
				fmt.Sprintf("%d is above 43200: STS issues role sessions of at most 12 hours", secs),
				"set durationSeconds to 43200 or less, and at most the role's MaxSessionDuration")
		case dur.v < MinDuration:
			// Wrong for every target: one error, at the value.
			d.add(dur.line, origin(dur, path+".durationSeconds"),
				fmt.Sprintf("%d is below STS's minimum of 900", secs), "set durationSeconds between 900 and 3600 (43200 for targets with `sourceCredentials: iam-user`)")
		default:
			t.Duration = dur.v
		}
	}

	win := raw.refreshWindow
	t.ConsumerRefreshWindow = DefaultConsumerRefreshWindow
	if win.set {
		if win.v < 0 || win.v >= t.Duration {
			d.add(win.line, path+".consumerRefreshWindow", fmt.Sprintf("%s is not a refresh window for %s sessions", humantime.Span(win.v), humantime.Span(t.Duration)),
				"use how long before expiry this target's SDKs re-fetch credentials: 15m for botocore (boto3, the AWS CLI), less for others (docs/consumers.md), and below the session length")
		}
		if win.v >= 0 {
			// Even one at or above the session length is what the SDKs do,
			// so the session-length fixes below are computed for it.
			t.ConsumerRefreshWindow = win.v
		}
	}

	rb := pick(raw.refreshBefore, def.refreshBefore)
	t.RefreshBefore = defaultRefreshBefore(t.Duration, t.ConsumerRefreshWindow, d.jitter)
	maxRB := maxRefreshBefore(t.Duration, d.jitter)
	if !rb.set && !fits(t.Duration, t.ConsumerRefreshWindow, d.jitter) {
		// Depends on this target's consumerRefreshWindow: per target.
		line, field, shown := effective(pick(raw.duration, def.duration), raw, path, "durationSeconds", strconv.Itoa(int(t.Duration/time.Second)))
		fix := strings.Join(floorFixes(t.Duration, t.ConsumerRefreshWindow, d.jitter, t.SourceCredentials, false), "; or ")
		if !fits(t.Duration, 0, d.jitter) {
			// No window helps: say so, and the real minimum (issue 15 §2).
			d.add(line, field, fmt.Sprintf("%s-second sessions are too short for stsrotator: STS accepts sessions from 900 s, but a session must hold refreshBefore (at least %s with rotator.jitter %s and the sweep period it sets), the jitter, and %s between scheduled writes (Secrets Manager keeps every version younger than 24 h and refuses new ones past %d), so sessions need at least %d s even for consumers that re-fetch only at expiry (consumerRefreshWindow 0s), and %d s with this target's %s refresh window",
				shown, humantime.Span(leastRefreshBefore(0, d.jitter)), humantime.Span(d.jitter), humantime.Span(MinScheduleInterval), MaxVersionsPerDay, int(MinSessionFor(0, d.jitter)/time.Second), int(MinSessionFor(t.ConsumerRefreshWindow, d.jitter)/time.Second), humantime.Span(t.ConsumerRefreshWindow)),
				fix)
		} else {
			d.add(line, field, fmt.Sprintf("%s-second sessions cannot stay out of the SDKs' %s refresh window (consumerRefreshWindow): with rotator.jitter %s, refreshBefore would need at least %s to keep the window and at most %s to rewrite the secret at most once per %s (Secrets Manager keeps every version younger than 24 h and refuses new ones past %d); otherwise consumers would re-fetch the credentials on every call",
				shown, humantime.Span(t.ConsumerRefreshWindow), humantime.Span(d.jitter), humantime.Span(leastRefreshBefore(t.ConsumerRefreshWindow, d.jitter)), humantime.Span(maxRB), humantime.Span(MinScheduleInterval), MaxVersionsPerDay),
				fix)
		}
	}
	if rb.set {
		switch {
		case rb.v < MinRefreshBefore:
			d.add(rb.line, origin(rb, path+".refreshBefore"), fmt.Sprintf("%s leaves the sweep no time to retry a failed rotation (at least %s)", humantime.Span(rb.v), humantime.Span(MinRefreshBefore)),
				refreshBeforeFix(rb.v, t.Duration, t.ConsumerRefreshWindow, d.jitter, t.SourceCredentials))
		case rb.v > maxRB:
			// Depends on this target's session length: per target.
			line, field, shown := effective(rb, raw, path, "refreshBefore", humantime.Span(rb.v))
			d.add(line, field,
				fmt.Sprintf("%s is too close to the session length %s: with rotator.jitter %s the target would be rewritten more often than once every %s, and Secrets Manager keeps every version younger than 24 h and refuses new ones past %d",
					shown, humantime.Span(t.Duration), humantime.Span(d.jitter), humantime.Span(MinScheduleInterval), MaxVersionsPerDay),
				refreshBeforeFix(rb.v, t.Duration, t.ConsumerRefreshWindow, d.jitter, t.SourceCredentials))
		default:
			t.RefreshBefore = rb.v
		}
	}

	sn := raw.sessionName
	t.SessionName = DefaultSessionName(DefaultStack, t.Name)
	if sn.set {
		if len(sn.v) < 2 || len(sn.v) > MaxSessionNameLen || !reSession.MatchString(sn.v) {
			d.add(sn.line, path+".sessionName", fmt.Sprintf("%q is not a valid STS session name", sn.v),
				"use 2–64 characters of letters, digits and _+=,.@-")
		} else {
			t.SessionName, t.sessionNameSet = sn.v, true
		}
	}

	pol := pick(raw.sessionPolicy, def.sessionPolicy)
	if pol.set && len(pol.v) > MaxSessionPolicyLen {
		d.add(pol.line, origin(pol, path+".sessionPolicy"), fmt.Sprintf("is %d characters as compact JSON; STS accepts at most %d", len(pol.v), MaxSessionPolicyLen),
			"shorten it, or move permissions into a managed policy listed in policyArns")
	}
	t.SessionPolicy = pol.v

	pa := pick(raw.policyArns, def.policyArns)
	if len(pa.v) > MaxPolicyArns {
		d.add(pa.line, origin(pa, path+".policyArns"), fmt.Sprintf("has %d entries; STS accepts at most %d", len(pa.v), MaxPolicyArns), "merge policies or use sessionPolicy")
	}
	for i, a := range pa.v {
		if !rePolicyArn.MatchString(a) {
			d.add(pa.line, fmt.Sprintf("%s[%d]", origin(pa, path+".policyArns"), i), fmt.Sprintf("%q is not an IAM policy ARN", a), "write arn:aws:iam::<account or aws>:policy/<name>")
		}
	}
	t.PolicyArns = pa.v

	t.SessionTags = mergeTags(def.sessionTags.v, raw.sessionTags.v, SameSessionTagKey)
	if len(t.SessionTags) > MaxSessionTags {
		d.add(ownLine(raw.sessionTags, raw.line), path+".sessionTags", fmt.Sprintf("has %d tags (defaults included); STS accepts at most %d", len(t.SessionTags), MaxSessionTags), "remove some")
	}
	for _, tg := range t.SessionTags {
		line, field := tagAt(raw.sessionTags, def.sessionTags, SameSessionTagKey, tg.Key, path+".sessionTags")
		if len(tg.Key) == 0 || len(tg.Key) > MaxSessionTagKeyLen || !reTagKey.MatchString(tg.Key) {
			d.add(line, field, "is not a valid session tag key", "use 1–128 letters, digits, spaces and _.:/=+-@")
		}
		if len(tg.Value) > MaxSessionTagValLen || !reTagValue.MatchString(tg.Value) {
			d.add(line, field, "has an invalid value", "use at most 256 letters, digits, spaces and _.:/=+-@")
		}
	}

	si := pick(raw.sourceIdentity, def.sourceIdentity)
	if si.set && (len(si.v) < 2 || len(si.v) > 64 || !reSession.MatchString(si.v) || strings.HasPrefix(strings.ToLower(si.v), "aws:")) {
		d.add(si.line, origin(si, path+".sourceIdentity"), fmt.Sprintf("%q is not a valid source identity", si.v),
			"use 2–64 characters of letters, digits and _+=,.@-, not starting with aws:")
	}
	t.SourceIdentity = si.v

	sec := raw.secretName
	t.SecretName = DefaultSecretPrefix + t.Name
	if sec.set {
		switch {
		case len(sec.v) == 0 || len(sec.v) > MaxSecretNameLen || !reSecretName.MatchString(sec.v):
			d.add(sec.line, path+".secretName", fmt.Sprintf("%q is not a valid secret name", sec.v), "use up to 512 characters of letters, digits and /_+=.@-")
		default:
			t.SecretName = sec.v
		}
	}

	rd := pick(raw.readers, def.readers)
	for i, r := range rd.v {
		if !rePrincipal.MatchString(r) {
			d.add(rd.line, fmt.Sprintf("%s[%d]", origin(rd, path+".readers"), i), fmt.Sprintf("%q is not an IAM principal", r),
				"write a 12-digit account ID or arn:aws:iam::<account>:role/<name> (or user/<name>, root)")
		}
	}
	t.Readers = rd.v

	t.Tags = mergeTags(def.tags.v, raw.tags.v, SameResourceTagKey)
	if len(t.Tags) > MaxResourceTags-OwnSecretTags {
		d.add(ownLine(raw.tags, raw.line), path+".tags", fmt.Sprintf("has %d tags (defaults included); AWS accepts at most %d per secret and stsrotator adds %d of its own", len(t.Tags), MaxResourceTags, OwnSecretTags),
			fmt.Sprintf("keep at most %d", MaxResourceTags-OwnSecretTags))
	}
	for _, tg := range t.Tags {
		line, field := tagAt(raw.tags, def.tags, SameResourceTagKey, tg.Key, path+".tags")
		switch k := strings.ToLower(tg.Key); {
		case ReservedByAWS(tg.Key):
			d.add(line, field, "uses the reserved prefix aws:", "rename the tag")
		case strings.HasPrefix(k, ReservedTagPrefix):
			// The stack and the rotator tag each secret with these; a
			// second value for the same key would fail the deploy.
			d.add(line, field, "uses the prefix "+ReservedTagPrefix+", which stsrotator keeps for its own tags", "rename the tag")
		}
	}

	reg := pick(raw.stsRegion, def.stsRegion)
	if reg.set {
		if p, ok := d.knownRegion(reg.line, origin(reg, path+".stsRegion"), reg.v, "leave it out to use the rotator's region"); ok && partition != "" && p != partition {
			// STS in one partition cannot assume a role in another.
			line, field, shown := effective(reg, raw, path, "stsRegion", reg.v)
			d.add(line, field, fmt.Sprintf("%s is in partition %s, but the role is in %s: STS assumes roles only within its own partition", shown, p, partition),
				fmt.Sprintf("use a region of %s (%s), or leave it out to use the rotator's region", partition, regionsHint(partition)))
		}
	}
	t.STSRegion = reg.v

	lg := raw.logGroups
	for i, g := range lg.v {
		if len(g) > 512 || !reLogGroup.MatchString(g) {
			d.add(lg.line, fmt.Sprintf("%s.logGroups[%d]", path, i), fmt.Sprintf("%q is not a CloudWatch Logs group name", g), "use up to 512 characters of letters, digits and ._-/#")
		}
	}
	t.LogGroups = lg.v

	// Secrets Manager documents no upper bound on a secret's replicas
	// (ReplicateSecretToRegions lists only a minimum of one,
	// https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_ReplicateSecretToRegions.html);
	// each region may appear once, must be a Region AWS lists (the
	// regions package), and must be another Region of the secret's own
	// partition: replication is "to other Regions"
	// (https://docs.aws.amazon.com/secretsmanager/latest/userguide/replicate-secrets.html)
	// and a partition is a separate set of Regions with its own
	// credentials. The secret's partition is its role's (the stack lives
	// where STS can assume the role); the stack's own region is refused
	// here when the caller knows it (ParseIn), and by the template's
	// ReplicasOutsideTheStacksRegion rule otherwise.
	rr := pick(raw.replicaRegions, def.replicaRegions)
	seen := map[string]bool{}
	for i, r := range rr.v {
		field := fmt.Sprintf("%s[%d]", origin(rr, path+".replicaRegions"), i)
		if seen[r] {
			d.add(rr.line, field, fmt.Sprintf("%s is listed twice", r), "list each region once")
			continue
		}
		seen[r] = true
		p, ok := d.knownRegion(rr.line, field, r, "")
		switch {
		case !ok:
		case d.region.Name != "" && r == d.region.Name:
			d.add(rr.line, field, fmt.Sprintf("%s is the stack's own region (%s, from %s): Secrets Manager replicates a secret only to other Regions", r, d.region.Name, d.region.From),
				"remove it from replicaRegions (the primary secret is already there), or deploy the stack to another region")
		case d.region.Name != "" && p != d.regionPartition():
			d.add(rr.line, field, fmt.Sprintf("%s is in partition %s, but the stack's region %s (from %s) is in %s: Secrets Manager replicates only within a partition", r, p, d.region.Name, d.region.From, d.regionPartition()),
				fmt.Sprintf("use regions of %s (%s)", d.regionPartition(), regionsHint(d.regionPartition())))
		case partition != "" && p != partition:
			// Depends on the target's role: per target when inherited.
			line, tfield, shown := effective(rr, raw, path, fmt.Sprintf("replicaRegions[%d]", i), r)
			d.add(line, tfield, fmt.Sprintf("%s is in partition %s, but the target's role, stack and secret are in %s: Secrets Manager replicates only within a partition", shown, p, partition),
				fmt.Sprintf("use regions of %s (%s)", partition, regionsHint(partition)))
		}
	}
	t.ReplicaRegions = rr.v

	return t, len(d.errs) == before
}

// ownLine is where v was written, else fallback (the target's line).
func ownLine[T any](v val[T], fallback int) int {
	if v.set {
		return v.line
	}
	return fallback
}

// tagAt locates a merged tag: in the target's own list when it wrote the
// key, else in the defaults', so an invalid default tag is reported once
// at defaults.<field>.<key> rather than as if each target had written it.
func tagAt(own, def val[[]Tag], same func(a, b string) bool, key, targetField string) (line int, field string) {
	for _, tg := range own.v {
		if same(tg.Key, key) {
			return own.line, targetField + "." + key
		}
	}
	if def.path != "" {
		return def.line, def.path + "." + key
	}
	return def.line, targetField + "." + key
}

// knownRegion reports region's partition, or adds an error at field when
// the region is not one AWS lists (regions package) and returns false.
// alt is an extra way out offered in the fix ("" for none).
func (d *decoder) knownRegion(line int, field, region, alt string) (string, bool) {
	if p, ok := regions.Partition(region); ok {
		return p, true
	}
	fix := "write a Region code such as eu-west-1 (https://docs.aws.amazon.com/global-infrastructure/latest/regions/aws-regions.html)"
	if !reRegion.MatchString(region) {
		d.add(line, field, fmt.Sprintf("%q is not an AWS region", region), fix+orElse(alt))
		return "", false
	}
	d.add(line, field, fmt.Sprintf("%q is not a Region AWS lists", region),
		"check the spelling; "+fix+orElse(alt)+"; a Region newer than stsrotator's table needs an upgrade of stsrotator")
	return "", false
}

// regionsHint names a partition's regions for a fix: all of a small
// partition's, a pointer to the list for the large one.
func regionsHint(partition string) string {
	rs := regions.In(partition)
	if len(rs) <= 6 {
		return strings.Join(rs, ", ")
	}
	return fmt.Sprintf("%d Regions, e.g. %s, %s; https://docs.aws.amazon.com/global-infrastructure/latest/regions/aws-regions.html", len(rs), rs[0], rs[len(rs)-1])
}

// regionPartition is the partition of the stack's known region.
func (d *decoder) regionPartition() string {
	p, _ := regions.Partition(d.region.Name)
	return p
}

func orElse(alt string) string {
	if alt == "" {
		return ""
	}
	return ", or " + alt
}

func ceilMinute(d time.Duration) time.Duration {
	if r := d % time.Minute; r != 0 {
		d += time.Minute - r
	}
	return d
}

// floorCheck is what checkFloors needs of one target, as far as resolve
// could read it (a target with other problems is checked too).
type floorCheck struct {
	path string
	rb   val[time.Duration]
	line int
	t    Target
}

// checkFloors refuses every target whose refreshBefore leaves less than
// its consumer refresh window + one sweep period + the jitter: the sweep
// may run up to one period after refreshAt, and until the new version is
// written the SDKs inside their window re-fetch credentials on every call
// (botocore re-runs credential_process each time). The sweep period
// depends on every target, so this runs once all are resolved.
func (d *decoder) checkFloors(cfg *Config, checks []floorCheck) {
	all := &Config{Rotator: cfg.Rotator}
	for _, c := range checks {
		all.Targets = append(all.Targets, c.t)
	}
	sweep := all.SweepInterval()
	for _, c := range checks {
		t := c.t
		floor := t.ConsumerRefreshWindow + sweep + cfg.Rotator.Jitter
		if t.RefreshBefore >= floor {
			continue
		}
		// Depends on this target's refresh window and on every target's
		// refreshBefore: an inherited value is reported per target.
		line, field, shown := effective(c.rb, rawTarget{line: c.line}, c.path, "refreshBefore", humantime.Span(t.RefreshBefore))
		d.add(line, field, fmt.Sprintf("%s leaves consumers inside the SDKs' %s refresh window (consumerRefreshWindow) before the new version exists: the sweep runs every %s and may start that long after refreshAt, and rotator.jitter is %s, so the current version needs at least %s left when it becomes due; below that botocore re-runs credential_process on every call",
			shown, humantime.Span(t.ConsumerRefreshWindow), humantime.Span(sweep), humantime.Span(cfg.Rotator.Jitter), humantime.Span(floor)),
			refreshBeforeFix(t.RefreshBefore, t.Duration, t.ConsumerRefreshWindow, cfg.Rotator.Jitter, t.SourceCredentials))
	}
}

// KMS key forms (https://docs.aws.amazon.com/kms/latest/developerguide/concepts.html#key-id):
// a key ID is a UUID, or mrk- and 32 hex digits for a multi-region key;
// an alias name is alias/ and 1–250 more of letters, digits and /_-
// (CreateAlias's AliasName: at most 256 characters, ^[a-zA-Z0-9:/_-]+$,
// https://docs.aws.amazon.com/kms/latest/APIReference/API_CreateAlias.html).
var (
	reKMSKeyID     = regexp.MustCompile(`^([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|mrk-[0-9a-f]{32})$`)
	reKMSAliasName = regexp.MustCompile(`^alias/[A-Za-z0-9/_-]{1,250}$`)
)

// checkReplicaKey says what is wrong with key as the KmsKeyId of a
// replica in region (partition its partition), "" if nothing. Secrets
// Manager takes "the ARN, key ID, or alias of the KMS key"
// (https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_ReplicaRegionType.html):
// a key ID, a key ARN, an alias name or an alias ARN. A bare key ID or
// alias name is resolved in the replica's region and the stack's
// account; an ARN must be in the replica's region (a replica is
// encrypted by a key in its own region) and partition.
func checkReplicaKey(key, region, partition string) string {
	if reKMSKeyID.MatchString(key) || reKMSAliasName.MatchString(key) {
		return ""
	}
	m := reKMSKeyArn.FindStringSubmatch(key)
	switch {
	case m == nil:
		return fmt.Sprintf("%q is not a KMS key ID, key ARN, alias name or alias ARN", key)
	case m[2] != region || m[1] != partition:
		return fmt.Sprintf("%q is a KMS key in %s (partition %s), not in %s: a replica is encrypted by a key in its own region", key, m[2], m[1], region)
	}
	return ""
}

func replicaKeyFix(region, partition string) string {
	return fmt.Sprintf("write alias/<name>, a key ID (1234abcd-12ab-34cd-56ef-1234567890ab or mrk-…), arn:%s:kms:%s:<account>:key/<key-id> or arn:%s:kms:%s:<account>:alias/<name>", partition, region, partition, region)
}

// IAM's character quotas on a role's name and path, which no increase
// changes: "Role name 64 characters", "Path 512 characters"
// (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html#reference_iam-quotas-entity-length).
const (
	MaxRoleNameLen = 64
	MaxRolePathLen = 512
	iamQuotasDoc   = "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html"
)

// SplitRoleArn gives an IAM role ARN's path ("/" when it has none, else
// "/a/b/") and its name, the last segment.
func SplitRoleArn(arn string) (rolePath, name string) {
	_, res, _ := strings.Cut(arn, ":role/")
	i := strings.LastIndex(res, "/")
	if i < 0 {
		return "/", res
	}
	return "/" + res[:i+1], res[i+1:]
}

// checkSharedSessions refuses two targets whose sessions would be one
// identity: the same role and the same RoleSessionName. The assumed-role
// ARN (arn:<partition>:sts::<account>:assumed-role/<role name>/<session>)
// and aws:userid ("<role id>:<session>") carry no role path, and IAM role
// names are unique in an account without regard to case (SameRoleName),
// so the rotator's identity check could not tell the two apart, and
// `stsrotator revoke`'s scoped Deny for one would deny the other, which
// nobody then rotates
// (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_variables.html#principaltable).
// It runs once every target resolved, so field paths count targets as
// the file does.
func (d *decoder) checkSharedSessions(cfg *Config) {
	type identity struct{ partition, account, role, session string }
	first := map[identity]int{}
	for i, t := range cfg.Targets {
		m := reRoleArn.FindStringSubmatch(t.RoleArn)
		if m == nil {
			continue
		}
		_, role := SplitRoleArn(t.RoleArn)
		id := identity{m[1], m[2], strings.ToLower(role), t.SessionName}
		j, dup := first[id]
		if !dup {
			first[id] = i
			continue
		}
		o := cfg.Targets[j]
		d.add(t.Line, targetPath(i, t.Name)+".sessionName",
			fmt.Sprintf("target %s (line %d) and target %s (line %d) both assume role %s with session name %q: their sessions are one identity, so revoking one denies the other and neither can be told apart in CloudTrail",
				o.Name, o.Line, t.Name, t.Line, t.RoleArn, t.SessionName),
			"give one of them its own sessionName (the default, stsrotator-<target name> or <stack>.<target name> in another stack, differs per target), or declare the role once")
	}
}
