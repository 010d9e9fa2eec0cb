package config

import (
	"errors"
	"strings"
	"testing"
)

// A value inherited from defaults is validated for each target it reaches:
// the errors name every target it breaks, at the target's line, say the
// value came from defaults, and say nothing of the targets it suits.
func TestInheritedValuesAreCheckedPerTarget(t *testing.T) {
	cases := []struct {
		proves string
		yaml   string
		want   []string // one full error line each, in order
	}{
		{"43200 s from defaults breaks the role targets only, each named",
			`defaults:
  durationSeconds: 43200
targets:
  - name: a
    roleArn: arn:aws:iam::123456789012:role/A
    sourceCredentials: iam-user
  - name: b1
    roleArn: arn:aws:iam::123456789012:role/B1
  - name: b2
    roleArn: arn:aws:iam::123456789012:role/B2
`, []string{
				"c.yaml:7: targets[1](b1).durationSeconds: 43200 (from defaults.durationSeconds, line 2) is above 3600: AssumeRole from a Lambda is role chaining",
				"c.yaml:9: targets[2](b2).durationSeconds: 43200 (from defaults.durationSeconds, line 2) is above 3600: AssumeRole from a Lambda is role chaining",
			}},
		{"sourceCredentials: iam-user in defaults and role on one target: only that one breaks",
			`defaults:
  sourceCredentials: iam-user
  durationSeconds: 7200
targets:
  - name: long
    roleArn: arn:aws:iam::123456789012:role/A
  - name: short
    roleArn: arn:aws:iam::123456789012:role/B
    sourceCredentials: role
`, []string{"c.yaml:7: targets[1](short).durationSeconds: 7200 (from defaults.durationSeconds, line 3) is above 3600"}},
		{"a refreshBefore from defaults that fits 12 h sessions but not 1 h ones names the 1 h target",
			`defaults:
  refreshBefore: 2h
targets:
  - name: long
    roleArn: arn:aws:iam::123456789012:role/A
    sourceCredentials: iam-user
    durationSeconds: 43200
  - name: short
    roleArn: arn:aws:iam::123456789012:role/B
`, []string{"c.yaml:8: targets[1](short).refreshBefore: 2h (from defaults.refreshBefore, line 2) is too close to the session length 1h"}},
		{"a session length from defaults too short for one target's refresh window names that target",
			`defaults:
  durationSeconds: 1800
targets:
  - name: fine
    roleArn: arn:aws:iam::123456789012:role/A
    consumerRefreshWindow: 1m
  - name: botocore
    roleArn: arn:aws:iam::123456789012:role/B
`, []string{"c.yaml:7: targets[1](botocore).durationSeconds: 1800 (from defaults.durationSeconds, line 2)-second sessions cannot stay out of the SDKs' 15m refresh window"}},
		{"replica regions from defaults in another partition than one target's role name that target",
			`defaults:
  replicaRegions: [eu-west-1]
targets:
  - name: global
    roleArn: arn:aws:iam::123456789012:role/A
  - name: china
    roleArn: arn:aws-cn:iam::123456789012:role/B
`, []string{"c.yaml:6: targets[1](china).replicaRegions[0]: eu-west-1 (from defaults.replicaRegions, line 2) is in partition aws, but the target's role, stack and secret are in aws-cn"}},
		{"an stsRegion from defaults in another partition than one target's role names that target",
			`defaults:
  stsRegion: us-gov-west-1
targets:
  - name: gov
    roleArn: arn:aws-us-gov:iam::123456789012:role/A
  - name: commercial
    roleArn: arn:aws:iam::123456789012:role/B
`, []string{"c.yaml:6: targets[1](commercial).stsRegion: us-gov-west-1 (from defaults.stsRegion, line 2) is in partition aws-us-gov, but the role is in aws"}},
		{"a reserved tag from defaults is the defaults' mistake: reported once, at defaults.tags",
			`defaults:
  tags: {stsrotator:owner: me}
targets:
  - name: a
    roleArn: arn:aws:iam::123456789012:role/A
  - name: b
    roleArn: arn:aws:iam::123456789012:role/B
`, []string{"c.yaml:2: defaults.tags.stsrotator:owner: uses the prefix stsrotator:"}},
		{"an invalid session tag key from defaults is reported once, at defaults.sessionTags",
			`defaults:
  sessionTags: {"bad!key": x}
targets:
  - name: a
    roleArn: arn:aws:iam::123456789012:role/A
  - name: b
    roleArn: arn:aws:iam::123456789012:role/B
`, []string{"c.yaml:2: defaults.sessionTags.bad!key: is not a valid session tag key"}},
		{"a target's own bad tag is still the target's",
			`defaults:
  tags: {team: x}
targets:
  - name: a
    roleArn: arn:aws:iam::123456789012:role/A
    tags: {aws:x: y}
`, []string{"c.yaml:6: targets[0](a).tags.aws:x: uses the reserved prefix aws:"}},
	}
	for _, c := range cases {
		_, err := Parse("c.yaml", []byte(c.yaml))
		var es Errors
		if !errors.As(err, &es) {
			t.Errorf("%s: want config.Errors, got %v", c.proves, err)
			continue
		}
		if len(es) != len(c.want) {
			t.Errorf("%s: want %d errors, got %d:\n%v", c.proves, len(c.want), len(es), err)
			continue
		}
		for i, w := range c.want {
			if !strings.HasPrefix(es[i].Error(), w) {
				t.Errorf("%s: error %d\n got: %s\nwant: %s…", c.proves, i, es[i].Error(), w)
			}
		}
	}
}
