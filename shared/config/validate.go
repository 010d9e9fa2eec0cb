package config

import (
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/stsrotator/stsrotator/shared/humantime"
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
	if t.Name != "" {
		path = fmt.Sprintf("%s(%s)", path, t.Name)
	}

	role := raw.roleArn
	switch {
	case !role.set:
		d.add(raw.line, path+".roleArn", "is missing", "add roleArn: arn:aws:iam::<account-id>:role/<role-name>")
	case !reRoleArn.MatchString(role.v):
		d.add(role.line, path+".roleArn", fmt.Sprintf("%q is not an IAM role ARN", role.v), "write arn:aws:iam::<12-digit account>:role/<role-name>")
	}
	t.RoleArn = role.v

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
			d.add(dur.line, origin(dur, path+".durationSeconds"),
				fmt.Sprintf("%d is above 3600: AssumeRole from a Lambda is role chaining, and AWS caps chained sessions at 1 hour", secs),
				"set durationSeconds to 3600 or less (stsrotator refreshes the secret before it expires), or set `sourceCredentials: iam-user` for sessions up to 43200 seconds (the role's MaxSessionDuration must allow them)")
		case dur.v > MaxIAMUserDuration:
			d.add(dur.line, origin(dur, path+".durationSeconds"),
				fmt.Sprintf("%d is above 43200: STS issues role sessions of at most 12 hours", secs),
				"set durationSeconds to 43200 or less, and at most the role's MaxSessionDuration")
		case dur.v < MinDuration:
			hi := 3600
			if t.SourceCredentials == SourceIAMUser {
				hi = 43200
			}
			d.add(dur.line, origin(dur, path+".durationSeconds"),
				fmt.Sprintf("%d is below STS's minimum of 900", secs), fmt.Sprintf("set durationSeconds between 900 and %d", hi))
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
		} else {
			t.ConsumerRefreshWindow = win.v
		}
	}

	rb := pick(raw.refreshBefore, def.refreshBefore)
	t.RefreshBefore = defaultRefreshBefore(t.Duration, t.ConsumerRefreshWindow, d.jitter)
	maxRB := t.Duration - d.jitter - MinScheduleInterval
	if !rb.set && t.RefreshBefore > maxRB {
		dur := pick(raw.duration, def.duration)
		line, field := raw.line, path+".durationSeconds"
		if dur.set {
			line, field = dur.line, origin(dur, field)
		}
		d.add(line, field, fmt.Sprintf("%d-second sessions cannot stay out of the SDKs' %s refresh window (consumerRefreshWindow): with refreshBefore %s, rotator.jitter %s and at most one scheduled write per %s (Secrets Manager keeps every version younger than 24 h and refuses new ones past %d), consumers would re-fetch the credentials on every call",
			int(t.Duration/time.Second), humantime.Span(t.ConsumerRefreshWindow), humantime.Span(t.RefreshBefore), humantime.Span(d.jitter), humantime.Span(MinScheduleInterval), MaxVersionsPerDay),
			fmt.Sprintf("set durationSeconds to at least %d, or, if every consumer of this target refreshes later than %s before expiry, lower consumerRefreshWindow for it (docs/consumers.md lists each SDK's window)",
				int(MinSessionFor(t.ConsumerRefreshWindow, d.jitter)/time.Second), humantime.Span(t.ConsumerRefreshWindow)))
	}
	if rb.set {
		switch {
		case rb.v < MinRefreshBefore:
			d.add(rb.line, origin(rb, path+".refreshBefore"), fmt.Sprintf("%s leaves the sweep no time to retry a failed rotation", rb.v),
				fmt.Sprintf("use at least %s", MinRefreshBefore))
		case rb.v > maxRB:
			d.add(rb.line, origin(rb, path+".refreshBefore"),
				fmt.Sprintf("%s is too close to the session length %s: with rotator.jitter %s the target would be rewritten more often than once every %s, and Secrets Manager keeps every version younger than 24 h and refuses new ones past %d",
					humantime.Span(rb.v), humantime.Span(t.Duration), humantime.Span(d.jitter), humantime.Span(MinScheduleInterval), MaxVersionsPerDay),
				fmt.Sprintf("use at most %s (session length − rotator.jitter − %s), or raise durationSeconds", humantime.Span(max(maxRB, 0)), humantime.Span(MinScheduleInterval)))
		default:
			t.RefreshBefore = rb.v
		}
	}

	sn := raw.sessionName
	t.SessionName = DefaultSessionPrefix + t.Name
	if sn.set {
		if len(sn.v) < 2 || len(sn.v) > MaxSessionNameLen || !reSession.MatchString(sn.v) {
			d.add(sn.line, path+".sessionName", fmt.Sprintf("%q is not a valid STS session name", sn.v),
				"use 2–64 characters of letters, digits and _+=,.@-")
		} else {
			t.SessionName = sn.v
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
		d.add(raw.sessionTags.line, path+".sessionTags", fmt.Sprintf("has %d tags (defaults included); STS accepts at most %d", len(t.SessionTags), MaxSessionTags), "remove some")
	}
	for _, tg := range t.SessionTags {
		line := pick(raw.sessionTags, def.sessionTags).line
		if len(tg.Key) == 0 || len(tg.Key) > MaxSessionTagKeyLen || !reTagKey.MatchString(tg.Key) {
			d.add(line, path+".sessionTags."+tg.Key, "is not a valid session tag key", "use 1–128 letters, digits, spaces and _.:/=+-@")
		}
		if len(tg.Value) > MaxSessionTagValLen || !reTagValue.MatchString(tg.Value) {
			d.add(line, path+".sessionTags."+tg.Key, "has an invalid value", "use at most 256 letters, digits, spaces and _.:/=+-@")
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
		d.add(raw.tags.line, path+".tags", fmt.Sprintf("has %d tags (defaults included); AWS accepts at most %d per secret and stsrotator adds %d of its own", len(t.Tags), MaxResourceTags, OwnSecretTags),
			fmt.Sprintf("keep at most %d", MaxResourceTags-OwnSecretTags))
	}
	for _, tg := range t.Tags {
		switch k := strings.ToLower(tg.Key); {
		case ReservedByAWS(tg.Key):
			d.add(pick(raw.tags, def.tags).line, path+".tags."+tg.Key, "uses the reserved prefix aws:", "rename the tag")
		case strings.HasPrefix(k, ReservedTagPrefix):
			// The stack and the rotator tag each secret with these; a
			// second value for the same key would fail the deploy.
			d.add(pick(raw.tags, def.tags).line, path+".tags."+tg.Key, "uses the prefix "+ReservedTagPrefix+", which stsrotator keeps for its own tags", "rename the tag")
		}
	}

	reg := pick(raw.stsRegion, def.stsRegion)
	if reg.set && !reRegion.MatchString(reg.v) {
		d.add(reg.line, origin(reg, path+".stsRegion"), fmt.Sprintf("%q is not an AWS region", reg.v), "write e.g. eu-west-1, or leave it out to use the rotator's region")
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
	// each region may appear once, in ReplicaRegionType's pattern
	// ^([a-z]+-)+\d+$ (API_ReplicaRegionType.html). That a replica cannot be
	// in the primary's own region is checked where the region is known: at
	// deploy (the stack) and by `stsrotator status`.
	rr := pick(raw.replicaRegions, def.replicaRegions)
	seen := map[string]bool{}
	for i, r := range rr.v {
		field := fmt.Sprintf("%s[%d]", origin(rr, path+".replicaRegions"), i)
		switch {
		case !reRegion.MatchString(r):
			d.add(rr.line, field, fmt.Sprintf("%q is not an AWS region", r), "write e.g. eu-west-1")
		case seen[r]:
			d.add(rr.line, field, fmt.Sprintf("%s is listed twice", r), "list each region once")
		}
		seen[r] = true
	}
	t.ReplicaRegions = rr.v

	return t, len(d.errs) == before
}

// defaultRefreshBefore rotates with a third of the session left, but
// never later than the floor: window + one sweep period + jitter, where a
// sweep period is at most a third of the smallest refreshBefore
// (SweepInterval). A refreshBefore of 1.5 × (window + jitter) keeps the
// floor whatever the other targets say, since they can only shorten the
// sweep. Rounded up to the minute: 26m for a one-hour session, the 15m
// window and 2m of jitter.
func defaultRefreshBefore(session, window, jitter time.Duration) time.Duration {
	floor := ceilMinute((window + jitter) * 3 / 2)
	return max(session/3, floor, MinRefreshBefore)
}

// MinSessionFor is the shortest durationSeconds whose default
// refreshBefore keeps the consumer refresh window and still leaves
// MinScheduleInterval between scheduled writes: 43m (2580 s) for the 15m
// window and 2m of jitter.
func MinSessionFor(window, jitter time.Duration) time.Duration {
	return max(MinDuration, max(ceilMinute((window+jitter)*3/2), MinRefreshBefore)+jitter+MinScheduleInterval)
}

func ceilMinute(d time.Duration) time.Duration {
	if r := d % time.Minute; r != 0 {
		d += time.Minute - r
	}
	return d
}

// floorCheck is what checkFloors needs of one resolved target.
type floorCheck struct {
	path string
	rb   val[time.Duration]
	line int
}

// checkFloors refuses every target whose refreshBefore leaves less than
// its consumer refresh window + one sweep period + the jitter: the sweep
// may run up to one period after refreshAt, and until the new version is
// written the SDKs inside their window re-fetch credentials on every call
// (botocore re-runs credential_process each time). The sweep period
// depends on every target, so this runs once all are resolved.
func (d *decoder) checkFloors(cfg *Config, checks []floorCheck) {
	sweep := cfg.SweepInterval()
	for i, t := range cfg.Targets {
		floor := t.ConsumerRefreshWindow + sweep + cfg.Rotator.Jitter
		if t.RefreshBefore >= floor {
			continue
		}
		c := checks[i]
		line, field := c.line, c.path+".refreshBefore"
		if c.rb.set {
			line, field = c.rb.line, origin(c.rb, field)
		}
		d.add(line, field, fmt.Sprintf("%s leaves consumers inside the SDKs' %s refresh window (consumerRefreshWindow) before the new version exists: the sweep runs every %s and may start that long after refreshAt, and rotator.jitter is %s, so the current version needs at least %s left when it becomes due; below that botocore re-runs credential_process on every call",
			humantime.Span(t.RefreshBefore), humantime.Span(t.ConsumerRefreshWindow), humantime.Span(sweep), humantime.Span(cfg.Rotator.Jitter), humantime.Span(floor)),
			fmt.Sprintf("set refreshBefore to at least %s (and durationSeconds to at least refreshBefore + %s + %s), or, if every consumer of this target refreshes later than %s before expiry, lower consumerRefreshWindow for it (docs/consumers.md lists each SDK's window)",
				humantime.Span(ceilMinute(floor)), humantime.Span(cfg.Rotator.Jitter), humantime.Span(MinScheduleInterval), humantime.Span(t.ConsumerRefreshWindow)))
	}
}
